//go:build failpoints

package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
	"github.com/caskade/caskade/internal/failpoint"
	"github.com/caskade/caskade/internal/failpoint/fptest"
)

// compactCrashOpts are the child's options: small segments, so a few
// hundred writes make many sealed segments with dead bytes, and no
// background merges, so the only merge is the child's Compact.
func compactCrashOpts() *engine.Options {
	return &engine.Options{
		SegmentBytes: engine.MinSegmentBytes,
		Sync:         engine.SyncAlways,
		Compaction:   engine.CompactionOptions{Disabled: true},
	}
}

// TestDB_FailpointChild_Compact is the child of TestDB_Compact_Failpoints:
// it writes a fixed mix of puts, deletes and produces, printing each one
// once it is acknowledged ("ack put <key> <offset> <value>", "ack del <key>
// <offset>", "ack produce <offset> <value>"), then compacts. Armed, it dies
// in the merge; unarmed, it prints how often each merge point was hit.
func TestDB_FailpointChild_Compact(t *testing.T) {
	dir := fptest.Child(t)
	db, err := engine.Open(dir, compactCrashOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		key := fmt.Sprintf("k%02d", rng.IntN(30))
		value := fmt.Sprintf("v%04d-%s", i, strings.Repeat("x", 80))
		switch rng.IntN(10) {
		case 0:
			off, err := db.Delete([]byte(key))
			if errors.Is(err, engine.ErrNotFound) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("ack del %s %d\n", key, off)
		case 1:
			off, err := db.Produce([]byte(value))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("ack produce %d %s\n", off, value)
		default:
			off, err := db.Put([]byte(key), []byte(value))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("ack put %s %d %s\n", key, off, value)
		}
	}
	res, err := db.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Merges == 0 {
		t.Fatal("nothing to merge: the crash points would not be reached")
	}
	for _, n := range []string{failpoint.CompactionOutputs, failpoint.CompactionMarker, failpoint.CompactionRename, failpoint.CompactionSwap} {
		fmt.Printf("hits %s %d\n", n, failpoint.Hits(n))
	}
}

// ackedState is what a child's acknowledgements say the store holds.
type ackedState struct {
	keys     map[string]*ackedValue // nil value: deleted
	produced map[uint64]string      // offset → value
	last     uint64                 // highest acknowledged offset
}

// ackedValue is a key's last acknowledged put.
type ackedValue struct {
	offset uint64
	value  string
}

// parseAcks reads the child's "ack" lines.
func parseAcks(t *testing.T, r fptest.Result) ackedState {
	t.Helper()
	s := ackedState{keys: map[string]*ackedValue{}, produced: map[uint64]string{}}
	for _, l := range r.Lines("ack ") {
		f := strings.Fields(l)
		var offField string
		switch {
		case f[0] == "put" && len(f) == 4:
			offField = f[2]
		case f[0] == "del" && len(f) == 3:
			offField = f[2]
		case f[0] == "produce" && len(f) == 3:
			offField = f[1]
		default:
			t.Fatalf("bad child line %q", l)
		}
		off, err := strconv.ParseUint(offField, 10, 64)
		if err != nil {
			t.Fatalf("bad child line %q", l)
		}
		switch f[0] {
		case "put":
			s.keys[f[1]] = &ackedValue{off, f[3]}
		case "del":
			s.keys[f[1]] = nil
		case "produce":
			s.produced[off] = f[2]
		}
		s.last = max(s.last, off)
	}
	if len(s.keys) == 0 || len(s.produced) == 0 {
		t.Fatalf("the child acknowledged too little:\n%s", r.Stdout)
	}
	return s
}

// check requires db to hold every acknowledged write.
func (s ackedState) check(t *testing.T, db *engine.DB) {
	t.Helper()
	for k, want := range s.keys {
		it, err := db.Get([]byte(k))
		switch {
		case want == nil:
			if !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("deleted key %s: %+v, %v", k, it, err)
			}
		case err != nil:
			t.Fatalf("key %s (acknowledged at %d): %v", k, want.offset, err)
		case it.Offset != want.offset || string(it.Value) != want.value:
			t.Fatalf("key %s: offset %d value %.10q, want offset %d value %.10q", k, it.Offset, it.Value, want.offset, want.value)
		}
	}
	for off, want := range s.produced {
		recs, _, err := db.ReadFrom(off, 1)
		if err != nil || len(recs) != 1 || recs[0].Offset != off || !bytes.Equal(recs[0].Value, []byte(want)) {
			t.Fatalf("produced record %d: %v, %v", off, recs, err)
		}
	}
	if next := db.NextOffset(); next <= s.last {
		t.Fatalf("next offset %d, but %d was acknowledged", next, s.last)
	}
}

// TestDB_Compact_Failpoints kills a process at each crash point of a
// merge (a real SIGKILL, not a copied directory) and reopens its store:
// every acknowledged write is there, the merge was either undone or
// finished (no temporaries, no marker left), and the store compacts
// again.
func TestDB_Compact_Failpoints(t *testing.T) {
	ref := fptest.Run(t, "TestDB_FailpointChild_Compact", t.TempDir())
	renames := 0
	for _, l := range ref.Lines("hits " + failpoint.CompactionRename + " ") {
		renames, _ = strconv.Atoi(l)
	}
	if renames < 3 {
		t.Fatalf("the merge removed and renamed %d files, want several:\n%s", renames, ref.Stdout)
	}
	specs := []struct{ spec, point string }{
		{failpoint.CompactionOutputs, failpoint.CompactionOutputs},
		{failpoint.CompactionMarker, failpoint.CompactionMarker},
		{failpoint.CompactionRename + "@1", failpoint.CompactionRename},
		{fmt.Sprintf("%s@%d", failpoint.CompactionRename, renames/2), failpoint.CompactionRename},
		{fmt.Sprintf("%s@%d", failpoint.CompactionRename, renames-1), failpoint.CompactionRename},
		{failpoint.CompactionSwap, failpoint.CompactionSwap},
	}
	for _, tt := range specs {
		t.Run(tt.spec, func(t *testing.T) {
			dir := t.TempDir()
			r := fptest.Crash(t, "TestDB_FailpointChild_Compact", dir, tt.point, failpoint.EnvFailpoints+"="+tt.spec)
			acked := parseAcks(t, r)
			db, err := engine.Open(dir, compactCrashOpts())
			if err != nil {
				t.Fatalf("reopen after a crash at %s: %v", tt.spec, err)
			}
			defer db.Close()
			acked.check(t, db)
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".merge") || e.Name() == segment.MarkerName {
					t.Fatalf("%s left after reopening", e.Name())
				}
			}
			if _, err := db.Compact(context.Background()); err != nil {
				t.Fatalf("compact after recovery: %v", err)
			}
			acked.check(t, db)
		})
	}
}
