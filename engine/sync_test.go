package engine_test

import (
	"sync"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
)

// OnSync sees every fsync Stats.Syncs counts, each with a positive
// duration, under each sync mode that fsyncs.
func TestDB_OnSync(t *testing.T) {
	for _, tt := range []struct {
		name string
		mode engine.SyncMode
		// sync runs an explicit DB.Sync after the writes (SyncNever
		// fsyncs only then).
		sync bool
	}{
		{"always", engine.SyncAlways, false},
		{"never, then Sync", engine.SyncNever, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex // guards calls
			var calls []time.Duration
			db, err := engine.Open(t.TempDir(), &engine.Options{
				Sync:         tt.mode,
				SegmentBytes: 64 << 10,
				OnSync: func(d time.Duration) {
					mu.Lock()
					calls = append(calls, d)
					mu.Unlock()
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, k := range []string{"a", "b", "c"} {
				if _, err := db.Put([]byte(k), []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			if tt.sync {
				if err := db.Sync(); err != nil {
					t.Fatal(err)
				}
			}
			syncs := db.Stats().Syncs
			mu.Lock()
			defer mu.Unlock()
			if syncs == 0 || uint64(len(calls)) != syncs {
				t.Fatalf("OnSync called %d times, Stats.Syncs = %d; want equal and positive", len(calls), syncs)
			}
			for i, d := range calls {
				if d <= 0 {
					t.Errorf("call %d: duration %v, want > 0", i, d)
				}
			}
		})
	}
}
