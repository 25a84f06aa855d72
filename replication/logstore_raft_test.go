package replication

import (
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// listFSM applies commands holding a uint64 each and keeps them in order.
type listFSM struct {
	mu      sync.Mutex // guards applied
	applied []uint64
}

func (f *listFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, binary.LittleEndian.Uint64(l.Data))
	return nil
}

func (f *listFSM) list() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.applied)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) { return listSnapshot(f.list()), nil }

func (f *listFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	applied := make([]uint64, len(b)/8)
	for i := range applied {
		applied[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	f.mu.Lock()
	f.applied = applied
	f.mu.Unlock()
	return nil
}

type listSnapshot []uint64

func (s listSnapshot) Persist(sink raft.SnapshotSink) error {
	b := make([]byte, 0, 8*len(s))
	for _, v := range s {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	if _, err := sink.Write(b); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (listSnapshot) Release() {}

// testNode is one Raft node on a LogStore, over the in-memory transport.
type testNode struct {
	id    raft.ServerID
	addr  raft.ServerAddress
	trans *raft.InmemTransport
	logs  *LogStore
	fsm   *listFSM
	raft  *raft.Raft
}

func startNode(t *testing.T, id string) *testNode {
	t.Helper()
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(id)
	conf.HeartbeatTimeout = 100 * time.Millisecond
	conf.ElectionTimeout = 100 * time.Millisecond
	conf.LeaderLeaseTimeout = 100 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.TrailingLogs = 20
	conf.SnapshotThreshold = 1 << 30 // snapshots only when the test asks
	conf.SnapshotInterval = time.Hour
	conf.LogOutput = io.Discard
	addr, trans := raft.NewInmemTransport("")
	n := &testNode{id: conf.LocalID, addr: addr, trans: trans, logs: openTestLogStore(t, t.TempDir()), fsm: &listFSM{}}
	r, err := raft.NewRaft(conf, n.fsm, n.logs, raft.NewInmemStore(), raft.NewInmemSnapshotStore(), trans)
	if err != nil {
		t.Fatalf("start raft %s: %v", id, err)
	}
	n.raft = r
	t.Cleanup(func() { _ = r.Shutdown().Error() })
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestLogStore_RaftCluster runs hashicorp/raft on LogStores: a three-node
// cluster applies commands, compacts its logs after snapshots, and a
// fourth node joins and catches up from a snapshot, then from the log
// (its first entry far past index 1). Every node ends with the same
// commands, and every log store reopens as it was.
func TestLogStore_RaftCluster(t *testing.T) {
	nodes := []*testNode{startNode(t, "a"), startNode(t, "b"), startNode(t, "c")}
	connect := func() {
		for _, x := range nodes {
			for _, y := range nodes {
				if x != y {
					x.trans.Connect(y.addr, y.trans)
				}
			}
		}
	}
	connect()
	var servers []raft.Server
	for _, n := range nodes {
		servers = append(servers, raft.Server{ID: n.id, Address: n.addr})
	}
	if err := nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	var leader *testNode
	waitFor(t, "a leader", func() bool {
		for _, n := range nodes {
			if n.raft.State() == raft.Leader {
				leader = n
				return true
			}
		}
		return false
	})

	var want []uint64
	apply := func(n int) {
		t.Helper()
		var last raft.ApplyFuture
		for range n {
			v := uint64(len(want)) * 7
			want = append(want, v)
			last = leader.raft.Apply(binary.LittleEndian.AppendUint64(nil, v), 5*time.Second)
		}
		if err := last.Error(); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	converged := func(ns []*testNode) {
		t.Helper()
		for _, n := range ns {
			waitFor(t, fmt.Sprintf("node %s to apply %d commands", n.id, len(want)), func() bool {
				return slices.Equal(n.fsm.list(), want)
			})
		}
	}

	apply(300)
	converged(nodes)
	for _, n := range nodes {
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot %s: %v", n.id, err)
		}
		first, _ := n.logs.FirstIndex()
		last, _ := n.logs.LastIndex()
		if first <= 1 || last-first+1 > 21 {
			t.Fatalf("node %s: log [%d, %d] after a snapshot with 20 trailing entries", n.id, first, last)
		}
	}
	apply(200)
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}

	// A new node: the leader's log no longer starts at 1, so it gets the
	// snapshot, then entries past it.
	d := startNode(t, "d")
	nodes = append(nodes, d)
	connect()
	if err := leader.raft.AddVoter(d.id, d.addr, 0, 5*time.Second).Error(); err != nil {
		t.Fatalf("add voter: %v", err)
	}
	apply(100)
	converged(nodes)
	if first, _ := d.logs.FirstIndex(); first <= 300 {
		t.Fatalf("new node's log starts at %d: it did not start from a snapshot", first)
	}

	// Each log store reopens with the same entries.
	type span struct{ first, last uint64 }
	spans := make(map[raft.ServerID]span)
	for _, n := range nodes {
		if err := n.raft.Shutdown().Error(); err != nil {
			t.Fatalf("shutdown %s: %v", n.id, err)
		}
		first, _ := n.logs.FirstIndex()
		last, _ := n.logs.LastIndex()
		spans[n.id] = span{first, last}
		var entries []*raft.Log
		for i := first; i <= last; i++ {
			var l raft.Log
			if err := n.logs.GetLog(i, &l); err != nil {
				t.Fatalf("node %s: get %d of [%d, %d]: %v", n.id, i, first, last, err)
			}
			entries = append(entries, &l)
		}
		if err := n.logs.Close(); err != nil {
			t.Fatalf("close %s: %v", n.id, err)
		}
		s := openTestLogStore(t, n.logs.dir)
		checkRange(t, s, first, last)
		checkEntries(t, s, entries...)
	}
	if spans[leader.id].last != spans[d.id].last {
		t.Fatalf("leader's log ends at %d, the new node's at %d", spans[leader.id].last, spans[d.id].last)
	}
}
