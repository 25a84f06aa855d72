package rpc

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/metricstest"
)

// Metrics counts calls by method and code, refused ones included, times
// them, and counts stream messages.
func TestMetrics_CountsCallsByMethodAndCode(t *testing.T) {
	db, err := engine.Open(t.TempDir(), &engine.Options{Sync: engine.SyncNever, SegmentBytes: 64 << 10, MaxKeySize: testMaxKey, MaxValueSize: testMaxValue})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	ts := serveStore(t, db, Options{MaxKeySize: testMaxKey, MaxValueSize: testMaxValue, Metrics: m})
	ts.db = db
	t.Cleanup(func() { ts.stop(t) })

	c := ctx(t)
	for _, k := range []string{"a", "b"} {
		if _, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte(k), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: bytes.Repeat([]byte("k"), testMaxKey+1)}); err == nil {
		t.Fatal("oversized key: no error")
	}
	if _, err := ts.kv.Get(c, &caskadev1.GetRequest{Key: []byte("none")}); err == nil {
		t.Fatal("Get of a missing key: no error")
	}
	st, err := ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Offset: 1})
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := st.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}

	f := metricstest.Gather(t, reg)
	const handled = "caskade_grpc_server_handled_total"
	for _, tt := range []struct {
		service, method, code string
		want                  float64
	}{
		{"caskade.v1.KV", "Put", "OK", 2},
		{"caskade.v1.KV", "Put", "InvalidArgument", 1},
		{"caskade.v1.KV", "Get", "NotFound", 1},
		{"caskade.v1.KV", "Get", "OK", 0},
		{"caskade.v1.Log", "ConsumeStream", "OK", 1},
	} {
		got, _ := f.Value(handled, "grpc_service", tt.service, "grpc_method", tt.method, "grpc_code", tt.code)
		if got != tt.want {
			t.Errorf("%s{%s/%s, %s} = %v, want %v", handled, tt.service, tt.method, tt.code, got, tt.want)
		}
	}
	if n, ok := f.Count("caskade_grpc_server_handling_seconds", "grpc_method", "Put"); !ok || n != 3 {
		t.Errorf("Put latency samples = %d (found %v), want 3", n, ok)
	}
	if n, _ := f.Value("caskade_grpc_server_msg_sent_total", "grpc_method", "ConsumeStream"); n < 1 {
		t.Errorf("ConsumeStream messages sent = %v, want at least 1", n)
	}
}

// BenchmarkMetrics_Get compares a unary call with and without the
// metrics interceptors.
func BenchmarkMetrics_Get(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			db, err := engine.Open(b.TempDir(), &engine.Options{Sync: engine.SyncNever})
			if err != nil {
				b.Fatal(err)
			}
			o := Options{}
			if on {
				o.Metrics = NewMetrics()
			}
			ts := serveStore(b, db, o)
			ts.db = db
			b.Cleanup(func() { ts.stop(b) })
			if _, err := db.Put([]byte("k"), make([]byte, benchValueSize)); err != nil {
				b.Fatal(err)
			}
			c, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			req := &caskadev1.GetRequest{Key: []byte("k"), Consistency: caskadev1.Consistency_STALE}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := ts.kv.Get(c, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
