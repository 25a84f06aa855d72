package segment

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// tb is the part of testing.TB the helpers need, so that rapid's *T can
// use them too.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// openLog opens the log in dir and closes it when the test ends (a log the
// test closed itself is fine).
func openLog(t testing.TB, dir string, opts *Options) *Log {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func closeLog(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// testRecord makes a record whose contents follow from seed, so that a
// reader can check what it got without sharing state with the writer.
func testRecord(seed uint64, valueLen int) Record {
	r := Record{
		Timestamp: int64(seed) * 1000,
		Key:       fmt.Appendf(nil, "key-%d", seed%37),
		Value:     bytes.Repeat([]byte{byte(seed), byte(seed >> 8)}, valueLen/2+1)[:valueLen],
	}
	switch seed % 5 {
	case 1:
		r.Flags = FlagTombstone
		r.Value = nil
	case 2:
		r.Flags = FlagExpiry
		r.Expiry = int64(seed) * 3000
	case 3:
		r.Key = nil // keyless
	}
	return r
}

// appendN appends n records with values of valueLen bytes and returns
// them (with their offsets).
func appendN(t testing.TB, l *Log, n, valueLen int) []Record {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = testRecord(l.Next()+uint64(i), valueLen)
	}
	if err := l.Append(recs, nil); err != nil {
		t.Fatalf("append: %v", err)
	}
	return recs
}

// readAll reads every record from the log start.
func readAll(t tb, l *Log) []Record {
	t.Helper()
	recs, next, err := l.ReadFrom(0, 1<<30, 0)
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	if next != l.Next() {
		t.Fatalf("ReadFrom high-water mark %d, Next %d", next, l.Next())
	}
	return recs
}

func assertRecords(t tb, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		var gotOffs, wantOffs []uint64
		for _, r := range got {
			gotOffs = append(gotOffs, r.Offset)
		}
		for _, r := range want {
			wantOffs = append(wantOffs, r.Offset)
		}
		t.Fatalf("got %d records, want %d\n got offsets  %v\n want offsets %v", len(got), len(want), shorten(gotOffs), shorten(wantOffs))
	}
	for i := range got {
		if !recordsEqual(got[i], want[i]) {
			t.Fatalf("record %d: got offset %d (%d-byte value), want offset %d (%d-byte value)",
				i, got[i].Offset, len(got[i].Value), want[i].Offset, len(want[i].Value))
		}
	}
}

func shorten(offs []uint64) string {
	if len(offs) <= 20 {
		return fmt.Sprint(offs)
	}
	return fmt.Sprint(offs[:10], " ... ", offs[len(offs)-10:])
}

func recordsEqual(a, b Record) bool {
	return a.Offset == b.Offset && a.Timestamp == b.Timestamp && a.Expiry == b.Expiry &&
		a.Flags == b.Flags && bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value)
}

// segmentBases returns the base offsets of the log's segments.
func segmentBases(l *Log) []uint64 {
	segs := l.Segments()
	defer closeAll(segs)
	var out []uint64
	for _, s := range segs {
		out = append(out, s.Base())
	}
	return out
}

// filesWithExt lists the names of the files in dir with extension ext.
func filesWithExt(t tb, dir, ext string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if filepath.Ext(e.Name()) == ext {
			out = append(out, e.Name())
		}
	}
	return out
}

// checkSegmentHints checks that s's loaded hints name the latest record of
// each key in s, and nothing else.
func checkSegmentHints(t testing.TB, s *Segment) {
	t.Helper()
	h := s.Hints()
	if h == nil {
		t.Errorf("segment %d: no hints loaded", s.Base())
		return
	}
	latest := map[string]HintEntry{}
	err := s.Scan(0, func(r *Record, pos int64) error {
		if len(r.Key) > 0 {
			latest[string(r.Key)] = HintEntry{Key: r.Key, Offset: r.Offset, Position: uint32(pos), Size: uint32(r.Size()),
				Timestamp: r.Timestamp, Expiry: r.Expiry, Flags: r.Flags}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it := h.Iter(); it.Next(); n++ {
		e := it.Entry()
		want, ok := latest[string(e.Key)]
		if !ok {
			t.Errorf("segment %d: hint for unknown key %q", s.Base(), e.Key)
			continue
		}
		assertHintEqual(t, *e, want)
	}
	if n != len(latest) {
		t.Errorf("segment %d: %d hints for %d keys", s.Base(), n, len(latest))
	}
}

// scanRecords decodes the records of a whole .log image and returns their
// number; it fails the test on anything but records.
func scanRecords(t testing.TB, data []byte) int {
	t.Helper()
	n := 0
	for pos := 0; pos < len(data); n++ {
		_, size, err := DecodeRecord(data[pos:])
		if err != nil {
			t.Fatalf("record at %d: %v", pos, err)
		}
		pos += size
	}
	return n
}
