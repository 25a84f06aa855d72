package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/rpc"
)

// rawConn is a plain gRPC connection to addr, for the calls the client
// package does not make.
func rawConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// followers returns the live agents other than the leader.
func (c *testCluster) followers(leader *Agent) []*Agent {
	c.t.Helper()
	var out []*Agent
	for _, a := range c.agents {
		if a != nil && a != leader {
			// A follower learns the leader from its first heartbeat after
			// the election, which may come a moment after the leader knows.
			waitFor(c.t, 10*time.Second, a.ID()+" to know the leader", func() bool {
				addr, _ := a.Node().Leader()
				return addr == leader.Addr()
			})
			out = append(out, a)
		}
	}
	return out
}

// errorInfo returns the ErrorInfo of err's status, or nil.
func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei
		}
	}
	return nil
}

func TestCluster_FollowerLinearizableRead(t *testing.T) {
	c := newCluster(t, nil, nil)
	leader := c.leader(nil)
	lc := c.client(leader)
	fcs := map[string]*client.Client{}
	for _, f := range c.followers(leader) {
		fcs[f.ID()] = c.client(f)
	}
	ctx := ctxT(t)
	for i := range 20 {
		k, v := []byte(fmt.Sprint("k", i%3)), []byte(fmt.Sprint("v", i))
		off, err := lc.Put(ctx, k, v)
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		// Read right after the write is acknowledged, with no wait for
		// replication: the follower must fetch the read index and apply.
		for id, fc := range fcs {
			it, err := fc.Get(ctx, k)
			if err != nil || string(it.Value) != string(v) || it.Offset != off {
				t.Fatalf("linearizable get %d on %s: %+v, %v; want %q at %d", i, id, it, err, v, off)
			}
		}
	}
}

func TestCluster_ForwardedWrites(t *testing.T) {
	c := newCluster(t, nil, nil)
	leader := c.leader(nil)
	ctx := ctxT(t)
	f := c.followers(leader)[0]
	fc := c.client(f)
	var offs []uint64
	for i := range 5 {
		off, err := fc.Put(ctx, []byte(fmt.Sprint("k", i)), []byte("v"))
		if err != nil {
			t.Fatalf("forwarded put %d: %v", i, err)
		}
		offs = append(offs, off)
	}
	if _, err := fc.Produce(ctx, []byte("m")); err != nil {
		t.Fatalf("forwarded produce: %v", err)
	}
	// A CAS mismatch decided on the leader comes back with its details.
	if _, err := fc.CompareAndSwap(ctx, []byte("k0"), offs[0]+1000, []byte("x")); !errors.Is(err, client.ErrCASMismatch) {
		t.Fatalf("forwarded CAS with a wrong offset: %v", err)
	}
	if _, err := fc.CompareAndSwap(ctx, []byte("k0"), offs[0], []byte("x")); err != nil {
		t.Fatalf("forwarded CAS: %v", err)
	}
	if _, err := fc.Delete(ctx, []byte("absent")); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("forwarded delete of an absent key: %v", err)
	}
	// A batch through the follower's ProduceStream: contiguous offsets.
	stream, err := caskadev1.NewLogClient(rawConn(t, f.Addr())).ProduceStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&caskadev1.ProduceStreamRequest{Values: [][]byte{[]byte("a"), []byte("b"), []byte("c")}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetCount() != 3 {
		t.Fatalf("forwarded produce batch: %v, %v", resp, err)
	}
	_ = stream.CloseSend()
	c.converged(leader)
	for _, a := range c.agents {
		for i, off := range offs {
			recs, _, err := a.Node().DB().ReadFrom(off, 1)
			if err != nil || len(recs) != 1 || recs[0].Offset != off || string(recs[0].Key) != fmt.Sprint("k", i) {
				t.Fatalf("%s at %d: %+v, %v", a.ID(), off, recs, err)
			}
		}
		recs, _, err := a.Node().DB().ReadFrom(resp.GetFirstOffset(), 3)
		if err != nil || len(recs) != 3 || string(recs[0].Value) != "a" || string(recs[2].Value) != "c" {
			t.Fatalf("%s batch: %+v, %v", a.ID(), recs, err)
		}
	}
}

func TestCluster_ForwardingOff_NotLeader(t *testing.T) {
	c := newCluster(t, nil, nil)
	leader := c.leader(nil)
	f := c.followers(leader)[0]
	// A second gRPC server over the follower's node, forwarding off.
	store := NewStoreWithOptions(f.Node(), StoreOptions{DisableForwarding: true})
	t.Cleanup(func() { store.Close() })
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ro := rpc.Options{Addr: lis.Addr().String(), NodeID: f.ID()}
	srv := rpc.NewServer(store, ro)
	gs := grpc.NewServer(rpc.ServerOptions(ro)...)
	srv.Register(gs)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	ctx := ctxT(t)
	fc, err := client.Dial(ctx, []string{lis.Addr().String()}, client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fc.Close() })
	_, err = fc.Put(ctx, []byte("x"), []byte("y"))
	var ce *client.Error
	if !errors.Is(err, client.ErrNotLeader) || !errors.As(err, &ce) || ce.LeaderAddr() != leader.Addr() {
		t.Fatalf("put with forwarding off: %v (leader %s)", err, leader.Addr())
	}
	// Linearizable reads still work there (ReadIndex from the leader).
	if _, err := fc.Get(ctx, []byte("x")); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("linearizable get with forwarding off: %v", err)
	}
}

func TestCluster_PartitionedLeaderRefusesLinearizableReads(t *testing.T) {
	c := newCluster(t, nil, nil)
	leader := c.leader(nil)
	lc := c.client(leader)
	ctx := ctxT(t)
	if _, err := lc.Put(ctx, []byte("k"), []byte("old")); err != nil {
		t.Fatal(err)
	}
	c.converged(leader)
	// Cut the leader off from its quorum: stop the other two nodes.
	for i, a := range c.agents {
		if a != leader {
			if err := a.Close(); err != nil {
				t.Fatalf("close %s: %v", a.ID(), err)
			}
			c.agents[i] = nil
		}
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	it, err := lc.Get(rctx, []byte("k"))
	took := time.Since(start)
	if err == nil {
		t.Fatalf("linearizable get on a partitioned leader answered %q", it.Value)
	}
	if !errors.Is(err, client.ErrNotLeader) && !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("linearizable get on a partitioned leader: %v (want NOT_LEADER or UNAVAILABLE)", err)
	}
	if took > 3*time.Second {
		t.Fatalf("refusal took %v", took)
	}
	t.Logf("refused after %v: %v", took, err)
	// Stale reads still answer from the local copy.
	if it, err := lc.Get(ctx, []byte("k"), client.Stale()); err != nil || string(it.Value) != "old" {
		t.Fatalf("stale get: %+v, %v", it, err)
	}
	// The ReadIndex RPC itself refuses too.
	_, err = caskadev1.NewClusterClient(rawConn(t, leader.Addr())).ReadIndex(ctx, &caskadev1.ReadIndexRequest{})
	if c := status.Code(err); c != codes.FailedPrecondition && c != codes.Unavailable {
		t.Fatalf("ReadIndex on a partitioned leader: %v", err)
	}
}

func TestCluster_StatusTransferRemove(t *testing.T) {
	c := newCluster(t, nil, nil)
	leader := c.leader(nil)
	ctx := ctxT(t)
	if _, err := c.client(leader).Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	c.converged(leader)

	// Status carries the Raft state.
	for _, a := range c.agents {
		st, err := caskadev1.NewClusterClient(rawConn(t, a.Addr())).Status(ctx, &caskadev1.StatusRequest{})
		if err != nil {
			t.Fatalf("status of %s: %v", a.ID(), err)
		}
		wantState := "Follower"
		if a == leader {
			wantState = "Leader"
		}
		if st.Term == 0 || st.CommitIndex == 0 || st.AppliedIndex == 0 || st.LastIndex < st.CommitIndex ||
			st.RaftState != wantState || (a == leader && st.LastContactMs != 0) {
			t.Fatalf("status of %s: %v", a.ID(), st)
		}
		if a != leader && st.LastContactMs < 0 {
			t.Fatalf("status of follower %s: never heard from the leader: %v", a.ID(), st)
		}
	}

	// GetServers marks voters and the Raft address.
	gs, err := caskadev1.NewClusterClient(rawConn(t, leader.Addr())).GetServers(ctx, &caskadev1.GetServersRequest{})
	if err != nil || len(gs.Servers) != 3 {
		t.Fatalf("servers: %v, %v", gs, err)
	}
	for _, s := range gs.Servers {
		if !s.Voter || s.RaftAddr != s.RpcAddr || s.Healthy != nil {
			t.Fatalf("server %v", s)
		}
	}
	// No membership layer in these agents.
	if _, err := caskadev1.NewClusterClient(rawConn(t, leader.Addr())).Members(ctx, &caskadev1.MembersRequest{}); status.Code(err) != codes.Unimplemented {
		t.Fatalf("members: %v", err)
	}

	// TransferLeadership: refused on a follower, with the leader named.
	fs := c.followers(leader)
	target := fs[0]
	_, err = caskadev1.NewMaintenanceClient(rawConn(t, target.Addr())).TransferLeadership(ctx, &caskadev1.TransferLeadershipRequest{})
	if ei := errorInfo(err); ei == nil || ei.Reason != caskadev1.ReasonNotLeader || ei.Metadata[caskadev1.MetaLeaderAddr] != leader.Addr() {
		t.Fatalf("transfer on a follower: %v", err)
	}
	lm := caskadev1.NewMaintenanceClient(rawConn(t, leader.Addr()))
	if _, err := lm.TransferLeadership(ctx, &caskadev1.TransferLeadershipRequest{TargetId: "nope"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("transfer to an unknown server: %v", err)
	}
	resp, err := lm.TransferLeadership(ctx, &caskadev1.TransferLeadershipRequest{TargetId: target.ID()})
	if err != nil {
		t.Fatalf("transfer to %s: %v", target.ID(), err)
	}
	if resp.LeaderId != target.ID() || resp.LeaderAddr != target.Addr() {
		t.Fatalf("transfer answered leader %q at %q, want %s at %s", resp.LeaderId, resp.LeaderAddr, target.ID(), target.Addr())
	}
	if nl := c.leader(nil); nl != target {
		t.Fatalf("leader after transfer: %s, want %s", nl.ID(), target.ID())
	}

	// RemoveServer on the new leader removes the old one.
	tm := caskadev1.NewMaintenanceClient(rawConn(t, target.Addr()))
	if _, err := tm.RemoveServer(ctx, &caskadev1.RemoveServerRequest{Id: "nope"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("remove an unknown server: %v", err)
	}
	if _, err := tm.RemoveServer(ctx, &caskadev1.RemoveServerRequest{Id: leader.ID()}); err != nil {
		t.Fatalf("remove %s: %v", leader.ID(), err)
	}
	servers, err := target.Node().Servers()
	if err != nil || len(servers) != 2 {
		t.Fatalf("servers after remove: %+v, %v", servers, err)
	}
	for _, s := range servers {
		if s.ID == leader.ID() {
			t.Fatalf("%s still in %+v", leader.ID(), servers)
		}
	}
	// The two left still commit writes.
	if _, err := c.client(target).Put(ctx, []byte("after"), []byte("remove")); err != nil {
		t.Fatalf("put after remove: %v", err)
	}
}
