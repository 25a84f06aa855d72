package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"
)

// This file is the one place that decides how a Client reaches its
// servers: the target it dials, the resolver that turns the target into
// addresses (resolver.go) and the load-balancing policy over them
// (balancer.go, picker.go, routes.go), and the retries (retry.go).

// scheme is the resolver scheme of caskade targets: caskade:///h1:p1,h2:p2.
const scheme = "caskade"

// target returns the dial target for the endpoints.
func target(endpoints []string) string {
	return scheme + ":///" + strings.Join(endpoints, ",")
}

// checkEndpoints reports the first endpoint that is not host:port.
func checkEndpoints(endpoints []string) error {
	if len(endpoints) == 0 {
		return fmt.Errorf("%w: no endpoints", ErrInvalidArgument)
	}
	for _, ep := range endpoints {
		host, port, err := net.SplitHostPort(ep)
		if err != nil || host == "" || port == "" || strings.Contains(ep, ",") {
			return fmt.Errorf("%w: endpoint %q: want host:port", ErrInvalidArgument, ep)
		}
	}
	return nil
}

// dialOptions are the gRPC options of every Client, before the caller's
// own (which come later and so win): the leader-aware resolver and
// balancer, the retry interceptor, and timeouts that make a call to a
// node that fails end quickly.
func dialOptions(rb *resolverBuilder, rt *retrier) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithResolvers(rb),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, balancerName)),
		grpc.WithChainUnaryInterceptor(rt.unary),
		grpc.WithChainStreamInterceptor(rt.stream),
		// The interceptor retries what is safe to retry; gRPC's own
		// retries would resend writes whose outcome is unknown.
		grpc.WithDisableRetry(),
		connectParams(),
		// A node that stops or crashes closes its connections, which
		// fails its calls at once. One that vanishes (power, network)
		// closes nothing: the dialer's connections end after
		// readIdleTimeout without a byte from the server, failing the
		// calls on them with UNAVAILABLE.
		grpc.WithContextDialer(dialIdle),
		// gRPC raises a client ping interval below 10s to 10s, too slow
		// to notice a dead node by itself (readIdleTimeout does); the
		// pings keep NATs and idle-connection reapers away.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: time.Second, PermitWithoutStream: true}),
		// Values may be as large as the server allows (its limit is
		// configurable); the server, not the client, enforces it.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	}
}

// readIdleTimeout closes a connection on which nothing arrived from the
// server for this long. A caskade server pings every connection after
// rpc.KeepaliveInterval (1s) of silence, so a live one is never that
// quiet; the margin covers a loaded machine. Together with the time the
// connection was already quiet, a call on a connection to a node that
// vanished fails within this bound (under the 2 seconds the design
// promises). It assumes a caskade server: another gRPC server that does
// not ping would see its idle connections closed and reopened.
const readIdleTimeout = 1500 * time.Millisecond

// dialIdle is the Client's dialer: TCP, with connections that end after
// readIdleTimeout without a byte read (idleConn). It does not use an HTTP
// CONNECT proxy from the environment, as gRPC's default dialer would.
func dialIdle(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err // gRPC adds the address
	}
	return &idleConn{Conn: c}, nil
}

// idleConn is a net.Conn whose reads fail once nothing arrived for
// readIdleTimeout, which makes gRPC close the connection. gRPC's reader
// goroutine always has a Read pending, so the deadline, set anew at each
// Read, measures the silence of the server. It is safe for concurrent use
// as net.Conn is: one reader, one writer.
type idleConn struct {
	net.Conn
}

// Read implements net.Conn.
func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(readIdleTimeout)); err != nil {
		return 0, err // the connection is closed: Read would say so too
	}
	n, err := c.Conn.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, fmt.Errorf("nothing received from %s for %v: %w", c.RemoteAddr(), readIdleTimeout, err)
	}
	return n, err
}

// connectParams reconnects promptly after a server restarts (gRPC's
// default starts at 1s and grows to 2 minutes) and give up on a
// connection attempt after 1s, so that a node that does not answer is
// skipped quickly.
func connectParams() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff: backoff.Config{
			BaseDelay:  100 * time.Millisecond,
			Multiplier: 1.6,
			Jitter:     0.2,
			MaxDelay:   2 * time.Second,
		},
		MinConnectTimeout: time.Second,
	})
}

// maxMessageBytes is the largest message a Client sends or receives.
const maxMessageBytes = 1<<31 - 1
