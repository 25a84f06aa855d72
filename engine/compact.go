package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/caskade/caskade/compaction"
	"github.com/caskade/caskade/engine/segment"
	"github.com/caskade/caskade/keydir"
)

// segAcct is what the DB knows about one segment's records, for
// compaction's dead-bytes estimate. Guarded by DB.kd.
type segAcct struct {
	live int64 // bytes of keyed records the keydir points at
	ttl  int64 // of which records with an expiry
	// tomb is the bytes of tombstones written to the segment (an upper
	// bound: a tombstone superseded by a later put is still counted).
	tomb int64
	// nextExpiry is the earliest expiry of a record with a TTL the
	// segment holds (unix ns; 0 = none known).
	nextExpiry int64
}

func (a *segAcct) addLive(e keydir.Entry) {
	a.live += int64(e.Size)
	if e.Flags&uint8(segment.FlagExpiry) != 0 {
		a.ttl += int64(e.Size)
	}
}

func (a *segAcct) removeLive(e keydir.Entry) {
	a.live -= int64(e.Size)
	if e.Flags&uint8(segment.FlagExpiry) != 0 {
		a.ttl -= int64(e.Size)
	}
}

func (a *segAcct) expiring(at int64) {
	if a.nextExpiry == 0 || at < a.nextExpiry {
		a.nextExpiry = at
	}
}

// acct returns segment id's accounting, creating it. Caller holds kd.
func (db *DB) acct(id uint32) *segAcct {
	a := db.kd.acct[id]
	if a == nil {
		a = &segAcct{}
		db.kd.acct[id] = a
	}
	return a
}

// CompactResult reports what a Compact call did.
type CompactResult struct {
	Merges      int   // merges run
	Segments    int   // sealed segments merged
	BytesBefore int64 // bytes of the merged segments
	BytesAfter  int64 // bytes of the segments that replaced them
	Reclaimed   int64 // BytesBefore - BytesAfter
	Duration    time.Duration
}

// CompactTotals counts the merges since Open.
type CompactTotals struct {
	Merges    int64
	Reclaimed int64 // bytes
	// LastError is the last background merge's failure, if the latest
	// attempt failed.
	LastError string
}

// Compact merges sealed segments now, whatever the thresholds say, until
// no segment has dead bytes the merge can drop (or ctx ends), and reports
// what it reclaimed. Reads and writes go on meanwhile. The active segment
// is never merged: records still in it wait for a later merge.
func (db *DB) Compact(ctx context.Context) (CompactResult, error) {
	if db.closed.Load() {
		return CompactResult{}, ErrClosed
	}
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	if db.closed.Load() {
		return CompactResult{}, ErrClosed
	}
	// Segments sealed a moment ago become mergeable once their seal work
	// is done.
	if err := db.log.WaitSealed(ctx); err != nil {
		return CompactResult{}, err
	}
	return db.compactLocked(ctx, true)
}

// compactEvery runs background merges every interval, inside the merge
// window, until ctx ends.
func (db *DB) compactEvery(ctx context.Context, interval time.Duration) {
	defer db.bg.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !db.opts.Compaction.inWindow(db.opts.Clock()) {
			continue
		}
		db.compactMu.Lock()
		_, err := db.compactLocked(ctx, false)
		if err != nil && ctx.Err() == nil {
			db.opts.Logger.Error("background merge failed", "err", err)
			msg := err.Error()
			db.compacted.lastError.Store(&msg)
		} else if err == nil {
			db.compacted.lastError.Store(nil)
		}
		db.compactMu.Unlock()
	}
}

// compactLocked runs merges until the policy finds nothing to do. Caller
// holds compactMu.
func (db *DB) compactLocked(ctx context.Context, force bool) (CompactResult, error) {
	// Close cancels the background context: a long merge ends early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(db.bgCtx(), cancel)
	defer stop()

	start := time.Now()
	var res CompactResult
	c := db.opts.Compaction
	p := compaction.Policy{
		MinDeadFraction:   c.MinDeadFraction,
		MinDeadBytes:      max(c.MinDeadBytes, 0),
		SmallSegmentBytes: max(c.SmallSegmentBytes, 0),
		MaxMergeBytes:     c.MaxMergeBytes,
		Force:             force,
	}
	limit := compaction.NewLimiter(c.RateBytesPerSec)
	// Only segments sealed before this call (under a steady stream of
	// overwrites there is always new dead data, and one call must end),
	// and only records whose keydir updates are done: a batch appended
	// across a roll updates the keydir after its records are in a sealed
	// segment, and until then the decider would take them for dead.
	upto := db.kdNext.Load()
	// Nor does one call merge its own outputs again: writes meanwhile
	// make them a little dead, and rewriting them for that is waste.
	made := make(map[uint32]bool)
	// Every merge either reclaims bytes or merges small segments into
	// fewer; bound the rounds anyway.
	for round := 0; round < 1000; round++ {
		segs := db.log.Segments()
		infos, now := db.segmentInfos(segs, upto)
		for i, s := range segs[:len(infos)] {
			if made[s.ID()] {
				infos[i].Mergeable = false
			}
		}
		run, ok := p.Pick(infos)
		var st compaction.Stats
		var err error
		if ok {
			var outs []uint32
			st, outs, err = db.merge(ctx, segs, run, now, limit)
			for _, id := range outs {
				made[id] = true
			}
		}
		for _, s := range segs {
			s.Release()
		}
		if err != nil {
			res.Duration = time.Since(start)
			return res, err
		}
		if !ok {
			break
		}
		res.Merges++
		res.Segments += st.Segments
		res.BytesBefore += st.BytesIn
		res.BytesAfter += st.BytesOut
		db.compacted.merges.Add(1)
		db.compacted.reclaimed.Add(st.Reclaimed())
		db.opts.Logger.Info("merged segments", "segments", st.Segments, "outputs", st.OutputCount,
			"bytes_in", st.BytesIn, "bytes_out", st.BytesOut, "records", st.Records, "kept", st.Kept,
			"duration", st.Duration, "throttled", st.Throttled)
		if st.Reclaimed() <= 0 && st.OutputCount >= st.Segments {
			break // nothing gained: the estimate was off; stop rather than spin
		}
	}
	res.Reclaimed = res.BytesBefore - res.BytesAfter
	res.Duration = time.Since(start)
	return res, nil
}

func (db *DB) bgCtx() context.Context {
	if db.bg.ctx == nil {
		return context.Background()
	}
	return db.bg.ctx
}

// segmentInfos describes the sealed segments of segs (all but the active
// one) for the policy, and returns the time it used. Segments with records
// at or above offset upto are not mergeable.
func (db *DB) segmentInfos(segs []*segment.Segment, upto uint64) ([]compaction.SegmentInfo, int64) {
	now := db.now()
	sealed := segs[:max(len(segs)-1, 0)]
	cut := db.keylessCutoff(segs)
	infos := make([]compaction.SegmentInfo, len(sealed))
	db.kd.RLock()
	defer db.kd.RUnlock()
	for i, s := range sealed {
		a := db.kd.acct[s.ID()]
		if a == nil {
			a = &segAcct{}
		}
		bytes, keyless := s.Size(), s.KeylessBytes()
		last := s.LastTimestamp()
		dead := max(bytes-keyless-a.live-a.tomb, 0) // superseded keyed records
		if db.keylessExpired(last, s.LastOffset(), cut) {
			dead += keyless
		}
		if a.nextExpiry != 0 && a.nextExpiry <= now && !db.opts.Replicated {
			dead += a.ttl
		}
		headDead := dead
		if last < now-int64(db.opts.TombstoneRetention) {
			headDead += a.tomb
		}
		infos[i] = compaction.SegmentInfo{Bytes: bytes, Dead: dead, HeadDead: headDead, Mergeable: s.Finished() && s.LastOffset() < upto}
	}
	return infos, now
}

// keylessCutoff returns the offset below which keyless records are past
// RetentionBytes (0: none): the oldest segments are given up until the
// rest fit.
func (db *DB) keylessCutoff(segs []*segment.Segment) uint64 {
	limit := db.opts.RetentionBytes
	if limit <= 0 {
		return 0
	}
	var total int64
	for _, s := range segs {
		total += s.Size()
	}
	var cut uint64
	for _, s := range segs[:max(len(segs)-1, 0)] {
		if total <= limit {
			break
		}
		total -= s.Size()
		cut = s.LastOffset() + 1
	}
	return cut
}

// keylessExpired reports whether a keyless record with timestamp ts and
// offset off is past retention (by age, or below the bytes cutoff).
func (db *DB) keylessExpired(ts int64, off, cut uint64) bool {
	if r := db.opts.Retention; r > 0 && ts < db.now()-int64(r) {
		return true
	}
	return off < cut
}

// expiredKey is a key whose last record expired and was dropped (or made
// a tombstone) by a merge: the keydir forgets it if it still points there.
type expiredKey struct {
	key    []byte
	offset uint64
}

// merge merges the run of segs and swaps the result in.
// It returns the outputs' segment ids.
func (db *DB) merge(ctx context.Context, segs []*segment.Segment, run compaction.Run, now int64, limit *rate.Limiter) (compaction.Stats, []uint32, error) {
	inputs := segs[run.Start:run.End]
	var expired []expiredKey
	decide := db.decider(run.Start == 0, now, db.keylessCutoff(segs), &expired)
	b := db.log.NewBuilder()
	st, err := compaction.Merge(ctx, inputs, b, decide, limit)
	if err != nil {
		b.Abort()
		return st, nil, err
	}
	// The merge dropped records because later ones supersede them; those
	// must be durable before the merge commits, or a machine crash could
	// lose the later record after the earlier one is gone, and an older
	// value (or a deleted key) would come back.
	if err := db.syncTo(db.log.Next() - 1); err != nil {
		b.Abort()
		return st, nil, err
	}
	// Written and fsynced before Install, which holds the log's maint lock
	// (checkpoints and truncations wait on it) from then to Finish.
	if err := b.Finish(db.mergeHook); err != nil {
		b.Abort()
		return st, nil, err
	}
	sw, err := db.log.Install(inputs, b, db.mergeHook)
	if err != nil {
		return st, nil, err
	}
	var outs []uint32
	for _, s := range sw.Outputs() {
		outs = append(outs, s.ID())
	}
	relocErr := db.relocate(sw, inputs, expired)
	if relocErr != nil {
		// Keys may still point into the inputs, which Finish retires:
		// refuse writes; a reopen rebuilds the keydir from the files,
		// which are complete.
		db.fail(relocErr)
	}
	if err := sw.Finish(); err != nil {
		return st, outs, errors.Join(relocErr, err)
	}
	return st, outs, relocErr
}

// stepRelocating is the merge hook's step halfway through relocate (the
// files are in place; the keydir is half moved).
const stepRelocating segment.MergeStep = "relocating"

// relocBatch bounds the keydir entries moved per hold of the keydir lock,
// so writers and readers wait microseconds, not the whole swap.
const relocBatch = 256

// relocate points the keydir at the merge's outputs: each key whose entry
// still has the offset of a record the merge kept moves to the record's
// new place (a write since the merge read it wins), and keys whose last
// record expired and went are forgotten. Readers meanwhile find either
// place: the outputs are reachable by id and the inputs are still in the
// view.
func (db *DB) relocate(sw *segment.Swap, inputs []*segment.Segment, expired []expiredKey) error {
	isInput := make(map[uint32]bool, len(inputs))
	for _, s := range inputs {
		isInput[s.ID()] = true
	}
	for i, out := range sw.Outputs() {
		if i == len(sw.Outputs())/2 && db.mergeHook != nil {
			if err := db.mergeHook(stepRelocating); err != nil {
				return err
			}
		}
		h := out.Hints()
		if h == nil {
			return fmt.Errorf("%w: merged segment %d has no hints", ErrCorrupt, out.Base())
		}
		it := h.Iter()
		more := it.Next()
		for more {
			db.kd.Lock()
			a := db.acct(out.ID())
			for n := 0; more && n < relocBatch; n++ {
				he := it.Entry()
				if he.Flags&segment.FlagTombstone != 0 {
					a.tomb += int64(he.Size)
				} else if e, ok := db.kd.m.Get(he.Key); ok && e.Offset == he.Offset && isInput[e.Seg] {
					ne := keydir.Entry{Offset: he.Offset, Seg: out.ID(), Pos: he.Position, Size: he.Size, Flags: uint8(he.Flags)}
					db.kd.m.Relocate(he.Key, he.Offset, ne)
					db.acct(e.Seg).removeLive(e)
					a.addLive(ne)
					if he.Flags&segment.FlagExpiry != 0 {
						a.expiring(he.Expiry)
					}
				}
				more = it.Next()
			}
			db.kd.Unlock()
		}
		out.DropHints()
	}
	db.kd.Lock()
	defer db.kd.Unlock()
	for _, x := range expired {
		if e, ok := db.kd.m.Get(x.key); ok && e.Offset == x.offset {
			db.kd.m.Delete(x.key)
			db.acct(e.Seg).removeLive(e)
		}
	}
	var stranded int64
	for id := range isInput {
		if a := db.kd.acct[id]; a != nil {
			stranded += a.live
		}
		delete(db.kd.acct, id)
	}
	if stranded != 0 {
		// A bug in the liveness decision: keys point at records the merge
		// dropped. Refuse writes; a reopen rebuilds the keydir from disk.
		err := fmt.Errorf("%w: merge left %d bytes of live keys in removed segments", ErrCorrupt, stranded)
		db.fail(err)
		return err
	}
	return nil
}

// decider returns the liveness decision for records of a merge. head says
// the merge starts at the log's first segment: no older record of any key
// exists outside it, so a key's last record may go when it is a tombstone
// past retention or expired.
func (db *DB) decider(head bool, now int64, cut uint64, expired *[]expiredKey) func(*segment.Record) compaction.Decision {
	tombBefore := now - int64(db.opts.TombstoneRetention)
	return func(r *segment.Record) compaction.Decision {
		if len(r.Key) == 0 {
			if db.keylessExpired(r.Timestamp, r.Offset, cut) {
				return compaction.Drop
			}
			return compaction.Keep
		}
		db.kd.RLock()
		e, ok := db.kd.m.Get(r.Key)
		db.kd.RUnlock()
		switch {
		case ok && e.Offset > r.Offset:
			return compaction.Drop // superseded
		case ok && e.Offset == r.Offset:
			if !r.Expired(now) || db.opts.Replicated {
				// A replicated store's keyed state changes only by ops
				// (expiry is judged at each op's time): keep the value.
				return compaction.Keep
			}
			*expired = append(*expired, expiredKey{key: append([]byte(nil), r.Key...), offset: r.Offset})
			if head {
				return compaction.Drop
			}
			return compaction.Tombstone
		case ok:
			return compaction.Keep // newer than the keydir: cannot happen; keep to be safe
		}
		// No live value: r is superseded by a later tombstone or expired
		// record, or is itself the key's last record (a tombstone, or an
		// expired value the keydir dropped at open).
		switch {
		case r.Tombstone():
			if head && r.Timestamp < tombBefore {
				return compaction.Drop
			}
			return compaction.Keep
		case r.Flags&segment.FlagExpiry != 0:
			// It may be the key's last record, which Open left out of the
			// keydir because it had expired then (the clock may since
			// have gone back): keep its place.
			if head {
				return compaction.Drop
			}
			return compaction.Tombstone
		}
		return compaction.Drop // a value a later tombstone or expiry superseded
	}
}
