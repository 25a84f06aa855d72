package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

// testLimits are the key and value limits of test servers: small, so
// oversized input is cheap to send.
const (
	testMaxKey   = 64
	testMaxValue = 1024
)

// testServer is a server on a loopback port with a client connection to
// it.
type testServer struct {
	dir  string
	db   *engine.DB
	srv  *Server
	gs   *grpc.Server
	addr string
	conn *grpc.ClientConn

	kv    caskadev1.KVClient
	log   caskadev1.LogClient
	clu   caskadev1.ClusterClient
	maint caskadev1.MaintenanceClient

	served chan error // Serve's result
}

// startServer opens a store in a temporary directory (SyncNever unless eo
// says otherwise) and serves it on 127.0.0.1:0. Cleanup stops it.
func startServer(t testing.TB, eo *engine.Options) *testServer {
	t.Helper()
	o := engine.Options{Sync: engine.SyncNever, SegmentBytes: 64 << 10, MaxKeySize: testMaxKey, MaxValueSize: testMaxValue}
	if eo != nil {
		o = *eo
	}
	dir := t.TempDir()
	db, err := engine.Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	ts := serveStore(t, db, Options{MaxKeySize: o.MaxKeySize, MaxValueSize: o.MaxValueSize, NodeID: "n1"})
	ts.dir, ts.db = dir, db
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// serveStore serves store on a loopback port and dials it.
func serveStore(t testing.TB, store Store, opts Options) *testServer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Addr = lis.Addr().String()
	srv := NewServer(store, opts)
	gs := grpc.NewServer(ServerOptions(opts)...)
	srv.Register(gs)
	ts := &testServer{srv: srv, gs: gs, addr: opts.Addr, served: make(chan error, 1)}
	go func() { ts.served <- gs.Serve(lis) }()
	conn, err := grpc.NewClient(ts.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	ts.conn = conn
	ts.kv = caskadev1.NewKVClient(conn)
	ts.log = caskadev1.NewLogClient(conn)
	ts.clu = caskadev1.NewClusterClient(conn)
	ts.maint = caskadev1.NewMaintenanceClient(conn)
	return ts
}

// stop shuts the server down as `caskade serve` does (Close, bounded
// GracefulStop, then Stop) and closes the store. Calling it again is
// harmless.
func (ts *testServer) stop(t testing.TB) {
	t.Helper()
	if ts.gs == nil {
		return
	}
	ts.conn.Close()
	ts.srv.Close()
	stopped := make(chan struct{})
	go func() { ts.gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Error("GracefulStop did not finish in 5s")
		ts.gs.Stop()
		<-stopped
	}
	if err := <-ts.served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	ts.gs = nil
	if ts.db != nil {
		if err := ts.db.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
			t.Errorf("close store: %v", err)
		}
	}
}

// ctx returns a context that ends with the test or after 10 s.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantErr is what a refused call should carry.
type wantErr struct {
	code   codes.Code
	reason string            // ErrorInfo reason; "" means no ErrorInfo expected
	field  string            // BadRequest field; "" means no BadRequest expected
	meta   map[string]string // ErrorInfo metadata that must be present
}

// checkErr checks err's code and details against w.
func checkErr(t testing.TB, err error, w wantErr) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a status", err)
	}
	if st.Code() != w.code {
		t.Fatalf("code %v (%q), want %v", st.Code(), st.Message(), w.code)
	}
	var info *errdetails.ErrorInfo
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *errdetails.BadRequest:
			br = d
		}
	}
	if w.reason != "" {
		if info == nil {
			t.Fatalf("no ErrorInfo in %v", st.Details())
		}
		if info.Reason != w.reason || info.Domain != caskadev1.Domain {
			t.Errorf("ErrorInfo reason %q domain %q, want %q %q", info.Reason, info.Domain, w.reason, caskadev1.Domain)
		}
		for k, v := range w.meta {
			if got := info.Metadata[k]; got != v {
				t.Errorf("metadata %s = %q, want %q (all: %v)", k, got, v, info.Metadata)
			}
		}
	}
	if w.field != "" {
		if br == nil || len(br.FieldViolations) != 1 {
			t.Fatalf("BadRequest %v, want one violation of %q", br, w.field)
		}
		if f := br.FieldViolations[0].Field; f != w.field {
			t.Errorf("violation of field %q, want %q", f, w.field)
		}
	}
}

// u is an offset as ErrorInfo metadata spells it.
func u(n uint64) string { return strconv.FormatUint(n, 10) }

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTestLogger logs everything to w.
func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
