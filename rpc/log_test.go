package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

func TestLog_ProduceConsume(t *testing.T) {
	ts := startServer(t, nil)
	c := ctx(t)
	// An empty log: nothing at the start, the high-water mark is 1.
	got, err := ts.log.Consume(c, &caskadev1.ConsumeRequest{})
	if err != nil || got.Record != nil || got.HighWaterMark != 1 {
		t.Fatalf("Consume on an empty log = %v, %v", got, err)
	}
	for i := range 3 {
		p, err := ts.log.Produce(c, &caskadev1.ProduceRequest{Value: fmt.Appendf(nil, "m%d", i)})
		if err != nil || p.Offset != uint64(i+1) {
			t.Fatalf("Produce %d = %v, %v", i, p, err)
		}
	}
	if _, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	for off := uint64(0); off <= 4; off++ {
		got, err := ts.log.Consume(c, &caskadev1.ConsumeRequest{Offset: off, Consistency: caskadev1.Consistency_STALE})
		if err != nil {
			t.Fatal(err)
		}
		want := max(off, 1)
		if r := got.Record; r.Offset != want || got.HighWaterMark != 5 || r.TimestampUnixNano == 0 {
			t.Fatalf("Consume(%d) = %v, want offset %d, hwm 5", off, got, want)
		}
	}
	got, _ = ts.log.Consume(c, &caskadev1.ConsumeRequest{Offset: 1})
	if r := got.Record; r.Type != caskadev1.RecordType_MESSAGE || string(r.Value) != "m0" || len(r.Key) != 0 {
		t.Fatalf("record 1 = %v", r)
	}
	got, _ = ts.log.Consume(c, &caskadev1.ConsumeRequest{Offset: 4})
	if r := got.Record; r.Type != caskadev1.RecordType_PUT || string(r.Key) != "k" {
		t.Fatalf("record 4 = %v", r)
	}
	// At the high-water mark: no record yet.
	got, err = ts.log.Consume(c, &caskadev1.ConsumeRequest{Offset: 5})
	if err != nil || got.Record != nil || got.HighWaterMark != 5 {
		t.Fatalf("Consume(5) = %v, %v", got, err)
	}
	// Past it: OUT_OF_RANGE with the earliest and next offsets.
	_, err = ts.log.Consume(c, &caskadev1.ConsumeRequest{Offset: 9})
	checkErr(t, err, wantErr{code: codes.OutOfRange, reason: caskadev1.ReasonOffsetOutOfRange,
		meta: map[string]string{caskadev1.MetaEarliestOffset: "1", caskadev1.MetaNextOffset: "5", caskadev1.MetaRequestedOffset: "9"}})
	if _, err := ts.kv.Delete(c, &caskadev1.DeleteRequest{Key: []byte("k")}); err != nil {
		t.Fatal(err)
	}
	got, _ = ts.log.Consume(c, &caskadev1.ConsumeRequest{Offset: 5})
	if r := got.Record; r.Type != caskadev1.RecordType_TOMBSTONE || string(r.Key) != "k" {
		t.Fatalf("record 5 = %v", r)
	}
}

// recvAll reads a stream to its end and returns the offsets received.
func recvAll(t *testing.T, st grpc.ServerStreamingClient[caskadev1.ConsumeStreamResponse]) (offs []uint64, batches int, err error) {
	t.Helper()
	for range 100000 {
		resp, err := st.Recv()
		if err == io.EOF {
			return offs, batches, nil
		}
		if err != nil {
			return offs, batches, err
		}
		batches++
		for _, r := range resp.Records {
			offs = append(offs, r.Offset)
		}
	}
	t.Fatal("stream did not end")
	return nil, 0, nil
}

func TestLog_ConsumeStream_NoFollow(t *testing.T) {
	ts := startServer(t, nil)
	c := ctx(t)
	for i := range 10 {
		key := fmt.Sprintf("a/%d", i%3)
		if i%2 == 1 {
			key = fmt.Sprintf("b/%d", i)
		}
		if _, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte(key), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		if _, err := ts.log.Produce(c, &caskadev1.ProduceRequest{Value: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{MaxBatch: 3})
	if err != nil {
		t.Fatal(err)
	}
	offs, batches, err := recvAll(t, st)
	if err != nil || len(offs) != 20 || batches != 7 || offs[0] != 1 || offs[19] != 20 {
		t.Fatalf("got %d records (%v) in %d batches, err %v; want 1..20 in 7", len(offs), offs, batches, err)
	}
	// A key prefix makes it a watch of keyed records.
	st, err = ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Offset: 5, KeyPrefix: []byte("a/")})
	if err != nil {
		t.Fatal(err)
	}
	offs, _, err = recvAll(t, st)
	want := []uint64{5, 9, 13, 17}
	if err != nil || fmt.Sprint(offs) != fmt.Sprint(want) {
		t.Fatalf("watch of a/ from 5 = %v, %v; want %v", offs, err, want)
	}
	// Below the start of an empty-headed range, or past the end: OUT_OF_RANGE.
	st, err = ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Offset: 99})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = recvAll(t, st)
	checkErr(t, err, wantErr{code: codes.OutOfRange, reason: caskadev1.ReasonOffsetOutOfRange,
		meta: map[string]string{caskadev1.MetaNextOffset: "21"}})
}

// A following stream wakes on each append and sends it.
func TestLog_ConsumeStream_Follow(t *testing.T) {
	ts := startServer(t, nil)
	c, cancel := context.WithCancel(ctx(t))
	defer cancel()
	// From offset 3 of an empty log: waits for the log to get there.
	st, err := ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Offset: 3, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Follow: true, KeyPrefix: []byte("w/")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := ts.log.Produce(c, &caskadev1.ProduceRequest{Value: fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			continue
		}
		// Each append is sent before the next is made.
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Records) != 1 || resp.Records[0].Offset != uint64(i+1) || string(resp.Records[0].Value) != fmt.Sprintf("m%d", i) {
			t.Fatalf("after append %d got %v", i+1, resp)
		}
	}
	if _, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte("w/1"), Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	resp, err := watch.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Records) != 1 || string(resp.Records[0].Key) != "w/1" || resp.Records[0].Offset != 11 {
		t.Fatalf("watch got %v", resp)
	}
	if resp, err := st.Recv(); err != nil || resp.Records[0].Offset != 11 {
		t.Fatalf("stream got %v, %v; want the put at 11", resp, err)
	}
	cancel()
	for _, s := range []grpc.ServerStreamingClient[caskadev1.ConsumeStreamResponse]{st, watch} {
		_, err := s.Recv()
		if status.Code(err) != codes.Canceled {
			t.Fatalf("Recv after cancel: %v", err)
		}
	}
}

// A cancelled follow stream ends on the server too: GracefulStop, which
// waits for every call, returns without Close.
func TestLog_ConsumeStream_CancelEndsHandler(t *testing.T) {
	ts := startServer(t, nil)
	c, cancel := context.WithCancel(ctx(t))
	st, err := ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.log.Produce(ctx(t), &caskadev1.ProduceRequest{Value: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	stopped := make(chan struct{})
	go func() { ts.gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop waits for a cancelled stream")
	}
}

// Close ends following streams with UNAVAILABLE (STORE_CLOSED) and refuses
// new ones, so that GracefulStop can finish.
func TestServer_Close_EndsFollowStreams(t *testing.T) {
	ts := startServer(t, nil)
	c := ctx(t)
	st, err := ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.log.Produce(c, &caskadev1.ProduceRequest{Value: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil { // the stream is running
		t.Fatal(err)
	}
	ts.srv.Close()
	_, err = st.Recv()
	checkErr(t, err, wantErr{code: codes.Unavailable, reason: caskadev1.ReasonStoreClosed})
	st, err = ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	checkErr(t, err, wantErr{code: codes.Unavailable, reason: caskadev1.ReasonStoreClosed})
	// Unary calls go on until GracefulStop.
	if _, err := ts.log.Produce(c, &caskadev1.ProduceRequest{Value: []byte("m")}); err != nil {
		t.Fatal(err)
	}
}

// Close ends an idle ProduceStream too; what it acknowledged stays.
func TestServer_Close_EndsProduceStreams(t *testing.T) {
	ts := startServer(t, nil)
	st, err := ts.log.ProduceStream(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&caskadev1.ProduceStreamRequest{Values: [][]byte{[]byte("a")}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := st.Recv(); err != nil || resp.FirstOffset != 1 {
		t.Fatalf("answer %v, %v", resp, err)
	}
	ts.srv.Close()
	_, err = st.Recv()
	checkErr(t, err, wantErr{code: codes.Unavailable, reason: caskadev1.ReasonStoreClosed})
	if ts.db.NextOffset() != 2 {
		t.Fatalf("next offset %d, want 2", ts.db.NextOffset())
	}
}

// Closing the store under a following stream ends it with UNAVAILABLE.
func TestLog_ConsumeStream_StoreClosed(t *testing.T) {
	ts := startServer(t, nil)
	st, err := ts.log.ConsumeStream(ctx(t), &caskadev1.ConsumeStreamRequest{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.log.Produce(ctx(t), &caskadev1.ProduceRequest{Value: []byte("m")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := ts.db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	checkErr(t, err, wantErr{code: codes.Unavailable, reason: caskadev1.ReasonStoreClosed})
	_, err = ts.kv.Get(ctx(t), &caskadev1.GetRequest{Key: []byte("k")})
	checkErr(t, err, wantErr{code: codes.Unavailable, reason: caskadev1.ReasonStoreClosed})
}

// ProduceStream answers every request in order with contiguous offsets,
// however the server batched them.
func TestLog_ProduceStream(t *testing.T) {
	ts := startServer(t, nil)
	c := ctx(t)
	st, err := ts.log.ProduceStream(c)
	if err != nil {
		t.Fatal(err)
	}
	const requests = 200
	done := make(chan error, 1)
	go func() {
		for i := range requests {
			vals := make([][]byte, i%4+1)
			for j := range vals {
				vals[j] = fmt.Appendf(nil, "r%d.%d", i, j)
			}
			if err := st.Send(&caskadev1.ProduceStreamRequest{Values: vals}); err != nil {
				done <- err
				return
			}
		}
		done <- st.CloseSend()
	}()
	next := uint64(1)
	for i := range requests {
		resp, err := st.Recv()
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		if resp.FirstOffset != next || resp.Count != uint32(i%4+1) {
			t.Fatalf("response %d = %v, want first offset %d, count %d", i, resp, next, i%4+1)
		}
		next += uint64(resp.Count)
	}
	if _, err := st.Recv(); err != io.EOF {
		t.Fatalf("stream end: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Every value is at the offset it was answered with.
	recs, _, err := ts.db.ReadFrom(1, int(next))
	if err != nil || uint64(len(recs)) != next-1 {
		t.Fatalf("ReadFrom: %d records, %v", len(recs), err)
	}
	off := 0
	for i := range requests {
		for j := range i%4 + 1 {
			if want := fmt.Sprintf("r%d.%d", i, j); string(recs[off].Value) != want {
				t.Fatalf("offset %d holds %q, want %q", recs[off].Offset, recs[off].Value, want)
			}
			off++
		}
	}
}

// A bad request ends the stream after the good ones before it are written
// and answered; nothing of it is written.
func TestLog_ProduceStream_BadRequestMidStream(t *testing.T) {
	ts := startServer(t, nil)
	st, err := ts.log.ProduceStream(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, vals := range [][][]byte{{[]byte("a")}, {[]byte("b"), []byte("c")}, {}, {[]byte("d")}} {
		if err := st.Send(&caskadev1.ProduceStreamRequest{Values: vals}); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
	}
	var firsts []uint64
	for range 10 {
		resp, err := st.Recv()
		if err != nil {
			checkErr(t, err, wantErr{code: codes.InvalidArgument, reason: caskadev1.ReasonInvalidArgument, field: "values"})
			break
		}
		firsts = append(firsts, resp.FirstOffset)
	}
	if fmt.Sprint(firsts) != "[1 2]" || ts.db.NextOffset() != 4 {
		t.Fatalf("answers %v, next offset %d; want [1 2] and 4", firsts, ts.db.NextOffset())
	}
}

// Below the log start (retention dropped the head), Consume and
// ConsumeStream, following or not, answer OUT_OF_RANGE with the earliest
// offset.
func TestLog_Consume_BelowStart(t *testing.T) {
	ts := startServer(t, &engine.Options{Sync: engine.SyncNever, SegmentBytes: 4 << 10, RetentionBytes: 4 << 10})
	c := ctx(t)
	for range 300 {
		if _, err := ts.log.Produce(c, &caskadev1.ProduceRequest{Value: make([]byte, 100)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ts.maint.Compact(c, &caskadev1.CompactRequest{}); err != nil {
		t.Fatal(err)
	}
	earliest := ts.db.Stats().Earliest
	if earliest <= 1 {
		t.Fatalf("retention dropped nothing (earliest %d)", earliest)
	}
	want := wantErr{code: codes.OutOfRange, reason: caskadev1.ReasonOffsetOutOfRange,
		meta: map[string]string{caskadev1.MetaEarliestOffset: u(earliest), caskadev1.MetaNextOffset: "301", caskadev1.MetaRequestedOffset: "1"}}
	_, err := ts.log.Consume(c, &caskadev1.ConsumeRequest{Offset: 1})
	checkErr(t, err, want)
	for _, follow := range []bool{false, true} {
		st, err := ts.log.ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Offset: 1, Follow: follow})
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		checkErr(t, err, want)
	}
	// Offset 0 means the log start, wherever it is now.
	got, err := ts.log.Consume(c, &caskadev1.ConsumeRequest{})
	if err != nil || got.Record.Offset != earliest {
		t.Fatalf("Consume(0) = %v, %v; want offset %d", got, err, earliest)
	}
}
