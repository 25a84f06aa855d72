package engine

// SegmentStats describes one segment.
type SegmentStats struct {
	Base    uint64 // base offset (the file name)
	Records int64  // records in the segment, superseded ones included
	Bytes   int64  // bytes of records in the .log
	// LiveBytes are the bytes of keyed records the keydir points at.
	LiveBytes int64
	// KeylessBytes are the bytes of keyless records (Produce), live until
	// retention drops them.
	KeylessBytes int64
	// TombstoneBytes are the bytes of tombstones written to the segment
	// (kept for TombstoneRetention; superseded ones included).
	TombstoneBytes int64
	// DeadBytes = Bytes - LiveBytes - KeylessBytes - TombstoneBytes: the
	// superseded records a merge drops.
	DeadBytes int64
	Sealed    bool
}

// Stats is a point-in-time summary of a DB.
type Stats struct {
	Keys        int    // keys in the keydir
	KeydirBytes int64  // heap held by the keydir (keys, tables, ordered view)
	Earliest    uint64 // log start: the oldest segment's base offset
	NextOffset  uint64 // the offset the next write gets (high-water mark)
	Bytes       int64  // bytes of records in all segments
	LiveBytes   int64  // bytes of keyed records the keydir points at
	DeadBytes   int64  // sum of the segments' DeadBytes
	Segments    []SegmentStats
	Sync        SyncMode
	Syncs       uint64 // fsyncs of the log since Open (group commit shares them)
	// Compaction counts merges since Open.
	Compaction CompactTotals
}

// Stats returns a summary of the store. It costs one pass over the
// segment list, not over the keys.
func (db *DB) Stats() Stats {
	segs := db.log.Segments()
	defer func() {
		for _, s := range segs {
			s.Release()
		}
	}()
	db.kd.RLock()
	st := Stats{
		Keys:        db.kd.m.Len(),
		KeydirBytes: db.kd.m.HeapBytes(),
		Sync:        db.opts.Sync,
	}
	acct := make(map[uint32]segAcct, len(db.kd.acct))
	for id, a := range db.kd.acct {
		acct[id] = *a
	}
	db.kd.RUnlock()
	st.Compaction = CompactTotals{Merges: db.compacted.merges.Load(), Reclaimed: db.compacted.reclaimed.Load()}
	if e := db.compacted.lastError.Load(); e != nil {
		st.Compaction.LastError = *e
	}
	st.Earliest = db.log.Earliest()
	st.NextOffset = db.log.Next()
	st.Syncs = db.log.Syncs()
	for _, s := range segs {
		a := acct[s.ID()]
		ss := SegmentStats{
			Base: s.Base(), Records: s.Len(), Bytes: s.Size(), Sealed: s.Sealed(),
			LiveBytes: a.live, KeylessBytes: s.KeylessBytes(), TombstoneBytes: a.tomb,
		}
		ss.DeadBytes = max(ss.Bytes-ss.LiveBytes-ss.KeylessBytes-ss.TombstoneBytes, 0)
		st.Bytes += ss.Bytes
		st.LiveBytes += ss.LiveBytes
		st.DeadBytes += ss.DeadBytes
		st.Segments = append(st.Segments, ss)
	}
	return st
}
