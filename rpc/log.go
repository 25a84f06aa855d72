package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

// logServer serves the Log service: the ordered view of the store.
type logServer struct {
	caskadev1.UnimplementedLogServer
	s *Server
}

// Produce appends one keyless record.
func (l *logServer) Produce(_ context.Context, req *caskadev1.ProduceRequest) (*caskadev1.ProduceResponse, error) {
	const method = "Produce"
	s := l.s
	if err := s.checkValue("value", req.GetValue()); err != nil {
		return nil, s.toStatus(method, err)
	}
	off, err := s.store.Produce(req.GetValue())
	if err != nil {
		return nil, s.toStatus(method, err)
	}
	return &caskadev1.ProduceResponse{Offset: off}, nil
}

// Consume returns the first record at or after the offset and the
// high-water mark.
func (l *logServer) Consume(ctx context.Context, req *caskadev1.ConsumeRequest) (*caskadev1.ConsumeResponse, error) {
	const method = "Consume"
	s := l.s
	if err := checkConsistency(req.GetConsistency()); err != nil {
		return nil, s.toStatus(method, err)
	}
	if err := s.readBarrier(ctx, req.GetConsistency()); err != nil {
		return nil, s.toStatus(method, err)
	}
	recs, hwm, err := s.store.ReadFrom(req.GetOffset(), 1)
	if err != nil {
		return nil, s.toStatus(method, err)
	}
	resp := &caskadev1.ConsumeResponse{HighWaterMark: hwm}
	if len(recs) > 0 {
		resp.Record = recordProto(&recs[0])
	}
	return resp, nil
}

// ConsumeStream sends records from an offset in batches. Without follow it
// ends at the high-water mark seen when it started; with follow it waits
// for appends (Store.Wait) until the client cancels or the server closes.
func (l *logServer) ConsumeStream(req *caskadev1.ConsumeStreamRequest, stream grpc.ServerStreamingServer[caskadev1.ConsumeStreamResponse]) error {
	const method = "ConsumeStream"
	s := l.s
	if err := checkConsistency(req.GetConsistency()); err != nil {
		return s.toStatus(method, err)
	}
	if err := s.readBarrier(stream.Context(), req.GetConsistency()); err != nil {
		return s.toStatus(method, err)
	}
	if req.GetFollow() && s.closing() {
		return s.toStatus(method, engine.ErrClosed)
	}
	ctx, stop := s.streamContext(stream.Context())
	defer stop()
	err := s.consume(ctx, req, stream.Send)
	if err != nil && ctx.Err() != nil && errors.Is(context.Cause(ctx), engine.ErrClosed) {
		err = engine.ErrClosed // the server is closing, not the client cancelling
	}
	return s.toStatus(method, err)
}

// consume runs a ConsumeStream, sending each batch with send.
func (s *Server) consume(ctx context.Context, req *caskadev1.ConsumeStreamRequest, send func(*caskadev1.ConsumeStreamResponse) error) error {
	batch := int(req.GetMaxBatch())
	switch {
	case batch == 0:
		batch = DefaultConsumeBatch
	case batch > MaxConsumeBatch:
		batch = MaxConsumeBatch
	}
	prefix := req.GetKeyPrefix()
	follow := req.GetFollow()
	budget := s.maxMsg - messageOverhead
	next := req.GetOffset()
	end := s.store.NextOffset() // without follow, stop here
	for read := false; ; read = true {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The first read checks the requested offset against the log.
		if read && !follow && next >= end {
			return nil
		}
		// One read holds at most about one message's worth of records.
		recs, hwm, err := s.store.ReadFromBytes(next, batch, int64(budget))
		var oe *engine.OffsetError
		if follow && errors.As(err, &oe) && next > oe.Next {
			// Past the end in a following stream: wait for the log to
			// reach the offset.
			if err := s.store.Wait(ctx, next); err != nil {
				return err
			}
			continue
		}
		if len(recs) == 0 && err == nil {
			if !follow {
				return nil
			}
			if next == 0 {
				next = hwm // an empty log: start at its first offset
			}
			if err := s.store.Wait(ctx, next); err != nil {
				return err
			}
			continue
		}
		if len(recs) == 0 {
			return err
		}
		last := recs[len(recs)-1].Offset
		if !follow {
			// Records appended after the stream started are not sent.
			n := len(recs)
			for n > 0 && recs[n-1].Offset >= end {
				n--
			}
			recs = recs[:n]
		}
		// ReadFrom may return records before an error: send them first.
		if serr := sendBatches(recs, prefix, batch, budget, hwm, send); serr != nil {
			return serr
		}
		if err != nil {
			return err
		}
		next = last + 1
	}
}

// sendBatches sends the records matching prefix in responses of at most
// batch records and about budget bytes.
func sendBatches(recs []engine.Record, prefix []byte, batch, budget int, hwm uint64, send func(*caskadev1.ConsumeStreamResponse) error) error {
	var out []*caskadev1.Record
	size := 0
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		err := send(&caskadev1.ConsumeStreamResponse{Records: out, HighWaterMark: hwm})
		out, size = nil, 0
		return err
	}
	for i := range recs {
		r := &recs[i]
		if len(prefix) > 0 && (len(r.Key) == 0 || !bytes.HasPrefix(r.Key, prefix)) {
			continue
		}
		n := recordBytes(r)
		if len(out) == batch || (len(out) > 0 && size+n > budget) {
			if err := flush(); err != nil {
				return err
			}
		}
		out = append(out, recordProto(r))
		size += n
	}
	return flush()
}

// Limits of the batches ProduceStream appends at once.
const (
	// produceBatchRecords caps the records of one ProduceBatch.
	produceBatchRecords = 4096
	// produceBatchBytes caps the value bytes of one ProduceBatch (one
	// request may exceed it alone). With the framing of up to
	// produceBatchRecords values it stays under the smallest message
	// limit (4 MiB), so a follower can forward the batch as one message.
	produceBatchBytes = 3 << 20
	// produceQueue is how many received requests may wait to be appended.
	produceQueue = 256
)

// received is one request of a ProduceStream, or the error that ended the
// receiving side.
type received struct {
	values [][]byte
	err    error
}

// ProduceStream appends each request's values as contiguous records and
// answers every request in order with its first offset. Requests the
// client sent ahead are appended together, one ProduceBatch (one fsync)
// for many requests.
func (l *logServer) ProduceStream(stream grpc.BidiStreamingServer[caskadev1.ProduceStreamRequest, caskadev1.ProduceStreamResponse]) error {
	const method = "ProduceStream"
	s := l.s
	ctx := stream.Context()
	// The receiving goroutine ends when Recv fails: at the client's
	// CloseSend, or when this handler returns and gRPC ends the stream. It
	// never blocks on the channel once ctx is done.
	in := make(chan received, produceQueue)
	go func() {
		for {
			req, err := stream.Recv()
			r := received{err: err}
			if err == nil {
				r.values = req.GetValues()
			}
			select {
			case in <- r:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return s.toStatus(method, s.produce(ctx, in, stream.Send))
}

// produce appends what arrives on in, in batches, and answers with send,
// until in delivers an error (io.EOF: the client is done).
func (s *Server) produce(ctx context.Context, in <-chan received, send func(*caskadev1.ProduceStreamResponse) error) error {
	var (
		values [][]byte // of the requests gathered, in order
		counts []int    // values per gathered request
		// carry is a request taken while gathering that would have made
		// the batch too big: it starts the next one.
		carry *received
	)
	for {
		// Block for the first request, then gather what else is waiting.
		// A closing server takes no more requests; what it acknowledged
		// stays written.
		var r received
		if carry != nil {
			r, carry = *carry, nil
		} else {
			select {
			case r = <-in:
			case <-ctx.Done():
				return ctx.Err()
			case <-s.done:
				return engine.ErrClosed
			}
		}
		values, counts = values[:0], counts[:0]
		size := 0
		var stopErr error // what ends the stream once the gathered batch is answered
	gather:
		for {
			if r.err != nil {
				stopErr = r.err
				break
			}
			if err := s.checkBatch(r.values); err != nil {
				stopErr = err
				break
			}
			n := 0
			for _, v := range r.values {
				n += len(v)
			}
			if len(values) > 0 && size+n > produceBatchBytes {
				// A batch is never bigger than one message unless a
				// single request is: a follower forwards it to the
				// leader as one message, which must fit the limit.
				carry = &r
				break
			}
			values = append(values, r.values...)
			counts = append(counts, len(r.values))
			size += n
			if len(values) >= produceBatchRecords || size >= produceBatchBytes {
				break
			}
			select {
			case r = <-in:
			default:
				break gather
			}
		}
		if len(values) > 0 {
			first, err := s.store.ProduceBatch(values)
			if err != nil {
				return err
			}
			for _, n := range counts {
				if err := send(&caskadev1.ProduceStreamResponse{FirstOffset: first, Count: uint32(n)}); err != nil {
					return err
				}
				first += uint64(n)
			}
			clear(values) // drop references to request memory
		}
		if stopErr != nil {
			if errors.Is(stopErr, io.EOF) {
				return nil
			}
			return stopErr
		}
	}
}

// checkBatch refuses an empty request or one with an oversized value.
func (s *Server) checkBatch(values [][]byte) error {
	if len(values) == 0 {
		return invalidf("values", "a request must carry at least one value")
	}
	for i, v := range values {
		if err := s.checkValue(fmt.Sprintf("values[%d]", i), v); err != nil {
			return err
		}
	}
	return nil
}
