package segment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Log. The zero value is usable.
type Options struct {
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one started; 0 means 64 MiB. At most 1 GiB, so that positions fit
	// in 32 bits together with the largest record.
	SegmentBytes int64
	// Hints makes sealed segments (and the active one on Close) write a
	// hint file of their keys, for a fast startup of a keyed store.
	Hints bool
	// InitialOffset is the offset of the first record of a new, empty log;
	// 0 means 1.
	InitialOffset uint64
	// Logger receives background errors (sealing); nil discards them.
	Logger *slog.Logger
	// OnSync, when set, is called after each Sync that flushed the active
	// segment (each one Syncs counts) with the time that Sync spent
	// writing back: sealed segments, the active one and the directory. It
	// runs on the syncing goroutine, which holds syncMu, so it must be
	// quick (observe a histogram); nil costs one comparison per Sync.
	OnSync func(time.Duration)
	// ZeroFill is for logs that Sync after (nearly) every append. Appends
	// are written with pwrite instead of through the mapping, and zeros
	// are written ahead of them in the background, so that each Sync
	// flushes data into blocks already written instead of also committing
	// the filesystem's journal (zerofill.go): about four times cheaper on
	// ext4. It costs a system call per Append and doubles the bytes
	// written to the active segment's file.
	ZeroFill bool
}

const (
	// DefaultSegmentBytes is the SegmentBytes used when none is set.
	DefaultSegmentBytes = 64 << 20
	// MaxSegmentBytes is the largest SegmentBytes allowed.
	MaxSegmentBytes = 1 << 30
)

func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.InitialOffset == 0 {
		o.InitialOffset = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.SegmentBytes < HeaderSize+1 || o.SegmentBytes > MaxSegmentBytes {
		errs = append(errs, fmt.Errorf("segment: SegmentBytes %d outside [%d, %d]", o.SegmentBytes, HeaderSize+1, MaxSegmentBytes))
	}
	return errors.Join(errs...)
}

// Loc is where Append put a record.
type Loc struct {
	Seg  uint32 // the segment's id (Segment.ID)
	Pos  uint32 // byte position in the segment's .log
	Size uint32 // encoded size
}

// view is an immutable snapshot of the log's segments, replaced whole.
type view struct {
	segs []*Segment          // in offset order; the last is the active one
	byID map[uint32]*Segment // the same segments by id
}

// Log is an ordered, append-only log of records stored as a directory of
// segments. It is the storage of the engine and, in its own directory, of
// the Raft log.
//
// Concurrency: safe for concurrent use. Appends and truncations are
// serialized by mu; reads take no lock (they work on an immutable view of
// the segments and hold segment references). Lock order: Log.syncMu, then
// Log.mu, then Segment.fileMu; Log.maint comes before all of them.
type Log struct {
	dir  string
	opts Options  // immutable after Open
	lock *os.File // holds the directory lock until Close

	mu struct {
		sync.Mutex // guards the fields below and every change to the view
		active     *Segment
		nextID     uint32
		unsynced   []*Segment // sealed since the last Sync; may hold unsynced data
		dirDirty   bool       // a file was created or removed since the last Sync
		closed     bool
		buf        []byte // Append's encoding buffer, reused
		// broken is set when a truncation failed halfway or an append's
		// write failed: memory and files may disagree, so appends and
		// truncations are refused until the log is reopened (Open
		// repairs from the files).
		broken error
	}
	// next is the offset the next append gets. Written under mu.
	next atomic.Uint64
	// v is the current view; replaced under mu.
	v atomic.Pointer[view]

	// maint serializes the rare operations that change which segments
	// exist other than by appending: merges (held from Install to
	// Swap.Finish), TruncateHead and TruncateTail. It guards mergeFailed.
	maint sync.Mutex
	// mergeFailed is set when a merge failed after its commit point: the
	// files are half moved and only the next Open may finish them.
	mergeFailed error

	// syncMu serializes Sync calls and guards Segment.synced.
	syncMu sync.Mutex
	// syncs counts the Sync calls that flushed something.
	syncs atomic.Uint64

	sealer struct {
		sync.Mutex // guards queue, busy and idle
		queue      []*Segment
		busy       bool          // the goroutine is sealing a batch taken from queue
		idle       chan struct{} // closed (and replaced) when queue empties and busy ends
		wake       chan struct{} // buffered(1): queue changed
		done       chan struct{} // closed by Close to stop the goroutine
		wg         sync.WaitGroup
	}
}

// Open opens or creates the log in dir. Torn tails are repaired and
// missing or stale index and hint files rebuilt (see openSegment).
func Open(dir string, opts *Options) (*Log, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l, err := open(dir, o, lock)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return l, nil
}

func open(dir string, o Options, lock *os.File) (*Log, error) {
	if err := recoverMerge(dir); err != nil {
		return nil, fmt.Errorf("recover merge: %w", err)
	}
	bases, err := listBases(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{dir: dir, opts: o, lock: lock}
	v := &view{byID: make(map[uint32]*Segment)}
	var unsealed []*Segment
	for i, base := range bases {
		last := i == len(bases)-1
		oo := openOptions{id: l.mu.nextID, last: last, preallocated: o.SegmentBytes}
		if last {
			oo.capacity = o.SegmentBytes
			oo.zeroFill = o.ZeroFill
		}
		s, err := openSegment(dir, base, oo)
		if err != nil {
			closeAll(v.segs)
			return nil, fmt.Errorf("open segment %d: %w", base, err)
		}
		l.mu.nextID++
		if s.torn {
			// A machine crash tore this segment before it was synced:
			// the later segments hold only records no Sync covered.
			// Drop them and go on appending here.
			if s, err = l.resumeTorn(s, bases[i+1:]); err != nil {
				closeAll(v.segs)
				return nil, err
			}
			v.segs = append(v.segs, s)
			v.byID[s.id] = s
			break
		}
		v.segs = append(v.segs, s)
		v.byID[s.id] = s
		if !last && (s.recovered || s.hints == nil && o.Hints || !fileSizeIs(s.f, s.Size())) {
			unsealed = append(unsealed, s)
		} else if !last {
			s.finished.Store(true)
		}
		if !last && s.recovered {
			// What the scan found may be in the page cache only (a
			// crashed process): the next Sync makes it durable.
			l.mu.unsynced = append(l.mu.unsynced, s)
		}
	}
	if len(v.segs) == 0 {
		s, err := l.createLocked(o.InitialOffset, o.SegmentBytes)
		if err != nil {
			return nil, err
		}
		v.segs = append(v.segs, s)
		v.byID[s.id] = s
		l.mu.dirDirty = true
	}
	active := v.segs[len(v.segs)-1]
	if active.hints != nil {
		// Loaded into memory; the file goes stale with the first append.
		if err := os.Remove(active.Path(HintExt)); err != nil && !errors.Is(err, os.ErrNotExist) {
			closeAll(v.segs)
			return nil, err
		}
	}
	l.mu.active = active
	l.next.Store(max(active.base, active.LastOffset()+1))
	l.v.Store(v)
	l.sealer.wake = make(chan struct{}, 1)
	l.sealer.done = make(chan struct{})
	l.sealer.queue = unsealed
	l.sealer.wg.Add(1)
	go l.runSealer()
	if len(unsealed) > 0 {
		l.sealer.wake <- struct{}{}
	}
	return l, nil
}

// resumeTorn removes the segments after a torn older segment s and reopens
// s as the active one.
func (l *Log) resumeTorn(s *Segment, later []uint64) (*Segment, error) {
	l.opts.Logger.Warn("torn segment before newer ones: dropping records no sync covered",
		"segment", s.Path(LogExt), "next_offset", s.LastOffset()+1, "dropped_segments", len(later))
	s.Release()
	for _, base := range later {
		for _, ext := range []string{LogExt, IndexExt, HintExt} {
			if err := os.Remove(Path(l.dir, base, ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		}
	}
	if err := syncDir(l.dir); err != nil {
		return nil, err
	}
	ns, err := openSegment(l.dir, s.base, openOptions{id: l.mu.nextID, capacity: l.opts.SegmentBytes, last: true, zeroFill: l.opts.ZeroFill})
	if err != nil {
		return nil, fmt.Errorf("open segment %d: %w", s.base, err)
	}
	l.mu.nextID++
	return ns, nil
}

func fileSizeIs(f *os.File, size int64) bool {
	fi, err := f.Stat()
	return err == nil && fi.Size() == size
}

func closeAll(segs []*Segment) {
	for _, s := range segs {
		s.Release()
	}
}

// listBases returns the base offsets of the .log files in dir, sorted, and
// removes leftovers: temporary files and index or hint files without a log.
func listBases(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	logs := make(map[uint64]bool)
	var others []string
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		ext := filepath.Ext(name)
		base, err := strconv.ParseUint(strings.TrimSuffix(name, ext), 10, 64)
		if err != nil || len(name)-len(ext) != 20 {
			continue // not ours
		}
		switch ext {
		case LogExt:
			logs[base] = true
		case IndexExt, HintExt:
			others = append(others, name)
		}
	}
	for _, name := range others {
		base, _ := strconv.ParseUint(strings.TrimSuffix(name, filepath.Ext(name)), 10, 64)
		if !logs[base] {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return nil, err
			}
		}
	}
	bases := make([]uint64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return bases, nil
}

// createLocked creates a new, empty segment file set. Caller holds mu (or
// owns the log exclusively during Open).
func (l *Log) createLocked(base uint64, capacity int64) (*Segment, error) {
	for _, ext := range []string{LogExt, IndexExt, HintExt} {
		if err := os.Remove(Path(l.dir, base, ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	s, err := openSegment(l.dir, base, openOptions{id: l.mu.nextID, capacity: capacity, last: true, zeroFill: l.opts.ZeroFill})
	if err != nil {
		return nil, err
	}
	l.mu.nextID++
	return s, nil
}

// Syncs returns how many Sync calls have flushed records to disk.
func (l *Log) Syncs() uint64 { return l.syncs.Load() }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Next returns the offset the next append will get (the high-water mark).
func (l *Log) Next() uint64 { return l.next.Load() }

// Earliest returns the log start: the base offset of the oldest segment.
// Compaction may leave no record at exactly that offset.
func (l *Log) Earliest() uint64 { return l.v.Load().segs[0].base }

// Append writes recs in order and makes them visible to readers. A record
// whose Offset is 0 gets the next offset (written back into recs); an
// explicit Offset must be at least Next (gaps are allowed). If locs is not
// nil it must have len(recs) and receives where each record went. Nothing
// is written when a record breaks the format limits or the offset order.
// If starting a new segment fails midway (a full disk), the records before
// it stay written (their locs are filled in, the rest are zero) and the
// error is returned. Durability comes with Sync.
func (l *Log) Append(recs []Record, locs []Loc) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.broken != nil {
		return l.mu.broken
	}
	next := l.next.Load()
	for i := range recs {
		r := &recs[i]
		if len(r.Key) > MaxKeyLen || len(r.Value) > MaxValueLen {
			return fmt.Errorf("segment: record too large (key %d, value %d bytes)", len(r.Key), len(r.Value))
		}
		// What DecodeHeader refuses must never be written: it would read
		// back as corruption (and end a recovery scan there).
		if r.Flags&^knownFlags != 0 || r.Flags&FlagExpiry == 0 && r.Expiry != 0 {
			return fmt.Errorf("segment: record flags %#x with expiry %d are not a valid record", byte(r.Flags), r.Expiry)
		}
		if r.Offset != 0 && r.Offset < next {
			return fmt.Errorf("segment: append offset %d below next offset %d", r.Offset, next)
		}
		if r.Offset == math.MaxUint64 {
			return fmt.Errorf("segment: append offset %d leaves no next offset", r.Offset)
		}
		if r.Offset != 0 {
			next = r.Offset
		}
		next++
	}
	// The records bound for one segment are encoded into the mapping, or
	// with ZeroFill into l.mu.buf and written with one pwrite; then they
	// are published together.
	s := l.mu.active
	n, pos := s.idx.Len(), s.size.Load()
	next = l.next.Load()
	var (
		buf     = l.mu.buf[:0]
		at      = pos           // where buf goes in s
		last    = s.last.Load() // offset of the last record in s, buf included
		keyless int64           // bytes of keyless records in buf
		first   int             // index in recs of buf's first record
		pubNext = l.next.Load() // next offset after the published records
	)
	flush := func() error {
		if len(buf) > 0 && s.zf != nil {
			if err := s.writeAt(buf, at); err != nil {
				return s.corrupt("append", at, err)
			}
		}
		s.keyless.Add(keyless)
		s.publish(n, pos, last)
		return nil
	}
	failFlush := func(err error) error {
		if locs != nil {
			clear(locs[first:])
		}
		l.next.Store(pubNext)
		// Part of buf may be in the file past the published records, and
		// a shorter later append would leave whole stale records after
		// its own for a recovery scan to find: take no more appends until
		// the log is reopened (an I/O error leaves the file in doubt).
		l.mu.broken = fmt.Errorf("segment: log unusable after a failed write (reopen it): %w", err)
		return err
	}
	for i := range recs {
		r := &recs[i]
		if r.Offset == 0 {
			r.Offset = next
		}
		size := int64(r.Size())
		if pos+size > int64(len(s.data)) {
			if err := flush(); err != nil {
				return failFlush(err)
			}
			var err error
			if s, err = l.rollLocked(r.Offset, size); err != nil {
				l.next.Store(next)
				return err
			}
			n, pos, at, last, keyless, first, pubNext = 0, 0, 0, 0, 0, i, next
			buf = buf[:0]
		}
		dst := s.data[pos:]
		if s.zf != nil {
			buf = slices.Grow(buf, int(size))
			buf = buf[:len(buf)+int(size)]
			dst = buf[len(buf)-int(size):]
		}
		w := s.appendRecord(dst, n, pos, r)
		if len(r.Key) == 0 {
			keyless += w
		}
		if locs != nil {
			locs[i] = Loc{Seg: s.id, Pos: uint32(pos), Size: uint32(w)}
		}
		n++
		pos += w
		last = r.Offset
		next = r.Offset + 1
	}
	if err := flush(); err != nil {
		return failFlush(err)
	}
	l.next.Store(next)
	// Keep a modest buffer for the next append; let a huge one go.
	if cap(buf) <= maxAppendBuf {
		l.mu.buf = buf[:0]
	} else {
		l.mu.buf = nil
	}
	return nil
}

// maxAppendBuf is the largest append buffer a Log keeps between appends.
const maxAppendBuf = 1 << 20

// rollLocked seals the active segment and starts a new one at base, big
// enough for a first record of minBytes. An empty active segment is
// replaced rather than sealed. Caller holds mu.
func (l *Log) rollLocked(base uint64, minBytes int64) (*Segment, error) {
	old := l.mu.active
	capacity := max(l.opts.SegmentBytes, minBytes)
	var s *Segment
	var err error
	if old.Size() == 0 {
		// Too small even for one record: reopen the same (empty) files
		// bigger. Nothing is removed, so a failure leaves old as it was.
		// Its zero-filler must not write into the files the new segment
		// appends to.
		old.haltZeroFill()
		s, err = openSegment(l.dir, old.base, openOptions{id: l.mu.nextID, capacity: capacity, last: true, zeroFill: l.opts.ZeroFill})
		if err == nil {
			l.mu.nextID++
			old.retired.Store(true)
		}
	} else {
		s, err = l.createLocked(base, capacity)
		if err != nil {
			// Leave no empty file at base behind: on reopen it would
			// become the active segment below offsets already written
			// to old.
			for _, ext := range []string{LogExt, IndexExt, HintExt} {
				_ = os.Remove(Path(l.dir, base, ext))
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("roll segment at offset %d: %w", base, err)
	}
	cur := l.v.Load()
	nv := &view{segs: slices.Clone(cur.segs), byID: make(map[uint32]*Segment, len(cur.byID)+1)}
	for id, seg := range cur.byID {
		nv.byID[id] = seg
	}
	if old.Size() == 0 {
		nv.segs = nv.segs[:len(nv.segs)-1]
		delete(nv.byID, old.id)
		defer old.Release()
	} else {
		old.sealed.Store(true)
		l.mu.unsynced = append(l.mu.unsynced, old)
		l.queueSeal(old)
	}
	nv.segs = append(nv.segs, s)
	nv.byID[s.id] = s
	l.v.Store(nv)
	l.mu.active = s
	l.mu.dirDirty = true
	return s, nil
}

func (l *Log) queueSeal(s *Segment) {
	l.sealer.Lock()
	l.sealer.queue = append(l.sealer.queue, s)
	l.sealer.Unlock()
	select {
	case l.sealer.wake <- struct{}{}:
	default:
	}
}

// runSealer finishes seals off the write path: cut files to size, fsync,
// write hints. A failure is logged: the segment then stays unsealed on
// disk and is recovered by the next Open.
func (l *Log) runSealer() {
	defer l.sealer.wg.Done()
	for {
		l.sealer.Lock()
		q := l.sealer.queue
		l.sealer.queue = nil
		l.sealer.busy = len(q) > 0
		if !l.sealer.busy && l.sealer.idle != nil {
			close(l.sealer.idle)
			l.sealer.idle = nil
		}
		l.sealer.Unlock()
		for _, s := range q {
			if err := l.seal(s); err != nil {
				l.opts.Logger.Error("seal segment", "base", s.base, "err", err)
			}
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-l.sealer.wake:
		case <-l.sealer.done:
			return
		}
	}
}

func (l *Log) seal(s *Segment) error {
	if !s.Acquire() {
		return nil
	}
	defer s.Release()
	if err := s.finishSeal(l.opts.Hints); err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}
	s.finished.Store(!s.retired.Load())
	return nil
}

// WaitSealed returns once the background sealer has finished every seal
// queued so far (successfully or not), or with ctx's error.
func (l *Log) WaitSealed(ctx context.Context) error {
	l.sealer.Lock()
	if len(l.sealer.queue) == 0 && !l.sealer.busy {
		l.sealer.Unlock()
		return nil
	}
	if l.sealer.idle == nil {
		l.sealer.idle = make(chan struct{})
	}
	ch := l.sealer.idle
	l.sealer.Unlock()
	select {
	case <-ch:
		return nil
	case <-l.sealer.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sync makes every record appended so far durable and returns the offset
// up to which that holds (Next()-1 at the time of the call).
func (l *Log) Sync() (uint64, error) {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	var start time.Time
	if l.opts.OnSync != nil {
		start = time.Now()
	}
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return 0, ErrClosed
	}
	active := l.mu.active
	pending := l.mu.unsynced
	l.mu.unsynced = nil
	dirDirty := l.mu.dirDirty
	l.mu.dirDirty = false
	upto := l.next.Load() - 1
	size := active.Size()
	l.mu.Unlock()

	fail := func(err error) (uint64, error) {
		// Put the work back so a later Sync retries it.
		l.mu.Lock()
		l.mu.unsynced = append(pending, l.mu.unsynced...)
		l.mu.dirDirty = l.mu.dirDirty || dirDirty
		l.mu.Unlock()
		return 0, err
	}
	for i, s := range pending {
		if s.Acquire() {
			err := s.syncData()
			s.Release()
			if err != nil {
				pending = pending[i:]
				return fail(err)
			}
		}
	}
	pending = nil
	flushed := false
	if active.synced < size && active.Acquire() {
		err := active.syncData()
		active.Release()
		if err != nil {
			return fail(err)
		}
		active.synced = size
		l.syncs.Add(1)
		flushed = true
	}
	if dirDirty {
		if err := syncDir(l.dir); err != nil {
			return fail(err)
		}
	}
	if flushed && l.opts.OnSync != nil {
		l.opts.OnSync(time.Since(start))
	}
	return upto, nil
}

// acquire returns the segment with id acquired, or false when it is gone.
func (l *Log) acquire(id uint32) (*Segment, bool) {
	for {
		v := l.v.Load()
		s, ok := v.byID[id]
		if !ok {
			return nil, false
		}
		if s.Acquire() {
			return s, true
		}
		if l.v.Load() == v {
			return nil, false
		}
	}
}

// Acquire returns the segment with the given id with a reference held, or
// false if no such segment is in the log any more. Release it when done.
func (l *Log) Acquire(id uint32) (*Segment, bool) { return l.acquire(id) }

// Segments returns the log's segments in offset order, each with a
// reference held: the caller releases every one.
func (l *Log) Segments() []*Segment {
	for {
		v := l.v.Load()
		out := make([]*Segment, 0, len(v.segs))
		for _, s := range v.segs {
			if !s.Acquire() {
				break
			}
			out = append(out, s)
		}
		if len(out) == len(v.segs) {
			return out
		}
		closeAll(out)
		if l.v.Load() == v {
			return nil // closed
		}
	}
}

// Read returns the first record with offset >= offset (a copy). Offset 0
// reads from the log start. Outside [Earliest, Next) it returns an
// *OffsetError.
func (l *Log) Read(offset uint64) (Record, error) {
	recs, _, err := l.ReadFrom(offset, 1, 0)
	if err != nil {
		return Record{}, err
	}
	if len(recs) == 0 {
		next := l.Next()
		return Record{}, &OffsetError{Requested: offset, Earliest: l.Earliest(), Next: next}
	}
	return recs[0], nil
}

// ReadFrom returns up to maxRecords (at least 1) records (copies) with offsets >=
// offset, in order, stopping early once maxBytes of records are collected
// (0 = no byte limit; at least one record is returned if any exists), and
// the high-water mark (Next). Offset 0 reads from the log start. An offset
// below the log start or past Next is an *OffsetError; offset == Next
// returns no records.
func (l *Log) ReadFrom(offset uint64, maxRecords int, maxBytes int64) ([]Record, uint64, error) {
	maxRecords = max(maxRecords, 1)
	for {
		v := l.v.Load()
		// Append publishes records before it moves next: a reader may
		// have seen offsets up to the last published one already.
		next := max(l.next.Load(), v.publishedNext())
		earliest := v.segs[0].base
		if offset == 0 {
			offset = earliest
		}
		if offset < earliest || offset > next {
			return nil, next, &OffsetError{Requested: offset, Earliest: earliest, Next: next}
		}
		// The last segment whose base is <= offset.
		i, found := slices.BinarySearchFunc(v.segs, offset, func(s *Segment, off uint64) int {
			switch {
			case s.base < off:
				return -1
			case s.base > off:
				return 1
			}
			return 0
		})
		if !found {
			i--
		}
		recs, err, retry := readSegments(v.segs[i:], offset, maxRecords, maxBytes)
		if retry {
			if l.v.Load() == v {
				// A segment of the current view is released only by Close.
				return nil, next, ErrClosed
			}
			continue
		}
		hwm := max(next, l.next.Load())
		if len(recs) > 0 {
			hwm = max(hwm, recs[len(recs)-1].Offset+1)
		}
		return recs, hwm, err
	}
}

// publishedNext returns the offset after the newest record published in
// v, or 0 if v has none.
func (v *view) publishedNext() uint64 {
	for i := len(v.segs) - 1; i >= 0; i-- {
		if last := v.segs[i].LastOffset(); last != 0 {
			return last + 1
		}
	}
	return 0
}

// readSegments collects records from segs. retry reports that a segment
// left the log before it could be acquired.
func readSegments(segs []*Segment, offset uint64, maxRecords int, maxBytes int64) (recs []Record, err error, retry bool) {
	var bytes int64
	for _, s := range segs {
		if len(recs) >= maxRecords {
			break
		}
		if !s.Acquire() {
			if len(recs) == 0 {
				return nil, nil, true
			}
			break
		}
		n := s.idx.Len()
		for j := s.find(offset); j < n && len(recs) < maxRecords; j++ {
			_, pos := s.idx.Entry(j)
			r, rerr := s.ReadRecord(pos)
			if rerr != nil {
				s.Release()
				return recs, rerr, false
			}
			if maxBytes > 0 && len(recs) > 0 && bytes+int64(r.Size()) > maxBytes {
				s.Release()
				return recs, nil, false
			}
			bytes += int64(r.Size())
			recs = append(recs, r)
		}
		s.Release()
	}
	return recs, nil, false
}

// TruncateHead removes whole segments all of whose records are below
// offset. The active segment is kept; if all its records are below offset
// too, a new empty active segment is started at max(offset, Next()).
func (l *Log) TruncateHead(offset uint64) error {
	l.maint.Lock()
	defer l.maint.Unlock()
	if l.mergeFailed != nil {
		return fmt.Errorf("segment: a merge failed after its commit point (reopen to finish it): %w", l.mergeFailed)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.broken != nil {
		return l.mu.broken
	}
	active := l.mu.active
	if active.Size() > 0 && active.LastOffset() < offset {
		if _, err := l.rollLocked(max(offset, l.next.Load()), 0); err != nil {
			return err
		}
		l.next.Store(max(offset, l.next.Load()))
	} else if active.Size() == 0 && active.base < offset && len(l.v.Load().segs) == 1 {
		// An empty log moving its start: restart it there (Next never
		// goes back).
		return l.resetLocked(max(offset, l.next.Load()))
	}
	cur := l.v.Load()
	var drop []*Segment
	for _, s := range cur.segs[:len(cur.segs)-1] {
		if s.LastOffset() >= offset {
			break
		}
		drop = append(drop, s)
	}
	if len(drop) == 0 {
		return nil
	}
	return l.dropLocked(drop)
}

// replaceLocked swaps old segments for s (s takes the place of the last
// of old) in the view and releases old after unlinking their files when
// they are not s's files.
func (l *Log) replaceLocked(old []*Segment, s *Segment) {
	cur := l.v.Load()
	nv := &view{byID: make(map[uint32]*Segment, len(cur.byID))}
	for _, seg := range cur.segs {
		if slices.Contains(old, seg) {
			if seg == old[len(old)-1] {
				nv.segs = append(nv.segs, s)
				nv.byID[s.id] = s
			}
			continue
		}
		nv.segs = append(nv.segs, seg)
		nv.byID[seg.id] = seg
	}
	l.v.Store(nv)
	if l.mu.active == old[len(old)-1] || slices.Contains(old, l.mu.active) {
		l.mu.active = nv.segs[len(nv.segs)-1]
	}
	for _, seg := range old {
		seg.retired.Store(true)
		seg.Release()
	}
	l.mu.dirDirty = true
}

// dropLocked removes segs from the view and unlinks their files.
func (l *Log) dropLocked(segs []*Segment) error {
	cur := l.v.Load()
	nv := &view{byID: make(map[uint32]*Segment, len(cur.byID))}
	for _, seg := range cur.segs {
		if !slices.Contains(segs, seg) {
			nv.segs = append(nv.segs, seg)
			nv.byID[seg.id] = seg
		}
	}
	l.v.Store(nv)
	var errs []error
	for _, s := range segs {
		errs = append(errs, s.remove())
		s.Release()
	}
	l.mu.dirDirty = true
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return syncDir(l.dir)
}

// TruncateTail removes every record with an offset above offset; the next
// append gets offset+1. Readers reading the removed records at the same
// time get ErrCorrupt, never other data.
func (l *Log) TruncateTail(offset uint64) error {
	l.maint.Lock()
	defer l.maint.Unlock()
	if l.mergeFailed != nil {
		return fmt.Errorf("segment: a merge failed after its commit point (reopen to finish it): %w", l.mergeFailed)
	}
	// syncMu: a Sync running meanwhile must not mark the refilled tail
	// synced (it guards Segment.synced, which is lowered below).
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		return ErrClosed
	}
	if l.mu.broken != nil {
		return l.mu.broken
	}
	if offset+1 >= l.next.Load() {
		return nil
	}
	if err := l.truncateTailLocked(offset); err != nil {
		l.mu.broken = fmt.Errorf("segment: log unusable after a failed truncation (reopen it): %w", err)
		return err
	}
	return nil
}

// truncateTailLocked does TruncateTail's work. A failure may leave memory
// and files apart; the caller marks the log broken. Caller holds maint,
// syncMu and mu.
func (l *Log) truncateTailLocked(offset uint64) error {
	cur := l.v.Load()
	// Segments that start above offset go entirely.
	keep := len(cur.segs)
	for keep > 0 && cur.segs[keep-1].base > offset {
		keep--
	}
	if keep == 0 {
		// Everything goes: restart with an empty segment at offset+1.
		return l.resetLocked(offset + 1)
	}
	if keep < len(cur.segs) {
		if err := l.dropLocked(cur.segs[keep:]); err != nil {
			return err
		}
	}
	s := cur.segs[keep-1]
	if s.Sealed() {
		// Stop the sealer from finishing this segment: it is about to be
		// reopened for appends over the same files.
		s.fileMu.Lock()
		s.retired.Store(true)
		s.fileMu.Unlock()
	}
	s.cutTail(s.find(offset + 1))
	// The zeroed tail must be on disk before TruncateTail returns: a Raft
	// log that saw removed entries come back after a crash would be wrong.
	if err := s.syncData(); err != nil {
		return err
	}
	if s.Sealed() {
		// Reopen the cut segment for appends.
		if err := os.Remove(s.Path(HintExt)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		s.haltZeroFill()
		ns, err := openSegment(l.dir, s.base, openOptions{id: l.mu.nextID, capacity: l.opts.SegmentBytes, last: true, zeroFill: l.opts.ZeroFill})
		if err != nil {
			return fmt.Errorf("reopen segment %d after truncation: %w", s.base, err)
		}
		l.mu.nextID++
		l.replaceLocked([]*Segment{s}, ns)
		l.mu.active = ns
	} else {
		l.mu.active = s
	}
	l.mu.unsynced = slices.DeleteFunc(l.mu.unsynced, func(u *Segment) bool { return u.retired.Load() })
	l.mu.active.synced = min(l.mu.active.synced, l.mu.active.Size())
	l.next.Store(offset + 1)
	return nil
}

// resetLocked removes every segment and starts an empty log at base.
// The view is never empty: the new segment replaces the old ones in one
// step.
func (l *Log) resetLocked(base uint64) error {
	if err := l.doResetLocked(base); err != nil {
		l.mu.broken = fmt.Errorf("segment: log unusable after a failed reset (reopen it): %w", err)
		return err
	}
	return nil
}

func (l *Log) doResetLocked(base uint64) error {
	cur := l.v.Load()
	var errs []error
	// Newest first: a crash midway leaves a prefix of the log, never a
	// log with a hole at its head.
	for i := len(cur.segs) - 1; i >= 0; i-- {
		errs = append(errs, cur.segs[i].remove())
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s, err := l.createLocked(base, l.opts.SegmentBytes)
	if err != nil {
		return err
	}
	l.v.Store(&view{segs: []*Segment{s}, byID: map[uint32]*Segment{s.id: s}})
	for _, seg := range cur.segs {
		seg.Release()
	}
	l.mu.active = s
	l.mu.unsynced = nil
	l.mu.dirDirty = true
	l.next.Store(base)
	return syncDir(l.dir)
}

// Close syncs and closes the log. With Hints set, the active segment
// writes its hint file so that the next Open reads no .log at all.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.mu.Unlock()
	_, syncErr := l.Sync()
	l.mu.Lock()
	l.mu.closed = true
	l.mu.Unlock()
	close(l.sealer.done)
	l.sealer.wg.Wait()
	// Seals the background goroutine had not reached yet.
	var errs []error
	errs = append(errs, syncErr)
	for _, s := range l.sealer.queue {
		errs = append(errs, l.seal(s))
	}
	// Cut the active segment's preallocated files to their contents.
	active := l.mu.active
	errs = append(errs, active.finishSeal(false))
	if l.opts.Hints && active.Size() > 0 {
		errs = append(errs, active.writeCloseHints())
	}
	errs = append(errs, syncDir(l.dir))
	closeAll(l.v.Load().segs)
	errs = append(errs, l.lock.Close())
	return errors.Join(errs...)
}
