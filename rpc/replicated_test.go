package rpc

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

// fakeReplicated is an *engine.DB with every optional part of a
// replicated store, answering from its fields.
type fakeReplicated struct {
	*engine.DB

	servers []ServerInfo
	raft    RaftStatus
	members []MemberInfo
	index   uint64
	term    uint64
	err     error // returned by ReadIndex, TransferLeadership, RemoveServer

	mu       sync.Mutex // guards the calls below
	target   string     // last TransferLeadership target
	removed  string     // last RemoveServer id
	leaderID string     // reported by Leader; changed by TransferLeadership
}

func (f *fakeReplicated) Servers() ([]ServerInfo, error) { return f.servers, nil }

func (f *fakeReplicated) Leader() (id, addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leaderID, "addr-of-" + f.leaderID
}

func (f *fakeReplicated) RaftStatus() RaftStatus { return f.raft }

func (f *fakeReplicated) Members() ([]MemberInfo, error) { return f.members, nil }

func (f *fakeReplicated) ReadIndex(context.Context) (uint64, uint64, error) {
	return f.index, f.term, f.err
}

func (f *fakeReplicated) TransferLeadership(_ context.Context, target string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.target = target
	if f.err == nil {
		f.leaderID = target
	}
	return f.err
}

func (f *fakeReplicated) RemoveServer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = id
	return f.err
}

// serveFake serves f (over a fresh store) on a loopback port.
func serveFake(t *testing.T, f *fakeReplicated) *testServer {
	t.Helper()
	db, err := engine.Open(t.TempDir(), &engine.Options{Sync: engine.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	f.DB = db
	ts := serveStore(t, f, Options{NodeID: "n1"})
	ts.db = db
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

func TestCluster_Replicated_GetServersStatus(t *testing.T) {
	yes := true
	f := &fakeReplicated{
		servers: []ServerInfo{
			{ID: "n1", Addr: "a1", Leader: true, Voter: true, Healthy: &yes},
			{ID: "n2", Addr: "a2", RaftAddr: "r2"},
		},
		raft:     RaftStatus{State: "Follower", Term: 7, CommitIndex: 40, AppliedIndex: 39, LastIndex: 41, LastContact: time.Now().Add(-time.Second)},
		leaderID: "n2",
	}
	ts := serveFake(t, f)
	c := ctx(t)
	gs, err := ts.clu.GetServers(c, &caskadev1.GetServersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 := gs.Servers[0], gs.Servers[1]
	if !s0.IsLeader || !s0.Voter || s0.Healthy == nil || !*s0.Healthy || s0.RaftAddr != "a1" ||
		s1.IsLeader || s1.Voter || s1.Healthy != nil || s1.RaftAddr != "r2" {
		t.Fatalf("GetServers = %v", gs)
	}
	st, err := ts.clu.Status(c, &caskadev1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.RaftState != "Follower" || st.Term != 7 || st.CommitIndex != 40 || st.AppliedIndex != 39 || st.LastIndex != 41 ||
		st.LastContactMs < 900 || st.LastContactMs > 60_000 || st.IsLeader || st.LeaderAddr != "addr-of-n2" {
		t.Fatalf("Status = %v", st)
	}
}

func TestLastContactMs(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name string
		rs   RaftStatus
		want int64
	}{
		{"leader", RaftStatus{State: "Leader", LastContact: now.Add(-time.Hour)}, 0},
		{"never", RaftStatus{State: "Follower"}, -1},
		{"recent", RaftStatus{State: "Follower", LastContact: now.Add(-250 * time.Millisecond)}, 250},
		{"clock skew", RaftStatus{State: "Candidate", LastContact: now.Add(time.Second)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := lastContactMs(tt.rs, now); got != tt.want {
				t.Fatalf("lastContactMs = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCluster_Replicated_MembersReadIndex(t *testing.T) {
	f := &fakeReplicated{
		members: []MemberInfo{{Name: "n1", RPCAddr: "a1", Status: "alive"}, {Name: "n3", RPCAddr: "a3", Status: "failed"}},
		index:   99, term: 4,
	}
	ts := serveFake(t, f)
	c := ctx(t)
	ms, err := ts.clu.Members(c, &caskadev1.MembersRequest{})
	if err != nil || len(ms.Members) != 2 || ms.Members[1].Name != "n3" || ms.Members[1].RpcAddr != "a3" || ms.Members[1].Status != "failed" {
		t.Fatalf("Members = %v, %v", ms, err)
	}
	ri, err := ts.clu.ReadIndex(c, &caskadev1.ReadIndexRequest{})
	if err != nil || ri.ReadIndex != 99 || ri.Term != 4 {
		t.Fatalf("ReadIndex = %v, %v", ri, err)
	}
	f.err = &NotLeaderError{LeaderAddr: "a2"}
	_, err = ts.clu.ReadIndex(c, &caskadev1.ReadIndexRequest{})
	checkErr(t, err, wantErr{code: codes.FailedPrecondition, reason: caskadev1.ReasonNotLeader,
		meta: map[string]string{caskadev1.MetaLeaderAddr: "a2"}})
	f.err = ErrUnavailable
	_, err = ts.clu.ReadIndex(c, &caskadev1.ReadIndexRequest{})
	checkErr(t, err, wantErr{code: codes.Unavailable})
}

func TestMaintenance_Replicated_TransferRemove(t *testing.T) {
	f := &fakeReplicated{leaderID: "n1"}
	ts := serveFake(t, f)
	c := ctx(t)
	resp, err := ts.maint.TransferLeadership(c, &caskadev1.TransferLeadershipRequest{TargetId: "n2"})
	if err != nil || resp.LeaderId != "n2" || resp.LeaderAddr != "addr-of-n2" || f.target != "n2" {
		t.Fatalf("TransferLeadership = %v, %v (target %q)", resp, err, f.target)
	}
	_, err = ts.maint.RemoveServer(c, &caskadev1.RemoveServerRequest{})
	checkErr(t, err, wantErr{code: codes.InvalidArgument, reason: caskadev1.ReasonInvalidArgument, field: "id"})
	if _, err := ts.maint.RemoveServer(c, &caskadev1.RemoveServerRequest{Id: "n3"}); err != nil || f.removed != "n3" {
		t.Fatalf("RemoveServer: %v (removed %q)", err, f.removed)
	}
	f.err = &ArgumentError{Field: "id", Desc: "no server n9"}
	_, err = ts.maint.RemoveServer(c, &caskadev1.RemoveServerRequest{Id: "n9"})
	checkErr(t, err, wantErr{code: codes.InvalidArgument, reason: caskadev1.ReasonInvalidArgument, field: "id"})
	f.err = &NotLeaderError{LeaderAddr: "a2"}
	_, err = ts.maint.TransferLeadership(c, &caskadev1.TransferLeadershipRequest{})
	checkErr(t, err, wantErr{code: codes.FailedPrecondition, reason: caskadev1.ReasonNotLeader,
		meta: map[string]string{caskadev1.MetaLeaderAddr: "a2"}})
}

func TestServer_SingleNode_ClusterCallsUnimplemented(t *testing.T) {
	ts := startServer(t, nil)
	c := ctx(t)
	_, err := ts.clu.Members(c, &caskadev1.MembersRequest{})
	checkErr(t, err, wantErr{code: codes.Unimplemented})
	_, err = ts.clu.ReadIndex(c, &caskadev1.ReadIndexRequest{})
	checkErr(t, err, wantErr{code: codes.Unimplemented})
	_, err = ts.maint.TransferLeadership(c, &caskadev1.TransferLeadershipRequest{})
	checkErr(t, err, wantErr{code: codes.Unimplemented})
	_, err = ts.maint.RemoveServer(c, &caskadev1.RemoveServerRequest{Id: "n1"})
	checkErr(t, err, wantErr{code: codes.Unimplemented})
	// A single node reports no Raft state, and itself as a voter.
	st, err := ts.clu.Status(c, &caskadev1.StatusRequest{})
	if err != nil || st.Term != 0 || st.RaftState != "" || st.LastContactMs != 0 {
		t.Fatalf("Status = %v, %v", st, err)
	}
	gs, err := ts.clu.GetServers(c, &caskadev1.GetServersRequest{})
	if err != nil || !gs.Servers[0].Voter || gs.Servers[0].Healthy != nil {
		t.Fatalf("GetServers = %v, %v", gs, err)
	}
}
