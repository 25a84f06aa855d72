// Package rpctest runs a caskade server on a loopback port for the tests
// of the client and the command: a real store (engine.Open in a temporary
// directory) behind rpc.Server and a grpc.Server, stopped when the test
// ends, and restartable on the same address and directory.
package rpctest

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/rpc"
)

// Limits of a test server's store unless Options say otherwise: small, so
// that oversized input is cheap to send.
const (
	MaxKeySize   = 64
	MaxValueSize = 1024
)

// Options configure a test server.
type Options struct {
	// Engine are the store's options; nil means SyncNever, 64 KiB
	// segments and the MaxKeySize and MaxValueSize above.
	Engine *engine.Options
	// Wrap, when set, wraps the store before it is served (to add or hide
	// optional abilities such as Backup).
	Wrap func(*engine.DB) rpc.Store
	// TLS, when set, serves over TLS with it (see certs.ServerTLSConfig);
	// nil serves plaintext.
	TLS *tls.Config
	// Authorizer, when set, authorizes every call (see rpc.Options).
	Authorizer *rpc.Authorizer
}

// Server is a running test server. It is not safe for concurrent use:
// the test goroutine starts, stops and restarts it.
type Server struct {
	Addr string     // host:port it listens on; kept across Restart
	Dir  string     // the store's directory; kept across Restart
	DB   *engine.DB // the open store; nil while stopped

	opts   Options
	eopts  engine.Options
	srv    *rpc.Server
	gs     *grpc.Server
	served chan error // the result of gs.Serve
}

// Start opens a store in a new temporary directory and serves it on
// 127.0.0.1 at a free port. The server stops when the test ends.
func Start(t testing.TB, opts *Options) *Server {
	t.Helper()
	s := &Server{Dir: t.TempDir()}
	if opts != nil {
		s.opts = *opts
	}
	s.eopts = engine.Options{Sync: engine.SyncNever, SegmentBytes: 64 << 10, MaxKeySize: MaxKeySize, MaxValueSize: MaxValueSize}
	if s.opts.Engine != nil {
		s.eopts = *s.opts.Engine
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("rpctest: listen: %v", err)
	}
	s.serve(t, lis)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

// serve opens the store and serves it on lis.
func (s *Server) serve(t testing.TB, lis net.Listener) {
	t.Helper()
	eo := s.eopts
	db, err := engine.Open(s.Dir, &eo)
	if err != nil {
		lis.Close()
		t.Fatalf("rpctest: open store: %v", err)
	}
	var store rpc.Store = db
	if s.opts.Wrap != nil {
		store = s.opts.Wrap(db)
	}
	s.Addr = lis.Addr().String()
	ro := rpc.Options{Addr: s.Addr, NodeID: "test", MaxKeySize: eo.MaxKeySize, MaxValueSize: eo.MaxValueSize,
		TLS: s.opts.TLS, Authorizer: s.opts.Authorizer}
	s.DB = db
	s.srv = rpc.NewServer(store, ro)
	s.gs = grpc.NewServer(rpc.ServerOptions(ro)...)
	s.srv.Register(s.gs)
	s.served = make(chan error, 1)
	go func(gs *grpc.Server, served chan<- error) { served <- gs.Serve(lis) }(s.gs, s.served)
}

// Stop shuts the server down the way `caskade serve` does: rpc.Server's
// Close (ends following streams), a GracefulStop bounded to 2s, then Stop;
// and closes the store. Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.gs == nil {
		return
	}
	s.srv.Close()
	stopped := make(chan struct{})
	go func() { s.gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		s.gs.Stop() // a client kept a stream open
		<-stopped
	}
	if err := <-s.served; err != nil {
		t.Errorf("rpctest: serve: %v", err)
	}
	if err := s.DB.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
		t.Errorf("rpctest: close store: %v", err)
	}
	s.gs, s.srv, s.DB = nil, nil, nil
}

// Kill drops every connection at once (grpc.Server.Stop, no draining) and
// closes the store: a crash as clients see it.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	if s.gs == nil {
		return
	}
	s.gs.Stop()
	s.srv.Close()
	<-s.served
	if err := s.DB.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
		t.Errorf("rpctest: close store: %v", err)
	}
	s.gs, s.srv, s.DB = nil, nil, nil
}

// Restart serves the same directory on the same address again, after
// Stop or Kill.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.gs != nil {
		t.Fatal("rpctest: Restart of a running server")
	}
	// The port was ours a moment ago; another process could take it, so
	// retry briefly rather than fail at once.
	var (
		lis net.Listener
		err error
	)
	for deadline := time.Now().Add(2 * time.Second); ; {
		lis, err = net.Listen("tcp", s.Addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("rpctest: listen again on %s: %v", s.Addr, err)
	}
	s.serve(t, lis)
}
