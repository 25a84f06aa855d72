package replication

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/caskade/caskade/engine/segment"
	"github.com/caskade/caskade/internal/failpoint"
)

// LogStoreOptions configure a LogStore. The zero value is usable.
type LogStoreOptions struct {
	// SegmentBytes is the size at which a segment of the Raft log is
	// sealed and a new one started; 0 means segment.DefaultSegmentBytes.
	// Raft drops the head of its log a whole segment at a time, so smaller
	// segments return disk space sooner after a snapshot.
	SegmentBytes int64
	// Logger receives the segment log's background errors; nil discards
	// them.
	Logger *slog.Logger
}

// maxScratchBytes bounds the scratch buffer a LogStore keeps between
// calls; a larger one (a batch with big extensions) is dropped.
const maxScratchBytes = 1 << 20

// LogStore is a raft.LogStore on a segment log of its own: entry i is the
// segment record at offset i (the layout is in doc.go). StoreLogs makes a
// batch durable with one append and one fsync before it returns.
//
// Concurrency: safe for concurrent use. Changes are serialized; reads run
// in parallel with them and with each other and take no lock across I/O.
type LogStore struct {
	log *segment.Log
	dir string

	// wmu serializes changes (StoreLogs, DeleteRange, Close). It is held
	// across appends, fsyncs and truncations. Readers do not take it,
	// except a GetLog that raced a tail cut, to wait for it to end. It
	// guards the fields below.
	wmu struct {
		sync.Mutex
		// floor is the durable floor (raft-first-index): records below it
		// are deleted. Invariant: when the store has entries, floor <=
		// first; when it has none, every record of log is below floor.
		floor uint64
		// hdrs, recs and scratch are reused by StoreLogs: the segment log
		// copies records out of them before Append returns.
		hdrs    []byte
		recs    []segment.Record
		scratch []byte
	}

	// hooks are test seams around GetLog's read of the segment log; nil
	// outside tests. Set before the store is shared.
	hooks struct{ beforeRead, afterRead func() }

	// mu guards live and closed. It is held only to read or update them,
	// never across I/O or a call into log.
	mu struct {
		sync.RWMutex
		live   liveRange
		closed bool
	}
}

// liveRange is where the live entries are, as readers see it.
type liveRange struct {
	// first and last are the offsets of the first and last live records:
	// FirstIndex and LastIndex. Both are 0 when there are none.
	// Invariant: first == 0 && last == 0 || 0 < first <= last. Every
	// record of the segment log in [first, last] is live (there may be
	// gaps); none outside it is.
	first, last uint64
	// cuts counts the tail truncations of the segment log, raised before
	// each: a read that fails or finds another offset while it changes
	// may have raced a cut and a refill, and is worth another try.
	cuts uint64
}

// has reports whether index is in the live range.
func (r liveRange) has(index uint64) bool {
	return r.first != 0 && r.first <= index && index <= r.last
}

// Compile-time check: a LogStore is a raft.LogStore.
var _ raft.LogStore = (*LogStore)(nil)

// OpenLogStore opens or creates the Raft log in dir, a directory that
// holds nothing else (in particular no user data). A torn tail left by a
// crash is cut; every batch StoreLogs returned from without error is
// there, and no entry DeleteRange removed comes back. nil opts means all
// defaults.
func OpenLogStore(dir string, opts *LogStoreOptions) (*LogStore, error) {
	var o LogStoreOptions
	if opts != nil {
		o = *opts
	}
	log, err := segment.Open(dir, &segment.Options{
		SegmentBytes: o.SegmentBytes,
		Hints:        false, // entries are read by offset, never by key
		Logger:       o.Logger,
		// Every StoreLogs syncs: keep those fsyncs to data only.
		ZeroFill: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open raft log store %s: %w", dir, err)
	}
	s, err := openLogStore(dir, log)
	if err != nil {
		_ = log.Close() // the error that matters is the one above
		return nil, fmt.Errorf("open raft log store %s: %w", dir, err)
	}
	return s, nil
}

func openLogStore(dir string, log *segment.Log) (*LogStore, error) {
	floor, err := readFirstIndex(dir)
	if err != nil {
		return nil, err
	}
	s := &LogStore{log: log, dir: dir}
	s.wmu.floor = floor
	first, err := s.firstAtOrAfter(floor)
	if err != nil {
		return nil, err
	}
	if first != 0 {
		s.mu.live = liveRange{first: first, last: s.lastRecord()}
	}
	return s, nil
}

// firstAtOrAfter returns the offset of the first record at or after
// offset, or 0 if there is none.
func (s *LogStore) firstAtOrAfter(offset uint64) (uint64, error) {
	offset = max(offset, s.log.Earliest())
	if offset >= s.log.Next() {
		return 0, nil
	}
	rec, err := s.log.Read(offset)
	if errors.Is(err, segment.ErrOutOfRange) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find first entry at or after %d: %w", offset, err)
	}
	return rec.Offset, nil
}

// lastRecord returns the offset of the last record of the segment log, or
// 0 if it has none.
func (s *LogStore) lastRecord() uint64 {
	segs := s.log.Segments()
	defer func() {
		for _, seg := range segs {
			seg.Release()
		}
	}()
	for i := len(segs) - 1; i >= 0; i-- {
		if last := segs[i].LastOffset(); last != 0 {
			return last
		}
	}
	return 0
}

// live returns the live range, or segment.ErrClosed.
func (s *LogStore) live() (liveRange, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.mu.closed {
		return liveRange{}, segment.ErrClosed
	}
	return s.mu.live, nil
}

// setLive sets the live range to [first, last] ([0, 0]: empty).
func (s *LogStore) setLive(first, last uint64) {
	s.mu.Lock()
	s.mu.live.first, s.mu.live.last = first, last
	s.mu.Unlock()
}

// truncateTailLocked cuts the segment log after offset, telling readers
// first (liveRange.cuts). Caller holds wmu.
func (s *LogStore) truncateTailLocked(offset uint64) error {
	s.mu.Lock()
	s.mu.live.cuts++
	s.mu.Unlock()
	if err := s.log.TruncateTail(offset); err != nil {
		return fmt.Errorf("truncate tail after %d: %w", offset, err)
	}
	return nil
}

// FirstIndex returns the index of the first entry, or 0 if there is none.
func (s *LogStore) FirstIndex() (uint64, error) {
	r, err := s.live()
	if err != nil {
		return 0, fmt.Errorf("raft log first index: %w", err)
	}
	return r.first, nil
}

// LastIndex returns the index of the last entry, or 0 if there is none.
func (s *LogStore) LastIndex() (uint64, error) {
	r, err := s.live()
	if err != nil {
		return 0, fmt.Errorf("raft log last index: %w", err)
	}
	return r.last, nil
}

// GetLog reads the entry at index into out. It returns raft.ErrLogNotFound
// when there is no such entry: outside [FirstIndex, LastIndex], in a gap,
// or removed by a DeleteRange running meanwhile. out.Data and
// out.Extensions are the caller's to keep (they share one allocation).
func (s *LogStore) GetLog(index uint64, out *raft.Log) error {
	// A change running meanwhile can make the read fail: a head delete
	// (out of range), a tail cut (corrupt while it is being cut) and a
	// refill (another record at that place). A read that raced a cut
	// waits for the change to end and is tried again.
	const attempts = 4
	for attempt := 1; ; attempt++ {
		before, err := s.live()
		if err != nil {
			return fmt.Errorf("raft log get %d: %w", index, err)
		}
		if !before.has(index) {
			return raft.ErrLogNotFound
		}
		if s.hooks.beforeRead != nil {
			s.hooks.beforeRead()
		}
		rec, err := s.log.Read(index)
		if s.hooks.afterRead != nil {
			s.hooks.afterRead()
		}
		if err == nil && rec.Offset == index {
			if err := decodeLogEntry(index, rec.Key, rec.Value, out); err != nil {
				return fmt.Errorf("raft log get %d in %s: %w", index, s.dir, err)
			}
			return nil
		}
		after, lerr := s.live()
		switch {
		case lerr != nil:
			return fmt.Errorf("raft log get %d: %w", index, lerr)
		case !after.has(index):
			return raft.ErrLogNotFound // deleted meanwhile
		case after.cuts != before.cuts && attempt < attempts:
			s.waitForChange()
			continue
		case err == nil:
			return raft.ErrLogNotFound // a gap: Read returned the next record
		}
		return fmt.Errorf("raft log get %d: %w", index, err)
	}
}

// waitForChange returns once the change running now, if any, is over:
// changes are made under wmu (and cuts counted before they start).
func (s *LogStore) waitForChange() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
}

// StoreLog stores one entry; see StoreLogs.
func (s *LogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs appends entries and makes them durable (one append, one fsync)
// before it returns. Indexes must be increasing and above LastIndex; they
// may leave gaps, and on an empty store the first may be any index. The
// store keeps no reference to logs once it returns. On error the live range
// is unchanged (GetLog finds none of the entries; after a crash some may
// be back, as for any entry Raft was not told is stored) and a StoreLogs at
// the same indexes, or any above LastIndex, may follow.
func (s *LogStore) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	for i, l := range logs {
		if err := checkLogEntry(l); err != nil {
			return fmt.Errorf("raft log store: %w", err)
		}
		if i > 0 && l.Index <= logs[i-1].Index {
			return fmt.Errorf("raft log store: index %d after %d: indexes must increase", l.Index, logs[i-1].Index)
		}
	}
	from, to := logs[0].Index, logs[len(logs)-1].Index

	s.wmu.Lock()
	defer s.wmu.Unlock()
	live, err := s.live()
	if err != nil {
		return fmt.Errorf("raft log store %d..%d: %w", from, to, err)
	}
	if live.first != 0 && from <= live.last {
		return fmt.Errorf("raft log store %d..%d: would overwrite entries up to %d (delete the tail first)", from, to, live.last)
	}
	if err := s.prepareAppendLocked(from, live); err != nil {
		return fmt.Errorf("raft log store %d..%d: %w", from, to, err)
	}

	s.wmu.hdrs = growBytes(s.wmu.hdrs, len(logs)*entryHeaderSize)
	s.wmu.recs = s.wmu.recs[:0]
	s.wmu.scratch = s.wmu.scratch[:0]
	for i, l := range logs {
		var r segment.Record
		r, s.wmu.scratch = encodeLogEntry(s.wmu.hdrs[i*entryHeaderSize:], s.wmu.scratch, l)
		s.wmu.recs = append(s.wmu.recs, r)
	}
	err = s.log.Append(s.wmu.recs, nil)
	// The records hold the callers' Data: drop the references.
	clear(s.wmu.recs)
	if cap(s.wmu.scratch) > maxScratchBytes {
		s.wmu.scratch = nil
	}
	if err != nil {
		return fmt.Errorf("raft log store %d..%d: append: %w", from, to, err)
	}
	failpoint.Hit(failpoint.RaftLogAppend)
	if _, err := s.log.Sync(); err != nil {
		return fmt.Errorf("raft log store %d..%d: sync: %w", from, to, err)
	}
	first := live.first
	if first == 0 {
		first = from
	}
	s.setLive(first, to)
	return nil
}

// prepareAppendLocked makes from the segment log's next offset or less,
// so that Append accepts it, and makes sure no record at or above from is
// left over from a failed call or a deleted tail. Caller holds wmu.
func (s *LogStore) prepareAppendLocked(from uint64, live liveRange) error {
	// Records above last (or, when empty, at or above floor) are not live:
	// a failed StoreLogs or DeleteRange may have left some.
	empty := live.first == 0
	cut := live.last
	if empty {
		cut = from - 1
	}
	if s.log.Next() > cut+1 {
		if err := s.truncateTailLocked(cut); err != nil {
			return err
		}
	}
	if empty && s.wmu.floor > from {
		// Every record left is below from (the segment log's next offset
		// is at most from), so floor may come down to from.
		if err := writeFirstIndex(s.dir, from); err != nil {
			return err
		}
		s.wmu.floor = from
	}
	return nil
}

// growBytes returns b resized to n bytes, reallocated if too small.
func growBytes(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// DeleteRange deletes the entries with indexes in [minIndex, maxIndex].
// Raft deletes either a head (minIndex <= FirstIndex, after a snapshot) or
// a tail (maxIndex >= LastIndex, on a conflict), or everything; a range
// strictly inside the log is refused with an error. A range holding no
// entry is not an error. The deletion is durable when it returns. On disk
// the head goes a whole segment at a time; the entries of a segment kept
// in part are hidden by the durable first index (see doc.go).
func (s *LogStore) DeleteRange(minIndex, maxIndex uint64) error {
	if minIndex > maxIndex {
		return fmt.Errorf("raft log delete %d..%d: empty range", minIndex, maxIndex)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	live, err := s.live()
	if err != nil {
		return fmt.Errorf("raft log delete %d..%d: %w", minIndex, maxIndex, err)
	}
	first, last := live.first, live.last
	if first == 0 {
		return nil
	}
	// The live part of the range.
	lo, hi := max(minIndex, first), min(maxIndex, last)
	switch {
	case lo > hi:
		return nil // nothing live in the range
	case lo == first && hi == last:
		err = s.deleteAllLocked(last)
	case lo == first:
		err = s.deleteHeadLocked(hi)
	case hi == last:
		err = s.deleteTailLocked(first, lo)
	default:
		return fmt.Errorf("raft log delete %d..%d: a range inside [%d, %d] is not supported", minIndex, maxIndex, first, last)
	}
	if err != nil {
		return fmt.Errorf("raft log delete %d..%d: %w", minIndex, maxIndex, err)
	}
	return nil
}

// deleteAllLocked deletes every entry (the last is last). Caller holds wmu.
func (s *LogStore) deleteAllLocked(last uint64) error {
	// Hide everything durably first: a crash while segments are being
	// removed then brings nothing back, whatever removal reached the disk.
	// Next, not last+1: a failed StoreLogs may have left records above
	// last, and they must not come back either.
	floor := max(last+1, s.log.Next())
	if err := writeFirstIndex(s.dir, floor); err != nil {
		return err
	}
	s.wmu.floor = floor
	s.setLive(0, 0)
	// Free the space. The records are dead already; should this fail, the
	// next StoreLogs cuts them before it appends.
	if earliest := s.log.Earliest(); s.log.Next() > earliest {
		if err := s.truncateTailLocked(earliest - 1); err != nil {
			return fmt.Errorf("remove segments: %w", err)
		}
	}
	return nil
}

// deleteHeadLocked deletes the entries up to hi, which is below the last
// entry. Caller holds wmu.
func (s *LogStore) deleteHeadLocked(hi uint64) error {
	newFirst, err := s.firstAtOrAfter(hi + 1)
	if err != nil {
		return err
	}
	if newFirst == 0 {
		// The live range said there is an entry above hi.
		return fmt.Errorf("%w: no record after %d below the last entry", segment.ErrCorrupt, hi)
	}
	if err := writeFirstIndex(s.dir, newFirst); err != nil {
		return err
	}
	s.wmu.floor = newFirst
	s.mu.Lock()
	s.mu.live.first = newFirst
	s.mu.Unlock()
	// Whole segments below newFirst go; the rest stays hidden by floor.
	if err := s.log.TruncateHead(newFirst); err != nil {
		return fmt.Errorf("truncate head below %d: %w", newFirst, err)
	}
	return nil
}

// deleteTailLocked deletes the entries from lo on, lo being above first.
// Caller holds wmu.
func (s *LogStore) deleteTailLocked(first, lo uint64) error {
	// Readers stop seeing the tail before it is cut. lo-1 bounds the last
	// entry from above until the cut tells where it really is (a gap may
	// end below lo-1).
	s.setLive(first, lo-1)
	if err := s.truncateTailLocked(lo - 1); err != nil {
		return err
	}
	last := s.lastRecord()
	if last < first {
		return fmt.Errorf("%w: last record %d below first entry %d after truncating the tail", segment.ErrCorrupt, last, first)
	}
	s.setLive(first, last)
	return nil
}

// Close closes the log store; later calls return errors wrapping
// segment.ErrClosed. Closing twice is not an error.
func (s *LogStore) Close() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	closed := s.mu.closed
	s.mu.closed = true
	s.mu.Unlock()
	if closed {
		return nil
	}
	if err := s.log.Close(); err != nil {
		return fmt.Errorf("close raft log store %s: %w", s.dir, err)
	}
	return nil
}
