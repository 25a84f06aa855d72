package agent

// Write forwarding and follower ReadIndex.
//
// Trust model. A write that reaches a follower has already passed the
// follower's authorization interceptor, as the caller's identity (the
// common name of its verified client certificate). The follower then
// sends the same RPC to the leader over mutual TLS with its own
// certificate, so the leader sees identity certs.NodeIdentity ("node"),
// which the default policy allows everything, and does not check the
// original caller again: the caller's identity cannot be carried across
// mutual TLS without the leader trusting the follower's word for it. So
// every node trusts every other node's authorization decisions, and a
// policy must be the same on every node (and must allow "node" to write)
// for forwarding to be sound. A node only forwards a call it authorized
// itself: the Store's write methods are reached only through the gRPC
// handlers, after the interceptor. Operators who do not want this trust
// turn forwarding off (StoreOptions.DisableForwarding): followers then
// answer NOT_LEADER with the leader's address, and clients go to the
// leader themselves.
//
// A forwarded call is bounded by ForwardTimeout (the Store's write
// methods take no context), and the leader's answer, error details
// included, is relayed to the caller unchanged. During a leadership
// change two nodes may briefly each name the other as leader; a write
// may then hop between them until one of them learns the new leader,
// each hop bounded by ForwardTimeout.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/rpc"
)

// forwarder sends one write to the leader over cc and returns its offset.
type forwarder func(ctx context.Context, cc *grpc.ClientConn) (uint64, error)

// forwardTimeout is StoreOptions.ForwardTimeout with its default.
func (s *Store) forwardTimeout() time.Duration {
	if s.opts.ForwardTimeout > 0 {
		return s.opts.ForwardTimeout
	}
	return DefaultForwardTimeout
}

// forwardIf returns (off, err) of a local write unless err says that this
// node is a follower that knows the leader and forwarding is on: then it
// forwards the write with fwd and returns the leader's answer. Only a
// *rpc.NotLeaderError is forwarded: it means the write was not appended
// here, so it is not applied twice.
func (s *Store) forwardIf(off uint64, err error, fwd forwarder) (uint64, error) {
	var nl *rpc.NotLeaderError
	if s.opts.DisableForwarding || !errors.As(err, &nl) || nl.LeaderAddr == "" || nl.LeaderAddr == s.node.Addr() {
		return off, err
	}
	cc, cerr := s.conns.get(nl.LeaderAddr, s.node.TLS())
	if cerr != nil {
		return 0, fmt.Errorf("forward write: %w", cerr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.forwardTimeout())
	defer cancel()
	off, err = fwd(ctx, cc)
	if err != nil {
		// The leader's status passes through rpc's mapping unchanged.
		return 0, fmt.Errorf("forward write to the leader at %s: %w", nl.LeaderAddr, err)
	}
	return off, nil
}

// remoteReadIndex asks the leader at addr for its ReadIndex.
func (s *Store) remoteReadIndex(ctx context.Context, addr string) (uint64, error) {
	cc, err := s.conns.get(addr, s.node.TLS())
	if err != nil {
		return 0, fmt.Errorf("linearizable read: %w", err)
	}
	resp, err := caskadev1.NewClusterClient(cc).ReadIndex(ctx, &caskadev1.ReadIndexRequest{})
	if err != nil {
		return 0, fmt.Errorf("linearizable read: read index from the leader at %s: %w", addr, err)
	}
	return resp.GetReadIndex(), nil
}

// putForward forwards a Put (with a TTL for the time left until expiry,
// when expiry is set).
func putForward(key, value []byte, expiry time.Time) forwarder {
	return func(ctx context.Context, cc *grpc.ClientConn) (uint64, error) {
		req := &caskadev1.PutRequest{Key: key, Value: value}
		if !expiry.IsZero() {
			// Already past: the shortest TTL, so the key reads as absent.
			req.Ttl = durationpb.New(max(time.Until(expiry), time.Nanosecond))
		}
		resp, err := caskadev1.NewKVClient(cc).Put(ctx, req)
		return resp.GetOffset(), err
	}
}

// deleteForward forwards a Delete.
func deleteForward(key []byte) forwarder {
	return func(ctx context.Context, cc *grpc.ClientConn) (uint64, error) {
		resp, err := caskadev1.NewKVClient(cc).Delete(ctx, &caskadev1.DeleteRequest{Key: key})
		return resp.GetOffset(), err
	}
}

// casForward forwards a CompareAndSwap.
func casForward(key []byte, expected uint64, value []byte) forwarder {
	return func(ctx context.Context, cc *grpc.ClientConn) (uint64, error) {
		resp, err := caskadev1.NewKVClient(cc).CompareAndSwap(ctx, &caskadev1.CompareAndSwapRequest{
			Key: key, ExpectedOffset: expected, Value: value,
		})
		return resp.GetOffset(), err
	}
}

// produceForward forwards a Produce.
func produceForward(value []byte) forwarder {
	return func(ctx context.Context, cc *grpc.ClientConn) (uint64, error) {
		resp, err := caskadev1.NewLogClient(cc).Produce(ctx, &caskadev1.ProduceRequest{Value: value})
		return resp.GetOffset(), err
	}
}

// produceBatchForward forwards a ProduceBatch as one request of a
// ProduceStream, which the leader appends as one batch.
func produceBatchForward(values [][]byte) forwarder {
	return func(ctx context.Context, cc *grpc.ClientConn) (uint64, error) {
		// Cancelling ctx (forwardIf does on return) ends the stream.
		stream, err := caskadev1.NewLogClient(cc).ProduceStream(ctx)
		if err != nil {
			return 0, fmt.Errorf("open produce stream: %w", err)
		}
		if err := stream.Send(&caskadev1.ProduceStreamRequest{Values: values}); err != nil {
			// Send reports io.EOF when the stream failed; Recv has why.
			if _, rerr := stream.Recv(); rerr != nil {
				return 0, rerr
			}
			return 0, fmt.Errorf("send produce batch: %w", err)
		}
		resp, err := stream.Recv()
		if err != nil {
			return 0, err
		}
		_ = stream.CloseSend() // the answer is in; the stream ends with ctx
		return resp.GetFirstOffset(), nil
	}
}
