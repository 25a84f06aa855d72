package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
	"pgregory.net/rapid"
)

// TestDB_CompactCrash takes the directory as a crash would leave it at
// every step of a merge (outputs written, fsynced, marker written, files
// renamed, keydir half moved, view swapped) and checks that each image
// reopens to the same keyed view and keeps every record still needed:
// either the old or the new segments are used, never a mix.
func TestDB_CompactCrash(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := newDBMachine(t, tempDir(t))
		defer m.cleanup()
		// Writes, durable one by one (Sync=never, but the copy reads the
		// page cache, which is what a killed process leaves).
		n := rapid.IntRange(10, 60).Draw(t, "writes")
		for range n {
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1:
				m.Delete(t)
			case 2:
				m.Produce(t)
			case 3:
				m.PutTTL(t)
			case 4:
				m.Tick(t)
			default:
				m.Put(t)
			}
		}
		type image struct {
			step segment.MergeStep
			dir  string
		}
		var images []image
		// One step of the first merge per run (copying is slow; the runs
		// cover every step, and later merges take the same steps).
		crashAt := rapid.SampledFrom([]segment.MergeStep{
			segment.StepOutputsWritten, segment.StepOutputsSynced, segment.StepMarkerWritten,
			segment.StepRenamed, engine.StepRelocating, segment.StepSwapped,
		}).Draw(t, "crashAt")
		done := false
		engine.SetMergeHook(m.db, func(step segment.MergeStep) error {
			if !done && step == crashAt {
				images = append(images, image{step, copyDir(t, m.dir)})
				done = true
			}
			return nil
		})
		if _, err := m.db.Compact(context.Background()); err != nil {
			t.Fatalf("compact: %v", err)
		}
		engine.SetMergeHook(m.db, nil)
		// The merge changed nothing the model can see.
		m.Check(t)
		for _, im := range images {
			db, err := engine.Open(im.dir, m.opts)
			if err != nil {
				t.Fatalf("open image at %s: %v", im.step, err)
			}
			checkImage(t, m, db, string(im.step))
			if err := db.Close(); err != nil {
				t.Fatalf("close image at %s: %v", im.step, err)
			}
			ents, _ := os.ReadDir(im.dir)
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".merge") || e.Name() == segment.MarkerName {
					t.Fatalf("image at %s: %s left after open", im.step, e.Name())
				}
			}
			os.RemoveAll(im.dir)
		}
	})
}

// checkImage compares a reopened copy with the model: every key reads as
// the model says, and every required record is at its offset.
func checkImage(t *rapid.T, m *dbMachine, db *engine.DB, step string) {
	for _, k := range []string{"a", "b", "c", "aa", "ab", "ac", "ba", "bb", "bc", "ca", "cb", "cc", "aaa", "abc", "cab", "bca"} {
		it, err := db.Get([]byte(k))
		want, ok := m.live(k)
		switch {
		case !ok && !errors.Is(err, engine.ErrNotFound):
			t.Fatalf("image at %s: get absent %q: %v", step, k, err)
		case ok && (err != nil || !bytes.Equal(it.Value, want.value) || it.Offset != want.offset):
			t.Fatalf("image at %s: get %q = offset %d, %v; want offset %d", step, k, it.Offset, err, want.offset)
		}
	}
	recs, next, err := db.ReadFrom(0, 1<<20)
	if err != nil || next != m.next {
		t.Fatalf("image at %s: readfrom: next %d (want %d), %v", step, next, m.next, err)
	}
	got := make(map[uint64]bool, len(recs))
	for _, r := range recs {
		if got[r.Offset] {
			t.Fatalf("image at %s: offset %d twice", step, r.Offset)
		}
		got[r.Offset] = true
	}
	for _, r := range m.log {
		if m.required(r) && !got[r.offset] {
			t.Fatalf("image at %s: required record %d (key %q) missing", step, r.offset, r.key)
		}
	}
}

// TestDB_CompactCrashLeftovers: temporaries without a marker are removed at
// open and the old segments stay; a marker finishes the merge.
func TestDB_CompactCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	opts := &engine.Options{SegmentBytes: 4096, Sync: engine.SyncNever, Compaction: engine.CompactionOptions{Disabled: true}}
	db, err := engine.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := db.Put(fmt.Appendf(nil, "k%d", i%20), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	stop := errors.New("crash")
	engine.SetMergeHook(db, func(step segment.MergeStep) error {
		if step == segment.StepOutputsSynced {
			return stop
		}
		return nil
	})
	if _, err := db.Compact(context.Background()); !errors.Is(err, stop) {
		t.Fatalf("compact with a failing hook: %v", err)
	}
	merges, _ := filepath.Glob(filepath.Join(dir, "*.merge"))
	if len(merges) != 0 {
		t.Fatalf("a merge that failed before its commit point left %v", merges)
	}
	// The store still works, and a later merge succeeds.
	engine.SetMergeHook(db, nil)
	if _, err := db.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = engine.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := 280; i < 300; i++ {
		it, err := db.Get(fmt.Appendf(nil, "k%d", i%20))
		if err != nil || string(it.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%d = %q, %v", i%20, it.Value, err)
		}
	}
}
