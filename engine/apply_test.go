package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/testutil"
)

func TestDB_Apply(t *testing.T) {
	db := testutil.OpenDB(t, &engine.Options{Sync: engine.SyncNever, MaxValueSize: 100})
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	if _, err := db.Put([]byte("old"), []byte("v")); err != nil { // offset 1
		t.Fatal(err)
	}
	ops := []engine.Op{
		{Kind: engine.OpPut, Key: []byte("a"), Value: []byte("1"), Timestamp: ts},                     // 2
		{Kind: engine.OpCAS, Key: []byte("a"), Expected: 2, Value: []byte("2"), Timestamp: ts},        // 3: sees the put before it
		{Kind: engine.OpCAS, Key: []byte("a"), Expected: 2, Value: []byte("x"), Timestamp: ts},        // mismatch: current 3
		{Kind: engine.OpDelete, Key: []byte("missing"), Timestamp: ts},                                // not found
		{Kind: engine.OpDelete, Key: []byte("old"), Timestamp: ts},                                    // 4
		{Kind: engine.OpCAS, Key: []byte("old"), Expected: 0, Value: []byte("new"), Timestamp: ts},    // 5: absent after the delete
		{Kind: engine.OpProduce, Value: []byte("m"), Timestamp: ts},                                   // 6
		{Kind: engine.OpPut, Key: []byte("big"), Value: make([]byte, 101), Timestamp: ts},             // too large
		{Kind: engine.OpPut, Key: []byte("ttl"), Value: []byte("t"), Timestamp: ts, Expiry: ts + 10},  // 7
		{Kind: engine.OpCAS, Key: []byte("ttl"), Expected: 0, Value: []byte("u"), Timestamp: ts + 10}, // 8: expired at its time
		{Kind: engine.OpPut, Key: nil, Value: []byte("k"), Timestamp: ts},                             // empty key
		{Kind: engine.OpPut, Key: []byte("z"), Value: []byte("k"), Timestamp: 0},                      // no timestamp
	}
	res, err := db.Apply(ops)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		off uint64
		err error
	}{{2, nil}, {3, nil}, {0, engine.ErrCASMismatch}, {0, engine.ErrNotFound}, {4, nil}, {5, nil}, {6, nil},
		{0, engine.ErrValueTooLarge}, {7, nil}, {8, nil}, {0, engine.ErrEmptyKey}, {0, engine.ErrBadRange}}
	for i, w := range want {
		if res[i].Offset != w.off || !errors.Is(res[i].Err, w.err) || (w.err == nil) != (res[i].Err == nil) {
			t.Errorf("op %d (%v): %+v, want offset %d err %v", i, ops[i].Kind, res[i], w.off, w.err)
		}
	}
	var ce *engine.CASError
	if !errors.As(res[2].Err, &ce) || ce.Current != 3 {
		t.Fatalf("CAS error %v", res[2].Err)
	}
	if db.NextOffset() != 9 {
		t.Fatalf("next offset %d, want 9", db.NextOffset())
	}
	for k, v := range map[string]string{"a": "2", "old": "new", "ttl": "u"} {
		it, err := db.Get([]byte(k))
		if err != nil || string(it.Value) != v {
			t.Fatalf("%s = %q, %v", k, it.Value, err)
		}
	}
	// All refused: nothing written.
	res, err = db.Apply([]engine.Op{{Kind: engine.OpDelete, Key: []byte("missing"), Timestamp: ts}})
	if err != nil || !errors.Is(res[0].Err, engine.ErrNotFound) || db.NextOffset() != 9 {
		t.Fatalf("refused batch: %+v, %v, next %d", res, err, db.NextOffset())
	}
}

// TestDB_Apply_Deterministic applies the same ops to two stores and
// compares their logs record by record.
func TestDB_Apply_Deterministic(t *testing.T) {
	a := testutil.OpenDB(t, &engine.Options{Sync: engine.SyncNever})
	b := testutil.OpenDB(t, &engine.Options{Sync: engine.SyncNever, Clock: func() time.Time { return time.Unix(1, 0) }})
	ts := int64(1_700_000_000_000_000_000)
	var ops []engine.Op
	for i := range 200 {
		k := []byte{byte('a' + i%7)}
		switch i % 4 {
		case 0:
			ops = append(ops, engine.Op{Kind: engine.OpPut, Key: k, Value: []byte{byte(i)}, Timestamp: ts + int64(i), Expiry: ts + int64(i) + 5})
		case 1:
			ops = append(ops, engine.Op{Kind: engine.OpDelete, Key: k, Timestamp: ts + int64(i)})
		case 2:
			ops = append(ops, engine.Op{Kind: engine.OpCAS, Key: k, Expected: 0, Value: []byte{byte(i)}, Timestamp: ts + int64(i)})
		default:
			ops = append(ops, engine.Op{Kind: engine.OpProduce, Value: []byte{byte(i)}, Timestamp: ts + int64(i)})
		}
	}
	for i := 0; i < len(ops); i += 13 {
		batch := ops[i:min(i+13, len(ops))]
		ra, err1 := a.Apply(batch)
		rb, err2 := b.Apply(batch)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		for j := range ra {
			if ra[j].Offset != rb[j].Offset || (ra[j].Err == nil) != (rb[j].Err == nil) {
				t.Fatalf("op %d: %+v vs %+v", i+j, ra[j], rb[j])
			}
		}
	}
	la, _, _ := a.ReadFrom(0, 1000)
	lb, _, _ := b.ReadFrom(0, 1000)
	if len(la) != len(lb) {
		t.Fatalf("%d vs %d records", len(la), len(lb))
	}
	for i := range la {
		x, y := la[i], lb[i]
		if x.Offset != y.Offset || x.Timestamp != y.Timestamp || x.Expiry != y.Expiry || x.Flags != y.Flags || string(x.Key) != string(y.Key) || string(x.Value) != string(y.Value) {
			t.Fatalf("record %d differs: %+v vs %+v", i, x, y)
		}
	}
}
