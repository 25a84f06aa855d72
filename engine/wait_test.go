package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/testutil"
)

func TestDB_WaitWakesOnAppend(t *testing.T) {
	db := testutil.OpenDB(t, &engine.Options{Sync: engine.SyncNever})
	next := db.NextOffset()
	// Already readable: returns at once.
	if _, err := db.Produce([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := db.Wait(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	// Not yet written: wakes when it is.
	done := make(chan error, 1)
	go func() { done <- db.Wait(context.Background(), next+1) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before the append", err)
	case <-time.After(20 * time.Millisecond):
	}
	if _, err := db.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not wake on append")
	}
}

func TestDB_WaitEnds(t *testing.T) {
	db := testutil.OpenDB(t, &engine.Options{Sync: engine.SyncNever})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := db.Wait(ctx, db.NextOffset()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait after deadline: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- db.Wait(context.Background(), db.NextOffset()+10) }()
	time.Sleep(10 * time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, engine.ErrClosed) {
			t.Fatalf("Wait at close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not end at Close")
	}
}

func TestDB_ProduceBatch(t *testing.T) {
	db := testutil.OpenDB(t, &engine.Options{SegmentBytes: engine.MinSegmentBytes, MaxValueSize: 1000})
	vals := make([][]byte, 300) // spans several segments
	for i := range vals {
		vals[i] = []byte{byte(i), byte(i >> 8)}
	}
	first, err := db.ProduceBatch(vals)
	if err != nil || first != 1 {
		t.Fatalf("ProduceBatch = %d, %v", first, err)
	}
	recs, next, err := db.ReadFrom(first, 1000)
	if err != nil || len(recs) != len(vals) || next != first+uint64(len(vals)) {
		t.Fatalf("ReadFrom: %d records, next %d, %v", len(recs), next, err)
	}
	for i, r := range recs {
		if r.Offset != first+uint64(i) || string(r.Value) != string(vals[i]) || len(r.Key) != 0 {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	// A refused value refuses the batch: nothing is written.
	if _, err := db.ProduceBatch([][]byte{{1}, make([]byte, 1001)}); !errors.Is(err, engine.ErrValueTooLarge) {
		t.Fatalf("oversized value in batch: %v", err)
	}
	if _, err := db.ProduceBatch(nil); !errors.Is(err, engine.ErrBadRange) {
		t.Fatalf("empty batch: %v", err)
	}
	if db.NextOffset() != next {
		t.Fatalf("refused batches wrote: next %d, want %d", db.NextOffset(), next)
	}
}
