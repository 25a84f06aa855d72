package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// Produce appends a keyless record (a message of the log view) and returns
// its offset.
func (c *Client) Produce(ctx context.Context, value []byte) (uint64, error) {
	if err := c.check("produce"); err != nil {
		return 0, err
	}
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.log.Produce(ctx, &caskadev1.ProduceRequest{Value: value})
	if err != nil {
		return 0, c.wrap("produce", err)
	}
	return resp.GetOffset(), nil
}

// Consume returns the first record with an offset >= offset (compaction
// leaves gaps; 0 reads from the log start) and the high-water mark, the
// offset the next write gets. At the high-water mark the record is nil.
// Below the log start or past the high-water mark it returns an
// *OffsetError (errors.Is ErrOutOfRange).
func (c *Client) Consume(ctx context.Context, offset uint64, opts ...ReadOption) (*Record, uint64, error) {
	if err := c.check("consume"); err != nil {
		return nil, 0, err
	}
	rc := readOptions(opts)
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.log.Consume(withConsistency(ctx, rc.consistency), &caskadev1.ConsumeRequest{Offset: offset, Consistency: rc.consistency.proto()})
	if err != nil {
		return nil, 0, offsetErr(c.wrap("consume", err), offset)
	}
	if resp.GetRecord() == nil {
		return nil, resp.GetHighWaterMark(), nil
	}
	r := recordFromProto(resp.GetRecord())
	return &r, resp.GetHighWaterMark(), nil
}

// offsetErr fills in the requested offset of an *OffsetError in err.
func offsetErr(err error, requested uint64) error {
	var oe *OffsetError
	if errors.As(err, &oe) {
		oe.Requested = requested
	}
	return err
}

// Ack acknowledges one batch sent by a Producer: its values got the
// offsets First, First+1, ..., First+Count-1.
type Ack struct {
	First uint64
	Count int
}

// Last returns the offset of the batch's last value.
func (a Ack) Last() uint64 { return a.First + uint64(a.Count) - 1 }

// Producer appends batches of keyless records over one ProduceStream. Each
// batch is appended as a unit (contiguous offsets) and acknowledged in the
// order it was sent, so batches can be pipelined: keep sending while
// another goroutine receives the acks.
//
// Send (with CloseSend) may be called from one goroutine while Recv is
// called from another; neither may be called from two goroutines at once.
// Close may be called from any goroutine.
//
// A Producer does not retry: after an error the stream is over, and the
// batches sent but not acknowledged may or may not have been written.
type Producer struct {
	stream grpc.BidiStreamingClient[caskadev1.ProduceStreamRequest, caskadev1.ProduceStreamResponse]
	cancel context.CancelFunc
	client *Client

	mu struct {
		sync.Mutex
		pending []int // sizes of the batches sent and not yet acknowledged, oldest first
	}
}

// NewProducer opens a ProduceStream. The stream lives until ctx ends,
// Close is called, or CloseSend and the last Recv.
func (c *Client) NewProducer(ctx context.Context) (*Producer, error) {
	if err := c.check("produce stream"); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.log.ProduceStream(ctx)
	if err != nil {
		cancel()
		return nil, c.wrap("produce stream", err)
	}
	return &Producer{stream: stream, cancel: cancel, client: c}, nil
}

// Send sends one batch of values (at least one) to be appended together.
// It returns once the batch is handed to the transport, before it is
// acknowledged; Recv returns its Ack. An error of io.EOF means the stream
// ended: Recv returns the reason.
func (p *Producer) Send(values ...[]byte) error {
	if len(values) == 0 {
		return fmt.Errorf("produce stream: %w: empty batch", ErrInvalidArgument)
	}
	p.mu.Lock()
	p.mu.pending = append(p.mu.pending, len(values))
	p.mu.Unlock()
	if err := p.stream.Send(&caskadev1.ProduceStreamRequest{Values: values}); err != nil {
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return p.client.wrap("produce stream: send", err)
	}
	return nil
}

// CloseSend tells the server no more batches follow. Recv still returns
// the acks of the batches sent, then io.EOF.
func (p *Producer) CloseSend() error {
	if err := p.stream.CloseSend(); err != nil {
		return p.client.wrap("produce stream: close send", err)
	}
	return nil
}

// Recv returns the Ack of the oldest batch not yet acknowledged. It
// returns io.EOF once the stream ended cleanly after CloseSend.
func (p *Producer) Recv() (Ack, error) {
	resp, err := p.stream.Recv()
	if errors.Is(err, io.EOF) {
		p.mu.Lock()
		n := len(p.mu.pending)
		p.mu.Unlock()
		if n > 0 {
			return Ack{}, fmt.Errorf("produce stream: %w: stream ended with %d batches unacknowledged", ErrInternal, n)
		}
		return Ack{}, io.EOF
	}
	if err != nil {
		return Ack{}, p.client.wrap("produce stream", err)
	}
	ack := Ack{First: resp.GetFirstOffset(), Count: int(resp.GetCount())}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.mu.pending) == 0 || p.mu.pending[0] != ack.Count {
		return Ack{}, fmt.Errorf("produce stream: %w: ack of %d records does not match the batch sent", ErrInternal, ack.Count)
	}
	p.mu.pending = p.mu.pending[1:]
	return ack, nil
}

// Close ends the stream at once; batches not yet acknowledged may or may
// not be written. Use CloseSend and Recv for a clean end.
func (p *Producer) Close() error {
	p.cancel()
	return nil
}
