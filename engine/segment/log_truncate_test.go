package segment

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLog_TruncateHead(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentBytes: 4096, Hints: true}
	l := openLog(t, dir, opts)
	want := appendN(t, l, 200, 90)
	bases := segmentBases(l)
	if len(bases) < 5 {
		t.Fatalf("only %d segments", len(bases))
	}
	// Inside the third segment: the first two go, the third stays whole.
	cut := bases[2] + 3
	if err := l.TruncateHead(cut); err != nil {
		t.Fatal(err)
	}
	if got := segmentBases(l); !slices.Equal(got, bases[2:]) {
		t.Fatalf("segments %v, want %v", got, bases[2:])
	}
	if l.Earliest() != bases[2] || l.Next() != 201 {
		t.Fatalf("Earliest %d Next %d", l.Earliest(), l.Next())
	}
	assertRecords(t, readAll(t, l), want[bases[2]-1:])
	// At a segment's base: the segment before it goes.
	if err := l.TruncateHead(bases[4]); err != nil {
		t.Fatal(err)
	}
	if l.Earliest() != bases[4] {
		t.Fatalf("Earliest %d, want %d", l.Earliest(), bases[4])
	}
	// Below the start: nothing happens.
	if err := l.TruncateHead(1); err != nil || l.Earliest() != bases[4] {
		t.Fatalf("TruncateHead(1): %v, Earliest %d", err, l.Earliest())
	}
	// Inside the active segment: it is never dropped.
	last := bases[len(bases)-1]
	if err := l.TruncateHead(last + 2); err != nil {
		t.Fatal(err)
	}
	if got := segmentBases(l); !slices.Equal(got, []uint64{last}) {
		t.Fatalf("segments %v, want only the active %d", got, last)
	}
	assertRecords(t, readAll(t, l), want[last-1:])
	closeLog(t, l)
	// Once Close has waited for the background sealing, no file of a
	// dropped segment is left (the seal of a segment dropped right after
	// its roll must not write its hints back).
	for _, b := range bases[:len(bases)-1] {
		for _, ext := range []string{LogExt, IndexExt, HintExt} {
			if _, err := os.Stat(Path(dir, b, ext)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s of dropped segment %d: %v", ext, b, err)
			}
		}
	}
	l = openLog(t, dir, opts)
	if l.Earliest() != last || l.Next() != 201 {
		t.Fatalf("reopened: Earliest %d Next %d", l.Earliest(), l.Next())
	}
	assertRecords(t, readAll(t, l), want[last-1:])
}

func TestLog_TruncateHead_Everything(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &Options{SegmentBytes: 4096})
	appendN(t, l, 100, 90)
	// Past every record, at Next: a new empty active segment at Next.
	if err := l.TruncateHead(101); err != nil {
		t.Fatal(err)
	}
	if l.Earliest() != 101 || l.Next() != 101 || len(readAll(t, l)) != 0 {
		t.Fatalf("Earliest %d Next %d", l.Earliest(), l.Next())
	}
	// Past Next: the empty log moves its start.
	if err := l.TruncateHead(500); err != nil {
		t.Fatal(err)
	}
	if l.Earliest() != 500 || l.Next() != 500 {
		t.Fatalf("Earliest %d Next %d, want 500", l.Earliest(), l.Next())
	}
	if got := segmentBases(l); !slices.Equal(got, []uint64{500}) {
		t.Fatalf("segments %v", got)
	}
	var oe *OffsetError
	if _, err := l.Read(499); !errors.As(err, &oe) || oe.Earliest != 500 {
		t.Fatalf("Read(499): %v", err)
	}
	recs := appendN(t, l, 3, 10)
	if recs[0].Offset != 500 {
		t.Fatalf("first append after the move got %d", recs[0].Offset)
	}
	// A non-empty active segment, all below the cut.
	if err := l.TruncateHead(1000); err != nil {
		t.Fatal(err)
	}
	if l.Earliest() != 1000 || l.Next() != 1000 || len(readAll(t, l)) != 0 {
		t.Fatalf("Earliest %d Next %d", l.Earliest(), l.Next())
	}
	closeLog(t, l)
	if n := len(filesWithExt(t, dir, LogExt)); n != 1 {
		t.Fatalf("%d .log files left", n)
	}
	l = openLog(t, dir, &Options{SegmentBytes: 4096})
	if l.Earliest() != 1000 || l.Next() != 1000 {
		t.Fatalf("reopened: Earliest %d Next %d", l.Earliest(), l.Next())
	}
	if r := appendN(t, l, 1, 10); r[0].Offset != 1000 {
		t.Fatalf("append after reopen got %d", r[0].Offset)
	}
}

// TestLog_TruncateHead_NeverLowersNext: moving an empty log's start must
// not hand out offsets below Next again.
func TestLog_TruncateHead_NeverLowersNext(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	if err := l.Append([]Record{{Offset: 10, Key: []byte("k")}}, nil); err != nil {
		t.Fatal(err)
	}
	// Keep offsets <= 5: the only record goes, Next is 6.
	if err := l.TruncateTail(5); err != nil {
		t.Fatal(err)
	}
	if l.Next() != 6 {
		t.Fatalf("Next after TruncateTail(5) = %d", l.Next())
	}
	if err := l.TruncateHead(3); err != nil {
		t.Fatal(err)
	}
	if l.Next() < 6 {
		t.Fatalf("TruncateHead(3) lowered Next to %d", l.Next())
	}
}

func TestLog_TruncateTail(t *testing.T) {
	for _, hints := range []bool{false, true} {
		t.Run(fmt.Sprintf("hints=%v", hints), func(t *testing.T) {
			opts := &Options{SegmentBytes: 4096, Hints: hints}
			setup := func(t *testing.T) (string, *Log, []Record, []uint64) {
				dir := t.TempDir()
				l := openLog(t, dir, opts)
				want := appendN(t, l, 200, 90)
				bases := segmentBases(l)
				if len(bases) < 5 {
					t.Fatalf("only %d segments", len(bases))
				}
				return dir, l, want, bases
			}
			check := func(t *testing.T, dir string, l *Log, want []Record, keep uint64) {
				t.Helper()
				want = want[:keep]
				if l.Next() != keep+1 {
					t.Fatalf("Next = %d, want %d", l.Next(), keep+1)
				}
				assertRecords(t, readAll(t, l), want)
				var oe *OffsetError
				if _, err := l.Read(keep + 1); !errors.As(err, &oe) {
					t.Fatalf("Read(%d) after TruncateTail(%d): %v", keep+1, keep, err)
				}
				// Appends continue at keep+1, roll, and survive a reopen.
				more := appendN(t, l, 80, 90)
				if more[0].Offset != keep+1 {
					t.Fatalf("first append after TruncateTail(%d) got %d", keep, more[0].Offset)
				}
				want = append(slices.Clone(want), more...)
				assertRecords(t, readAll(t, l), want)
				closeLog(t, l)
				l2 := openLog(t, dir, opts)
				assertRecords(t, readAll(t, l2), want)
				if l2.Next() != want[len(want)-1].Offset+1 {
					t.Fatalf("reopened Next = %d", l2.Next())
				}
				more = appendN(t, l2, 5, 90)
				if more[0].Offset != want[len(want)-1].Offset+1 {
					t.Fatalf("append after reopen got %d", more[0].Offset)
				}
			}
			t.Run("inside active", func(t *testing.T) {
				dir, l, want, bases := setup(t)
				keep := bases[len(bases)-1] + 1
				if err := l.TruncateTail(keep); err != nil {
					t.Fatal(err)
				}
				if got := segmentBases(l); !slices.Equal(got, bases) {
					t.Fatalf("segments %v, want %v", got, bases)
				}
				check(t, dir, l, want, keep)
			})
			t.Run("at active base", func(t *testing.T) {
				dir, l, want, bases := setup(t)
				keep := bases[len(bases)-1] - 1 // the whole active segment goes
				if err := l.TruncateTail(keep); err != nil {
					t.Fatal(err)
				}
				check(t, dir, l, want, keep)
			})
			t.Run("inside sealed", func(t *testing.T) {
				dir, l, want, bases := setup(t)
				keep := bases[2] + 5
				if err := l.TruncateTail(keep); err != nil {
					t.Fatal(err)
				}
				segs := l.Segments()
				if len(segs) != 3 || segs[2].Base() != bases[2] || segs[2].Sealed() || !segs[1].Sealed() {
					t.Fatalf("after TruncateTail(%d): %d segments, last base %d sealed %v", keep, len(segs), segs[len(segs)-1].Base(), segs[len(segs)-1].Sealed())
				}
				closeAll(segs)
				for _, b := range bases[3:] {
					if _, err := os.Stat(Path(dir, b, LogExt)); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("segment %d not removed: %v", b, err)
					}
				}
				if _, err := os.Stat(Path(dir, bases[2], HintExt)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the reopened segment kept its hint file: %v", err)
				}
				check(t, dir, l, want, keep)
			})
			t.Run("end of sealed", func(t *testing.T) {
				dir, l, want, bases := setup(t)
				keep := bases[3] - 1
				if err := l.TruncateTail(keep); err != nil {
					t.Fatal(err)
				}
				if got := segmentBases(l); !slices.Equal(got, bases[:3]) {
					t.Fatalf("segments %v, want %v", got, bases[:3])
				}
				check(t, dir, l, want, keep)
			})
			t.Run("everything", func(t *testing.T) {
				dir, l, want, _ := setup(t)
				if err := l.TruncateTail(0); err != nil {
					t.Fatal(err)
				}
				if got := segmentBases(l); !slices.Equal(got, []uint64{1}) {
					t.Fatalf("segments %v", got)
				}
				if l.Earliest() != 1 || len(readAll(t, l)) != 0 {
					t.Fatalf("Earliest %d", l.Earliest())
				}
				check(t, dir, l, want, 0)
			})
			t.Run("no-op at or past the end", func(t *testing.T) {
				dir, l, want, bases := setup(t)
				for _, off := range []uint64{200, 201, 1 << 40} {
					if err := l.TruncateTail(off); err != nil {
						t.Fatal(err)
					}
				}
				if got := segmentBases(l); !slices.Equal(got, bases) {
					t.Fatalf("segments %v", got)
				}
				check(t, dir, l, want, 200)
			})
		})
	}
}

func TestLog_TruncateTail_BelowStart(t *testing.T) {
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 4096})
	appendN(t, l, 100, 90)
	if err := l.TruncateHead(60); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTail(10); err != nil {
		t.Fatal(err)
	}
	if l.Next() != 11 || l.Earliest() != 11 || len(readAll(t, l)) != 0 {
		t.Fatalf("Next %d Earliest %d", l.Next(), l.Earliest())
	}
	if r := appendN(t, l, 1, 10); r[0].Offset != 11 {
		t.Fatalf("append got %d", r[0].Offset)
	}
}

// TestLog_TruncateTail_RightAfterRoll cuts into a segment whose seal the
// background goroutine may be finishing at the same moment, then writes
// well past its first page: the reopened segment's file must not be cut
// under its mapping.
func TestLog_TruncateTail_RightAfterRoll(t *testing.T) {
	for i := range 20 {
		dir := t.TempDir()
		opts := &Options{SegmentBytes: 64 << 10, Hints: i%2 == 0}
		l := openLog(t, dir, opts)
		want := appendN(t, l, 500, 200) // ~2 segments
		bases := segmentBases(l)
		if len(bases) < 2 {
			t.Fatalf("segments %v", bases)
		}
		keep := bases[1] - 100
		if err := l.TruncateTail(keep); err != nil {
			t.Fatal(err)
		}
		want = append(want[:keep], appendN(t, l, 300, 200)...)
		assertRecords(t, readAll(t, l), want)
		closeLog(t, l)
		l = openLog(t, dir, opts)
		assertRecords(t, readAll(t, l), want)
		closeLog(t, l)
	}
}

func TestLog_RacingTruncateTail(t *testing.T) {
	// Readers racing TruncateTail get records or an error, never a
	// record other than the one at the offset they asked for, and never
	// a panic.
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 4096})
	appendN(t, l, 400, 50)
	var wg sync.WaitGroup
	var stop atomic.Bool
	for range 2 {
		wg.Go(func() {
			for i := uint64(1); !stop.Load(); i = i%400 + 1 {
				recs, _, err := l.ReadFrom(i, 5, 0)
				if err != nil {
					continue
				}
				for _, r := range recs {
					want := testRecord(r.Offset, 50)
					if !bytes.Equal(r.Key, want.Key) || r.Timestamp != want.Timestamp {
						t.Errorf("ReadFrom(%d): record %d has wrong contents", i, r.Offset)
						stop.Store(true)
						return
					}
				}
			}
		})
	}
	for keep := uint64(390); keep > 10; keep -= 20 {
		if err := l.TruncateTail(keep); err != nil {
			t.Fatal(err)
		}
		recs := make([]Record, 10)
		for i := range recs {
			recs[i] = testRecord(keep+1+uint64(i), 50)
		}
		if err := l.Append(recs, nil); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
}

// TestLog_SyncRacingTruncateTail runs Sync while the tail is cut and
// refilled (a Raft log does both): under -race, the bookkeeping of what
// is synced must not race, and Sync keeps returning Next()-1.
func TestLog_SyncRacingTruncateTail(t *testing.T) {
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 4096})
	appendN(t, l, 100, 50)
	var wg sync.WaitGroup
	var stop atomic.Bool
	wg.Go(func() {
		for !stop.Load() {
			if _, err := l.Sync(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for i := range 50 {
		if err := l.TruncateTail(uint64(90 - i)); err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 5, 50)
	}
	stop.Store(true)
	wg.Wait()
	if off, err := l.Sync(); err != nil || off != l.Next()-1 {
		t.Fatalf("Sync = %d, %v; Next %d", off, err, l.Next())
	}
}

// TestLog_TruncateTail_AfterReopen cuts into a segment that was opened
// sealed from disk (mapped at its file size, not preallocated).
func TestLog_TruncateTail_AfterReopen(t *testing.T) {
	for _, hints := range []bool{false, true} {
		t.Run(fmt.Sprintf("hints=%v", hints), func(t *testing.T) {
			opts := &Options{SegmentBytes: 4096, Hints: hints}
			dir, want := buildLog(t, opts, 150, 90)
			l := openLog(t, dir, opts)
			bases := segmentBases(l)
			keep := bases[1] + 2
			if err := l.TruncateTail(keep); err != nil {
				t.Fatal(err)
			}
			want = append(want[:keep], appendN(t, l, 100, 90)...)
			assertRecords(t, readAll(t, l), want)
			closeLog(t, l)
			checkFilesMatchLogs(t, dir, hints)
			reopenAndCheck(t, dir, opts, want)
		})
	}
}
