package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/bench"
	"github.com/caskade/caskade/client"
)

// fakeTarget answers at once; every failEvery-th call fails with err.
type fakeTarget struct {
	calls     atomic.Int64
	failEvery int64
	err       error
}

func (f *fakeTarget) call() (uint64, error) {
	n := f.calls.Add(1)
	if f.failEvery > 0 && n%f.failEvery == 0 {
		return 0, f.err
	}
	return uint64(n), nil
}

func (f *fakeTarget) Put(context.Context, []byte, []byte, ...client.PutOption) (uint64, error) {
	return f.call()
}

func (f *fakeTarget) Get(_ context.Context, key []byte, _ ...client.ReadOption) (client.Item, error) {
	off, err := f.call()
	if err != nil {
		return client.Item{}, err
	}
	return client.Item{Key: key, Value: []byte("0123456789"), Offset: off}, nil
}

func (f *fakeTarget) Produce(context.Context, []byte) (uint64, error) { return f.call() }

func (f *fakeTarget) Consume(_ context.Context, offset uint64, _ ...client.ReadOption) (*client.Record, uint64, error) {
	if _, err := f.call(); err != nil {
		return nil, 0, err
	}
	return &client.Record{Offset: max(offset, 1), Type: client.RecordMessage, Value: []byte("0123456789")}, 1000, nil
}

func TestErrorKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{context.Canceled, bench.KindCanceled},
		{fmt.Errorf("get: %w", context.DeadlineExceeded), bench.KindDeadlineExceeded},
		{&client.Error{Code: codes.DeadlineExceeded}, bench.KindDeadlineExceeded},
		{&client.Error{Code: codes.Unavailable}, bench.KindUnavailable},
		{&client.WriteUnknownError{Err: &client.Error{Code: codes.Unavailable}}, bench.KindWriteUnknown},
		{&client.WriteUnknownError{Err: &client.Error{Code: codes.DeadlineExceeded}}, bench.KindWriteUnknown},
		{&client.Error{Code: codes.NotFound}, bench.KindNotFound},
		{&client.OffsetError{Requested: 9}, bench.KindOutOfRange},
		{&client.Error{Code: codes.FailedPrecondition, Reason: caskadev1.ReasonNotLeader}, bench.KindNotLeader},
		{&client.Error{Code: codes.ResourceExhausted}, bench.KindTooLarge},
		{&client.Error{Code: codes.InvalidArgument, Reason: caskadev1.ReasonValueTooLarge}, bench.KindInvalidArgument},
		{&client.Error{Code: codes.Unauthenticated}, bench.KindUnauthenticated},
		{&client.PermissionError{Identity: "x"}, bench.KindPermissionDenied},
		{&client.Error{Code: codes.Unimplemented}, bench.KindUnimplemented},
		{&client.Error{Code: codes.DataLoss}, bench.KindCorrupt},
		{&client.Error{Code: codes.Internal}, bench.KindInternal},
		{fmt.Errorf("put: %w", client.ErrClosed), bench.KindClosed},
		{errors.New("something else"), bench.KindOther},
	}
	for _, tt := range tests {
		if got := bench.ErrorKind(tt.err); got != tt.want {
			t.Errorf("ErrorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

// fakeRun runs workload w on a fakeTarget whose every fourth call is
// unavailable.
func fakeRun(t *testing.T, w bench.Workload, total int64) *bench.Report {
	t.Helper()
	f := &fakeTarget{failEvery: 4, err: fmt.Errorf("put: %w", &client.Error{Code: codes.Unavailable, Message: "node is stopping"})}
	o := bench.Options{Workload: w, Total: total, Clients: 3, Keys: 20, ValueSize: 10, Seed: 7, ReadRatio: 0.5}
	rep, err := bench.Run(t.Context(), f, o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := f.calls.Load(); got != total {
		t.Fatalf("%d calls, want %d", got, total)
	}
	checkCounts(t, rep)
	return rep
}

func TestRun_ErrorsCounted(t *testing.T) {
	t.Parallel()
	rep := fakeRun(t, bench.Put, 100)
	if rep.OK != 75 || rep.Errors != 25 {
		t.Errorf("ok %d, errors %d; want 75, 25", rep.OK, rep.Errors)
	}
	if len(rep.ErrorKinds) != 1 || rep.ErrorKinds[0].Kind != bench.KindUnavailable || rep.ErrorKinds[0].Count != 25 ||
		!strings.Contains(rep.ErrorKinds[0].Example, "node is stopping") {
		t.Errorf("error kinds %+v, want 25 unavailable with the server's message", rep.ErrorKinds)
	}
}

func TestReport_JSON(t *testing.T) {
	t.Parallel()
	rep := fakeRun(t, bench.Mixed, 200)
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(rep); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("report JSON does not parse: %v\n%s", err, buf.String())
	}
	for _, k := range []string{"workload", "ops", "ok", "errors", "ops_per_second", "bytes_per_second", "latency", "histogram", "distribution", "by_op", "error_kinds", "timeline", "read_ratio"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, buf.String())
		}
	}
	lat, _ := m["latency"].(map[string]any)
	for _, k := range []string{"p50_us", "p90_us", "p99_us", "p99_9_us", "max_us"} {
		if _, ok := lat[k]; !ok {
			t.Errorf("latency has no %q", k)
		}
	}
	var back bench.Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Ops != 200 || back.OK != rep.OK || back.Latency != rep.Latency || len(back.ByOp) != 2 {
		t.Errorf("round trip: %+v, want %+v", back, rep)
	}
}

func TestReport_WriteText(t *testing.T) {
	t.Parallel()
	rep := fakeRun(t, bench.Get, 100)
	var buf bytes.Buffer
	if err := rep.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"Workload get: 3 clients, 20 keys of 16 bytes, linearizable reads\n",
		"Operations:  100 in ",
		"(75 ok, 25 errors)",
		" ops/s, ",
		"p50 ", "p90 ", "p99 ", "p99.9 ", "max ",
		"Latency histogram:",
		"∎",
		"unavailable  25  e.g. put: unavailable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}
