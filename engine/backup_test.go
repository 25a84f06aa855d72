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
