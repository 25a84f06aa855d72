package client

import (
	"fmt"
	"net"
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
		// Notice a dead connection under a long call or stream: ping
		// after 10s of silence (the most often servers accept:
		// rpc.KeepaliveMinTime), give up 1s later. A node that stops or
		// crashes closes its connections, which fails its calls at
		// once.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: time.Second, PermitWithoutStream: true}),
		// Values may be as large as the server allows (its limit is
		// configurable); the server, not the client, enforces it.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	}
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
