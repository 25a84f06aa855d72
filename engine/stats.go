package engine

// SegmentStats describes one segment.
type SegmentStats struct {
	Base    uint64 // base offset (the file name)
	Records int64  // records in the segment, superseded ones included
	Bytes   int64  // bytes of records in the .log
	// LiveBytes are the bytes of keyed records the keydir points at.
	// Bytes - LiveBytes is what superseded records, tombstones and keyless
	// records take.
	LiveBytes int64
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
	Segments    []SegmentStats
	Sync        SyncMode
	Syncs       uint64 // fsyncs of the log since Open (group commit shares them)
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
	live := make(map[uint32]int64, len(db.kd.live))
	for id, n := range db.kd.live {
		live[id] = n
	}
	db.kd.RUnlock()
	st.Earliest = db.log.Earliest()
	st.NextOffset = db.log.Next()
	st.Syncs = db.log.Syncs()
	for _, s := range segs {
		ss := SegmentStats{Base: s.Base(), Records: s.Len(), Bytes: s.Size(), LiveBytes: live[s.ID()], Sealed: s.Sealed()}
		st.Bytes += ss.Bytes
		st.LiveBytes += ss.LiveBytes
		st.Segments = append(st.Segments, ss)
	}
	return st
}
