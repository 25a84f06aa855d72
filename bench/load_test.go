package bench_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caskade/caskade/bench"
	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/internal/rpctest"
)

// startServer starts a test server and a client of it, both stopped when
// the test ends.
func startServer(t *testing.T) (*rpctest.Server, *client.Client) {
	t.Helper()
	s := rpctest.Start(t, nil)
	c, err := client.Dial(t.Context(), []string{s.Addr}, client.WithInsecure(), client.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

// small are options that fit the test server's limits and run fast.
func small(w bench.Workload, total int64) bench.Options {
	return bench.Options{Workload: w, Total: total, Clients: 8, KeySize: 16, ValueSize: 100, Keys: 50, Records: 40, Seed: 1}
}

// checkCounts checks the invariants every report holds.
func checkCounts(t *testing.T, rep *bench.Report) {
	t.Helper()
	if rep.Ops != rep.OK+rep.Errors {
		t.Errorf("ops %d != ok %d + errors %d", rep.Ops, rep.OK, rep.Errors)
	}
	var kinds int64
	for _, e := range rep.ErrorKinds {
		kinds += e.Count
	}
	if kinds != rep.Errors {
		t.Errorf("error kinds sum to %d, errors %d", kinds, rep.Errors)
	}
	var hist int64
	for _, b := range rep.Histogram {
		hist += b.Count
	}
	if hist != rep.OK || rep.Latency.Count != rep.OK {
		t.Errorf("histogram holds %d, latency count %d, want ok %d", hist, rep.Latency.Count, rep.OK)
	}
	var ok, errs int64
	for _, b := range rep.Timeline {
		ok += b.OK
		errs += b.Errors
	}
	if ok != rep.OK || errs != rep.Errors {
		t.Errorf("timeline holds %d ok and %d errors, want %d and %d", ok, errs, rep.OK, rep.Errors)
	}
}

func TestRun_Put(t *testing.T) {
	t.Parallel()
	s, c := startServer(t)
	before := s.DB.NextOffset()
	rep, err := bench.Run(t.Context(), c, small(bench.Put, 200))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkCounts(t, rep)
	if rep.Ops != 200 || rep.OK != 200 || rep.Errors != 0 {
		t.Errorf("ops %d, ok %d, errors %d; want 200, 200, 0", rep.Ops, rep.OK, rep.Errors)
	}
	if got := s.DB.NextOffset() - before; got != 200 {
		t.Errorf("server's next offset advanced by %d, want 200", got)
	}
	if want := int64(200 * (16 + 100)); rep.Bytes != want {
		t.Errorf("bytes %d, want %d", rep.Bytes, want)
	}
	if s.DB.Len() > 50 {
		t.Errorf("store holds %d keys, want at most the key space of 50", s.DB.Len())
	}
	if rep.OpsPerSecond <= 0 || rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
		t.Errorf("implausible throughput or latency: %+v, %v ops/s", rep.Latency, rep.OpsPerSecond)
	}
}

func TestRun_Get_AfterPut(t *testing.T) {
	t.Parallel()
	s, c := startServer(t)
	// Put first covers the key space only by chance: write every key,
	// then read without populating.
	o := small(bench.Get, 120)
	for i := range o.Keys {
		if _, err := c.Put(t.Context(), bench.Key(i, o.KeySize), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	before := s.DB.NextOffset()
	rep, err := bench.Run(t.Context(), c, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkCounts(t, rep)
	if rep.OK != 120 || rep.Errors != 0 || rep.Populated != 0 {
		t.Errorf("ok %d, errors %d, populated %d; want 120, 0, 0", rep.OK, rep.Errors, rep.Populated)
	}
	if got := s.DB.NextOffset(); got != before {
		t.Errorf("a get run wrote: next offset %d, was %d", got, before)
	}
	if rep.Consistency != "linearizable" {
		t.Errorf("consistency %q, want linearizable", rep.Consistency)
	}
}

func TestRun_Get_Populate(t *testing.T) {
	t.Parallel()
	s, c := startServer(t)
	o := small(bench.Get, 100)
	o.Populate = true
	o.Consistency = client.ConsistencyStale
	var phases atomic.Int64 // bit 0: populate reported, bit 1: run reported
	o.Progress = func(p bench.Progress) {
		switch p.Phase {
		case bench.PhasePopulate:
			phases.Or(1)
		case bench.PhaseRun:
			phases.Or(2)
		}
	}
	rep, err := bench.Run(t.Context(), c, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkCounts(t, rep)
	if rep.Populated != 50 || rep.OK != 100 || rep.Errors != 0 {
		t.Errorf("populated %d, ok %d, errors %d; want 50, 100, 0", rep.Populated, rep.OK, rep.Errors)
	}
	if s.DB.Len() != 50 {
		t.Errorf("store holds %d keys, want 50", s.DB.Len())
	}
	if want := int64(100 * (16 + 100)); rep.Bytes != want {
		t.Errorf("bytes %d, want %d (every get reads a populated value)", rep.Bytes, want)
	}
	if rep.Consistency != "stale" {
		t.Errorf("consistency %q, want stale", rep.Consistency)
	}
	if phases.Load() != 3 {
		t.Errorf("progress phases %b, want both populate and run reported", phases.Load())
	}
}

func TestRun_Get_Missing(t *testing.T) {
	t.Parallel()
	_, c := startServer(t)
	rep, err := bench.Run(t.Context(), c, small(bench.Get, 30))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkCounts(t, rep)
	if rep.OK != 0 || rep.Errors != 30 || len(rep.ErrorKinds) != 1 || rep.ErrorKinds[0].Kind != bench.KindNotFound {
		t.Errorf("ok %d, errors %d, kinds %+v; want 30 not_found", rep.OK, rep.Errors, rep.ErrorKinds)
	}
}

func TestRun_Mixed(t *testing.T) {
	t.Parallel()
	s, c := startServer(t)
	o := small(bench.Mixed, 300)
	o.Populate = true
	o.ReadRatio = 0.7
	before := s.DB.NextOffset()
	rep, err := bench.Run(t.Context(), c, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkCounts(t, rep)
	if rep.OK != 300 || rep.Errors != 0 {
		t.Fatalf("ok %d, errors %d; want 300, 0", rep.OK, rep.Errors)
	}
	byOp := map[string]int64{}
	for _, op := range rep.ByOp {
		byOp[op.Op] = op.OK
	}
	if byOp["get"]+byOp["put"] != 300 || byOp["get"] == 0 || byOp["put"] == 0 {
		t.Errorf("by op %v: want gets and puts summing to 300", byOp)
	}
	if got := int64(s.DB.NextOffset() - before); got != rep.Populated+byOp["put"] {
		t.Errorf("server wrote %d records, want %d populated + %d puts", got, rep.Populated, byOp["put"])
	}
	if rep.ReadRatio == nil || *rep.ReadRatio != 0.7 {
		t.Errorf("read ratio %v, want 0.7", rep.ReadRatio)
	}
}

func TestRun_Produce(t *testing.T) {
	t.Parallel()
	s, c := startServer(t)
	before := s.DB.NextOffset()
	rep, err := bench.Run(t.Context(), c, small(bench.Produce, 150))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkCounts(t, rep)
	if rep.OK != 150 || rep.Errors != 0 {
		t.Errorf("ok %d, errors %d; want 150, 0", rep.OK, rep.Errors)
	}
	if got := s.DB.NextOffset() - before; got != 150 {
		t.Errorf("next offset advanced by %d, want 150", got)
	}
	if rep.Bytes != 150*100 {
		t.Errorf("bytes %d, want %d", rep.Bytes, 150*100)
	}
}

func TestRun_Consume(t *testing.T) {
	t.Parallel()
	s, c := startServer(t)
	o := small(bench.Consume, 100)
	o.Populate = true
	rep, err := bench.Run(t.Context(), c, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkCounts(t, rep)
	if rep.Populated != 40 || rep.OK != 100 || rep.Errors != 0 {
		t.Errorf("populated %d, ok %d, errors %d; want 40, 100, 0", rep.Populated, rep.OK, rep.Errors)
	}
	if rep.Bytes != 100*100 {
		t.Errorf("bytes %d, want %d: each consume reads one 100-byte record", rep.Bytes, 100*100)
	}
	// A log that has records is read as it is.
	before := s.DB.NextOffset()
	rep, err = bench.Run(t.Context(), c, o)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if rep.Populated != 0 || rep.OK != 100 || s.DB.NextOffset() != before {
		t.Errorf("second run populated %d, ok %d, wrote %d: want 0, 100, 0", rep.Populated, rep.OK, s.DB.NextOffset()-before)
	}
}

func TestRun_Consume_EmptyLog(t *testing.T) {
	t.Parallel()
	_, c := startServer(t)
	_, err := bench.Run(t.Context(), c, small(bench.Consume, 10))
	if !errors.Is(err, bench.ErrEmptyLog) {
		t.Fatalf("err %v, want ErrEmptyLog", err)
	}
}

func TestRun_Duration(t *testing.T) {
	t.Parallel()
	s, c := startServer(t)
	o := small(bench.Put, 0)
	o.Duration = 300 * time.Millisecond
	before := s.DB.NextOffset()
	rep, err := bench.Run(t.Context(), c, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	checkCounts(t, rep)
	if rep.OK == 0 || rep.Errors != 0 {
		t.Errorf("ok %d, errors %d; want some and none", rep.OK, rep.Errors)
	}
	if rep.Seconds < 0.3 {
		t.Errorf("ran %vs, want at least the 0.3s asked", rep.Seconds)
	}
	if got := int64(s.DB.NextOffset() - before); got != rep.OK {
		t.Errorf("server wrote %d records, report counts %d puts", got, rep.OK)
	}
}

// cancelAfter is a Target that cancels the run's context once n puts
// have started.
type cancelAfter struct {
	bench.Target
	n      int64
	calls  atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Put(ctx context.Context, key, value []byte, opts ...client.PutOption) (uint64, error) {
	if c.calls.Add(1) == c.n {
		c.cancel()
	}
	return c.Target.Put(ctx, key, value, opts...)
}

func TestRun_Interrupted(t *testing.T) {
	t.Parallel()
	s, c := startServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	tgt := &cancelAfter{Target: c, n: 50, cancel: cancel}
	before := s.DB.NextOffset()
	rep, err := bench.Run(ctx, tgt, small(bench.Put, 100000))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if rep == nil || !rep.Interrupted {
		t.Fatalf("report %+v, want one marked interrupted", rep)
	}
	checkCounts(t, rep)
	if started := tgt.calls.Load(); rep.OK+rep.Errors+rep.Abandoned != started {
		t.Errorf("ok %d + errors %d + abandoned %d != %d puts started", rep.OK, rep.Errors, rep.Abandoned, started)
	}
	if rep.Errors != 0 {
		t.Errorf("errors %d (%+v): cancelled puts must count as abandoned", rep.Errors, rep.ErrorKinds)
	}
	// Abandoned puts may or may not have been written.
	if got := int64(s.DB.NextOffset() - before); got < rep.OK || got > rep.OK+rep.Abandoned {
		t.Errorf("server wrote %d records, want between %d and %d", got, rep.OK, rep.OK+rep.Abandoned)
	}
}

func TestRun_Fatal(t *testing.T) {
	t.Parallel()
	s, c := startServer(t)
	o := small(bench.Put, 1000)
	o.ValueSize = rpctest.MaxValueSize + 1
	before := s.DB.NextOffset()
	rep, err := bench.Run(t.Context(), c, o)
	var fe *bench.FatalError
	if !errors.As(err, &fe) || !errors.Is(err, client.ErrValueTooLarge) || fe.Op != "put" {
		t.Fatalf("err %v, want a FatalError of put matching ErrValueTooLarge", err)
	}
	checkCounts(t, rep)
	if rep.OK != 0 || rep.Errors < 1 || rep.Errors > int64(o.Clients) || rep.Stopped == "" {
		t.Errorf("ok %d, errors %d, stopped %q: want no success, at most one error per client, a reason", rep.OK, rep.Errors, rep.Stopped)
	}
	if s.DB.NextOffset() != before {
		t.Error("a refused put was written")
	}
}

func TestRun_InvalidOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    bench.Options
		want string // part of the message
	}{
		{"no workload", bench.Options{Total: 1}, "unknown workload"},
		{"neither total nor duration", bench.Options{Workload: bench.Put}, "exactly one of Total and Duration"},
		{"both total and duration", bench.Options{Workload: bench.Put, Total: 1, Duration: time.Second}, "exactly one of Total and Duration"},
		{"negative total", bench.Options{Workload: bench.Put, Total: -1, Duration: time.Second}, "Total -1"},
		{"negative clients", bench.Options{Workload: bench.Put, Total: 1, Clients: -2}, "Clients -2"},
		{"key too short", bench.Options{Workload: bench.Put, Total: 1, KeySize: 8, Keys: 1000}, "KeySize 8 is too small for 1000 keys"},
		{"read ratio", bench.Options{Workload: bench.Mixed, Total: 1, ReadRatio: 1.5}, "ReadRatio 1.5"},
		{"consistency", bench.Options{Workload: bench.Get, Total: 1, Consistency: 7}, "Consistency 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No server: invalid options must fail before anything is sent.
			rep, err := bench.Run(t.Context(), nil, tt.o)
			if !errors.Is(err, bench.ErrInvalidOptions) || rep != nil {
				t.Fatalf("Run = %v, %v; want ErrInvalidOptions", rep, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		i, size int
		want    string
	}{
		{0, 16, "bench-0000000000"},
		{42, 16, "bench-0000000042"},
		{9999, 10, "bench-9999"},
		{7, 7, "bench-7"},
	}
	for _, tt := range tests {
		if got := string(bench.Key(tt.i, tt.size)); got != tt.want {
			t.Errorf("Key(%d, %d) = %q, want %q", tt.i, tt.size, got, tt.want)
		}
	}
	for _, n := range []int{1, 10, 11, 10000, 10001} {
		size := bench.MinKeySize(n)
		if got := len(bench.Key(n-1, size)); got != size {
			t.Errorf("key %d of %d at MinKeySize %d is %d bytes", n-1, n, size, got)
		}
		if want := len(bench.KeyPrefix) + len(strconv.Itoa(n-1)); size != want {
			t.Errorf("MinKeySize(%d) = %d, want %d", n, size, want)
		}
	}
}

func TestParseWorkload(t *testing.T) {
	t.Parallel()
	for _, w := range bench.Workloads() {
		if got, err := bench.ParseWorkload(string(w)); got != w || err != nil {
			t.Errorf("ParseWorkload(%q) = %q, %v", w, got, err)
		}
	}
	for _, s := range []string{"", "PUT", "scan"} {
		if _, err := bench.ParseWorkload(s); !errors.Is(err, bench.ErrInvalidOptions) {
			t.Errorf("ParseWorkload(%q): %v, want ErrInvalidOptions", s, err)
		}
	}
}
