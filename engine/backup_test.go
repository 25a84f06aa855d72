package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/testutil"
)

func TestDB_BackupRestore(t *testing.T) {
	opts := &engine.Options{SegmentBytes: 8 << 10, Sync: engine.SyncNever}
	db := testutil.OpenDB(t, opts)
	for i := range 600 {
		if _, err := db.Put(fmt.Appendf(nil, "k%03d", i%150), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			if _, err := db.Produce(fmt.Appendf(nil, "m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.Delete([]byte("k007")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := db.Backup(context.Background(), &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup = %d, %v (buffer %d)", n, err, buf.Len())
	}
	// Writes after the backup are not in it.
	if _, err := db.Put([]byte("later"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if err := engine.Restore(context.Background(), dir, bytes.NewReader(buf.Bytes()), opts); err != nil {
		t.Fatal(err)
	}
	rdb := testutil.OpenDBAt(t, dir, opts)
	if rdb.NextOffset() != db.NextOffset()-1 {
		t.Fatalf("restored next offset %d, want %d", rdb.NextOffset(), db.NextOffset()-1)
	}
	for i := 450; i < 600; i++ {
		k := fmt.Appendf(nil, "k%03d", i%150)
		it, err := rdb.Get(k)
		if i%150 == 7 {
			if !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("deleted key restored: %v", err)
			}
			continue
		}
		if err != nil || string(it.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("restored %s = %q, %v", k, it.Value, err)
		}
	}
	if _, err := rdb.Get([]byte("later")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("write after the backup restored: %v", err)
	}
	want, _, _ := db.ReadFrom(0, 1<<20)
	got, _, _ := rdb.ReadFrom(0, 1<<20)
	if len(got) != len(want)-1 {
		t.Fatalf("restored log has %d records, want %d", len(got), len(want)-1)
	}
	// Restore refuses a directory in use and garbage input, and leaves
	// nothing behind.
	if err := engine.Restore(context.Background(), dir, bytes.NewReader(buf.Bytes()), opts); err == nil {
		t.Fatal("restore over a store accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := engine.Restore(context.Background(), bad, bytes.NewReader([]byte("not a tar")), opts); err == nil {
		t.Fatal("restore of garbage accepted")
	}
	if m, _ := filepath.Glob(bad + "*"); len(m) != 0 {
		t.Fatalf("failed restore left %v", m)
	}
}

// TestDB_Checkpoint: a checkpoint holds exactly the records before it,
// however many are written while it is being written out, and restores
// with the same next offset even when its newest segment is empty.
func TestDB_Checkpoint(t *testing.T) {
	opts := &engine.Options{SegmentBytes: 4 << 10, Sync: engine.SyncNever}
	db := testutil.OpenDB(t, opts)
	for i := range 300 {
		if _, err := db.Put(fmt.Appendf(nil, "k%d", i%40), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := db.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if cp.NextOffset() != 301 {
		t.Fatalf("checkpoint next %d", cp.NextOffset())
	}
	for i := range 100 { // after the checkpoint: not in it
		if _, err := db.Put([]byte("later"), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := cp.WriteTo(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	cp.Release()
	dir := filepath.Join(t.TempDir(), "r")
	if err := engine.Restore(context.Background(), dir, &buf, opts); err != nil {
		t.Fatal(err)
	}
	r := testutil.OpenDBAt(t, dir, opts)
	if r.NextOffset() != 301 {
		t.Fatalf("restored next %d, want 301", r.NextOffset())
	}
	if _, err := r.Get([]byte("later")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a write after the checkpoint is in it: %v", err)
	}
	it, err := r.Get([]byte("k19"))
	if err != nil || string(it.Value) != "v299" {
		t.Fatalf("k19 = %q, %v", it.Value, err)
	}
}
