package bench

import (
	"errors"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

func TestRecorder_Coarsen(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	r := newRecorder(start)
	// One success every 7ms for 5s: 715 operations over 500 buckets of
	// 10ms, which must fold into buckets of 40ms (125 of them).
	var n int64
	for at := time.Duration(0); at < 5*time.Second; at += 7 * time.Millisecond {
		r.record(opPut, start.Add(at), time.Millisecond, 10, nil)
		n++
	}
	r.record(opPut, start.Add(time.Second), time.Millisecond, 0, errors.New("boom"))
	if r.mu.width != 40*time.Millisecond || len(r.mu.buckets) > maxBuckets || len(r.mu.buckets) != 125 {
		t.Fatalf("width %v, %d buckets; want 40ms, 125", r.mu.width, len(r.mu.buckets))
	}
	var ok, errs, hist int64
	for _, b := range r.mu.buckets {
		ok += b.ok
		errs += b.errors
		if b.latency != nil {
			hist += b.latency.TotalCount()
		}
	}
	if ok != n || hist != n || errs != 1 {
		t.Errorf("buckets hold %d ok (%d in histograms), %d errors; want %d, %d, 1", ok, hist, errs, n, n)
	}
	if got := r.mu.ops[opPut]; got.ok != n || got.errors != 1 || got.bytes != 10*n {
		t.Errorf("put stats %+v, want %d ok, 1 error, %d bytes", got, n, 10*n)
	}
}

func TestHistogram(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []int64
		n      int // buckets wanted
	}{
		{"spread", []int64{100, 150, 200, 300, 1000, 5000, 5000, 20000, 100000}, 12},
		{"one value", []int64{250, 250, 250}, 12},
		{"narrow", []int64{100, 101, 102, 103}, 12},
		{"big", []int64{1, maxLatencyMicros}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hdr.New(1, maxLatencyMicros, sigFigs)
			for _, v := range tt.values {
				if err := h.RecordValue(v); err != nil {
					t.Fatal(err)
				}
			}
			buckets := histogram(h, tt.n)
			if len(buckets) == 0 || len(buckets) > tt.n {
				t.Fatalf("%d buckets, want 1 to %d", len(buckets), tt.n)
			}
			var total int64
			for i, b := range buckets {
				total += b.Count
				if i > 0 && b.UpTo <= buckets[i-1].UpTo {
					t.Errorf("bounds not increasing: %+v", buckets)
				}
			}
			if total != int64(len(tt.values)) {
				t.Errorf("buckets hold %d values, want %d: %+v", total, len(tt.values), buckets)
			}
			if last := buckets[len(buckets)-1].UpTo; last != h.Max() {
				t.Errorf("last bound %d, want the max %d", last, h.Max())
			}
			// A bucket counts only values up to its bound: the buckets up
			// to each one hold no more values than are <= its bound.
			var cum int64
			for _, b := range buckets {
				cum += b.Count
				var le int64
				for _, v := range tt.values {
					if v <= b.UpTo {
						le++
					}
				}
				if cum > le {
					t.Errorf("buckets up to %d hold %d values, but only %d are <= it: %+v", b.UpTo, cum, le, buckets)
				}
			}
		})
	}
	if got := histogram(hdr.New(1, maxLatencyMicros, sigFigs), 12); len(got) != 0 {
		t.Errorf("empty histogram gives %+v, want no buckets", got)
	}
}

func TestDistribution(t *testing.T) {
	t.Parallel()
	h := hdr.New(1, maxLatencyMicros, sigFigs)
	for v := int64(1); v <= 1000; v++ {
		_ = h.RecordValue(v)
	}
	d := distribution(h)
	// Ten points per nine up to three nines (1000 values), then the max.
	if len(d) != 31 {
		t.Fatalf("%d points, want 31: %+v", len(d), d)
	}
	for i := 1; i < len(d); i++ {
		if d[i].Percentile <= d[i-1].Percentile || d[i].Latency < d[i-1].Latency {
			t.Errorf("not increasing at %d: %+v then %+v", i, d[i-1], d[i])
		}
	}
	if d[10].Percentile != 90 || d[10].Latency != 900 || d[20].Percentile != 99 || d[20].Latency != 990 {
		t.Errorf("p90 %+v, p99 %+v; want 900 and 990", d[10], d[20])
	}
	if last := d[len(d)-1]; last.Percentile != 100 || last.Latency != 1000 {
		t.Errorf("last point %+v, want 100%% at 1000", last)
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	micros := []struct {
		us   int64
		want string
	}{
		{0, "0µs"}, {999, "999µs"}, {1000, "1.00ms"}, {1234, "1.23ms"}, {9996, "10.0ms"}, {99960, "100ms"},
		{123456, "123ms"}, {999600, "1.00s"}, {999400, "999ms"}, {1500000, "1.50s"}, {12345678, "12.3s"}, {1234567890, "1235s"},
	}
	for _, tt := range micros {
		if got := formatMicros(tt.us); got != tt.want {
			t.Errorf("formatMicros(%d) = %q, want %q", tt.us, got, tt.want)
		}
	}
	bytes := []struct {
		n    float64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.00 KiB"}, {1536, "1.50 KiB"}, {5 << 20, "5.00 MiB"}, {1000 << 30, "1000 GiB"}, {1023.9 * 1024, "1.00 MiB"},
	}
	for _, tt := range bytes {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%v) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestMakeValue(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 100, valueBlock, valueBlock + 1, 3*valueBlock + 17} {
		v := makeValue(n, 1)
		if len(v) != n {
			t.Fatalf("makeValue(%d) is %d bytes", n, len(v))
		}
		for i, c := range v {
			if c < 'a' || c > 'z' {
				t.Fatalf("makeValue(%d)[%d] = %q, want a letter", n, i, c)
			}
		}
	}
}
