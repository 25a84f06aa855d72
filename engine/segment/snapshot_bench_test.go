package segment

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// benchSnapshot fills a 32 MiB log (4 KiB values, 4 MiB segments) and
// pins it.
func benchSnapshot(b *testing.B) *Snapshot {
	b.Helper()
	l := openLog(b, b.TempDir(), &Options{SegmentBytes: 4 << 20, Hints: true})
	for range 8 {
		appendN(b, l, 1000, 4<<10)
	}
	if err := l.WaitSealed(context.Background()); err != nil {
		b.Fatal(err)
	}
	sn, err := l.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sn.Release)
	return sn
}

// BenchmarkSnapshot_WriteTo writes a snapshot to io.Discard: the cost of
// building the archive and hashing its files, without a disk or network.
func BenchmarkSnapshot_WriteTo(b *testing.B) {
	sn := benchSnapshot(b)
	n, err := sn.WriteTo(context.Background(), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sn.WriteTo(context.Background(), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot_Verify reads a snapshot from memory and checks it
// against its manifest.
func BenchmarkSnapshot_Verify(b *testing.B) {
	sn := benchSnapshot(b)
	var buf bytes.Buffer
	if _, err := sn.WriteTo(context.Background(), &buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifySnapshot(context.Background(), bytes.NewReader(buf.Bytes())); err != nil {
			b.Fatal(err)
		}
	}
}
