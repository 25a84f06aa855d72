package segment

import (
	"os"
	"testing"
)

// TestRecovery_TornOlderSegment: a machine crash right after a roll, before
// any Sync, can leave the last record of the segment before the newest
// half written (pages reach the disk in no set order) while the newest
// segment's file exists. Nothing there was synced, so Open drops the torn
// record and the newer segments (Sync flushes older segments first, so
// none of their records was acknowledged) and appends go on from there.
// The same damage in a segment whose seal finished is corruption.
func TestRecovery_TornOlderSegment(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		name := map[bool]string{false: "unsealed", true: "sealed"}[sealed]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := &Options{SegmentBytes: 4096, Hints: true}
			l := openLog(t, dir, opts)
			for i := range 150 {
				r := testRecord(uint64(i+1), 90)
				if err := l.Append([]Record{r}, nil); err != nil {
					t.Fatal(err)
				}
			}
			bases := segmentBases(l)
			if len(bases) < 3 {
				t.Fatalf("want several segments, have %v", bases)
			}
			// Closing lets every seal finish, so the image below is built
			// from settled files.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			img := copyDir(t, dir)
			prev := bases[len(bases)-2]
			data, err := os.ReadFile(Path(img, prev, LogExt))
			if err != nil {
				t.Fatal(err)
			}
			spans := spansOf(t, data)
			last := spans[len(spans)-1]
			for i := last.pos + 20; i < last.end; i++ {
				data[i] = 0 // the record's second page never reached the disk
			}
			if !sealed {
				// As the seal left it: never cut to its contents, no hint.
				data = append(data[:last.end:last.end], make([]byte, opts.SegmentBytes-last.end)...)
				os.Remove(Path(img, prev, HintExt))
			}
			if err := os.WriteFile(Path(img, prev, LogExt), data, 0o644); err != nil {
				t.Fatal(err)
			}
			l2, err := Open(img, opts)
			if sealed {
				if err == nil {
					l2.Close()
					t.Fatal("a torn record in a sealed segment opened as a tail")
				}
				return
			}
			if err != nil {
				t.Fatalf("open after a crash that lost only unsynced records: %v", err)
			}
			defer l2.Close()
			torn := uint64(last.offset)
			if got := l2.Next(); got != torn {
				t.Fatalf("Next after recovery = %d, want %d (the torn record's offset)", got, torn)
			}
			recs, _, err := l2.ReadFrom(0, 1000, 0)
			if err != nil || len(recs) != int(torn-1) {
				t.Fatalf("ReadFrom: %d records, %v; want %d", len(recs), err, torn-1)
			}
			recs = []Record{testRecord(torn, 90)}
			if err := l2.Append(recs, nil); err != nil || recs[0].Offset != torn {
				t.Fatalf("append after recovery: offset %d, %v", recs[0].Offset, err)
			}
		})
	}
}
