package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/caskade/caskade/engine/segment"
)

// testSegmentBytes keeps test segments small, so that a few dozen entries
// span several segments and head deletes drop whole ones.
const testSegmentBytes = 16 << 10

// openTestLogStore opens a LogStore in dir and closes it when the test
// ends.
func openTestLogStore(t testing.TB, dir string) *LogStore {
	t.Helper()
	s, err := OpenLogStore(dir, &LogStoreOptions{SegmentBytes: testSegmentBytes})
	if err != nil {
		t.Fatalf("open log store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testEntry is the entry the tests store at index in term: its contents
// follow from both, so a reader can check what it got.
func testEntry(index, term uint64, dataLen int) *raft.Log {
	l := &raft.Log{
		Index:      index,
		Term:       term,
		Type:       raft.LogType(index % 7),
		AppendedAt: time.Unix(1_700_000_000+int64(index), int64(term)),
		Data:       bytes.Repeat([]byte{byte(index), byte(term), byte(index >> 8)}, dataLen/3+1)[:dataLen],
	}
	if index%5 == 0 {
		l.Extensions = fmt.Appendf(nil, "ext-%d-%d", index, term)
	}
	return l
}

// entries returns the test entries from..to (inclusive) in term.
func entries(from, to, term uint64, dataLen int) []*raft.Log {
	var out []*raft.Log
	for i := from; i <= to; i++ {
		out = append(out, testEntry(i, term, dataLen))
	}
	return out
}

// tb is the part of testing.TB the helpers need, so that rapid's *T can
// use them too.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// --- Conformance suite ---------------------------------------------------

// logStoreImpl is an implementation the conformance suite runs against.
type logStoreImpl struct {
	name string
	// open returns a new, empty store, closed when the test ends.
	open func(t *testing.T) raft.LogStore
	// reopen closes s and opens it again from its files; nil for a store
	// that keeps nothing on disk.
	reopen func(t *testing.T, s raft.LogStore) raft.LogStore
}

func TestLogStore_Conformance(t *testing.T) {
	impls := []logStoreImpl{
		{
			name: "caskade",
			open: func(t *testing.T) raft.LogStore { return openTestLogStore(t, t.TempDir()) },
			reopen: func(t *testing.T, s raft.LogStore) raft.LogStore {
				ls := s.(*LogStore)
				if err := ls.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
				return openTestLogStore(t, ls.dir)
			},
		},
		{
			name: "inmem",
			open: func(t *testing.T) raft.LogStore { return raft.NewInmemStore() },
		},
		{
			// The reference: it checks that the suite asks for Raft's
			// contract, not for this package's choices.
			name: "raftboltdb",
			open: func(t *testing.T) raft.LogStore { return openBolt(t, filepath.Join(t.TempDir(), "raft.db")) },
			reopen: func(t *testing.T, s raft.LogStore) raft.LogStore {
				b := s.(*boltStore)
				if err := b.Close(); err != nil {
					t.Fatalf("close: %v", err)
				}
				return openBolt(t, b.path)
			},
		},
	}
	for _, impl := range impls {
		t.Run(impl.name, func(t *testing.T) { testLogStoreConformance(t, impl) })
	}
}

// boltStore is a raft-boltdb store that remembers its path, to reopen it.
type boltStore struct {
	*raftboltdb.BoltStore
	path string
}

func openBolt(t testing.TB, path string) *boltStore {
	t.Helper()
	b, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		t.Fatalf("open raft-boltdb: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return &boltStore{BoltStore: b, path: path}
}

// testLogStoreConformance checks the raft.LogStore contract as Raft relies
// on it. Every implementation must pass it unchanged.
func testLogStoreConformance(t *testing.T, impl logStoreImpl) {
	durable := func(t *testing.T) {
		t.Helper()
		if impl.reopen == nil {
			t.Skip("not durable")
		}
	}

	t.Run("Empty", func(t *testing.T) {
		s := impl.open(t)
		checkRange(t, s, 0, 0)
		checkNotFound(t, s, 0, 1, 2, 1<<40)
	})

	t.Run("StoreLog_One", func(t *testing.T) {
		s := impl.open(t)
		l := testEntry(1, 1, 10)
		if err := s.StoreLog(l); err != nil {
			t.Fatal(err)
		}
		checkRange(t, s, 1, 1)
		checkEntries(t, s, l)
		checkNotFound(t, s, 0, 2)
	})

	t.Run("StoreLogs_Batches", func(t *testing.T) {
		s := impl.open(t)
		var all []*raft.Log
		next := uint64(1)
		for _, n := range []uint64{1, 7, 64, 28, 1, 100} {
			batch := entries(next, next+n-1, 3, int(next%300))
			store(t, s, batch...)
			all = append(all, batch...)
			next += n
			checkRange(t, s, 1, next-1)
		}
		checkEntries(t, s, all...)
		checkNotFound(t, s, next)
	})

	t.Run("StoreLogs_KeepsNoReference", func(t *testing.T) {
		if impl.name == "inmem" {
			t.Skip("InmemStore keeps the caller's entries")
		}
		s := impl.open(t)
		l := testEntry(1, 1, 16)
		want := *l
		want.Data = bytes.Clone(l.Data)
		store(t, s, l)
		clear(l.Data)
		checkEntries(t, s, &want)
	})

	t.Run("StoreLogs_StartsAnywhere", func(t *testing.T) {
		s := impl.open(t)
		// A node that starts from a snapshot stores its first entry at
		// the snapshot's index plus one.
		store(t, s, entries(1000, 1010, 4, 20)...)
		checkRange(t, s, 1000, 1010)
		checkNotFound(t, s, 1, 999, 1011)
	})

	t.Run("StoreLogs_GapAfterRestore", func(t *testing.T) {
		s := impl.open(t)
		store(t, s, entries(1, 10, 1, 20)...)
		// After a user snapshot restore Raft goes on past a gap.
		store(t, s, entries(100, 105, 2, 20)...)
		checkRange(t, s, 1, 105)
		checkEntries(t, s, append(entries(1, 10, 1, 20), entries(100, 105, 2, 20)...)...)
		checkNotFound(t, s, 11, 50, 99, 106)
		// Compaction past the gap.
		deleteRange(t, s, 1, 100)
		checkRange(t, s, 101, 105)
		checkNotFound(t, s, 100)
	})

	t.Run("GetLog_BigEntries", func(t *testing.T) {
		s := impl.open(t)
		big := entries(1, 3, 1, 1<<20)
		store(t, s, big...)
		store(t, s, testEntry(4, 1, 1<<20), testEntry(5, 1, 10))
		checkRange(t, s, 1, 5)
		checkEntries(t, s, append(big, testEntry(4, 1, 1<<20), testEntry(5, 1, 10))...)
	})

	t.Run("DeleteRange_Head", func(t *testing.T) {
		s := impl.open(t)
		store(t, s, entries(1, 200, 1, 100)...)
		deleteRange(t, s, 1, 40)
		checkRange(t, s, 41, 200)
		checkNotFound(t, s, 1, 39, 40)
		checkEntries(t, s, entries(41, 200, 1, 100)...)
		// Raft compacts from FirstIndex.
		deleteRange(t, s, 41, 130)
		checkRange(t, s, 131, 200)
		checkNotFound(t, s, 41, 130)
		store(t, s, entries(201, 210, 2, 100)...)
		checkRange(t, s, 131, 210)
		checkEntries(t, s, append(entries(131, 200, 1, 100), entries(201, 210, 2, 100)...)...)
		// A head delete that starts below the first entry, as Raft's
		// compaction does on a store whose FirstIndex it read as 0.
		deleteRange(t, s, 0, 150)
		checkRange(t, s, 151, 210)
	})

	t.Run("DeleteRange_Tail", func(t *testing.T) {
		s := impl.open(t)
		store(t, s, entries(1, 100, 1, 100)...)
		deleteRange(t, s, 71, 100)
		checkRange(t, s, 1, 70)
		checkNotFound(t, s, 71, 100)
		checkEntries(t, s, entries(1, 70, 1, 100)...)
		// Raft's conflict path: the tail from the conflicting index up to
		// what it believes is its last index (possibly past ours).
		deleteRange(t, s, 61, 500)
		checkRange(t, s, 1, 60)
	})

	t.Run("DeleteRange_TailThenNewTerm", func(t *testing.T) {
		s := impl.open(t)
		store(t, s, entries(1, 100, 1, 50)...)
		deleteRange(t, s, 71, 100)
		// The new leader's entries at the same indexes, in a new term:
		// fewer than were deleted, so 76..100 stay a hole past the end.
		store(t, s, entries(71, 75, 2, 60)...)
		checkRange(t, s, 1, 75)
		checkEntries(t, s, append(entries(1, 70, 1, 50), entries(71, 75, 2, 60)...)...)
		checkNotFound(t, s, 76, 100)
		store(t, s, entries(76, 80, 2, 60)...)
		checkRange(t, s, 1, 80)
		checkEntries(t, s, entries(71, 80, 2, 60)...)
	})

	t.Run("DeleteRange_All", func(t *testing.T) {
		s := impl.open(t)
		store(t, s, entries(1, 100, 1, 50)...)
		deleteRange(t, s, 1, 100)
		checkRange(t, s, 0, 0)
		checkNotFound(t, s, 1, 50, 100)
		// After a snapshot install: far ahead.
		store(t, s, entries(500, 510, 2, 50)...)
		checkRange(t, s, 500, 510)
		checkNotFound(t, s, 100, 499)
		// Everything again (past the end, as after a snapshot install),
		// then back below where it was.
		deleteRange(t, s, 500, 1000)
		checkRange(t, s, 0, 0)
		store(t, s, entries(10, 20, 3, 50)...)
		checkRange(t, s, 10, 20)
		checkEntries(t, s, entries(10, 20, 3, 50)...)
		checkNotFound(t, s, 500, 9)
		deleteRange(t, s, 10, 20)
		store(t, s, entries(1, 5, 4, 50)...)
		checkRange(t, s, 1, 5)
		checkEntries(t, s, entries(1, 5, 4, 50)...)
	})

	t.Run("Reopen_AfterStoreLogs", func(t *testing.T) {
		durable(t)
		s := impl.open(t)
		store(t, s, entries(1, 50, 1, 200)...)
		store(t, s, testEntry(51, 2, 1<<20))
		s = impl.reopen(t, s)
		checkRange(t, s, 1, 51)
		checkEntries(t, s, append(entries(1, 50, 1, 200), testEntry(51, 2, 1<<20))...)
		store(t, s, entries(52, 60, 2, 10)...)
		s = impl.reopen(t, s)
		checkRange(t, s, 1, 60)
		checkEntries(t, s, entries(52, 60, 2, 10)...)
	})

	t.Run("Reopen_AfterDeleteRange", func(t *testing.T) {
		durable(t)
		s := impl.open(t)
		store(t, s, entries(1, 300, 1, 100)...)
		deleteRange(t, s, 1, 123) // mid-segment for the segment store
		s = impl.reopen(t, s)
		checkRange(t, s, 124, 300)
		checkNotFound(t, s, 1, 123)
		deleteRange(t, s, 250, 300)
		s = impl.reopen(t, s)
		checkRange(t, s, 124, 249)
		checkNotFound(t, s, 250)
		checkEntries(t, s, entries(124, 249, 1, 100)...)
		store(t, s, entries(250, 260, 2, 100)...)
		deleteRange(t, s, 124, 260)
		s = impl.reopen(t, s)
		checkRange(t, s, 0, 0)
		checkNotFound(t, s, 124, 200, 260)
		store(t, s, entries(1000, 1001, 3, 100)...)
		s = impl.reopen(t, s)
		checkRange(t, s, 1000, 1001)
		checkEntries(t, s, entries(1000, 1001, 3, 100)...)
	})
}

func store(t tb, s raft.LogStore, logs ...*raft.Log) {
	t.Helper()
	if err := s.StoreLogs(logs); err != nil {
		t.Fatalf("store %d..%d: %v", logs[0].Index, logs[len(logs)-1].Index, err)
	}
}

func deleteRange(t tb, s raft.LogStore, lo, hi uint64) {
	t.Helper()
	if err := s.DeleteRange(lo, hi); err != nil {
		t.Fatalf("delete %d..%d: %v", lo, hi, err)
	}
}

func checkRange(t tb, s raft.LogStore, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatalf("first index: %v", err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatalf("last index: %v", err)
	}
	if f != first || l != last {
		t.Fatalf("range [%d, %d], want [%d, %d]", f, l, first, last)
	}
}

func checkEntries(t tb, s raft.LogStore, want ...*raft.Log) {
	t.Helper()
	for _, w := range want {
		var got raft.Log
		if err := s.GetLog(w.Index, &got); err != nil {
			t.Fatalf("get %d: %v", w.Index, err)
		}
		if !sameLog(&got, w) {
			t.Fatalf("get %d: index %d term %d type %v, %d bytes, %v; want term %d type %v, %d bytes, %v",
				w.Index, got.Index, got.Term, got.Type, len(got.Data), got.AppendedAt, w.Term, w.Type, len(w.Data), w.AppendedAt)
		}
	}
}

func checkNotFound(t tb, s raft.LogStore, indexes ...uint64) {
	t.Helper()
	for _, i := range indexes {
		var got raft.Log
		if err := s.GetLog(i, &got); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("get %d: %v (entry %d), want ErrLogNotFound", i, err, got.Index)
		}
	}
}

// --- LogStore only -------------------------------------------------------

func TestLogStore_StoreLogs_OneSyncPerBatch(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	store(t, s, entries(1, 64, 1, 128)...)
	before := s.log.Syncs()
	store(t, s, entries(65, 128, 1, 128)...)
	if got := s.log.Syncs() - before; got != 1 {
		t.Fatalf("%d syncs for one batch, want 1", got)
	}
}

func TestLogStore_StoreLogs_Refuses(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	store(t, s, entries(10, 20, 1, 10)...)
	tests := []struct {
		name string
		logs []*raft.Log
	}{
		{"nil entry", []*raft.Log{testEntry(21, 1, 1), nil}},
		{"index 0", []*raft.Log{{Index: 0}}},
		{"decreasing", []*raft.Log{testEntry(22, 1, 1), testEntry(21, 1, 1)}},
		{"repeated", []*raft.Log{testEntry(21, 1, 1), testEntry(21, 1, 1)}},
		{"overwrite last", []*raft.Log{testEntry(20, 2, 1)}},
		{"overwrite middle", []*raft.Log{testEntry(15, 2, 1)}},
		{"below first", []*raft.Log{testEntry(5, 2, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.StoreLogs(tt.logs); err == nil {
				t.Fatal("accepted")
			}
			checkRange(t, s, 10, 20)
			checkEntries(t, s, entries(10, 20, 1, 10)...)
			checkNotFound(t, s, 21, 22)
		})
	}
	if err := s.StoreLogs(nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

// TestLogStore_DeleteRange_OnEmptyOrOutside deletes ranges holding no
// entry. (InmemStore moves its bounds to the range's edges instead, so
// this is not part of the conformance suite; raft-boltdb agrees with
// LogStore.)
func TestLogStore_DeleteRange_OnEmptyOrOutside(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	deleteRange(t, s, 0, 10) // Raft's compaction of an empty store
	checkRange(t, s, 0, 0)
	store(t, s, entries(20, 30, 1, 10)...)
	deleteRange(t, s, 1, 10)
	deleteRange(t, s, 40, 50)
	checkRange(t, s, 20, 30)
	checkEntries(t, s, entries(20, 30, 1, 10)...)
	deleteRange(t, s, 0, 1000) // everything, from below the first entry
	checkRange(t, s, 0, 0)
}

func TestLogStore_DeleteRange_RefusesMiddle(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	store(t, s, entries(1, 50, 1, 10)...)
	for _, r := range [][2]uint64{{10, 20}, {2, 49}, {30, 20}} {
		if err := s.DeleteRange(r[0], r[1]); err == nil {
			t.Fatalf("delete %d..%d accepted", r[0], r[1])
		}
	}
	checkRange(t, s, 1, 50)
	checkEntries(t, s, entries(1, 50, 1, 10)...)
}

// TestLogStore_DeleteRange_HeadDropsSegments checks that a head delete
// returns disk space a segment at a time and that the entries of a segment
// kept in part stay hidden.
func TestLogStore_DeleteRange_HeadDropsSegments(t *testing.T) {
	dir := t.TempDir()
	s := openTestLogStore(t, dir)
	store(t, s, entries(1, 1000, 1, 100)...)
	segsBefore := countSegments(t, s)
	if segsBefore < 5 {
		t.Fatalf("%d segments: the test needs several", segsBefore)
	}
	deleteRange(t, s, 1, 777)
	if got := countSegments(t, s); got >= segsBefore {
		t.Fatalf("%d segments after the head delete, was %d", got, segsBefore)
	}
	if s.log.Earliest() >= 778 {
		t.Fatalf("earliest record %d: the segment holding 778 should be kept whole", s.log.Earliest())
	}
	checkRange(t, s, 778, 1000)
	checkNotFound(t, s, s.log.Earliest(), 777)
}

func countSegments(t testing.TB, s *LogStore) int {
	t.Helper()
	segs := s.log.Segments()
	for _, seg := range segs {
		seg.Release()
	}
	return len(segs)
}

// TestLogStore_Crash takes the files as a crash of the process leaves
// them (no Close) after each kind of change and opens the copy.
func TestLogStore_Crash(t *testing.T) {
	dir := t.TempDir()
	s := openTestLogStore(t, dir)
	crash := func() *LogStore {
		t.Helper()
		return openTestLogStore(t, crashCopy(t, s, t.TempDir()))
	}

	store(t, s, entries(1, 500, 1, 100)...)
	c := crash()
	checkRange(t, c, 1, 500)
	checkEntries(t, c, entries(1, 500, 1, 100)...)

	deleteRange(t, s, 1, 333)
	c = crash()
	checkRange(t, c, 334, 500)
	checkNotFound(t, c, 1, 333)

	deleteRange(t, s, 400, 500)
	c = crash()
	checkRange(t, c, 334, 399)
	checkNotFound(t, c, 400, 500)
	// The crashed copy goes on where the original would.
	store(t, c, entries(400, 410, 2, 100)...)
	checkEntries(t, c, entries(400, 410, 2, 100)...)

	deleteRange(t, s, 334, 399)
	c = crash()
	checkRange(t, c, 0, 0)
	store(t, s, entries(20, 30, 3, 100)...)
	c = crash()
	checkRange(t, c, 20, 30)
	checkEntries(t, c, entries(20, 30, 3, 100)...)
	checkNotFound(t, c, 334, 399)
}

// crashCopy copies the files of s's directory into a new one, as a kill
// -9 would leave them: the segment log writes through a shared memory
// map, so the page cache holds every append. Sealing runs in the
// background; waiting for it keeps the copy a state the files really had.
func crashCopy(t tb, s *LogStore, dst string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.log.WaitSealed(ctx); err != nil {
		t.Fatalf("wait for seals: %v", err)
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		t.Fatalf("crash copy: %v", err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if err != nil {
			t.Fatalf("crash copy: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatalf("crash copy: %v", err)
		}
	}
	return dst
}

func TestLogStore_CrashLeavesTemporaryFloor(t *testing.T) {
	dir := t.TempDir()
	s := openTestLogStore(t, dir)
	store(t, s, entries(1, 100, 1, 100)...)
	deleteRange(t, s, 1, 50)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash between writing the next floor and renaming it.
	if err := os.WriteFile(filepath.Join(dir, firstIndexTemp), encodeFirstIndex(90), 0o644); err != nil {
		t.Fatal(err)
	}
	s = openTestLogStore(t, dir)
	checkRange(t, s, 51, 100)
	if _, err := os.Stat(filepath.Join(dir, firstIndexTemp)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary floor left: %v", err)
	}
}

func TestLogStore_CorruptFloor(t *testing.T) {
	dir := t.TempDir()
	s := openTestLogStore(t, dir)
	store(t, s, entries(1, 10, 1, 10)...)
	deleteRange(t, s, 1, 5)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, firstIndexFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := OpenLogStore(dir, nil)
	if !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("open with a corrupt floor: %v, want ErrCorrupt", err)
	}
	// The failed open released the directory.
	if err := os.WriteFile(filepath.Join(dir, firstIndexFile), encodeFirstIndex(6), 0o644); err != nil {
		t.Fatal(err)
	}
	s = openTestLogStore(t, dir)
	checkRange(t, s, 6, 10)
}

func TestLogStore_Close(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	store(t, s, entries(1, 3, 1, 10)...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	var l raft.Log
	for name, err := range map[string]error{
		"StoreLogs":   s.StoreLogs(entries(4, 4, 1, 1)),
		"DeleteRange": s.DeleteRange(1, 1),
		"GetLog":      s.GetLog(1, &l),
		"FirstIndex":  func() error { _, err := s.FirstIndex(); return err }(),
		"LastIndex":   func() error { _, err := s.LastIndex(); return err }(),
	} {
		if !errors.Is(err, segment.ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", name, err)
		}
	}
}

// TestLogStore_GetLog_RacesTailCut replays, step by step, a GetLog whose
// read falls between a tail cut and the refill of the same indexes: it
// must wait for the change and return the new entry.
func TestLogStore_GetLog_RacesTailCut(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	store(t, s, entries(1, 10, 1, 20)...)
	var step int
	s.hooks.beforeRead = func() {
		if step == 0 {
			deleteRange(t, s, 8, 10) // the read below finds nothing
		}
	}
	s.hooks.afterRead = func() {
		if step == 0 {
			store(t, s, entries(8, 10, 2, 20)...) // and 9 is back
		}
		step++
	}
	checkEntries(t, s, testEntry(9, 2, 20))
	if step != 2 {
		t.Fatalf("%d reads, want 2 (a retry)", step)
	}

	// A head delete in the same place, of whole segments (an entry
	// larger than a segment fills one): not found, no retry.
	s = openTestLogStore(t, t.TempDir())
	store(t, s, entries(1, 10, 1, testSegmentBytes)...)
	step = 0
	s.hooks.beforeRead = func() {
		if step == 0 {
			deleteRange(t, s, 1, 5)
		}
	}
	s.hooks.afterRead = func() { step++ }
	checkNotFound(t, s, 3)
	if step != 1 {
		t.Fatalf("%d reads, want 1", step)
	}
}

// TestLogStore_ConcurrentReads runs readers against a writer that
// appends, compacts the head and cuts the tail, the way Raft's replication
// goroutines read while its main loop and snapshots change the log. A
// reader gets the entry at the index it asked for or ErrLogNotFound,
// never another entry or an error.
func TestLogStore_ConcurrentReads(t *testing.T) {
	s := openTestLogStore(t, t.TempDir())
	// term(i) is the term of entry i at any moment: a tail cut rewrites
	// entries in a term that depends on the index only, so readers can
	// check what they get without sharing state with the writer.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	const rounds = 150
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for ctx.Err() == nil {
				first, err1 := s.FirstIndex()
				last, err2 := s.LastIndex()
				if err := errors.Join(err1, err2); err != nil {
					errc <- err
					return
				}
				if last == 0 || first > last {
					continue
				}
				// Half the reads go to the tail, where the cuts are.
				i := first + rng.Uint64N(last-first+1)
				if rng.IntN(2) == 0 {
					i = max(first, last-min(last, 9)) + rng.Uint64N(min(10, last-first+1))
				}
				var got raft.Log
				err := s.GetLog(i, &got)
				switch {
				case errors.Is(err, raft.ErrLogNotFound):
				case err != nil:
					errc <- fmt.Errorf("get %d: %w", i, err)
					return
				case !sameLog(&got, testEntry(i, got.Term, 100)) || got.Term != 1 && got.Term != 2:
					errc <- fmt.Errorf("get %d: got entry %d term %d with other contents", i, got.Index, got.Term)
					return
				}
			}
		}()
	}
	next := uint64(1)
	for round := range rounds {
		store(t, s, entries(next, next+19, 1, 100)...)
		next += 20
		if round%3 == 2 {
			// A conflict: the last 10 again, in term 2.
			deleteRange(t, s, next-10, next-1)
			store(t, s, entries(next-10, next-1, 2, 100)...)
		}
		if round%10 == 9 {
			first, _ := s.FirstIndex()
			deleteRange(t, s, first, next-50)
		}
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
