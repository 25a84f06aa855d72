package segment

import (
	"bytes"
	"fmt"
	"testing"
)

var benchSizes = []struct {
	name  string
	bytes int
}{{"100B", 100}, {"4KiB", 4 << 10}}

// BenchmarkLog_Append appends one record per call (no Sync: that is the
// engine's choice). Old segments are dropped as it goes so that disk use
// stays bounded whatever b.N is.
func BenchmarkLog_Append(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			const segBytes = 8 << 20
			l, err := Open(b.TempDir(), &Options{SegmentBytes: segBytes})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			key := []byte("benchmark-key-0001")
			value := bytes.Repeat([]byte{'v'}, sz.bytes)
			recs := make([]Record, 1)
			locs := make([]Loc, 1)
			recs[0] = Record{Key: key, Value: value}
			b.SetBytes(int64(recs[0].Size()))
			b.ReportAllocs()
			perTrim := uint64(4 * segBytes / recs[0].Size())
			for b.Loop() {
				recs[0].Offset = 0
				if err := l.Append(recs, locs); err != nil {
					b.Fatal(err)
				}
				if next := l.Next(); next%perTrim == 0 {
					b.StopTimer()
					if err := l.TruncateHead(next - perTrim/2); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkLog_ReadFrom reads batches of 16 records from offsets spread
// over a log of several segments.
func BenchmarkLog_ReadFrom(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			l, err := Open(b.TempDir(), &Options{SegmentBytes: 4 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			const n, batch = 8192, 16
			recs := make([]Record, 256)
			for range n / len(recs) {
				for i := range recs {
					recs[i] = Record{Key: fmt.Appendf(nil, "key-%d", i), Value: bytes.Repeat([]byte{byte(i)}, sz.bytes)}
				}
				if err := l.Append(recs, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(batch * recs[0].Size()))
			b.ReportAllocs()
			off := uint64(1)
			for b.Loop() {
				got, _, err := l.ReadFrom(off, batch, 0)
				if err != nil || len(got) != batch {
					b.Fatalf("ReadFrom(%d) = %d records, %v", off, len(got), err)
				}
				off = (off*7919)%(n-batch) + 1 // jump around the log
			}
		})
	}
}
