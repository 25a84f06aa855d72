package client_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/rpctest"
	"github.com/caskade/caskade/rpc"
)

// deadNodeBound is what the tests allow a call on a connection to a node
// that vanished: the design promises under 2s, and a loaded test machine
// gets half a second more.
const deadNodeBound = 2500 * time.Millisecond

// stallingStore is a store whose first Put or first Get (as op says)
// blocks until the test ends, after saying so on entered: a node that has
// the request and then vanishes. It counts the calls that reached it.
type stallingStore struct {
	*engine.DB
	op      string        // "put" or "get"; immutable
	entered chan struct{} // closed when the first op call arrives
	release chan struct{} // closed when the test ends: the call goes on

	puts, gets atomic.Int64
}

// stall starts a test server whose store stalls op, and a proxy to it.
func stall(t *testing.T, op string) (*stallingStore, *faultProxy) {
	t.Helper()
	st := &stallingStore{op: op, entered: make(chan struct{}), release: make(chan struct{})}
	s := rpctest.Start(t, &rpctest.Options{Wrap: func(db *engine.DB) rpc.Store {
		st.DB = db
		return st
	}})
	// Cleanups run last-in first-out: the stalled call ends before the
	// server stops.
	t.Cleanup(func() { st.unblock() })
	return st, startProxy(t, s.Addr)
}

// unblock lets the stalled call go on; calling it again does nothing.
func (s *stallingStore) unblock() {
	select {
	case <-s.release:
	default:
		close(s.release)
	}
}

// Put counts the call and stalls the first one when op is "put".
func (s *stallingStore) Put(key, value []byte) (uint64, error) {
	if s.puts.Add(1) == 1 && s.op == "put" {
		close(s.entered)
		<-s.release
	}
	return s.DB.Put(key, value)
}

// Get counts the call and stalls the first one when op is "get".
func (s *stallingStore) Get(key []byte) (engine.Item, error) {
	if s.gets.Add(1) == 1 && s.op == "get" {
		close(s.entered)
		<-s.release
	}
	return s.DB.Get(key)
}

// waitClosed fails t unless ch is closed within d.
func waitClosed(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("%s did not happen within %v", what, d)
	}
}

// A write that reached the server, whose connection then went into a
// black hole, fails within the bound with ErrWriteUnknown, is not sent
// again, and was in fact applied.
func TestClient_BlackHole_WriteUnknown(t *testing.T) {
	st, proxy := stall(t, "put")
	c := dial(t, proxy.Addr) // the Client's timeout (5s) is not what ends the call
	ctx := testCtx(t)

	type result struct {
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		_, err := c.Put(ctx, []byte("k"), []byte("v1"))
		done <- result{err, time.Now()}
	}()
	waitClosed(t, st.entered, 5*time.Second, "the Put reaching the server")
	frozen := time.Now()
	proxy.Freeze()
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the Put did not return within 5s of the black hole")
	}
	elapsed := r.at.Sub(frozen)
	t.Logf("write on a black-holed connection failed after %v: %v", elapsed, r.err)
	if elapsed > deadNodeBound {
		t.Errorf("the Put failed after %v, want under %v", elapsed, deadNodeBound)
	}
	if !errors.Is(r.err, client.ErrWriteUnknown) {
		t.Fatalf("err = %v, want ErrWriteUnknown", r.err)
	}
	if !errors.Is(r.err, client.ErrUnavailable) {
		t.Errorf("err = %v, want it to match ErrUnavailable too (its cause)", r.err)
	}
	if !strings.Contains(r.err.Error(), "may have been applied") {
		t.Errorf("err = %q, want it to say the write may have been applied", r.err)
	}
	if n := st.puts.Load(); n != 1 {
		t.Fatalf("the server saw %d Puts, want 1: the Client sent the write again", n)
	}

	// The node comes back: the write it had was applied, and the Client
	// works again on a new connection, with exactly one more Put.
	st.unblock()
	if _, err := c.Put(ctx, []byte("k2"), []byte("v2")); err != nil {
		t.Fatalf("Put after the black hole: %v", err)
	}
	if n := st.puts.Load(); n != 2 {
		t.Fatalf("the server saw %d Puts, want 2", n)
	}
	poll(t, 5*time.Second, "the unknown write to be applied", func() bool {
		it, err := c.Get(ctx, []byte("k"))
		return err == nil && string(it.Value) == "v1"
	})
}

// A read on a connection that went into a black hole is sent again on a
// new connection and answered, within the bound.
func TestClient_BlackHole_ReadRetried(t *testing.T) {
	st, proxy := stall(t, "get")
	c := dial(t, proxy.Addr)
	ctx := testCtx(t)
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}

	type result struct {
		it  client.Item
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		it, err := c.Get(ctx, []byte("k"))
		done <- result{it, err, time.Now()}
	}()
	waitClosed(t, st.entered, 5*time.Second, "the Get reaching the server")
	frozen := time.Now()
	proxy.Freeze()
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the Get did not return within 5s of the black hole")
	}
	elapsed := r.at.Sub(frozen)
	t.Logf("read on a black-holed connection answered after %v", elapsed)
	if r.err != nil {
		t.Fatalf("Get: %v, want it retried on a new connection", r.err)
	}
	if string(r.it.Value) != "v" {
		t.Errorf("Get = %q, want v", r.it.Value)
	}
	if elapsed > deadNodeBound {
		t.Errorf("the Get took %v after the black hole, want under %v", elapsed, deadNodeBound)
	}
	if n := st.gets.Load(); n != 2 {
		t.Errorf("the server saw %d Gets, want 2 (the stalled one and the retry)", n)
	}
}

// A quiet connection to a live server stays open: the server's pings
// keep the Client from taking silence for a dead node.
func TestClient_IdleConnectionKept(t *testing.T) {
	s := rpctest.Start(t, nil)
	proxy := startProxy(t, s.Addr)
	c := dial(t, proxy.Addr)
	ctx := testCtx(t)
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	// Silence is what is tested, so this sleeps rather than polls.
	time.Sleep(2*time.Second + 500*time.Millisecond)
	if _, err := c.Get(ctx, []byte("k")); err != nil {
		t.Fatal(err)
	}
	if n := proxy.accepted.Load(); n != 1 {
		t.Errorf("the Client opened %d connections, want 1: an idle one was closed", n)
	}
}

// notLeaderNode is a fake node that answers GetServers naming itself the
// leader, and answers the first notLeader Puts with NOT_LEADER (nothing
// written), the later ones with success.
type notLeaderNode struct {
	caskadev1.UnimplementedKVServer
	caskadev1.UnimplementedClusterServer

	addr      string // immutable after start
	notLeader int64  // immutable after start

	puts       atomic.Int64
	getServers atomic.Int64
	// resolvedAt[i] is getServers when Put i+1 arrived.
	resolvedAt [2]atomic.Int64
}

// GetServers implements caskadev1.ClusterServer.
func (n *notLeaderNode) GetServers(context.Context, *caskadev1.GetServersRequest) (*caskadev1.GetServersResponse, error) {
	n.getServers.Add(1)
	return &caskadev1.GetServersResponse{Servers: []*caskadev1.Server{{Id: "n1", RpcAddr: n.addr, IsLeader: true, Voter: true}}}, nil
}

// Put implements caskadev1.KVServer.
func (n *notLeaderNode) Put(context.Context, *caskadev1.PutRequest) (*caskadev1.PutResponse, error) {
	i := n.puts.Add(1)
	if i <= int64(len(n.resolvedAt)) {
		n.resolvedAt[i-1].Store(n.getServers.Load())
	}
	if i <= n.notLeader {
		st, err := status.New(codes.FailedPrecondition, "not the leader").WithDetails(&errdetails.ErrorInfo{
			Reason: caskadev1.ReasonNotLeader, Domain: caskadev1.Domain,
			Metadata: map[string]string{caskadev1.MetaLeaderAddr: n.addr},
		})
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	return &caskadev1.PutResponse{Offset: uint64(i)}, nil
}

// startNotLeaderNode serves a notLeaderNode on 127.0.0.1 until the test
// ends.
func startNotLeaderNode(t *testing.T, notLeader int64) *notLeaderNode {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &notLeaderNode{addr: lis.Addr().String(), notLeader: notLeader}
	gs := grpc.NewServer(rpc.ServerOptions(rpc.Options{Addr: n.addr})...)
	caskadev1.RegisterKVServer(gs, n)
	caskadev1.RegisterClusterServer(gs, n)
	served := make(chan struct{})
	go func() { defer close(served); _ = gs.Serve(lis) }() // Serve's error after Stop is nil
	t.Cleanup(func() { gs.Stop(); <-served })
	return n
}

// A NOT_LEADER answer (nothing was written) is sent again once, after the
// resolver asked the cluster again; a second one is returned.
func TestClient_NotLeader_RetriedOnce(t *testing.T) {
	tests := []struct {
		name      string
		notLeader int64
		wantErr   error
		wantPuts  int64
	}{
		{name: "once", notLeader: 1, wantPuts: 2},
		{name: "always", notLeader: 1 << 30, wantErr: client.ErrNotLeader, wantPuts: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startNotLeaderNode(t, tt.notLeader)
			// Only the NOT_LEADER answer makes the resolver ask again:
			// its timer is too slow to count.
			c := dialCluster(t, []string{n.addr}, client.WithRefreshInterval(time.Minute))
			_, err := c.Put(testCtx(t), []byte("k"), []byte("v"))
			if !errors.Is(err, tt.wantErr) { // errors.Is(err, nil) is err == nil
				t.Fatalf("Put: %v, want %v", err, tt.wantErr)
			}
			if errors.Is(err, client.ErrWriteUnknown) {
				t.Errorf("Put: %v: a NOT_LEADER answer is not an unknown outcome", err)
			}
			if got := n.puts.Load(); got != tt.wantPuts {
				t.Errorf("the node saw %d Puts, want %d", got, tt.wantPuts)
			}
			if first, second := n.resolvedAt[0].Load(), n.resolvedAt[1].Load(); second <= first {
				t.Errorf("GetServers calls: %d before the first Put, %d before the second: want a resolution between them", first, second)
			}
		})
	}
}
