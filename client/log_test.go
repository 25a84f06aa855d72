package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/internal/rpctest"
)

func TestClient_ProduceConsume(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	ctx := testCtx(t)

	// An empty log: no record, the high-water mark is the first offset.
	rec, hwm, err := c.Consume(ctx, 0)
	if err != nil || rec != nil || hwm != 1 {
		t.Fatalf("consume of an empty log: %v, %d, %v", rec, hwm, err)
	}
	must(c.Put(ctx, []byte("k"), []byte("v")))(t)
	must(c.Delete(ctx, []byte("k")))(t)
	off := must(c.Produce(ctx, []byte("m1")))(t)
	if off != 3 {
		t.Fatalf("produce at %d, want 3", off)
	}
	must(c.Produce(ctx, nil))(t)

	want := []struct {
		typ   client.RecordType
		key   string
		value []byte
	}{
		{client.RecordPut, "k", []byte("v")},
		{client.RecordTombstone, "k", nil},
		{client.RecordMessage, "", []byte("m1")},
		{client.RecordMessage, "", []byte{}},
	}
	for i, w := range want {
		rec, hwm, err := c.Consume(ctx, uint64(i+1), client.Stale())
		if err != nil || rec == nil || hwm != 5 {
			t.Fatalf("consume %d: %+v, %d, %v", i+1, rec, hwm, err)
		}
		if rec.Offset != uint64(i+1) || rec.Type != w.typ || string(rec.Key) != w.key || !bytes.Equal(rec.Value, w.value) ||
			(rec.Value == nil) != (w.value == nil) || rec.Timestamp.IsZero() {
			t.Fatalf("record %d: %+v, want %+v", i+1, rec, w)
		}
	}
	if rec, hwm, err := c.Consume(ctx, 5); err != nil || rec != nil || hwm != 5 {
		t.Fatalf("consume at the high-water mark: %v, %d, %v", rec, hwm, err)
	}
	if s := client.RecordTombstone.String() + client.RecordPut.String() + client.RecordMessage.String(); s != "tombstoneputmessage" {
		t.Fatalf("record type names: %s", s)
	}
}

func TestProducer_Pipelined(t *testing.T) {
	t.Parallel()
	s, c := start(t, nil)
	ctx := testCtx(t)
	must(c.Put(ctx, []byte("k"), []byte("v")))(t) // offsets of the stream start at 2

	p := must(c.NewProducer(ctx))(t)
	defer p.Close()
	const batches = 50
	sent := make(chan error, 1)
	go func() {
		for i := range batches {
			values := make([][]byte, i%7+1)
			for j := range values {
				values[j] = fmt.Appendf(nil, "b%d-%d", i, j)
			}
			if err := p.Send(values...); err != nil {
				sent <- err
				return
			}
		}
		sent <- p.CloseSend()
	}()
	next := uint64(2)
	for i := 0; ; i++ {
		ack, err := p.Recv()
		if errors.Is(err, io.EOF) {
			if i != batches {
				t.Fatalf("EOF after %d acks, want %d", i, batches)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ack.First != next || ack.Count != i%7+1 || ack.Last() != next+uint64(ack.Count)-1 {
			t.Fatalf("ack %d: %+v, want first %d count %d", i, ack, next, i%7+1)
		}
		next += uint64(ack.Count)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// The records are there, in order.
	recs, _, err := s.DB.ReadFrom(2, 1000)
	if err != nil || uint64(len(recs)) != next-2 || string(recs[0].Value) != "b0-0" || string(recs[len(recs)-1].Value) != fmt.Sprintf("b%d-%d", batches-1, (batches-1)%7) {
		t.Fatalf("read back %d records: %v", len(recs), err)
	}
}

func TestProducer_Refused(t *testing.T) {
	t.Parallel()
	s, c := start(t, nil)
	ctx := testCtx(t)
	p := must(c.NewProducer(ctx))(t)
	defer p.Close()
	if err := p.Send(); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("empty batch: %v", err)
	}
	if err := p.Send([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	if ack := must(p.Recv())(t); ack.First != 1 || ack.Count != 1 {
		t.Fatalf("ack %+v", ack)
	}
	if err := p.Send([]byte("a"), bytes.Repeat([]byte("x"), rpctest.MaxValueSize+1)); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	_, err := p.Recv()
	var e *client.Error
	if !errors.Is(err, client.ErrValueTooLarge) || !errors.As(err, &e) || len(e.Violations) == 0 || e.Violations[0].Field != "values[1]" {
		t.Fatalf("batch with a value too large: %v (%+v)", err, e)
	}
	// Nothing of the refused batch was written.
	if got := s.DB.NextOffset(); got != 2 {
		t.Fatalf("next offset %d, want 2", got)
	}
}

func TestProducer_Cancel(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	ctx := testCtx(t)
	p := must(c.NewProducer(ctx))(t)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Recv(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("recv after Close: %v", err)
	}
	// Cancelling the context ends the stream too.
	cctx, cancel := context.WithCancel(ctx)
	p = must(c.NewProducer(cctx))(t)
	defer p.Close()
	if err := p.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if ack := must(p.Recv())(t); ack.First != 1 {
		t.Fatalf("ack %+v", ack)
	}
	cancel()
	if _, err := p.Recv(); !errors.Is(err, context.Canceled) {
		t.Fatalf("recv after cancel: %v", err)
	}
}

// consumeAll reads cons until io.EOF.
func consumeAll(t *testing.T, cons *client.Consumer) []client.Record {
	t.Helper()
	var out []client.Record
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("consumer does not end")
		}
		r, err := cons.Next(testCtx(t))
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
}

func TestConsumer_ToHighWaterMark(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	ctx := testCtx(t)
	if recs := consumeAll(t, client.NewConsumer(c, 0, nil)); len(recs) != 0 {
		t.Fatalf("empty log gave %d records", len(recs))
	}
	for i := range 600 { // more than one server batch
		if i%3 == 0 {
			must(c.Put(ctx, fmt.Appendf(nil, "w/%d", i), []byte("v")))(t)
		} else {
			must(c.Produce(ctx, fmt.Appendf(nil, "m%d", i)))(t)
		}
	}
	cons := client.NewConsumer(c, 0, &client.ConsumerOptions{MaxBatch: 100})
	recs := consumeAll(t, cons)
	if len(recs) != 600 || recs[0].Offset != 1 || recs[599].Offset != 600 || cons.Position() != 601 || cons.HighWaterMark() != 601 {
		t.Fatalf("%d records, position %d, hwm %d", len(recs), cons.Position(), cons.HighWaterMark())
	}
	for i, r := range recs {
		if r.Offset != uint64(i+1) {
			t.Fatalf("record %d has offset %d", i, r.Offset)
		}
	}
	// From the middle, and a watch on a prefix.
	if recs := consumeAll(t, client.NewConsumer(c, 590, nil)); len(recs) != 11 || recs[0].Offset != 590 {
		t.Fatalf("from 590: %d records", len(recs))
	}
	recs = consumeAll(t, client.NewConsumer(c, 0, &client.ConsumerOptions{KeyPrefix: []byte("w/")}))
	if len(recs) != 200 || string(recs[1].Key) != "w/3" || recs[1].Type != client.RecordPut {
		t.Fatalf("watch: %d records", len(recs))
	}
	// Past the end: an OffsetError.
	_, err := client.NewConsumer(c, 700, nil).Next(ctx)
	var oe *client.OffsetError
	if !errors.As(err, &oe) || oe.Requested != 700 || oe.Next != 601 {
		t.Fatalf("consumer past the end: %v", err)
	}
}

// follower reads a following Consumer on a goroutine and hands each record
// over a channel.
type follower struct {
	recs chan client.Record
	done chan error
	mu   sync.Mutex // guards retries
	// retries counts the reconnect waits the Consumer reported.
	retries int
}

func follow(t *testing.T, c *client.Client, from uint64, opts client.ConsumerOptions) *follower {
	t.Helper()
	f := &follower{recs: make(chan client.Record, 1000), done: make(chan error, 1)}
	opts.Follow = true
	opts.OnRetry = func(error, time.Duration) {
		f.mu.Lock()
		f.retries++
		f.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	cons := client.NewConsumer(c, from, &opts)
	go func() {
		defer cons.Close()
		for {
			r, err := cons.Next(ctx)
			if err != nil {
				f.done <- err
				return
			}
			f.recs <- r
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-f.done
	})
	return f
}

// expect reads records until it has the offsets from..to, failing on a
// duplicate, a gap or a timeout.
func (f *follower) expect(t *testing.T, from, to uint64) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for want := from; want <= to; want++ {
		select {
		case r := <-f.recs:
			if r.Offset != want {
				t.Fatalf("got offset %d, want %d", r.Offset, want)
			}
		case err := <-f.done:
			t.Fatalf("consumer ended waiting for %d: %v", want, err)
		case <-timeout:
			t.Fatalf("timed out waiting for offset %d", want)
		}
	}
}

// produceN produces n messages.
func produceN(t *testing.T, c *client.Client, n int) {
	t.Helper()
	for i := range n {
		must(c.Produce(testCtx(t), fmt.Appendf(nil, "m%d", i)))(t)
	}
}

func TestConsumer_Follow(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	f := follow(t, c, 0, client.ConsumerOptions{})
	produceN(t, c, 5)
	f.expect(t, 1, 5)
	produceN(t, c, 3)
	f.expect(t, 6, 8)
}

// TestConsumer_ResumesAfterRestart stops the server under a following
// Consumer, restarts it on the same address, and checks that the
// Consumer resumes after the last record it delivered: no duplicate, no
// gap.
func TestConsumer_ResumesAfterRestart(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"stop", "kill"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			s, c := start(t, nil)
			f := follow(t, c, 0, client.ConsumerOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
			produceN(t, c, 20)
			f.expect(t, 1, 20)
			if how == "stop" {
				s.Stop(t)
			} else {
				s.Kill(t)
			}
			s.Restart(t)
			// Written while the consumer may still be away.
			waitUntil(t, "the client reconnects", func() bool {
				_, err := c.Produce(testCtx(t), []byte("after"))
				return err == nil
			})
			produceN(t, c, 9)
			f.expect(t, 21, 30)
			f.mu.Lock()
			retries := f.retries
			f.mu.Unlock()
			if retries == 0 {
				t.Fatal("the consumer never reconnected")
			}
			select {
			case r := <-f.recs:
				t.Fatalf("unexpected record %d", r.Offset)
			default:
			}
		})
	}
}

// waitUntil polls cond until it holds or 10s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConsumer_Cancel checks that a cancelled context ends Next at once,
// and that the Consumer goes on with a new context without losing or
// repeating a record.
func TestConsumer_Cancel(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	produceN(t, c, 3)
	cons := client.NewConsumer(c, 0, &client.ConsumerOptions{Follow: true})
	defer cons.Close()
	for want := uint64(1); want <= 3; want++ {
		if r := must(cons.Next(testCtx(t)))(t); r.Offset != want {
			t.Fatalf("offset %d, want %d", r.Offset, want)
		}
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	errc := make(chan error, 1)
	go func() {
		_, err := cons.Next(ctx)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Next after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not end after cancel")
	}
	produceN(t, c, 1)
	if r := must(cons.Next(testCtx(t)))(t); r.Offset != 4 {
		t.Fatalf("after a cancelled Next: offset %d, want 4", r.Offset)
	}
	if err := cons.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Next(testCtx(t)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

// TestConsumer_MaxRetries gives up after the reconnects allowed.
func TestConsumer_MaxRetries(t *testing.T) {
	t.Parallel()
	s, c := start(t, nil)
	s.Stop(t)
	cons := client.NewConsumer(c, 0, &client.ConsumerOptions{MinBackoff: time.Millisecond, MaxRetries: 2})
	if _, err := cons.Next(testCtx(t)); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Next with no server: %v", err)
	}
}
