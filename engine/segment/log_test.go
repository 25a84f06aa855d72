package segment

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOptions_Validate(t *testing.T) {
	tests := []struct {
		name  string
		bytes int64
		ok    bool
	}{
		{"default", 0, true},
		{"smallest", HeaderSize + 1, true},
		{"too small", HeaderSize, false},
		{"negative", -1, false},
		{"largest", MaxSegmentBytes, true},
		{"too large", MaxSegmentBytes + 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bytes > 1<<20 && tt.ok {
				// Valid, but do not map a GiB for it.
				if err := (Options{SegmentBytes: tt.bytes}).withDefaults().validate(); err != nil {
					t.Fatal(err)
				}
				return
			}
			l, err := Open(t.TempDir(), &Options{SegmentBytes: tt.bytes})
			if (err == nil) != tt.ok {
				t.Fatalf("Open with SegmentBytes %d: err = %v, want ok %v", tt.bytes, err, tt.ok)
			}
			if l != nil {
				closeLog(t, l)
			}
		})
	}
}

func TestLog_Empty(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	if l.Next() != 1 || l.Earliest() != 1 {
		t.Fatalf("new log: Next %d Earliest %d", l.Next(), l.Earliest())
	}
	recs, next, err := l.ReadFrom(0, 10, 0)
	if err != nil || len(recs) != 0 || next != 1 {
		t.Fatalf("ReadFrom(0) on empty log = %d records, %d, %v", len(recs), next, err)
	}
	_, err = l.Read(0)
	var oe *OffsetError
	if !errors.As(err, &oe) || oe.Requested != 0 || oe.Earliest != 1 || oe.Next != 1 {
		t.Fatalf("Read(0) on empty log: %v", err)
	}
	if off, err := l.Sync(); err != nil || off != 0 {
		t.Fatalf("Sync on empty log = %d, %v", off, err)
	}
}

func TestLog_InitialOffset(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &Options{InitialOffset: 100})
	if l.Next() != 100 || l.Earliest() != 100 {
		t.Fatalf("Next %d Earliest %d, want 100", l.Next(), l.Earliest())
	}
	recs := appendN(t, l, 3, 10)
	if recs[0].Offset != 100 || recs[2].Offset != 102 {
		t.Fatalf("offsets %d..%d", recs[0].Offset, recs[2].Offset)
	}
	closeLog(t, l)
	// InitialOffset only applies to a new log.
	l = openLog(t, dir, &Options{InitialOffset: 5})
	if l.Next() != 103 || l.Earliest() != 100 {
		t.Fatalf("reopened: Next %d Earliest %d", l.Next(), l.Earliest())
	}
}

func TestLog_Append_Single(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	recs := []Record{{Timestamp: 7, Key: []byte("k"), Value: []byte("v")}}
	locs := make([]Loc, 1)
	if err := l.Append(recs, locs); err != nil {
		t.Fatal(err)
	}
	if recs[0].Offset != 1 || l.Next() != 2 {
		t.Fatalf("offset written back %d, Next %d", recs[0].Offset, l.Next())
	}
	if locs[0].Pos != 0 || int(locs[0].Size) != recs[0].Size() {
		t.Fatalf("loc %+v", locs[0])
	}
	for _, off := range []uint64{0, 1} {
		got, err := l.Read(off)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		assertRecordEqual(t, got, recs[0])
	}
	s, ok := l.Acquire(locs[0].Seg)
	if !ok {
		t.Fatal("Acquire of the active segment failed")
	}
	defer s.Release()
	got, err := s.ReadRecord(int64(locs[0].Pos))
	if err != nil {
		t.Fatal(err)
	}
	assertRecordEqual(t, got, recs[0])
	r, buf, err := s.ReadValue(int64(locs[0].Pos), []byte("x"))
	if err != nil || string(r.Value) != "v" || string(r.Key) != "k" || r.Offset != 1 ||
		len(buf) != 1+r.Size() || buf[0] != 'x' {
		t.Fatalf("ReadValue = %+v, %q, %v", r, buf, err)
	}
	h, err := s.ReadHeader(int64(locs[0].Pos))
	if err != nil || h.Offset != 1 || h.KeyLen != 1 || h.ValueLen != 1 {
		t.Fatalf("ReadHeader = %+v, %v", h, err)
	}
	if _, err := s.ReadRecord(int64(locs[0].Pos) + 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadRecord at a wrong position: %v", err)
	}
	if _, err := s.ReadRecord(-1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadRecord at -1: %v", err)
	}
	if _, err := s.ReadRecord(int64(recs[0].Size())); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadRecord past the end: %v", err)
	}
}

func TestLog_Append_Batch(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	appendN(t, l, 3, 10)
	recs := make([]Record, 20)
	for i := range recs {
		recs[i] = testRecord(uint64(i), i*13)
	}
	locs := make([]Loc, len(recs))
	if err := l.Append(recs, locs); err != nil {
		t.Fatal(err)
	}
	if l.Next() != 24 {
		t.Fatalf("Next = %d, want 24", l.Next())
	}
	for i := range recs {
		if recs[i].Offset != uint64(4+i) {
			t.Fatalf("record %d got offset %d", i, recs[i].Offset)
		}
		if i > 0 && locs[i].Pos != locs[i-1].Pos+locs[i-1].Size {
			t.Fatalf("loc %d = %+v after %+v: not contiguous", i, locs[i], locs[i-1])
		}
		s, ok := l.Acquire(locs[i].Seg)
		if !ok {
			t.Fatalf("Acquire(%d) failed", locs[i].Seg)
		}
		got, err := s.ReadRecord(int64(locs[i].Pos))
		s.Release()
		if err != nil {
			t.Fatal(err)
		}
		assertRecordEqual(t, got, recs[i])
	}
	all := readAll(t, l)
	assertRecords(t, all[3:], recs)
	// An empty batch is fine and changes nothing.
	if err := l.Append(nil, nil); err != nil || l.Next() != 24 {
		t.Fatalf("empty append: %v, Next %d", err, l.Next())
	}
}

func TestLog_Append_ExplicitOffsets(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &Options{SegmentBytes: 4096})
	recs := []Record{
		{Offset: 5, Key: []byte("a")},
		{Offset: 6, Key: []byte("b")},
		{Offset: 10, Key: []byte("c")},
		{Key: []byte("auto")}, // 11
		{Offset: 20, Key: []byte("d")},
	}
	if err := l.Append(recs, nil); err != nil {
		t.Fatal(err)
	}
	if recs[3].Offset != 11 || l.Next() != 21 {
		t.Fatalf("auto offset %d, Next %d", recs[3].Offset, l.Next())
	}
	// The log started at 1: offsets 1..4 are a gap at the start.
	if l.Earliest() != 1 {
		t.Fatalf("Earliest = %d", l.Earliest())
	}
	tests := []struct {
		offset uint64
		want   uint64
	}{{0, 5}, {1, 5}, {5, 5}, {6, 6}, {7, 10}, {10, 10}, {11, 11}, {12, 20}, {20, 20}}
	for _, tt := range tests {
		got, err := l.Read(tt.offset)
		if err != nil || got.Offset != tt.want {
			t.Fatalf("Read(%d) = offset %d, %v; want %d", tt.offset, got.Offset, err, tt.want)
		}
	}
	got, next, err := l.ReadFrom(7, 2, 0)
	if err != nil || next != 21 || len(got) != 2 || got[0].Offset != 10 || got[1].Offset != 11 {
		t.Fatalf("ReadFrom(7, 2) = %v, %d, %v", got, next, err)
	}
	// Equal to Next is fine; below it is not.
	if err := l.Append([]Record{{Offset: 21}}, nil); err != nil {
		t.Fatal(err)
	}
	closeLog(t, l)
	l = openLog(t, dir, &Options{SegmentBytes: 4096})
	if l.Next() != 22 {
		t.Fatalf("reopened Next = %d, want 22", l.Next())
	}
	offs := []uint64{}
	for _, r := range readAll(t, l) {
		offs = append(offs, r.Offset)
	}
	if !slices.Equal(offs, []uint64{5, 6, 10, 11, 20, 21}) {
		t.Fatalf("offsets after reopen %v", offs)
	}
}

// TestLog_Append_Refused checks that a batch with one bad record writes
// nothing at all.
func TestLog_Append_Refused(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	before := appendN(t, l, 5, 10)
	good := func() Record { return Record{Key: []byte("ok"), Value: []byte("fine")} }
	tests := []struct {
		name string
		bad  Record
	}{
		{"offset below next", Record{Offset: 3, Key: []byte("old")}},
		{"key too long", Record{Key: make([]byte, MaxKeyLen+1)}},
		{"unknown flags", Record{Key: []byte("k"), Flags: 0x40}},
		{"expiry without flag", Record{Key: []byte("k"), Expiry: 12345}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := l.Next()
			batch := []Record{good(), tt.bad, good()}
			if err := l.Append(batch, make([]Loc, 3)); err == nil {
				t.Fatalf("Append accepted %+v", tt.bad)
			}
			if l.Next() != next {
				t.Fatalf("Next moved from %d to %d", next, l.Next())
			}
			assertRecords(t, readAll(t, l), before)
			if batch[0].Offset != 0 {
				t.Fatalf("refused append wrote back offset %d", batch[0].Offset)
			}
		})
	}
	// A batch whose explicit offsets go backwards inside it.
	if err := l.Append([]Record{{Offset: 50}, {Offset: 40}}, nil); err == nil {
		t.Fatal("Append accepted offsets going backwards")
	}
	assertRecords(t, readAll(t, l), before)
}

func TestLog_Roll(t *testing.T) {
	dir := t.TempDir()
	const segBytes = 4096
	l := openLog(t, dir, &Options{SegmentBytes: segBytes})
	var want []Record
	want = append(want, appendN(t, l, 100, 100)...)
	// A record larger than a whole segment gets a segment of its own.
	big := Record{Timestamp: 1, Key: []byte("big"), Value: bytes.Repeat([]byte("B"), 3*segBytes)}
	bigLocs := make([]Loc, 1)
	if err := l.Append([]Record{big}, bigLocs); err != nil {
		t.Fatal(err)
	}
	big.Offset = l.Next() - 1
	want = append(want, big)
	if bigLocs[0].Pos != 0 {
		t.Fatalf("big record at position %d, want its own segment", bigLocs[0].Pos)
	}
	want = append(want, appendN(t, l, 50, 200)...)
	assertRecords(t, readAll(t, l), want)

	segs := l.Segments()
	if len(segs) < 5 {
		t.Fatalf("%d segments after %d bytes", len(segs), 150*200)
	}
	var prevLast uint64
	for i, s := range segs {
		if s.Base() != prevLast+1 {
			t.Errorf("segment %d base %d, previous ended at %d", i, s.Base(), prevLast)
		}
		if s.Sealed() != (i < len(segs)-1) {
			t.Errorf("segment %d sealed = %v", i, s.Sealed())
		}
		if s.Size() > segBytes && s.Base() != big.Offset {
			t.Errorf("segment %d has %d bytes, over SegmentBytes", i, s.Size())
		}
		if s.Base() == big.Offset && s.Len() != 1 {
			t.Errorf("the big record's segment has %d records", s.Len())
		}
		prevLast = s.LastOffset()
		if s.Len() != int64(s.LastOffset()-s.Base()+1) {
			t.Errorf("segment %d: %d records for offsets %d..%d", i, s.Len(), s.Base(), s.LastOffset())
		}
	}
	closeAll(segs)
	closeLog(t, l)
	// Closed cleanly: every .log is cut to its contents.
	for _, name := range filesWithExt(t, dir, LogExt) {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > segBytes && fi.Size() != int64(big.Size()) {
			t.Errorf("%s has %d bytes after Close", name, fi.Size())
		}
	}
	l = openLog(t, dir, &Options{SegmentBytes: segBytes})
	assertRecords(t, readAll(t, l), want)
}

func TestLog_Roll_BigFirstRecord(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &Options{SegmentBytes: 4096})
	big := Record{Timestamp: 1, Key: []byte("big"), Value: bytes.Repeat([]byte("B"), 10000)}
	if err := l.Append([]Record{big}, nil); err != nil {
		t.Fatal(err)
	}
	big.Offset = 1
	if bases := segmentBases(l); !slices.Equal(bases, []uint64{1}) {
		t.Fatalf("segments %v: the empty first segment should have been replaced", bases)
	}
	small := appendN(t, l, 3, 10)
	if bases := segmentBases(l); !slices.Equal(bases, []uint64{1, 2}) {
		t.Fatalf("segments %v", bases)
	}
	assertRecords(t, readAll(t, l), append([]Record{big}, small...))
	closeLog(t, l)
	l = openLog(t, dir, &Options{SegmentBytes: 4096})
	assertRecords(t, readAll(t, l), append([]Record{big}, small...))
}

func TestLog_ReadFrom_Limits(t *testing.T) {
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 4096})
	want := appendN(t, l, 200, 90) // records of ~140 bytes, ~29 per segment
	if n := len(segmentBases(l)); n < 5 {
		t.Fatalf("only %d segments", n)
	}
	// sizeOf is the encoded size of want[first:first+n].
	sizeOf := func(first, n int) int64 {
		var b int64
		for _, r := range want[first : first+n] {
			b += int64(r.Size())
		}
		return b
	}
	tests := []struct {
		name       string
		offset     uint64
		maxRecords int
		maxBytes   int64
		first, n   int // expected: want[first:first+n]
	}{
		{"from start", 0, 10, 0, 0, 10},
		{"explicit start", 1, 10, 0, 0, 10},
		{"zero max means one", 5, 0, 0, 4, 1},
		{"negative max means one", 5, -3, 0, 4, 1},
		{"across many segments", 20, 100, 0, 19, 100},
		{"everything", 0, 1000, 0, 0, 200},
		{"to the end", 190, 1000, 0, 189, 11},
		{"last", 200, 10, 0, 199, 1},
		{"bytes exact", 30, 1000, sizeOf(29, 5), 29, 5},
		{"bytes one short", 30, 1000, sizeOf(29, 5) - 1, 29, 4},
		{"bytes below one record", 30, 1000, 1, 29, 1},
		{"bytes across segments", 25, 1000, sizeOf(24, 60), 24, 60},
		{"bytes across segments one short", 25, 1000, sizeOf(24, 60) - 1, 24, 59},
		{"records before bytes", 25, 3, sizeOf(24, 60), 24, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next, err := l.ReadFrom(tt.offset, tt.maxRecords, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if next != 201 {
				t.Fatalf("high-water mark %d", next)
			}
			assertRecords(t, got, want[tt.first:tt.first+tt.n])
		})
	}
	// At the high-water mark: no records, no error.
	got, next, err := l.ReadFrom(201, 10, 0)
	if err != nil || len(got) != 0 || next != 201 {
		t.Fatalf("ReadFrom(Next) = %d records, %d, %v", len(got), next, err)
	}
	// Every record by Read, from every offset.
	for i := range want {
		r, err := l.Read(want[i].Offset)
		if err != nil {
			t.Fatal(err)
		}
		assertRecordEqual(t, r, want[i])
	}
	// Returned records are copies: changing one changes nothing stored.
	r, _ := l.Read(1)
	if len(r.Value) > 0 {
		r.Value[0] ^= 0xff
	}
	again, _ := l.Read(1)
	assertRecordEqual(t, again, want[0])
}

func TestLog_ReadFrom_OutOfRange(t *testing.T) {
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 4096})
	appendN(t, l, 100, 90)
	if err := l.TruncateHead(40); err != nil {
		t.Fatal(err)
	}
	earliest := l.Earliest()
	if earliest <= 1 || earliest > 40 {
		t.Fatalf("Earliest after TruncateHead(40) = %d", earliest)
	}
	tests := []struct {
		name      string
		offset    uint64
		outOfRage bool
	}{
		{"below start", earliest - 1, true},
		{"offset 1", 1, true},
		{"at start", earliest, false},
		{"zero is the start", 0, false},
		{"at next", 101, false},
		{"past next", 102, true},
		{"far past", 1 << 62, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, next, err := l.ReadFrom(tt.offset, 1, 0)
			if next != 101 {
				t.Fatalf("high-water mark %d", next)
			}
			if !tt.outOfRage {
				if err != nil {
					t.Fatalf("ReadFrom(%d): %v", tt.offset, err)
				}
				return
			}
			if !errors.Is(err, ErrOutOfRange) {
				t.Fatalf("ReadFrom(%d): err = %v, want ErrOutOfRange", tt.offset, err)
			}
			var oe *OffsetError
			if !errors.As(err, &oe) {
				t.Fatalf("error %T is not an *OffsetError", err)
			}
			if oe.Requested != tt.offset || oe.Earliest != earliest || oe.Next != 101 {
				t.Fatalf("OffsetError = %+v, want {%d %d 101}", *oe, tt.offset, earliest)
			}
			if _, err := l.Read(tt.offset); !errors.As(err, &oe) || oe.Requested != tt.offset {
				t.Fatalf("Read(%d): %v", tt.offset, err)
			}
		})
	}
	// Read at Next has no record to return: out of range too.
	_, err := l.Read(101)
	var oe *OffsetError
	if !errors.As(err, &oe) || oe.Requested != 101 || oe.Next != 101 || oe.Earliest != earliest {
		t.Fatalf("Read(Next): %v", err)
	}
	if !strings.Contains(err.Error(), "101") {
		t.Fatalf("error message %q does not name the offset", err)
	}
}

func TestLog_Reopen(t *testing.T) {
	for _, hints := range []bool{false, true} {
		t.Run(fmt.Sprintf("hints=%v", hints), func(t *testing.T) {
			dir := t.TempDir()
			opts := &Options{SegmentBytes: 4096, Hints: hints}
			l := openLog(t, dir, opts)
			want := appendN(t, l, 300, 90)
			closeLog(t, l)

			// Clean close: every file is cut to its contents; with hints,
			// every segment has a valid hint file.
			bases := map[uint64]bool{}
			for _, name := range filesWithExt(t, dir, LogExt) {
				var b uint64
				fmt.Sscanf(name, "%020d.log", &b)
				bases[b] = true
				data, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				n := scanRecords(t, data)
				idx, err := os.ReadFile(Path(dir, b, IndexExt))
				if err != nil {
					t.Fatal(err)
				}
				if len(idx) != n*IndexEntrySize {
					t.Errorf("%s: %d records, index of %d bytes", name, n, len(idx))
				}
				_, err = readHints(Path(dir, b, HintExt), int64(len(data)))
				if hints && err != nil {
					t.Errorf("%s: hints: %v", name, err)
				}
				if !hints && !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: hint file without Hints: %v", name, err)
				}
			}
			if len(bases) < 5 {
				t.Fatalf("only %d segments", len(bases))
			}

			l = openLog(t, dir, opts)
			if l.Next() != 301 || l.Earliest() != 1 {
				t.Fatalf("Next %d Earliest %d", l.Next(), l.Earliest())
			}
			assertRecords(t, readAll(t, l), want)
			segs := l.Segments()
			for _, s := range segs {
				if !bases[s.Base()] {
					t.Errorf("unknown segment %d", s.Base())
				}
				if hints {
					checkSegmentHints(t, s)
				} else if s.Hints() != nil {
					t.Errorf("segment %d has hints without Hints", s.Base())
				}
			}
			closeAll(segs)
			// The active segment's hint file goes stale with the next
			// append: Open removes it.
			if _, err := os.Stat(Path(dir, segs[len(segs)-1].Base(), HintExt)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("active segment's hint file still there: %v", err)
			}
			more := appendN(t, l, 100, 90)
			want = append(want, more...)
			closeLog(t, l)
			l = openLog(t, dir, opts)
			assertRecords(t, readAll(t, l), want)
		})
	}
}

func TestLog_Sync(t *testing.T) {
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 4096})
	appendN(t, l, 10, 10)
	if off, err := l.Sync(); err != nil || off != 10 {
		t.Fatalf("Sync = %d, %v; want 10", off, err)
	}
	if off, err := l.Sync(); err != nil || off != 10 {
		t.Fatalf("second Sync = %d, %v; want 10", off, err)
	}
	appendN(t, l, 100, 90) // rolls
	if off, err := l.Sync(); err != nil || off != 110 {
		t.Fatalf("Sync after rolls = %d, %v; want 110", off, err)
	}
	if err := l.TruncateTail(50); err != nil {
		t.Fatal(err)
	}
	if off, err := l.Sync(); err != nil || off != 50 {
		t.Fatalf("Sync after TruncateTail(50) = %d, %v", off, err)
	}
	if err := l.Append([]Record{{Offset: 80}}, nil); err != nil {
		t.Fatal(err)
	}
	if off, err := l.Sync(); err != nil || off != 80 {
		t.Fatalf("Sync after a gap = %d, %v", off, err)
	}
}

func TestLog_Closed(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, &Options{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 50, 90)
	segs := l.Segments() // a reader still holding segments past Close
	closeLog(t, l)
	r, err := segs[0].ReadRecord(0)
	if err != nil || r.Offset != 1 {
		t.Fatalf("read through a held segment after Close: %+v, %v", r, err)
	}
	closeAll(segs)

	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := l.Append([]Record{{Key: []byte("k")}}, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append: %v", err)
	}
	if _, err := l.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync: %v", err)
	}
	if err := l.TruncateHead(10); !errors.Is(err, ErrClosed) {
		t.Fatalf("TruncateHead: %v", err)
	}
	if err := l.TruncateTail(10); !errors.Is(err, ErrClosed) {
		t.Fatalf("TruncateTail: %v", err)
	}
	// Reads after Close fail; they must not spin or hang.
	done := make(chan error, 1)
	go func() {
		_, _, err := l.ReadFrom(1, 10, 0)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("ReadFrom after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrom after Close did not return")
	}
	if _, err := l.Read(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, ok := l.Acquire(0); ok {
		t.Fatal("Acquire after Close succeeded")
	}
}

func TestOpen_CleansLeftovers(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &Options{SegmentBytes: 4096, Hints: true})
	want := appendN(t, l, 60, 90)
	closeLog(t, l)
	leftovers := []string{
		Path(dir, 1, HintExt) + ".tmp",
		Path(dir, 999999, IndexExt), // no .log
		Path(dir, 999999, HintExt),
	}
	for _, p := range leftovers {
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	foreign := filepath.Join(dir, "README")
	if err := os.WriteFile(foreign, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, &Options{SegmentBytes: 4096, Hints: true})
	assertRecords(t, readAll(t, l), want)
	for _, p := range leftovers {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed: %v", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("foreign file: %v", err)
	}
}

func TestSegment_Scan(t *testing.T) {
	l := openLog(t, t.TempDir(), nil)
	if err := l.Append([]Record{{Offset: 3, Key: []byte("a")}, {Offset: 7, Key: []byte("b")}, {Offset: 9, Key: []byte("c")}}, nil); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	defer closeAll(segs)
	var got []uint64
	collect := func(from uint64) []uint64 {
		got = nil
		if err := segs[0].Scan(from, func(r *Record, pos int64) error {
			got = append(got, r.Offset)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tt := range []struct {
		from uint64
		want []uint64
	}{{0, []uint64{3, 7, 9}}, {4, []uint64{7, 9}}, {9, []uint64{9}}, {10, nil}} {
		if got := collect(tt.from); !slices.Equal(got, tt.want) {
			t.Errorf("Scan(%d) = %v, want %v", tt.from, got, tt.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := segs[0].Scan(0, func(*Record, int64) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("Scan did not stop at fn's error: %v after %d", err, n)
	}
}

// TestLog_ConcurrentReaders runs readers that follow the log while a
// writer appends (rolling often), a syncer syncs and the head is cut:
// every record a reader sees is whole, in order and what was written.
func TestLog_ConcurrentReaders(t *testing.T) {
	const total = 3000
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 8192, Hints: true})
	valueLen := func(off uint64) int { return int(off*7) % 300 }
	var wg sync.WaitGroup
	var done atomic.Bool
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		done.Store(true)
	}
	wg.Go(func() { // writer
		defer done.Store(true)
		for l.Next() <= total && !done.Load() {
			n := min(1+int(l.Next()%7), total+1-int(l.Next()))
			recs := make([]Record, n)
			for i := range recs {
				off := l.Next() + uint64(i)
				recs[i] = testRecord(off, valueLen(off))
			}
			if err := l.Append(recs, nil); err != nil {
				fail(err)
				return
			}
		}
	})
	wg.Go(func() { // syncer
		for !done.Load() {
			next := l.Next()
			off, err := l.Sync()
			if err != nil || off+1 < next {
				fail(fmt.Errorf("Sync = %d, %v with Next %d before it", off, err, next))
				return
			}
		}
	})
	wg.Go(func() { // head truncation, well behind the readers' window
		for !done.Load() {
			if next := l.Next(); next > 1000 {
				if err := l.TruncateHead(next - 1000); err != nil {
					fail(err)
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	})
	for range 3 {
		wg.Go(func() { // reader following the log
			from := uint64(0)
			var last uint64
			for {
				recs, next, err := l.ReadFrom(from, 50, 4096)
				var oe *OffsetError
				switch {
				case errors.As(err, &oe) && oe.Requested < oe.Earliest:
					from = oe.Earliest // cut behind us: skip ahead
					continue
				case err != nil:
					fail(fmt.Errorf("ReadFrom(%d): %w", from, err))
					return
				}
				for _, r := range recs {
					if r.Offset < from || (last != 0 && r.Offset <= last) {
						fail(fmt.Errorf("ReadFrom(%d) gave offset %d after %d", from, r.Offset, last))
						return
					}
					if last != 0 && r.Offset != last+1 && from <= last+1 {
						fail(fmt.Errorf("gap: %d after %d", r.Offset, last))
						return
					}
					if want := testRecord(r.Offset, valueLen(r.Offset)); !bytes.Equal(r.Key, want.Key) ||
						!bytes.Equal(r.Value, want.Value) || r.Flags != want.Flags || r.Timestamp != want.Timestamp {
						fail(fmt.Errorf("record %d has wrong contents", r.Offset))
						return
					}
					if r.Offset >= next {
						fail(fmt.Errorf("record %d at or past the high-water mark %d", r.Offset, next))
						return
					}
					last = r.Offset
				}
				if len(recs) > 0 {
					from = last + 1
				}
				if last >= total {
					return
				}
				if done.Load() && len(recs) == 0 && l.Next() > total {
					if last < total {
						// The writer is done; one more pass reads the rest.
						continue
					}
					return
				}
				if len(errs) > 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if l.Next() != total+1 {
		t.Fatalf("Next = %d", l.Next())
	}
}

func TestOpen_Locked(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, nil)
	if _, err := Open(dir, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open of a directory in use: %v", err)
	}
	closeLog(t, l)
	l = openLog(t, dir, nil)
	closeLog(t, l)
}

// TestLog_GapAcrossSegments: an explicit offset far ahead that also starts
// a new segment leaves a gap between segments; reads inside the gap find
// the first record after it.
func TestLog_GapAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentBytes: 4096}
	l := openLog(t, dir, opts)
	first := appendN(t, l, 5, 50)
	big := Record{Offset: 1000, Key: []byte("far"), Value: bytes.Repeat([]byte{1}, 5000)}
	if err := l.Append([]Record{big}, nil); err != nil {
		t.Fatal(err)
	}
	if bases := segmentBases(l); !slices.Equal(bases, []uint64{1, 1000}) {
		t.Fatalf("segments %v", bases)
	}
	for _, off := range []uint64{6, 500, 999, 1000} {
		r, err := l.Read(off)
		if err != nil || r.Offset != 1000 {
			t.Fatalf("Read(%d) = %d, %v", off, r.Offset, err)
		}
	}
	got, _, err := l.ReadFrom(4, 10, 0)
	if err != nil || len(got) != 3 || got[1].Offset != 5 || got[2].Offset != 1000 {
		t.Fatalf("ReadFrom(4) = %d records, %v", len(got), err)
	}
	closeLog(t, l)
	l = openLog(t, dir, opts)
	assertRecords(t, readAll(t, l), append(first, big))
	if l.Next() != 1001 {
		t.Fatalf("Next = %d", l.Next())
	}
}

// TestLog_Hints_LatestPerKey writes few keys many times (tombstones and
// expiries among them): each sealed segment's hints name the latest record
// of each key in it.
func TestLog_Hints_LatestPerKey(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentBytes: 4096, Hints: true}
	l := openLog(t, dir, opts)
	for i := range 300 {
		r := Record{Key: []byte{'k', byte('a' + i%4)}, Value: bytes.Repeat([]byte{byte(i)}, i%60)}
		switch i % 7 {
		case 3:
			r.Flags, r.Value = FlagTombstone, nil
		case 5:
			r.Flags, r.Expiry = FlagExpiry, int64(i)
		case 6:
			r.Key = nil
		}
		if err := l.Append([]Record{r}, nil); err != nil {
			t.Fatal(err)
		}
	}
	closeLog(t, l)
	l = openLog(t, dir, opts)
	segs := l.Segments()
	defer closeAll(segs)
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	for _, s := range segs {
		checkSegmentHints(t, s)
		if h := s.Hints(); h != nil && h.Len() > 4 {
			t.Errorf("segment %d: %d hints for 4 keys", s.Base(), h.Len())
		}
	}
}

// TestOpen_EmptyNewestSegment: a crash right after a roll leaves an empty
// newest .log (maybe preallocated). Open carries on from it.
func TestOpen_EmptyNewestSegment(t *testing.T) {
	for _, size := range []int64{0, 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			opts := &Options{SegmentBytes: 4096, Hints: true}
			dir, want := buildLog(t, opts, 100, 90)
			f, err := os.Create(Path(dir, 101, LogExt))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			f.Close()
			l := openLog(t, dir, opts)
			if l.Next() != 101 {
				t.Fatalf("Next = %d", l.Next())
			}
			assertRecords(t, readAll(t, l), want)
			more := appendN(t, l, 50, 90)
			assertRecords(t, readAll(t, l), append(want, more...))
			// Cutting the head past everything leaves no record below
			// the cut and never lowers Next.
			if err := l.TruncateHead(1000); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, l); len(got) != 0 {
				t.Fatalf("%d records left below the cut", len(got))
			}
			if l.Next() < 151 {
				t.Fatalf("Next = %d", l.Next())
			}
		})
	}
}

// TestLog_ChangedSegmentBytes reopens a log with a smaller and then a
// larger SegmentBytes than it was written with.
func TestLog_ChangedSegmentBytes(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, &Options{SegmentBytes: 64 << 10})
	want := appendN(t, l, 100, 90)
	closeLog(t, l)
	l = openLog(t, dir, &Options{SegmentBytes: 4096})
	assertRecords(t, readAll(t, l), want)
	want = append(want, appendN(t, l, 100, 90)...) // rolls at once
	if bases := segmentBases(l); len(bases) < 3 || bases[1] != 101 {
		t.Fatalf("segments %v", bases)
	}
	closeLog(t, l)
	l = openLog(t, dir, &Options{SegmentBytes: 1 << 20})
	want = append(want, appendN(t, l, 100, 90)...)
	assertRecords(t, readAll(t, l), want)
	closeLog(t, l)
	l = openLog(t, dir, &Options{SegmentBytes: 4096})
	assertRecords(t, readAll(t, l), want)
}
