package client_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/internal/rpctest"
)

// fastReconnect makes the connection retry within milliseconds, so that
// tests of a restarted server do not wait for gRPC's backoff.
var fastReconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.5, MaxDelay: 100 * time.Millisecond},
	MinConnectTimeout: time.Second,
})

// dial returns a plaintext Client of the endpoints, closed when the test
// ends.
func dial(t testing.TB, endpoints ...string) *client.Client {
	t.Helper()
	c, err := client.Dial(testCtx(t), endpoints,
		client.WithInsecure(), client.WithTimeout(5*time.Second), client.WithDialOptions(fastReconnect))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// start starts a test server and dials it.
func start(t testing.TB, opts *rpctest.Options) (*rpctest.Server, *client.Client) {
	t.Helper()
	s := rpctest.Start(t, opts)
	return s, dial(t, s.Addr)
}

// testCtx returns a context that ends with the test or after 20s.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// must returns a function that fails t on err and returns v:
// must(c.Put(ctx, k, v))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
