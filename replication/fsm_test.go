package replication

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
)

const testTS = int64(1_700_000_000_000_000_000)

func openTestFSM(t *testing.T) *FSM {
	t.Helper()
	f, err := OpenFSM(t.TempDir(), &engine.Options{Sync: engine.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// cmdLog is a Raft command entry at index holding ops.
func cmdLog(index uint64, ops ...engine.Op) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: EncodeCommand(nil, ops)}
}

func put(k, v string) engine.Op {
	return engine.Op{Kind: engine.OpPut, Key: []byte(k), Value: []byte(v), Timestamp: testTS}
}

func TestEncodeCommand_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ops  []engine.Op
	}{
		{"put", []engine.Op{put("a", "1")}},
		{"all kinds", []engine.Op{
			{Kind: engine.OpPut, Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 300), Timestamp: testTS, Expiry: testTS + 5},
			{Kind: engine.OpDelete, Key: []byte("k"), Timestamp: testTS},
			{Kind: engine.OpCAS, Key: []byte("k"), Value: []byte("x"), Expected: 1 << 40, Timestamp: testTS},
			{Kind: engine.OpProduce, Value: []byte("m"), Timestamp: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodeCommand(nil, tt.ops)
			got, err := DecodeCommand(b)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.ops, func(a, b engine.Op) bool {
				return a.Kind == b.Kind && bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) &&
					a.Expected == b.Expected && a.Timestamp == b.Timestamp && a.Expiry == b.Expiry
			}) {
				t.Fatalf("decoded %+v, want %+v", got, tt.ops)
			}
		})
	}
}

func TestDecodeCommand_Corrupt(t *testing.T) {
	good := EncodeCommand(nil, []engine.Op{put("a", "1")})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version", append([]byte{2}, good[1:]...)},
		{"no ops", []byte{commandVersion, 0}},
		{"huge count", []byte{commandVersion, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(slices.Clone(good), 0)},
		{"kind", func() []byte { b := slices.Clone(good); b[2] = 9; return b }()},
		{"long varint", []byte{commandVersion, 0x81, 0x00, 1, 1, 'a', 1, 'v', 0, 1, 0}},
		{"expected on put", []byte{commandVersion, 1, 1, 1, 'a', 1, 'v', 7, 1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeCommand(tt.b); !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("err %v, want ErrCorrupt", err)
			}
		})
	}
}

func FuzzDecodeCommand(f *testing.F) {
	f.Add(EncodeCommand(nil, []engine.Op{put("a", "1")}))
	f.Add(EncodeCommand(nil, []engine.Op{{Kind: engine.OpCAS, Key: []byte("k"), Expected: 3, Timestamp: 9, Expiry: 10}, {Kind: engine.OpProduce, Timestamp: 1}}))
	f.Add([]byte{commandVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if len(ops) > len(b) {
			t.Fatalf("%d ops from %d bytes", len(ops), len(b))
		}
		// The decoder is strict: only the encoder's output decodes.
		if again := EncodeCommand(nil, ops); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, input %x", again, b)
		}
	})
}

func TestFSM_ApplyBatch(t *testing.T) {
	f := openTestFSM(t)
	logs := []*raft.Log{
		cmdLog(1, put("a", "1"), put("b", "2")),
		{Index: 2, Term: 1, Type: raft.LogConfiguration},
		cmdLog(3, engine.Op{Kind: engine.OpCAS, Key: []byte("a"), Value: []byte("3"), Expected: 1, Timestamp: testTS}),
		{Index: 4, Term: 1, Type: raft.LogCommand, Data: []byte{9}},
		cmdLog(5, engine.Op{Kind: engine.OpDelete, Key: []byte("zz"), Timestamp: testTS}, engine.Op{Kind: engine.OpProduce, Value: []byte("m"), Timestamp: testTS}),
	}
	resp := f.ApplyBatch(logs)
	if len(resp) != len(logs) {
		t.Fatalf("%d responses for %d logs", len(resp), len(logs))
	}
	offsets := func(i int) []uint64 {
		t.Helper()
		res, ok := resp[i].([]engine.Result)
		if !ok {
			t.Fatalf("response %d is %T (%v)", i, resp[i], resp[i])
		}
		var o []uint64
		for _, r := range res {
			o = append(o, r.Offset)
		}
		return o
	}
	if got := offsets(0); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("log 1 offsets %v", got)
	}
	if resp[1] != nil {
		t.Fatalf("configuration entry response %v", resp[1])
	}
	if got := offsets(2); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("log 3 offsets %v", got)
	}
	if err, ok := resp[3].(error); !ok || !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("bad command response %v", resp[3])
	}
	res := resp[4].([]engine.Result)
	if !errors.Is(res[0].Err, engine.ErrNotFound) || res[1].Offset != 4 {
		t.Fatalf("log 5 results %+v", res)
	}
	if f.AppliedIndex() != 5 {
		t.Fatalf("applied %d", f.AppliedIndex())
	}
	it, err := f.DB().Get([]byte("a"))
	if err != nil || string(it.Value) != "3" {
		t.Fatalf("get a: %+v %v", it, err)
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

func TestFSM_SnapshotRestore(t *testing.T) {
	src := openTestFSM(t)
	for i := range 50 {
		src.ApplyBatch([]*raft.Log{cmdLog(uint64(i+1), put(fmt.Sprintf("k%02d", i%20), fmt.Sprint(i)))})
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot is taken are not in it.
	src.ApplyBatch([]*raft.Log{cmdLog(51, put("late", "x"))})
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dst := openTestFSM(t)
	dst.ApplyBatch([]*raft.Log{cmdLog(1, put("gone", "1"))})
	old := dst.DB()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if dst.DB() == old {
		t.Fatal("store not replaced")
	}
	if _, err := old.Get([]byte("gone")); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("old store: %v", err)
	}
	if dst.AppliedIndex() != 50 {
		t.Fatalf("applied %d after restore, want 50", dst.AppliedIndex())
	}
	if _, err := dst.DB().Get([]byte("gone")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("pre-restore key: %v", err)
	}
	if _, err := dst.DB().Get([]byte("late")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("post-snapshot key: %v", err)
	}
	// Read through the FSM retries on the new store.
	var got engine.Item
	if err := dst.Read(func(db *engine.DB) (err error) { got, err = db.Get([]byte("k05")); return err }); err != nil || string(got.Value) != "45" {
		t.Fatalf("k05 = %q, %v", got.Value, err)
	}
	// The restored store continues at the same offset as the source.
	if a, b := dst.DB().NextOffset(), uint64(51); a != b {
		t.Fatalf("next offset %d after restore, want %d", a, b)
	}
	r1 := src.ApplyBatch([]*raft.Log{cmdLog(52, put("z", "1"))})[0].([]engine.Result)
	r2 := dst.ApplyBatch([]*raft.Log{cmdLog(51, put("late", "x")), cmdLog(52, put("z", "1"))})[1].([]engine.Result)
	if r1[0].Offset != r2[0].Offset {
		t.Fatalf("offsets diverge after restore: %d vs %d", r1[0].Offset, r2[0].Offset)
	}
}

func TestFSM_Restore_RefusesForeign(t *testing.T) {
	f := openTestFSM(t)
	if err := f.Restore(io.NopCloser(bytes.NewReader([]byte("not a snapshot at all")))); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("err %v", err)
	}
	if _, err := f.DB().Put([]byte("k"), []byte("v")); err != nil {
		t.Fatalf("store unusable after a refused restore: %v", err)
	}
}

// Two FSMs fed the same entries, in different batchings, hold the same
// records at the same offsets.
func TestFSM_DeterministicOffsets(t *testing.T) {
	var logs []*raft.Log
	for i := range 40 {
		ts := testTS + int64(i)
		ops := []engine.Op{
			{Kind: engine.OpPut, Key: []byte(fmt.Sprint("k", i%7)), Value: []byte(fmt.Sprint(i)), Timestamp: ts, Expiry: ts + 3},
			{Kind: engine.OpCAS, Key: []byte(fmt.Sprint("k", i%5)), Value: []byte("c"), Expected: uint64(i), Timestamp: ts},
			{Kind: engine.OpDelete, Key: []byte(fmt.Sprint("k", i%3)), Timestamp: ts + 4},
			{Kind: engine.OpProduce, Value: []byte(fmt.Sprint("m", i)), Timestamp: ts},
		}
		logs = append(logs, cmdLog(uint64(i+1), ops[:1+i%4]...))
	}
	a, b := openTestFSM(t), openTestFSM(t)
	a.ApplyBatch(logs)
	for i := range logs {
		b.Apply(logs[i])
	}
	ra, na, err := a.DB().ReadFrom(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rb, nb, err := b.DB().ReadFrom(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if na != nb || len(ra) != len(rb) {
		t.Fatalf("next %d vs %d, %d vs %d records", na, nb, len(ra), len(rb))
	}
	for i := range ra {
		x, y := ra[i], rb[i]
		if x.Offset != y.Offset || x.Timestamp != y.Timestamp || x.Flags != y.Flags || x.Expiry != y.Expiry ||
			!bytes.Equal(x.Key, y.Key) || !bytes.Equal(x.Value, y.Value) {
			t.Fatalf("record %d differs: %+v vs %+v", i, x, y)
		}
	}
}

// TestFSM_StoreFailureStopsApplying: when the store cannot apply a batch,
// the FSM does not count the entries as applied, says so once, and
// applies nothing after them.
func TestFSM_StoreFailureStopsApplying(t *testing.T) {
	f := openTestFSM(t)
	var told []error
	f.onFail = func(err error) { told = append(told, err) }
	f.ApplyBatch([]*raft.Log{cmdLog(1, put("a", "1"))})
	if f.AppliedIndex() != 1 {
		t.Fatalf("applied %d, want 1", f.AppliedIndex())
	}
	f.DB().Close() // the store fails from here on
	resp := f.ApplyBatch([]*raft.Log{cmdLog(2, put("b", "2")), cmdLog(3, put("c", "3"))})
	for i, r := range resp {
		if _, ok := r.(error); !ok {
			t.Fatalf("response %d = %v, want an error", i, r)
		}
	}
	f.ApplyBatch([]*raft.Log{cmdLog(4, put("d", "4"))})
	if f.AppliedIndex() != 1 || f.Failed() == nil || len(told) != 1 {
		t.Fatalf("applied %d, failed %v, told %d times; want 1, an error, once", f.AppliedIndex(), f.Failed(), len(told))
	}
}
