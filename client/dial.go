package client

import (
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
)

// This file is the one place that decides how a Client reaches its
// servers: the target it dials, the resolver that turns the target into
// addresses and the load-balancing policy over them. Leader-aware
// resolving and picking (DESIGN.md §9) replaces it without touching the
// typed API.

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
// own (which come later and so win).
func dialOptions(endpoints []string) []grpc.DialOption {
	policy := "pick_first"
	if len(endpoints) > 1 {
		policy = "round_robin"
	}
	return []grpc.DialOption{
		grpc.WithResolvers(staticBuilder{}),
		grpc.WithDefaultServiceConfig(fmt.Sprintf(`{"loadBalancingConfig":[{%q:{}}]}`, policy)),
		// Reconnect promptly after a server restarts: gRPC's default
		// starts at 1s and grows to 2 minutes.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   5 * time.Second,
			},
			MinConnectTimeout: 5 * time.Second,
		}),
		// Notice a dead connection under a long stream (a consumer that
		// follows): ping after 30s of silence, give up 10s later. Servers
		// accept pings every 10s or less often.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Values may be as large as the server allows (its limit is
		// configurable); the server, not the client, enforces it.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes)),
	}
}

// maxMessageBytes is the largest message a Client sends or receives.
const maxMessageBytes = 1<<31 - 1

// staticBuilder resolves caskade:///h1:p1,h2:p2 to the listed addresses,
// once. It holds no state, so each Client can register its own.
type staticBuilder struct{}

// Build implements resolver.Builder.
func (staticBuilder) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	eps := strings.Split(t.Endpoint(), ",")
	if err := checkEndpoints(eps); err != nil {
		return nil, err
	}
	st := resolver.State{}
	for _, ep := range eps {
		// With TLS, each server's certificate is verified for the host
		// dialed (unless WithTLSConfig names one server for all).
		host, _, err := net.SplitHostPort(ep)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", ep, err)
		}
		a := resolver.Address{Addr: ep, ServerName: host}
		st.Addresses = append(st.Addresses, a)
		st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{a}})
	}
	if err := cc.UpdateState(st); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", t.Endpoint(), err)
	}
	return staticResolver{}, nil
}

// Scheme implements resolver.Builder.
func (staticBuilder) Scheme() string { return scheme }

// staticResolver has nothing to refresh: the addresses never change.
type staticResolver struct{}

// ResolveNow implements resolver.Resolver.
func (staticResolver) ResolveNow(resolver.ResolveNowOptions) {}

// Close implements resolver.Resolver.
func (staticResolver) Close() {}
