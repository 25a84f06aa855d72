package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/testutil"
)

func TestDB_PutGetReopen(t *testing.T) {
	dir := t.TempDir()
	opts := &engine.Options{SegmentBytes: 4096, Sync: engine.SyncNever}
	db, err := engine.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := db.Put(fmt.Appendf(nil, "k%04d", i%200), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Delete([]byte("k0007")); err != nil {
		t.Fatal(err)
	}
	check := func(db *engine.DB) {
		t.Helper()
		for i := 300; i < 500; i++ {
			k := fmt.Appendf(nil, "k%04d", i%200)
			it, err := db.Get(k)
			if i%200 == 7 {
				if !errors.Is(err, engine.ErrNotFound) {
					t.Fatalf("deleted key: %v", err)
				}
				continue
			}
			if err != nil || !bytes.Equal(it.Value, fmt.Appendf(nil, "v%d", i)) {
				t.Fatalf("get %s = %q, %v", k, it.Value, err)
			}
		}
		if n := db.Len(); n != 199 {
			t.Fatalf("len %d", n)
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = testutil.OpenDBAt(t, dir, opts)
	check(db)
	recs, next, err := db.ReadFrom(0, 1000)
	if err != nil || len(recs) != 501 || next != 502 {
		t.Fatalf("readfrom: %d recs, next %d, %v", len(recs), next, err)
	}
	for i, r := range recs {
		if r.Offset != uint64(i+1) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
}
