package client

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Retry bounds.
const (
	// DefaultFailoverTimeout bounds how long a call waits for the resolver
	// to find a (new) leader before it gives up (WithFailoverTimeout).
	DefaultFailoverTimeout = 5 * time.Second
	// readAttempts is how many times a call is sent at most when its
	// attempts fail (each is sent again only if it is idempotent or
	// nothing reached a server).
	readAttempts = 3
	// notLeaderRetries is how many NOT_LEADER answers a call retries.
	notLeaderRetries = 1
)

// callInfo follows one attempt of a call from the retry interceptor
// through the picker. It is safe for concurrent use: the picker's Done
// may run on another goroutine than the interceptor.
type callInfo struct {
	cons Consistency // immutable after creation

	addr      atomic.Pointer[string] // the address picked last
	done      atomic.Bool            // Done ran for the last pick
	bytesSent atomic.Bool            // the last pick's request reached the wire
	noLeader  atomic.Bool            // the picker found no leader to send it to
}

// callInfoKey is the context key of the *callInfo of an attempt.
type callInfoKey struct{}

// callInfoFrom returns the callInfo ctx carries, or nil.
func callInfoFrom(ctx context.Context) *callInfo {
	if ctx == nil {
		return nil
	}
	ci, _ := ctx.Value(callInfoKey{}).(*callInfo)
	return ci
}

// consistency returns the consistency of the call: from ci, or from ctx
// for calls that did not pass the interceptor.
func (ci *callInfo) consistency(ctx context.Context) Consistency {
	if ci != nil {
		return ci.cons
	}
	if ctx == nil {
		return ConsistencyLinearizable
	}
	return consistencyOf(ctx)
}

// picked records the address a pick chose.
func (ci *callInfo) picked(addr string) {
	if ci == nil {
		return
	}
	ci.addr.Store(&addr)
	ci.done.Store(false)
	ci.bytesSent.Store(false)
}

// finished records the end of the last pick's attempt.
func (ci *callInfo) finished(bytesSent bool) {
	if ci == nil {
		return
	}
	ci.bytesSent.Store(bytesSent)
	ci.done.Store(true)
}

// address returns the address picked last, or "".
func (ci *callInfo) address() string {
	if p := ci.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// maybeSent reports whether the request may have reached a server: it
// was picked and either its bytes went out or gRPC did not say.
func (ci *callInfo) maybeSent() bool {
	return ci.addr.Load() != nil && (!ci.done.Load() || ci.bytesSent.Load())
}

// retrier is the Client's unary interceptor: it sends writes at most
// once, retries what is safe to retry after the resolver catches up, and
// turns a lost write into a *WriteUnknownError.
type retrier struct {
	view            *view
	failoverTimeout time.Duration // immutable after Dial
}

// unary implements grpc.UnaryClientInterceptor.
func (rt *retrier) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	r := routeOf(method)
	cons := consistencyOf(ctx)
	deadline := time.Now().Add(rt.failoverTimeout)
	notLeader, attempts := 0, 0
	for {
		_, next := rt.view.current()
		ci := &callInfo{cons: cons}
		err := invoker(context.WithValue(ctx, callInfoKey{}, ci), method, req, reply, cc, opts...)
		if err == nil {
			return nil
		}
		code := status.Code(err)
		sent := ci.maybeSent()
		switch {
		case errors.Is(FromError(err), ErrNotLeader):
			// Refused before anything was written: safe to send again,
			// once, when the resolver has asked the cluster again.
			if notLeader >= notLeaderRetries {
				return err
			}
			notLeader++
			// The answer proves the view the call was picked with
			// stale, even if a resolution was published since the
			// attempt began (the first call of a Client races the
			// first one): wait for one that started after it.
			_, next = rt.view.current()
		case sent && !r.idempotent() && outcomeUnknown(code, ctx):
			// The write reached a node and then failed in a way that
			// does not say whether it was applied (a forwarded write
			// whose link to the leader dropped, a failing store).
			return &WriteUnknownError{Addr: ci.address(), Err: err}
		case code != codes.Unavailable && code != codes.DeadlineExceeded:
			return err
		case !sent && ci.noLeader.Load() && ctx.Err() == nil:
			// No leader yet: nothing was sent, so wait for the resolver
			// to find one, as long as the failover timeout allows.
		case !sent:
			// Nothing reached a server (its connection failed): safe to
			// send again, for every call, to another node if there is
			// one; but a cluster that is down fails fast.
			if code != codes.Unavailable || ctx.Err() != nil || attempts+1 >= readAttempts {
				return err
			}
			attempts++
		case !r.idempotent():
			return &WriteUnknownError{Addr: ci.address(), Err: err}
		case ctx.Err() != nil || attempts+1 >= readAttempts:
			return err
		default:
			attempts++ // a read that reached a node that failed: try another
		}
		if !rt.await(ctx, next, deadline) {
			return err
		}
	}
}

// outcomeUnknown reports whether a write that reached a node and failed
// with code may still have been applied. Refusals (bad input, not found,
// CAS mismatch, not leader, permission, size) say nothing was written;
// Unavailable and DeadlineExceeded are handled by the caller.
func outcomeUnknown(code codes.Code, ctx context.Context) bool {
	switch code {
	case codes.Internal, codes.Unknown, codes.Aborted, codes.DataLoss:
		return true
	case codes.Canceled:
		return ctx.Err() == nil // not the caller's own cancellation
	}
	return false
}

// await asks the resolver again and waits for its next publication (or,
// if it just published, for nothing). It returns false when ctx ends or
// the failover deadline passes first.
func (rt *retrier) await(ctx context.Context, next <-chan struct{}, deadline time.Time) bool {
	if ctx.Err() != nil || time.Now().After(deadline) {
		return false
	}
	if rt.view.static {
		return true // nothing will change: try again at once
	}
	rt.view.refresh()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-next:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

// stream implements grpc.StreamClientInterceptor: it only gives the
// picker the stream's consistency. Streams are not retried here (the
// Consumer resumes by itself; a Producer's unacknowledged batches are
// the caller's to judge).
func (rt *retrier) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ci := &callInfo{cons: consistencyOf(ctx)}
	// The error is gRPC's status, passed on as it is for the caller to
	// decode (FromError).
	return streamer(context.WithValue(ctx, callInfoKey{}, ci), desc, cc, method, opts...)
}
