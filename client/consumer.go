package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// ConsumerOptions configure a Consumer. The zero value reads up to the
// high-water mark and reconnects after failures until its context ends.
type ConsumerOptions struct {
	// Follow keeps the Consumer waiting for new records at the high-water
	// mark instead of ending with io.EOF there.
	Follow bool
	// KeyPrefix, when set, delivers only keyed records (puts and
	// tombstones) whose key has this prefix: a watch.
	KeyPrefix []byte
	// MaxBatch caps the records of one server response; 0 means the
	// server's default.
	MaxBatch int
	// Consistency of the reads.
	Consistency Consistency
	// MinBackoff is the wait before the first reconnect after a failure;
	// 0 means 50ms. Each further failure doubles it, up to MaxBackoff
	// (0 means 2s), with jitter.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetries is how many reconnects in a row may fail before Next
	// returns the error; 0 means no limit (until the context ends).
	MaxRetries int
	// OnRetry, when set, is called (by the goroutine in Next) before each
	// wait to reconnect, with the failure and the wait: for logging.
	OnRetry func(err error, wait time.Duration)
}

// Consumer reads the log in offset order over ConsumeStream. It remembers
// the offset after the last record it delivered; when the connection is
// lost or the server stops (ErrUnavailable), it reconnects with a bounded
// backoff and resumes there, so records are delivered once each, in order,
// without gaps other than those compaction leaves.
//
// A Consumer is not safe for concurrent use: one goroutine calls Next.
type Consumer struct {
	client *Client
	opts   ConsumerOptions

	next     uint64   // offset to resume from: last delivered + 1 (or the start offset)
	hwm      uint64   // high-water mark of the last response
	buf      []Record // records received and not yet delivered, in order
	failures int      // failed attempts since the last response

	stream grpc.ServerStreamingClient[caskadev1.ConsumeStreamResponse]
	cancel context.CancelFunc // ends stream
	closed bool
}

// NewConsumer returns a Consumer of c's log from offset from (the first
// record at or after it; 0 is the log start). A nil opts means the zero
// ConsumerOptions. Nothing is sent before the first Next.
func NewConsumer(c *Client, from uint64, opts *ConsumerOptions) *Consumer {
	o := ConsumerOptions{}
	if opts != nil {
		o = *opts
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	return &Consumer{client: c, opts: o, next: from}
}

// Next returns the next record. Without Follow it returns io.EOF once it
// has delivered every record below the high-water mark. It returns ctx's
// error when ctx ends (the Consumer can go on with another ctx), an
// *OffsetError when its position is no longer in the log (compaction or
// retention removed it), and other errors when the server refuses the
// stream or MaxRetries reconnects failed in a row.
func (cs *Consumer) Next(ctx context.Context) (Record, error) {
	if cs.closed {
		return Record{}, fmt.Errorf("consume: %w", ErrClosed)
	}
	for {
		if len(cs.buf) > 0 {
			r := cs.buf[0]
			cs.buf = cs.buf[1:]
			if r.Offset < cs.next {
				continue // delivered already
			}
			cs.next = r.Offset + 1
			return r, nil
		}
		if err := ctx.Err(); err != nil {
			return Record{}, err
		}
		var resp *caskadev1.ConsumeStreamResponse
		err := cs.open(ctx)
		if err == nil {
			resp, err = cs.recv(ctx)
		}
		if err == nil {
			cs.failures = 0
			cs.hwm = resp.GetHighWaterMark()
			for _, p := range resp.GetRecords() {
				cs.buf = append(cs.buf, recordFromProto(p))
			}
			continue
		}
		cs.stop()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Record{}, ctxErr
		}
		if errors.Is(err, io.EOF) {
			if !cs.opts.Follow {
				return Record{}, io.EOF
			}
			// A following stream only ends when the server stops: treat
			// it as a lost connection.
			err = fmt.Errorf("consume: %w: stream ended", ErrUnavailable)
		}
		if !errors.Is(err, ErrUnavailable) {
			return Record{}, err
		}
		cs.failures++
		if cs.opts.MaxRetries > 0 && cs.failures > cs.opts.MaxRetries {
			return Record{}, fmt.Errorf("after %d attempts: %w", cs.failures, err)
		}
		wait := cs.backoff()
		if cs.opts.OnRetry != nil {
			cs.opts.OnRetry(err, wait)
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return Record{}, err
		}
	}
}

// open starts a stream from cs.next unless one is open. Its context is
// cut loose from ctx's cancellation (the stream outlives one Next) but
// keeps its values.
func (cs *Consumer) open(ctx context.Context) error {
	if cs.stream != nil {
		return nil
	}
	if err := cs.client.check("consume"); err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel) // while connecting, ctx still rules
	defer stop()
	stream, err := cs.client.log.ConsumeStream(withConsistency(sctx, cs.opts.Consistency), &caskadev1.ConsumeStreamRequest{
		Offset:      cs.next,
		Follow:      cs.opts.Follow,
		KeyPrefix:   cs.opts.KeyPrefix,
		MaxBatch:    uint32(min(max(cs.opts.MaxBatch, 0), 1<<31)),
		Consistency: cs.opts.Consistency.proto(),
	})
	if err != nil {
		cancel()
		return offsetErr(cs.client.wrap("consume", err), cs.next)
	}
	cs.stream, cs.cancel = stream, cancel
	return nil
}

// recv receives one response, giving up when ctx ends.
func (cs *Consumer) recv(ctx context.Context) (*caskadev1.ConsumeStreamResponse, error) {
	stop := context.AfterFunc(ctx, cs.cancel)
	defer stop()
	resp, err := cs.stream.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, offsetErr(cs.client.wrap("consume", err), cs.next)
	}
	return resp, err
}

// stop ends the current stream, if any.
func (cs *Consumer) stop() {
	if cs.cancel != nil {
		cs.cancel()
	}
	cs.stream, cs.cancel = nil, nil
}

// backoff returns the wait before the next attempt: MinBackoff doubled
// per failure so far, capped at MaxBackoff, minus up to a fifth at random.
func (cs *Consumer) backoff() time.Duration {
	d := cs.opts.MinBackoff
	for i := 1; i < cs.failures && d < cs.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, cs.opts.MaxBackoff)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// Position returns the offset the Consumer reads from next: one past the
// last record delivered, or the start offset before the first.
func (cs *Consumer) Position() uint64 { return cs.next }

// HighWaterMark returns the high-water mark the server last reported (0
// before the first response): the Consumer is at most
// HighWaterMark()-Position() records behind.
func (cs *Consumer) HighWaterMark() uint64 { return cs.hwm }

// Close ends the stream. Next returns ErrClosed afterwards.
func (cs *Consumer) Close() error {
	cs.stop()
	cs.closed = true
	return nil
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
