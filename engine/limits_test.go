package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/testutil"
)

func TestDB_BadInput_WritesNothing(t *testing.T) {
	db := testutil.OpenDB(t, &engine.Options{MaxKeySize: 8, MaxValueSize: 16, Sync: engine.SyncNever})
	if _, err := db.Put([]byte("present"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	long := bytes.Repeat([]byte("k"), 9)
	big := bytes.Repeat([]byte("v"), 17)
	tests := []struct {
		name string
		op   func() error
		want error
	}{
		{"put empty key", func() error { _, err := db.Put(nil, []byte("v")); return err }, engine.ErrEmptyKey},
		{"put key over limit", func() error { _, err := db.Put(long, []byte("v")); return err }, engine.ErrKeyTooLarge},
		{"put value over limit", func() error { _, err := db.Put([]byte("k"), big); return err }, engine.ErrValueTooLarge},
		{"put expiry before 1970", func() error {
			_, err := db.PutWithExpiry([]byte("k"), []byte("v"), time.Unix(-5, 0))
			return err
		}, engine.ErrBadRange},
		{"delete empty key", func() error { _, err := db.Delete(nil); return err }, engine.ErrEmptyKey},
		{"delete absent key", func() error { _, err := db.Delete([]byte("absent")); return err }, engine.ErrNotFound},
		{"cas key over limit", func() error { _, err := db.CompareAndSwap(long, 0, nil); return err }, engine.ErrKeyTooLarge},
		{"cas value over limit", func() error { _, err := db.CompareAndSwap([]byte("k"), 0, big); return err }, engine.ErrValueTooLarge},
		{"cas mismatch", func() error { _, err := db.CompareAndSwap([]byte("present"), 0, []byte("x")); return err }, engine.ErrCASMismatch},
		{"produce value over limit", func() error { _, err := db.Produce(big); return err }, engine.ErrValueTooLarge},
		{"get empty key", func() error { _, err := db.Get(nil); return err }, engine.ErrEmptyKey},
		{"get absent", func() error { _, err := db.Get([]byte("absent")); return err }, engine.ErrNotFound},
		{"scan end before start", func() error {
			_, err := db.Scan(engine.ScanOptions{Start: []byte("b"), End: []byte("a")})
			return err
		}, engine.ErrBadRange},
		{"scan negative limit", func() error { _, err := db.Scan(engine.ScanOptions{Limit: -1}); return err }, engine.ErrBadRange},
		{"scan start outside prefix", func() error {
			_, err := db.Scan(engine.ScanOptions{Prefix: []byte("a"), Start: []byte("b")})
			return err
		}, engine.ErrBadRange},
		{"readfrom past next", func() error { _, _, err := db.ReadFrom(99, 1); return err }, engine.ErrOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := db.NextOffset()
			err := tt.op()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if after := db.NextOffset(); after != before {
				t.Fatalf("a refused request wrote: next offset %d -> %d", before, after)
			}
		})
	}
	it, err := db.Get([]byte("present"))
	if err != nil || string(it.Value) != "v" {
		t.Fatalf("value changed by refused requests: %q, %v", it.Value, err)
	}
}

func TestOptions_Invalid(t *testing.T) {
	tests := []struct {
		name string
		opts engine.Options
		want string
	}{
		{"segment too small", engine.Options{SegmentBytes: 100}, "SegmentBytes"},
		{"segment too big", engine.Options{SegmentBytes: 2 << 30}, "SegmentBytes"},
		{"key limit over format", engine.Options{MaxKeySize: 1 << 16}, "MaxKeySize"},
		{"negative value limit", engine.Options{MaxValueSize: -1}, "MaxValueSize"},
		{"unknown sync mode", engine.Options{Sync: 7}, "Sync"},
		{"negative interval", engine.Options{SyncInterval: -time.Second}, "SyncInterval"},
		{"negative retention", engine.Options{Retention: -time.Second}, "Retention"},
		{"negative retention bytes", engine.Options{RetentionBytes: -1}, "RetentionBytes"},
		{"dead fraction over 1", engine.Options{Compaction: engine.CompactionOptions{MinDeadFraction: 1.5}}, "MinDeadFraction"},
		{"merge smaller than a segment", engine.Options{SegmentBytes: 1 << 20, Compaction: engine.CompactionOptions{MaxMergeBytes: 1 << 10}}, "MaxMergeBytes"},
		{"negative rate", engine.Options{Compaction: engine.CompactionOptions{RateBytesPerSec: -1}}, "RateBytesPerSec"},
		{"window hour", engine.Options{Compaction: engine.CompactionOptions{WindowStart: 25}}, "window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := engine.Open(dir, &tt.opts)
			if !errors.Is(err, engine.ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidOptions naming %s", err, tt.want)
			}
		})
	}
}

func TestParseSyncMode(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want engine.SyncMode
		ok   bool
	}{
		{"always", engine.SyncAlways, true},
		{"Interval", engine.SyncInterval, true},
		{"never", engine.SyncNever, true},
		{"sometimes", 0, false},
	} {
		got, err := engine.ParseSyncMode(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseSyncMode(%q) = %v, %v", tt.in, got, err)
		}
		if tt.ok && got.String() != strings.ToLower(tt.in) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

func TestDB_Expiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	dir := t.TempDir()
	opts := &engine.Options{Sync: engine.SyncNever, Clock: clock}
	db := testutil.OpenDBAt(t, dir, opts)
	if _, err := db.PutWithExpiry([]byte("ttl"), []byte("v"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Get([]byte("ttl")); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if _, err := db.Get([]byte("ttl")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("after expiry: %v", err)
	}
	res, err := db.Scan(engine.ScanOptions{KeysOnly: true})
	if err != nil || len(res.Items) != 0 {
		t.Fatalf("scan after expiry: %d items, %v", len(res.Items), err)
	}
	// An expired key is absent for CompareAndSwap too.
	if _, err := db.CompareAndSwap([]byte("ttl"), 0, []byte("new")); err != nil {
		t.Fatalf("cas on expired key: %v", err)
	}
}

// TestDB_Concurrent runs writers, readers, scanners and consumers together
// (meant for -race); it checks each reader sees only values some writer
// wrote and that every acknowledged write is there at the end.
func TestDB_Concurrent(t *testing.T) {
	db := testutil.OpenDB(t, &engine.Options{SegmentBytes: 8 << 10, Sync: engine.SyncAlways})
	const writers, perWriter = 4, 150
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				k := fmt.Appendf(nil, "w%d-k%d", w, i%20)
				if _, err := db.Put(k, fmt.Appendf(nil, "w%d-v%d", w, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for r := range 3 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				switch r {
				case 0:
					k := fmt.Appendf(nil, "w%d-k%d", n%writers, n%20)
					it, err := db.Get(k)
					if err == nil && !bytes.HasPrefix(it.Value, k[:3]) {
						t.Errorf("get %s = %q", k, it.Value)
						return
					}
					if err != nil && !errors.Is(err, engine.ErrNotFound) {
						t.Error(err)
						return
					}
				case 1:
					if _, err := db.Scan(engine.ScanOptions{Prefix: []byte("w1-"), Limit: 10}); err != nil {
						t.Error(err)
						return
					}
				case 2:
					if _, _, err := db.ReadFrom(uint64(n%500), 50); err != nil && !errors.Is(err, engine.ErrOutOfRange) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	readers.Wait()
	for w := range writers {
		for i := perWriter - 20; i < perWriter; i++ {
			k := fmt.Appendf(nil, "w%d-k%d", w, i%20)
			it, err := db.Get(k)
			if err != nil || string(it.Value) != fmt.Sprintf("w%d-v%d", w, i) {
				t.Fatalf("get %s = %q, %v", k, it.Value, err)
			}
		}
	}
	if got, want := db.NextOffset(), uint64(writers*perWriter+1); got != want {
		t.Fatalf("next offset %d, want %d", got, want)
	}
}

func TestDB_AfterClose(t *testing.T) {
	db := testutil.OpenDB(t, &engine.Options{Sync: engine.SyncNever})
	if _, err := db.Put([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"put":      func() error { _, err := db.Put([]byte("k"), []byte("v")); return err },
		"get":      func() error { _, err := db.Get([]byte("k")); return err },
		"delete":   func() error { _, err := db.Delete([]byte("k")); return err },
		"scan":     func() error { _, err := db.Scan(engine.ScanOptions{}); return err },
		"readfrom": func() error { _, _, err := db.ReadFrom(0, 1); return err },
		"sync":     func() error { return db.Sync() },
		"close":    func() error { return db.Close() },
	} {
		if err := op(); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// TestDB_CloseWithWritersWaiting closes the DB while durable writers are
// in flight: each Put either succeeds, and its value survives a reopen, or
// returns ErrClosed; none is told the DB failed.
func TestDB_CloseWithWritersWaiting(t *testing.T) {
	dir := t.TempDir()
	db, err := engine.Open(dir, &engine.Options{Sync: engine.SyncAlways})
	if err != nil {
		t.Fatal(err)
	}
	const writers = 8
	acked := make([][]string, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := fmt.Sprintf("w%d-%d", w, i)
				_, err := db.Put([]byte(k), []byte(k))
				if errors.Is(err, engine.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("put %s: %v", k, err)
					return
				}
				acked[w] = append(acked[w], k)
			}
		}()
	}
	// Close once writes are flowing, so some are waiting for an fsync.
	for deadline := time.Now().Add(10 * time.Second); db.NextOffset() < 50 && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	wg.Wait()
	db = testutil.OpenDBAt(t, dir, nil)
	for _, ks := range acked {
		for _, k := range ks {
			if it, err := db.Get([]byte(k)); err != nil || string(it.Value) != k {
				t.Fatalf("acknowledged %s lost: %v", k, err)
			}
		}
	}
}
