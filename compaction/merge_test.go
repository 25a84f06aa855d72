package compaction

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/caskade/caskade/engine/segment"
)

// sealedLog returns a log with n records of valueLen bytes in small sealed
// segments, and those segments (references held until the test ends).
func sealedLog(t *testing.T, n, valueLen int) (*segment.Log, []*segment.Segment) {
	t.Helper()
	l, err := segment.Open(t.TempDir(), &segment.Options{SegmentBytes: 64 << 10, Hints: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	recs := make([]segment.Record, n)
	for i := range recs {
		recs[i] = segment.Record{Timestamp: int64(i), Key: fmt.Appendf(nil, "k%d", i%10), Value: make([]byte, valueLen)}
		if i%3 == 0 {
			recs[i].Key = nil
		}
	}
	if err := l.Append(recs, nil); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitSealed(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	t.Cleanup(func() {
		for _, s := range segs {
			s.Release()
		}
	})
	return l, segs[:len(segs)-1]
}

func TestMerge_Decisions(t *testing.T) {
	l, inputs := sealedLog(t, 1000, 100)
	b := l.NewBuilder()
	defer b.Abort()
	decide := func(r *segment.Record) Decision {
		switch {
		case len(r.Key) == 0:
			return Keep
		case r.Offset%2 == 0:
			return Tombstone
		}
		return Drop
	}
	st, err := Merge(context.Background(), inputs, b, decide, nil)
	if err != nil {
		t.Fatal(err)
	}
	var in, records int64
	for _, s := range inputs {
		in += s.Size()
		records += s.Len()
	}
	if st.Segments != len(inputs) || st.BytesIn != in || st.Records != records || st.BytesOut != b.Bytes() || st.Reclaimed() <= 0 {
		t.Fatalf("stats %+v (inputs %d bytes, %d records)", st, in, records)
	}
	sw, err := l.Install(inputs, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Finish(); err != nil {
		t.Fatal(err)
	}
	recs, _, err := l.ReadFrom(0, 1<<20, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kept int64
	for _, r := range recs {
		if r.Offset > inputs[len(inputs)-1].LastOffset() {
			break
		}
		kept++
		switch {
		case len(r.Key) == 0:
			if len(r.Value) != 100 {
				t.Fatalf("kept record %d changed", r.Offset)
			}
		case r.Offset%2 == 0:
			if !r.Tombstone() || len(r.Value) != 0 || r.Timestamp != int64(r.Offset-1) {
				t.Fatalf("record %d not made a tombstone: %+v", r.Offset, r)
			}
		default:
			t.Fatalf("dropped record %d is still there", r.Offset)
		}
	}
	if kept != st.Kept {
		t.Fatalf("%d records kept, stats say %d", kept, st.Kept)
	}
}

func TestMerge_RateLimitAndCancel(t *testing.T) {
	l, inputs := sealedLog(t, 3000, 300) // about 1 MiB
	var in int64
	for _, s := range inputs {
		in += s.Size()
	}
	keepAll := func(*segment.Record) Decision { return Keep }
	// At 2 MiB/s with a 512 KiB burst, about 1 MiB takes at least 0.2 s.
	lim := NewLimiter(2 << 20)
	b := l.NewBuilder()
	st, err := Merge(context.Background(), inputs, b, keepAll, lim)
	b.Abort()
	if err != nil {
		t.Fatal(err)
	}
	if min := time.Duration(float64(in-int64(lim.Burst())) / float64(2<<20) * float64(time.Second)); st.Duration < min*8/10 {
		t.Fatalf("merge of %d bytes at 2 MiB/s took %v, want at least %v", in, st.Duration, min)
	}
	// A cancelled context ends the merge with its error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b = l.NewBuilder()
	defer b.Abort()
	if _, err := Merge(ctx, inputs, b, keepAll, NewLimiter(1<<20)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled merge: %v", err)
	}
	if NewLimiter(0) != nil {
		t.Fatal("rate 0 should mean unlimited")
	}
}
