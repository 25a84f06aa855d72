package engine_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
	"pgregory.net/rapid"
)

// modelRec is one record as the model expects ReadFrom to return it.
type modelRec struct {
	offset    uint64
	key       string
	value     []byte
	tombstone bool
	timestamp int64
	expiry    int64 // 0 = none
}

type modelVal struct {
	value  []byte
	offset uint64
	expiry int64 // 0 = none
}

// Model retention settings (the clock moves by Tick).
const (
	modelTombstoneRetention = 24 * time.Hour
	modelRetention          = 48 * time.Hour
)

// dbMachine drives a DB and a model (a map for the keyed view, a slice for
// the log view) with the same random operations.
type dbMachine struct {
	dir   string
	opts  *engine.Options
	db    *engine.DB
	kv    map[string]modelVal
	log   []modelRec
	next  uint64
	keyGn *rapid.Generator[string]
	valGn *rapid.Generator[[]byte]
	clock *atomic.Int64 // unix ns; the DB's Clock
}

// patterned draws a value of n bytes in [lo, hi] made from a drawn seed,
// so that failures print short.
func patterned(lo, hi int) *rapid.Generator[[]byte] {
	return rapid.Custom(func(t *rapid.T) []byte {
		n := rapid.IntRange(lo, hi).Draw(t, "n")
		seed := rapid.Byte().Draw(t, "seed")
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i)
		}
		return b
	})
}

func newDBMachine(t *rapid.T, dir string) *dbMachine {
	return newDBMachineWith(t, dir, engine.CompactionOptions{Disabled: true})
}

// newDBMachineWith is newDBMachine with the given background compaction.
func newDBMachineWith(t *rapid.T, dir string, c engine.CompactionOptions) *dbMachine {
	clock := new(atomic.Int64)
	clock.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	opts := &engine.Options{
		SegmentBytes: 4096, Sync: engine.SyncNever,
		TombstoneRetention: modelTombstoneRetention, Retention: modelRetention,
		Compaction: c,
		Clock:      func() time.Time { return time.Unix(0, clock.Load()) },
	}
	db, err := engine.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &dbMachine{
		dir: dir, opts: opts, db: db, clock: clock,
		kv:   map[string]modelVal{},
		next: 1,
		// A small key space so that keys are overwritten and deleted often.
		keyGn: rapid.StringMatching(`[a-c]{1,3}`),
		valGn: rapid.OneOf(
			rapid.SliceOfN(rapid.Byte(), 0, 40),
			patterned(40, 300),
			patterned(4000, 6000), // larger than a segment
		),
	}
}

func (m *dbMachine) cleanup() { _ = m.db.Close() }

func (m *dbMachine) Put(t *rapid.T) {
	k, v := m.keyGn.Draw(t, "key"), m.valGn.Draw(t, "value")
	off, err := m.db.Put([]byte(k), v)
	if err != nil {
		t.Fatalf("put %q: %v", k, err)
	}
	m.wrote(t, off, k, v, false)
}

// PutTTL puts with an expiry a few hours ahead.
func (m *dbMachine) PutTTL(t *rapid.T) {
	k, v := m.keyGn.Draw(t, "key"), m.valGn.Draw(t, "value")
	exp := m.clock.Load() + int64(rapid.IntRange(1, 5).Draw(t, "ttlHours"))*int64(time.Hour)
	off, err := m.db.PutWithExpiry([]byte(k), v, time.Unix(0, exp))
	if err != nil {
		t.Fatalf("put %q with expiry: %v", k, err)
	}
	m.wroteAt(t, off, k, v, false, exp)
}

// Tick moves the clock: TTLs expire, tombstones and keyless records age
// past retention.
func (m *dbMachine) Tick(t *rapid.T) {
	h := rapid.SampledFrom([]int{1, 3, 25, 50}).Draw(t, "hours")
	m.clock.Add(int64(h) * int64(time.Hour))
}

// ApplyBatch applies a few ops as one batch (the Raft FSM's path); each op
// sees the ones before it.
func (m *dbMachine) ApplyBatch(t *rapid.T) {
	n := rapid.IntRange(1, 5).Draw(t, "ops")
	now := m.clock.Load()
	ops := make([]engine.Op, n)
	for i := range ops {
		op := engine.Op{Kind: engine.OpKind(rapid.IntRange(1, 4).Draw(t, "kind")), Timestamp: now}
		if op.Kind != engine.OpProduce {
			op.Key = []byte(m.keyGn.Draw(t, "key"))
		}
		if op.Kind != engine.OpDelete {
			op.Value = m.valGn.Draw(t, "value")
		}
		if op.Kind == engine.OpCAS {
			op.Expected = rapid.Uint64Range(0, m.next+uint64(i)).Draw(t, "expected")
		}
		ops[i] = op
	}
	res, err := m.db.Apply(ops)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	for i, op := range ops {
		k := string(op.Key)
		cur := uint64(0)
		if v, ok := m.live(k); ok {
			cur = v.offset
		}
		var wantErr error
		switch {
		case op.Kind == engine.OpDelete && cur == 0:
			wantErr = engine.ErrNotFound
		case op.Kind == engine.OpCAS && cur != op.Expected:
			wantErr = engine.ErrCASMismatch
		}
		if wantErr != nil {
			if !errors.Is(res[i].Err, wantErr) {
				t.Fatalf("op %d %v %q: %v, want %v", i, op.Kind, k, res[i].Err, wantErr)
			}
			continue
		}
		if res[i].Err != nil {
			t.Fatalf("op %d %v %q: %v", i, op.Kind, k, res[i].Err)
		}
		m.wrote(t, res[i].Offset, k, op.Value, op.Kind == engine.OpDelete)
	}
}

// Compact merges by hand.
func (m *dbMachine) Compact(t *rapid.T) {
	if _, err := m.db.Compact(context.Background()); err != nil {
		t.Fatalf("compact: %v", err)
	}
}

func (m *dbMachine) wrote(t *rapid.T, off uint64, k string, v []byte, tomb bool) {
	m.wroteAt(t, off, k, v, tomb, 0)
}

func (m *dbMachine) wroteAt(t *rapid.T, off uint64, k string, v []byte, tomb bool, expiry int64) {
	if off != m.next {
		t.Fatalf("offset %d, want %d", off, m.next)
	}
	m.next++
	m.log = append(m.log, modelRec{offset: off, key: k, value: bytes.Clone(v), tombstone: tomb, timestamp: m.clock.Load(), expiry: expiry})
	if k == "" {
		return
	}
	if tomb {
		delete(m.kv, k)
	} else {
		m.kv[k] = modelVal{value: bytes.Clone(v), offset: off, expiry: expiry}
	}
}

// live returns key k's value if it has one now (not expired).
func (m *dbMachine) live(k string) (modelVal, bool) {
	v, ok := m.kv[k]
	if !ok || v.expiry != 0 && v.expiry <= m.clock.Load() {
		return modelVal{}, false
	}
	return v, true
}

// required reports whether compaction must keep record r: a keyless
// record inside retention, a live key's current value, a key's last
// record when it is a tombstone inside retention.
func (m *dbMachine) required(r modelRec) bool {
	now := m.clock.Load()
	switch {
	case r.key == "":
		return r.timestamp >= now-int64(modelRetention)
	case r.tombstone:
		_, superseded := m.kv[r.key]
		return !superseded && m.lastOf(r.key) == r.offset && r.timestamp >= now-int64(modelTombstoneRetention)
	}
	v, ok := m.live(r.key)
	return ok && v.offset == r.offset
}

// lastOf returns the offset of key k's last record.
func (m *dbMachine) lastOf(k string) uint64 {
	for i := len(m.log) - 1; i >= 0; i-- {
		if m.log[i].key == k {
			return m.log[i].offset
		}
	}
	return 0
}

func (m *dbMachine) Delete(t *rapid.T) {
	k := m.keyGn.Draw(t, "key")
	off, err := m.db.Delete([]byte(k))
	if _, ok := m.live(k); !ok {
		if !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("delete of absent %q: %v", k, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("delete %q: %v", k, err)
	}
	m.wrote(t, off, k, nil, true)
}

func (m *dbMachine) CompareAndSwap(t *rapid.T) {
	k, v := m.keyGn.Draw(t, "key"), m.valGn.Draw(t, "value")
	cur := uint64(0)
	if v, ok := m.live(k); ok {
		cur = v.offset
	}
	expected := cur
	if rapid.Bool().Draw(t, "mismatch") {
		expected = rapid.Uint64Range(0, m.next).Draw(t, "expected")
	}
	off, err := m.db.CompareAndSwap([]byte(k), expected, v)
	if expected != cur {
		var ce *engine.CASError
		if !errors.As(err, &ce) || ce.Current != cur || !errors.Is(err, engine.ErrCASMismatch) {
			t.Fatalf("cas %q expected %d (current %d): %v", k, expected, cur, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("cas %q: %v", k, err)
	}
	m.wrote(t, off, k, v, false)
}

func (m *dbMachine) Produce(t *rapid.T) {
	v := m.valGn.Draw(t, "value")
	off, err := m.db.Produce(v)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	m.wrote(t, off, "", v, false)
}

func (m *dbMachine) Get(t *rapid.T) {
	k := m.keyGn.Draw(t, "key")
	it, err := m.db.Get([]byte(k))
	want, ok := m.live(k)
	if !ok {
		if !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("get absent %q: %v", k, err)
		}
		return
	}
	if err != nil || !bytes.Equal(it.Value, want.value) || it.Offset != want.offset {
		t.Fatalf("get %q = (%d bytes, offset %d, %v), want (%d bytes, offset %d)", k, len(it.Value), it.Offset, err, len(want.value), want.offset)
	}
}

func (m *dbMachine) Scan(t *rapid.T) {
	var o engine.ScanOptions
	switch rapid.IntRange(0, 2).Draw(t, "bounds") {
	case 1:
		o.Start = []byte(m.keyGn.Draw(t, "start"))
		if rapid.Bool().Draw(t, "hasEnd") {
			o.End = []byte(m.keyGn.Draw(t, "end"))
		}
	case 2:
		o.Prefix = []byte(rapid.StringMatching(`[a-c]{1,2}`).Draw(t, "prefix"))
	}
	o.Limit = rapid.IntRange(0, 5).Draw(t, "limit")
	o.KeysOnly = rapid.Bool().Draw(t, "keysOnly")

	var want []string
	for k := range m.kv {
		if _, ok := m.live(k); !ok {
			continue
		}
		if o.Start != nil && k < string(o.Start) || o.End != nil && k >= string(o.End) || !bytes.HasPrefix([]byte(k), o.Prefix) {
			continue
		}
		want = append(want, k)
	}
	slices.Sort(want)
	if o.End != nil && o.Start != nil && string(o.End) < string(o.Start) {
		if _, err := m.db.Scan(o); !errors.Is(err, engine.ErrBadRange) {
			t.Fatalf("scan with end < start: %v", err)
		}
		return
	}
	// Page through the whole range with the continuation key.
	var got []string
	for page := 0; ; page++ {
		if page > len(m.kv)+2 {
			t.Fatalf("scan does not end")
		}
		res, err := m.db.Scan(o)
		if err != nil {
			t.Fatalf("scan %+v: %v", o, err)
		}
		if o.Limit > 0 && len(res.Items) > o.Limit {
			t.Fatalf("scan returned %d items over limit %d", len(res.Items), o.Limit)
		}
		for _, it := range res.Items {
			mv := m.kv[string(it.Key)]
			if it.Offset != mv.offset || (!o.KeysOnly && !bytes.Equal(it.Value, mv.value)) || (o.KeysOnly && it.Value != nil) {
				t.Fatalf("scan item %q offset %d, want %d", it.Key, it.Offset, mv.offset)
			}
			got = append(got, string(it.Key))
		}
		if res.Next == nil {
			break
		}
		o.Start = res.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("scan keys %q, want %q", got, want)
	}
}

func (m *dbMachine) ReadFrom(t *rapid.T) {
	from := rapid.Uint64Range(0, m.next+1).Draw(t, "from")
	max := rapid.IntRange(1, 20).Draw(t, "max")
	recs, next, err := m.db.ReadFrom(from, max)
	var oe *engine.OffsetError
	if from > m.next {
		if !errors.As(err, &oe) || oe.Next != m.next || !errors.Is(err, engine.ErrOutOfRange) {
			t.Fatalf("readfrom %d past next %d: %v", from, m.next, err)
		}
		return
	}
	if errors.As(err, &oe) && from != 0 && from < oe.Earliest {
		// Compaction moved the log start: nothing required may lie below.
		for _, r := range m.log {
			if r.offset >= from && r.offset < oe.Earliest && m.required(r) {
				t.Fatalf("readfrom %d below earliest %d, but record %d is still required", from, oe.Earliest, r.offset)
			}
		}
		return
	}
	if err != nil || next != m.next {
		t.Fatalf("readfrom %d: next %d (want %d), %v", from, next, m.next, err)
	}
	if len(recs) > max {
		t.Fatalf("readfrom %d max %d: %d records", from, max, len(recs))
	}
	// Records come in offset order, each as written (an expired value may
	// have become a tombstone), and none required is skipped.
	byOffset := make(map[uint64]modelRec, len(m.log))
	for _, r := range m.log {
		byOffset[r.offset] = r
	}
	upto := m.next // offsets below upto were covered by the read
	if len(recs) == max {
		upto = recs[len(recs)-1].Offset + 1
	}
	prev := uint64(0)
	for i, r := range recs {
		w, ok := byOffset[r.Offset]
		if !ok || r.Offset < from || r.Offset <= prev {
			t.Fatalf("readfrom %d record %d: unexpected offset %d", from, i, r.Offset)
		}
		prev = r.Offset
		asWritten := string(r.Key) == w.key && bytes.Equal(r.Value, w.value) && r.Tombstone() == w.tombstone
		// A value with a TTL that is no longer needed (expired, or
		// superseded) may have been kept as a tombstone in its place.
		expiredToTombstone := w.expiry != 0 && !m.required(w) && string(r.Key) == w.key && r.Tombstone() && len(r.Value) == 0
		if !asWritten && !expiredToTombstone {
			t.Fatalf("readfrom record %d: offset %d key %q tombstone %v, want key %q tombstone %v", i, r.Offset, r.Key, r.Tombstone(), w.key, w.tombstone)
		}
	}
	got := make(map[uint64]bool, len(recs))
	for _, r := range recs {
		got[r.Offset] = true
	}
	for _, r := range m.log {
		if r.offset >= from && r.offset < upto && m.required(r) && !got[r.offset] {
			t.Fatalf("readfrom %d max %d: required record %d (key %q) missing", from, max, r.offset, r.key)
		}
	}
}

func (m *dbMachine) Reopen(t *rapid.T) {
	if err := m.db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db, err := engine.Open(m.dir, m.opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	m.db = db
}

func (m *dbMachine) Check(t *rapid.T) {
	// Expired keys count until a merge or reopen drops them.
	live := 0
	for k := range m.kv {
		if _, ok := m.live(k); ok {
			live++
		}
	}
	if n := m.db.Len(); n < live || n > len(m.kv) {
		t.Fatalf("Len %d, model has %d live keys (%d with expired ones)", n, live, len(m.kv))
	}
	if n := m.db.NextOffset(); n != m.next {
		t.Fatalf("NextOffset %d, want %d", n, m.next)
	}
}

func TestDB_Model(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newDBMachine(t, tempDir(t))
		defer m.cleanup()
		t.Repeat(rapid.StateMachineActions(m))
	})
}

// TestDB_ModelBackgroundCompaction runs the model with merges in the
// background at tiny thresholds, racing every operation.
func TestDB_ModelBackgroundCompaction(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newDBMachineWith(t, tempDir(t), engine.CompactionOptions{
			Interval:          time.Millisecond,
			MinDeadFraction:   0.01,
			MinDeadBytes:      1,
			SmallSegmentBytes: 2048,
			MaxMergeBytes:     3 * 4096,
		})
		defer m.cleanup()
		t.Repeat(rapid.StateMachineActions(m))
	})
}

// tempDir gives each rapid run its own directory under a test-scoped root.
var tempRoot string

func tempDir(t *rapid.T) string {
	d, err := mkdirTemp(tempRoot)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMain(m *testing.M) { runWithTempRoot(m, closeLoaded) }
