package engine_test

import (
	"os/signal"
	"syscall"
	"testing"

	"github.com/caskade/caskade/engine"
)

// limitFileSize makes every file growth past n bytes fail with EFBIG (as a
// full disk makes fallocate fail with ENOSPC) until the test ends.
func limitFileSize(t *testing.T, n uint64) {
	t.Helper()
	signal.Ignore(syscall.SIGXFSZ)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) })
}

// A roll of an empty active segment that fails (disk full) must leave the
// segment and its files as they were: acknowledged writes after it survive
// a reopen.
func TestDB_RollFailure_EmptySegment(t *testing.T) {
	dir := t.TempDir()
	opts := &engine.Options{SegmentBytes: 64 << 10, MaxValueSize: 1 << 20}
	db, err := engine.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	limitFileSize(t, 256<<10)
	// Bigger than a segment: needs a roll to a segment of its own size,
	// which the "disk" cannot hold.
	if _, err := db.Put([]byte("big"), make([]byte, 512<<10)); err == nil {
		t.Fatal("big put succeeded; the test needs it to fail")
	} else {
		t.Logf("big put failed as a full disk would make it: %v", err)
	}
	// A small write fits the active segment and is acknowledged (SyncAlways).
	if _, err := db.Put([]byte("k"), []byte("acked")); err != nil {
		t.Fatalf("small put: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	db, err = engine.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	it, err := db.Get([]byte("k"))
	if err != nil || string(it.Value) != "acked" {
		t.Fatalf("acknowledged write lost after reopen: Get = %q, %v", it.Value, err)
	}
}

// A failed roll of a non-empty active segment must leave no empty .log
// named by the next offset behind: later writes still go into the old
// segment, and after a reopen such a file would become the active segment
// below them, so NextOffset would go back, offsets would be handed out
// again and ReadFrom would miss acknowledged records.
func TestDB_RollFailure_OffsetsNotReused(t *testing.T) {
	dir := t.TempDir()
	opts := &engine.Options{SegmentBytes: 64 << 10, MaxValueSize: 1 << 20}
	db, err := engine.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Put([]byte("a"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	limitFileSize(t, 256<<10)
	if _, err := db.Put([]byte("big"), make([]byte, 512<<10)); err == nil {
		t.Fatal("big put succeeded; the test needs it to fail")
	}
	off, err := db.Put([]byte("b"), []byte("2"))
	if err != nil {
		t.Fatal(err)
	}
	next := db.NextOffset()
	if err := db.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	db, err = engine.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, _, err := db.ReadFrom(off, 10)
	if err != nil || len(recs) == 0 || recs[0].Offset != off {
		t.Errorf("ReadFrom(%d) after reopen = %d records, %v; want the acknowledged record at %d", off, len(recs), err, off)
	}
	if got := db.NextOffset(); got < next {
		t.Errorf("NextOffset went back from %d to %d after reopen", next, got)
	}
	off2, err := db.Put([]byte("c"), []byte("3"))
	if err != nil {
		t.Fatal(err)
	}
	if off2 <= off {
		t.Errorf("offset %d handed out again (b already had %d)", off2, off)
	}
}
