package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caskade/caskade/engine/segment"
	"github.com/caskade/caskade/keydir"
)

// Record is one entry of the log as ReadFrom returns it: a keyed put, a
// tombstone (Flags has FlagTombstone) or a keyless record (empty Key).
type Record = segment.Record

// Record flags, re-exported for callers of ReadFrom.
const (
	FlagTombstone = segment.FlagTombstone
	FlagExpiry    = segment.FlagExpiry
)

// Item is a key's live value.
type Item struct {
	Key       []byte
	Value     []byte // nil in a keys-only scan
	Offset    uint64 // offset of the record holding the value
	Timestamp int64  // unix nanoseconds when the write was accepted
	Expiry    int64  // unix nanoseconds; 0 = never expires
}

// DB is a Bitcask-style store over an ordered log. Safe for concurrent
// use: writes are serialized (their order is the log's order), reads run
// in parallel with each other and with writes, and no lock is held while
// waiting for an fsync.
//
// Lock order: DB.writeMu, then DB.kd, then the segment log's locks.
type DB struct {
	dir  string
	opts Options // immutable after Open

	log *segment.Log

	// writeMu serializes writes, so that the keydir changes in log order.
	// It guards recs and locs (scratch space for one write).
	writeMu sync.Mutex
	recs    []segment.Record
	locs    []segment.Loc

	// appended is closed (and cleared) after records are appended, waking
	// Wait; nil while nobody waits.
	appended atomic.Pointer[chan struct{}]

	kd struct {
		sync.RWMutex // guards m and acct; held for lookups and updates only, never across I/O
		m            *keydir.Map
		// acct holds per segment id what compaction needs to estimate
		// dead bytes. Invariant: acct[s].live = sum of Size over the
		// entries of m with Seg == s.
		acct map[uint32]*segAcct
	}

	// kdNext is the offset after the last record whose keydir update is
	// done (written under kd after the update).
	kdNext atomic.Uint64

	// compactMu serializes merges (background and Compact).
	compactMu sync.Mutex
	compacted struct {
		merges, reclaimed atomic.Int64
		lastError         atomic.Pointer[string]
	}
	// mergeHook, if set (tests), runs at each step of a merge.
	mergeHook func(segment.MergeStep) error

	gc groupCommit

	closed atomic.Bool
	// failure holds the first fsync error; once set, writes are refused.
	failure atomic.Pointer[error]

	bg struct {
		ctx    context.Context // ends at Close
		cancel context.CancelFunc
		wg     sync.WaitGroup
	}
}

// Open opens or creates the store in dir. It repairs a torn tail of the
// newest segment, rebuilds index and hint files that do not match their
// logs, and builds the keydir from hint files (scanning only segments
// without a valid one). nil opts means all defaults.
func Open(dir string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	l, err := segment.Open(dir, &segment.Options{
		SegmentBytes: o.SegmentBytes,
		Hints:        true,
		Logger:       o.Logger,
		OnSync:       o.OnSync,
		// A store that syncs every write gets fsyncs that flush data only.
		ZeroFill: o.Sync == SyncAlways,
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	db := &DB{dir: dir, opts: o, log: l}
	db.gc.init()
	now := o.Clock().UnixNano()
	if o.Replicated {
		now = 0 // keep expired values: only ops change a replicated store's keys
	}
	ld, err := loadKeydir(l, now)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	// Records a crashed process left in the page cache are made durable
	// before anything is acknowledged on top of them.
	durable, err := l.Sync()
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	db.kd.m = ld.m
	db.kdNext.Store(l.Next())
	db.kd.acct = ld.acct
	ld.m.Ascend(nil, nil, func(_ []byte, e keydir.Entry) bool {
		db.acct(e.Seg).addLive(e)
		return true
	})
	db.gc.durable = durable
	ctx, cancel := context.WithCancel(context.Background())
	db.bg.ctx, db.bg.cancel = ctx, cancel
	if o.Sync == SyncInterval {
		db.bg.wg.Add(1)
		go db.syncEvery(ctx, o.SyncInterval)
	}
	if !o.Compaction.Disabled {
		db.bg.wg.Add(1)
		go db.compactEvery(ctx, o.Compaction.Interval)
	}
	return db, nil
}

// Close waits for writes in flight, syncs, and closes the files. Reads and
// writes after Close return ErrClosed.
func (db *DB) Close() error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	if db.closed.Swap(true) {
		return ErrClosed
	}
	db.bg.cancel()
	db.bg.wg.Wait()
	// A Compact call in flight ends at its next step (it sees closed).
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	// Make every record appended so far durable through group commit, so
	// writers still waiting for their fsync are answered truthfully
	// (success) before the log goes away. Readers holding segment
	// references keep their mappings until they release them.
	err := db.syncTo(db.log.Next() - 1)
	db.wake()
	return errors.Join(err, db.log.Close())
}

// Dir returns the store's directory.
func (db *DB) Dir() string { return db.dir }

func (db *DB) now() int64 { return db.opts.Clock().UnixNano() }

func (db *DB) checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return ErrEmptyKey
	case len(key) > db.opts.MaxKeySize:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLarge, len(key), db.opts.MaxKeySize)
	}
	return nil
}

func (db *DB) checkValue(value []byte) error {
	if len(value) > db.opts.MaxValueSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(value), db.opts.MaxValueSize)
	}
	return nil
}

// writable reports why writes are refused, if they are. Caller holds
// writeMu.
func (db *DB) writable() error {
	if db.closed.Load() {
		return ErrClosed
	}
	if f := db.failure.Load(); f != nil {
		return fmt.Errorf("%w: %w", ErrFailed, *f)
	}
	return nil
}

// fail puts the DB in the failed state after an fsync error (or a broken
// invariant).
func (db *DB) fail(err error) {
	if db.failure.CompareAndSwap(nil, &err) {
		db.opts.Logger.Error("store failed; refusing writes until reopened", "err", err)
	}
}

// Put stores value under key and returns the record's offset. Under
// SyncAlways the write is durable when Put returns.
func (db *DB) Put(key, value []byte) (uint64, error) {
	return db.put(key, value, 0)
}

// PutWithExpiry is Put with an absolute expiry time: from then on the key
// reads as absent, and compaction drops the record.
func (db *DB) PutWithExpiry(key, value []byte, expiry time.Time) (uint64, error) {
	e := expiry.UnixNano()
	if e <= 0 {
		return 0, fmt.Errorf("%w: expiry %v before 1970", ErrBadRange, expiry)
	}
	return db.put(key, value, e)
}

func (db *DB) put(key, value []byte, expiry int64) (uint64, error) {
	if err := db.checkKey(key); err != nil {
		return 0, err
	}
	if err := db.checkValue(value); err != nil {
		return 0, err
	}
	r := segment.Record{Timestamp: db.now(), Expiry: expiry, Key: key, Value: value}
	if expiry != 0 {
		r.Flags = segment.FlagExpiry
	}
	return db.write(func() (segment.Record, error) { return r, nil })
}

// write runs prepare under writeMu (it may check the key's current state;
// it returns the record to append or why nothing is written), appends the
// record, and waits until it is durable as Options.Sync says. Every
// single-record write goes through here.
func (db *DB) write(prepare func() (segment.Record, error)) (uint64, error) {
	var first uint64
	err := db.writeBatch(func(add func(segment.Record)) error {
		r, err := prepare()
		if err == nil {
			add(r)
		}
		return err
	}, &first)
	return first, err
}

// writeBatch runs prepare under writeMu; prepare may check the current
// state and calls add for each record to append (in order), or returns why
// nothing is written. The records are appended as one batch, their offsets
// are contiguous, and writeBatch waits until they are durable as
// Options.Sync says. It stores the first record's offset in *first.
func (db *DB) writeBatch(prepare func(add func(segment.Record)) error, first *uint64) error {
	db.gc.arriving.Add(1)
	db.writeMu.Lock()
	db.recs = db.recs[:0]
	err := prepare(func(r segment.Record) { db.recs = append(db.recs, r) })
	var last uint64
	if err == nil && len(db.recs) > 0 {
		*first, last, err = db.writeLocked()
	}
	clear(db.recs) // drop references to caller memory
	db.writeMu.Unlock()
	db.gc.arriving.Add(-1)
	if err != nil || last == 0 {
		return err
	}
	return db.waitDurable(last)
}

// writeLocked appends db.recs and applies them to the keydir, and returns
// the first and last offsets. Caller holds writeMu.
func (db *DB) writeLocked() (first, last uint64, err error) {
	if err := db.writable(); err != nil {
		return 0, 0, err
	}
	if cap(db.locs) < len(db.recs) {
		db.locs = make([]segment.Loc, len(db.recs))
	}
	locs := db.locs[:len(db.recs)]
	clear(locs)
	// A failed roll midway leaves the records before it written (their
	// locs filled in): the keydir follows them, and the error is returned.
	err = db.log.Append(db.recs, locs)
	db.kd.Lock()
	for i := range db.recs {
		r, loc := &db.recs[i], locs[i]
		if loc.Size == 0 {
			break
		}
		if len(r.Key) == 0 {
			continue
		}
		var old keydir.Entry
		var had bool
		if r.Flags&segment.FlagTombstone != 0 {
			old, had = db.kd.m.Delete(r.Key)
			db.acct(loc.Seg).tomb += int64(loc.Size)
		} else {
			e := keydir.Entry{Offset: r.Offset, Seg: loc.Seg, Pos: loc.Pos, Size: loc.Size, Flags: uint8(r.Flags)}
			old, had = db.kd.m.Put(r.Key, e)
			a := db.acct(loc.Seg)
			a.addLive(e)
			if r.Expiry != 0 {
				a.expiring(r.Expiry)
			}
		}
		if had {
			db.acct(old.Seg).removeLive(old)
		}
	}
	for i := len(db.recs) - 1; i >= 0; i-- {
		if locs[i].Size != 0 {
			db.kdNext.Store(db.recs[i].Offset + 1)
			break
		}
	}
	db.kd.Unlock()
	db.wake()
	if err != nil {
		return 0, 0, err
	}
	return db.recs[0].Offset, db.recs[len(db.recs)-1].Offset, nil
}

// wake wakes every Wait.
func (db *DB) wake() {
	if ch := db.appended.Swap(nil); ch != nil {
		close(*ch)
	}
}

// Wait returns once a record at or after offset may be read (NextOffset()
// > offset), or with ctx's error, or ErrClosed when the DB closes. It
// wakes on append; it does not poll.
func (db *DB) Wait(ctx context.Context, offset uint64) error {
	for {
		ch := db.appended.Load()
		if ch == nil {
			c := make(chan struct{})
			if !db.appended.CompareAndSwap(nil, &c) {
				continue
			}
			ch = &c
		}
		// Checked after the channel is in place: an append after this
		// check closes it.
		if db.closed.Load() {
			return ErrClosed
		}
		if db.log.Next() > offset {
			return nil
		}
		select {
		case <-*ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Delete writes a tombstone for key and returns its offset. A key with no
// live value gets ErrNotFound and nothing is written.
func (db *DB) Delete(key []byte) (uint64, error) {
	if err := db.checkKey(key); err != nil {
		return 0, err
	}
	return db.write(func() (segment.Record, error) {
		cur, err := db.currentLocked(key)
		if err == nil && cur == 0 {
			err = ErrNotFound
		}
		return segment.Record{Timestamp: db.now(), Flags: segment.FlagTombstone, Key: key}, err
	})
}

// CompareAndSwap stores value under key only if the key's current offset
// is expected (0: the key must be absent). Otherwise it returns a
// *CASError with the current offset and writes nothing.
func (db *DB) CompareAndSwap(key []byte, expected uint64, value []byte) (uint64, error) {
	if err := db.checkKey(key); err != nil {
		return 0, err
	}
	if err := db.checkValue(value); err != nil {
		return 0, err
	}
	return db.write(func() (segment.Record, error) {
		cur, err := db.currentLocked(key)
		if err == nil && cur != expected {
			err = &CASError{Expected: expected, Current: cur}
		}
		return segment.Record{Timestamp: db.now(), Key: key, Value: value}, err
	})
}

// currentLocked returns the offset of key's live record, 0 if none.
// Caller holds writeMu, so no write can change it meanwhile.
func (db *DB) currentLocked(key []byte) (uint64, error) {
	if err := db.writable(); err != nil {
		return 0, err
	}
	return db.liveAt(key, db.now())
}

// liveAt returns the offset of key's value if it is live at time now, 0
// if the key has none. The segment of a value with an expiry is referenced
// under the keydir lock, as Get does: a merge cannot retire it between the
// lookup and the header read.
func (db *DB) liveAt(key []byte, now int64) (uint64, error) {
	db.kd.RLock()
	e, ok := db.kd.m.Get(key)
	if !ok || e.Flags&uint8(segment.FlagExpiry) == 0 {
		db.kd.RUnlock()
		if !ok {
			return 0, nil
		}
		return e.Offset, nil
	}
	s, held := db.log.Acquire(e.Seg)
	db.kd.RUnlock()
	if !held {
		if db.closed.Load() {
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("%w: segment %d of key gone", ErrCorrupt, e.Seg)
	}
	h, err := s.ReadHeader(int64(e.Pos))
	s.Release()
	if err != nil {
		return 0, err
	}
	if h.Flags&segment.FlagExpiry != 0 && h.Expiry <= now {
		return 0, nil
	}
	return e.Offset, nil
}

// Produce appends a keyless record (a message of the log view) and returns
// its offset. Keyless records are never superseded.
func (db *DB) Produce(value []byte) (uint64, error) {
	if err := db.checkValue(value); err != nil {
		return 0, err
	}
	return db.write(func() (segment.Record, error) {
		return segment.Record{Timestamp: db.now(), Value: value}, nil
	})
}

// ProduceBatch appends keyless records, one per value, as one batch: one
// append and (under SyncAlways) one shared fsync. Their offsets are
// contiguous; it returns the first. Nothing is written if any value is
// refused.
func (db *DB) ProduceBatch(values [][]byte) (uint64, error) {
	if len(values) == 0 {
		return 0, fmt.Errorf("%w: empty batch", ErrBadRange)
	}
	for i, v := range values {
		if err := db.checkValue(v); err != nil {
			return 0, fmt.Errorf("value %d: %w", i, err)
		}
	}
	var first uint64
	err := db.writeBatch(func(add func(segment.Record)) error {
		now := db.now()
		for _, v := range values {
			add(segment.Record{Timestamp: now, Value: v})
		}
		return nil
	}, &first)
	return first, err
}

// Get returns key's live value. The value is a copy the caller owns.
func (db *DB) Get(key []byte) (Item, error) {
	if err := db.checkKey(key); err != nil {
		return Item{}, err
	}
	if db.closed.Load() {
		return Item{}, ErrClosed
	}
	db.kd.RLock()
	e, ok := db.kd.m.Get(key)
	if !ok {
		db.kd.RUnlock()
		return Item{}, ErrNotFound
	}
	// Acquire under the lock: a compaction swap cannot retire the segment
	// between the lookup and the reference.
	s, ok := db.log.Acquire(e.Seg)
	db.kd.RUnlock()
	if !ok {
		if db.closed.Load() {
			return Item{}, ErrClosed
		}
		return Item{}, fmt.Errorf("%w: segment %d of key gone", ErrCorrupt, e.Seg)
	}
	r, _, err := s.ReadValue(int64(e.Pos), nil)
	s.Release()
	if err != nil {
		return Item{}, err
	}
	val := r.Value
	if r.Offset != e.Offset {
		return Item{}, fmt.Errorf("%w: keydir offset %d, record offset %d", ErrCorrupt, e.Offset, r.Offset)
	}
	if r.Expired(db.now()) {
		return Item{}, ErrNotFound
	}
	return Item{Key: key, Value: val, Offset: r.Offset, Timestamp: r.Timestamp, Expiry: r.Expiry}, nil
}

// ReadFrom returns up to max records with offsets >= offset, in offset
// order, and the high-water mark (the offset the next write gets). Offset
// 0 reads from the log start. Below the log start or past the high-water
// mark it returns an *OffsetError; at the mark, no records.
func (db *DB) ReadFrom(offset uint64, max int) ([]Record, uint64, error) {
	return db.ReadFromBytes(offset, max, 0)
}

// ReadFromBytes is ReadFrom that also stops once maxBytes of records are
// collected (0: no byte limit); it returns at least one record if any
// exists, so a reader with a small budget still makes progress.
func (db *DB) ReadFromBytes(offset uint64, max int, maxBytes int64) ([]Record, uint64, error) {
	if db.closed.Load() {
		return nil, 0, ErrClosed
	}
	recs, next, err := db.log.ReadFrom(offset, max, maxBytes)
	if errors.Is(err, segment.ErrClosed) {
		err = ErrClosed // raced Close
	}
	return recs, next, err
}

// NextOffset returns the offset the next write will get.
func (db *DB) NextOffset() uint64 { return db.log.Next() }

// Sync makes every write so far durable, whatever the Sync mode.
func (db *DB) Sync() error {
	if db.closed.Load() {
		return ErrClosed
	}
	return db.syncTo(db.log.Next() - 1)
}

// Len returns the number of keys in the keydir (expired keys included
// until compaction drops them).
func (db *DB) Len() int {
	db.kd.RLock()
	defer db.kd.RUnlock()
	return db.kd.m.Len()
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
