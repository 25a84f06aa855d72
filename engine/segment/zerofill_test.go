package segment

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// TestZeroFill_NeverOverwritesRecords appends records of mixed sizes (some
// larger than a zero-fill chunk, so appends overtake the zero-filler and
// race it at its edge) through several segments, a segment reopened bigger
// for a record larger than the segment and a tail truncation, syncing now
// and then; every record must read back the same before and after reopen.
func TestZeroFill_NeverOverwritesRecords(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentBytes: 8 << 20, ZeroFill: true}
	l := openLog(t, dir, opts)
	rng := rand.New(rand.NewPCG(1, 2))
	var want []Record
	appendSome := func(n int) {
		t.Helper()
		batch := make([]Record, 0, 8)
		for range n {
			size := rng.IntN(2048)
			if rng.IntN(20) == 0 {
				size = zeroFillChunk + rng.IntN(zeroFillChunk) // overtakes the zero-filler
			}
			r := testRecord(rng.Uint64(), size)
			batch = append(batch, r)
			if len(batch) == cap(batch) || rng.IntN(3) == 0 {
				if err := l.Append(batch, nil); err != nil {
					t.Fatal(err)
				}
				want = append(want, batch...)
				batch = batch[:0]
				if rng.IntN(4) == 0 {
					if _, err := l.Sync(); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if len(batch) > 0 {
			if err := l.Append(batch, nil); err != nil {
				t.Fatal(err)
			}
			want = append(want, batch...)
		}
	}
	appendSome(400)
	// A record bigger than the segment: the empty active segment it finds
	// (or a new one) is reopened bigger over the same files.
	big := []Record{testRecord(7, 9<<20)}
	if err := l.Append(big, nil); err != nil {
		t.Fatal(err)
	}
	want = append(want, big...)
	appendSome(300)
	// Cut the tail back into the active segment and append again.
	cut := len(want) - 50
	if err := l.TruncateTail(want[cut-1].Offset); err != nil {
		t.Fatal(err)
	}
	want = want[:cut]
	appendSome(300)

	check := func(l *Log) {
		t.Helper()
		for i, w := range want {
			got, err := l.Read(w.Offset)
			if err != nil {
				t.Fatalf("record %d (offset %d): %v", i, w.Offset, err)
			}
			if got.Offset != w.Offset || !bytes.Equal(got.Key, w.Key) || !bytes.Equal(got.Value, w.Value) || got.Flags != w.Flags {
				t.Fatalf("record %d (offset %d) reads back different", i, w.Offset)
			}
		}
		if got, wantNext := l.Next(), want[len(want)-1].Offset+1; got != wantNext {
			t.Fatalf("next offset %d, want %d", got, wantNext)
		}
	}
	check(l)
	closeLog(t, l)
	l = openLog(t, dir, opts)
	check(l)
}

// TestZeroFill_StaysAhead checks that the zero-filler of the active
// segment writes zeros ahead of the appends (up to its lead) and stops at
// the end of the segment.
func TestZeroFill_StaysAhead(t *testing.T) {
	const segBytes = 6 << 20
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: segBytes, ZeroFill: true})
	waitZeroed := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		z := l.mu.active.zf // the test appends nothing concurrently
		for z.zeroed.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("zeroed %d bytes ahead, want %d", z.zeroed.Load(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitZeroed(zeroFillLead)
	if err := l.Append([]Record{testRecord(3, 3<<20)}, nil); err != nil {
		t.Fatal(err)
	}
	waitZeroed(segBytes)
	select {
	case <-l.mu.active.zf.done:
	case <-time.After(10 * time.Second):
		t.Fatal("zero-filler did not stop at the end of the segment")
	}
}

// TestZeroFill_Off checks that a log without ZeroFill starts none.
func TestZeroFill_Off(t *testing.T) {
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 1 << 20})
	if l.mu.active.zf != nil {
		t.Fatal("zero-filler started without Options.ZeroFill")
	}
}

// TestZeroFill_FailedWriteBreaksLog makes an append's pwrite fail: the
// append returns the error and publishes nothing, later appends are
// refused until the log is reopened, and the reopened log holds exactly
// the records appended before.
func TestZeroFill_FailedWriteBreaksLog(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentBytes: 1 << 20, ZeroFill: true}
	l := openLog(t, dir, opts)
	before := []Record{testRecord(1, 100), testRecord(2, 100)}
	if err := l.Append(before, nil); err != nil {
		t.Fatal(err)
	}
	next := l.Next()
	s := l.mu.active
	rw := s.f
	ro, err := os.Open(s.Path(LogExt)) // writes through it fail
	if err != nil {
		t.Fatal(err)
	}
	s.f = ro
	locs := make([]Loc, 1)
	if err := l.Append([]Record{testRecord(3, 100)}, locs); err == nil {
		t.Fatal("append through a read-only file succeeded")
	}
	if l.Next() != next || locs[0] != (Loc{}) {
		t.Fatalf("failed append moved next to %d (want %d) or filled its loc %+v", l.Next(), next, locs[0])
	}
	s.f = rw
	ro.Close()
	if err := l.Append([]Record{testRecord(4, 100)}, nil); err == nil {
		t.Fatal("append after a failed write succeeded before reopening")
	}
	closeLog(t, l)
	l = openLog(t, dir, opts)
	if l.Next() != next {
		t.Fatalf("reopened next %d, want %d", l.Next(), next)
	}
	for _, r := range before {
		if _, err := l.Read(r.Offset); err != nil {
			t.Fatalf("offset %d: %v", r.Offset, err)
		}
	}
	if err := l.Append([]Record{testRecord(5, 100)}, nil); err != nil {
		t.Fatalf("append after reopening: %v", err)
	}
}
