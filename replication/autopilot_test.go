package replication

import (
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// apNode is a Raft node (testNode, on a LogStore over the in-memory
// transport) with its Serf agent and autopilot.
type apNode struct {
	*testNode
	mem *Membership
	ap  *Autopilot
}

const testFailTimeout = time.Second

func startAPNode(t *testing.T, id string, join []string) *apNode {
	t.Helper()
	n := &apNode{testNode: startNode(t, id)}
	m, err := StartMembership(MembershipConfig{
		NodeName:  id,
		Tags:      map[string]string{TagID: id, TagRaftAddr: string(n.addr), TagRPCAddr: "rpc-" + id},
		Join:      join,
		Timing:    TimingLocal,
		Logger:    testLogger(t),
		RaftStats: func() (RaftStats, error) { return RaftStatsOf(n.raft) },
	})
	if err != nil {
		t.Fatalf("membership %s: %v", id, err)
	}
	n.mem = m
	ap, err := StartAutopilot(AutopilotConfig{
		Raft:                    n.raft,
		Membership:              m,
		FailTimeout:             testFailTimeout,
		ServerStabilizationTime: 300 * time.Millisecond,
		LastContactThreshold:    500 * time.Millisecond,
		UpdateInterval:          200 * time.Millisecond,
		ReconcileInterval:       100 * time.Millisecond,
		Logger:                  testLogger(t),
	})
	if err != nil {
		t.Fatalf("autopilot %s: %v", id, err)
	}
	n.ap = ap
	t.Cleanup(func() {
		_ = ap.Close()
		_ = m.Close()
	})
	return n
}

// connectAll links every pair of in-memory transports.
func connectAll(nodes ...*apNode) {
	for _, x := range nodes {
		for _, y := range nodes {
			if x != y {
				x.trans.Connect(y.addr, y.trans)
			}
		}
	}
}

// suffrages returns each server's suffrage in r's configuration.
func suffrages(t *testing.T, r *raft.Raft) map[raft.ServerID]raft.ServerSuffrage {
	t.Helper()
	f := r.GetConfiguration()
	if err := f.Error(); err != nil {
		t.Fatalf("get configuration: %v", err)
	}
	out := make(map[raft.ServerID]raft.ServerSuffrage)
	for _, s := range f.Configuration().Servers {
		out[s.ID] = s.Suffrage
	}
	return out
}

// suffrageWatch samples a Raft configuration every few milliseconds and
// remembers every suffrage each server had.
type suffrageWatch struct {
	mu   sync.Mutex // guards seen
	seen map[raft.ServerID]map[raft.ServerSuffrage]bool
	stop chan struct{}
	done chan struct{}
}

func watchSuffrage(t *testing.T, r *raft.Raft) *suffrageWatch {
	w := &suffrageWatch{seen: make(map[raft.ServerID]map[raft.ServerSuffrage]bool), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			f := r.GetConfiguration()
			if f.Error() != nil {
				continue
			}
			w.mu.Lock()
			for _, s := range f.Configuration().Servers {
				if w.seen[s.ID] == nil {
					w.seen[s.ID] = make(map[raft.ServerSuffrage]bool)
				}
				w.seen[s.ID][s.Suffrage] = true
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *suffrageWatch) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *suffrageWatch) had(id raft.ServerID, s raft.ServerSuffrage) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen[id][s]
}

// TestAutopilot_Reconcile_JoinPromoteFailLeave: node a bootstraps alone;
// b and c join through Serf, are added as non-voters and promoted to
// voters; c fails and is removed only after FailTimeout; b leaves and is
// removed at once.
func TestAutopilot_Reconcile_JoinPromoteFailLeave(t *testing.T) {
	a := startAPNode(t, "a", nil)
	if err := a.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: a.id, Address: a.addr}}}).Error(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	waitFor(t, "a to lead", func() bool { return a.raft.State() == raft.Leader })
	watch := watchSuffrage(t, a.raft)

	b := startAPNode(t, "b", []string{a.mem.Addr()})
	c := startAPNode(t, "c", []string{a.mem.Addr()})
	connectAll(a, b, c)

	waitFor(t, "b and c to be voters", func() bool {
		s := suffrages(t, a.raft)
		return len(s) == 3 && s["b"] == raft.Voter && s["c"] == raft.Voter
	})
	for _, id := range []raft.ServerID{"b", "c"} {
		if !watch.had(id, raft.Nonvoter) {
			t.Errorf("%s became a voter without being a non-voter first", id)
		}
	}
	if a.raft.State() != raft.Leader {
		t.Fatalf("a lost leadership")
	}
	waitFor(t, "autopilot to find all three healthy", func() bool {
		return a.ap.Healthy("a") && a.ap.Healthy("b") && a.ap.Healthy("c")
	})

	// c fails: its Serf stops without leaving, its Raft goes away.
	if err := c.mem.Close(); err != nil {
		t.Fatalf("close c's membership: %v", err)
	}
	if err := c.raft.Shutdown().Error(); err != nil {
		t.Fatalf("shutdown c: %v", err)
	}
	a.trans.Disconnect(c.addr)
	b.trans.Disconnect(c.addr)
	waitFor(t, "a to see c failed", func() bool { return statusOf(a.mem, "c") == MemberFailed })
	failedAt := time.Now()
	waitFor(t, "c removed", func() bool { _, ok := suffrages(t, a.raft)["c"]; return !ok })
	if took := time.Since(failedAt); took < testFailTimeout-100*time.Millisecond {
		t.Fatalf("c removed %v after failing, before FailTimeout %v", took, testFailTimeout)
	}

	// b leaves gracefully: removed without waiting for FailTimeout.
	if err := b.mem.Leave(); err != nil {
		t.Fatalf("b leaves: %v", err)
	}
	leftAt := time.Now()
	waitFor(t, "b removed", func() bool { _, ok := suffrages(t, a.raft)["b"]; return !ok })
	if took := time.Since(leftAt); took >= testFailTimeout {
		t.Errorf("leave took %v to remove b", took)
	}
	if s := suffrages(t, a.raft); len(s) != 1 || s["a"] != raft.Voter {
		t.Fatalf("final configuration %v, want a alone", s)
	}
}

// TestAutopilot_Reconcile_LeaderFails: the leader of a three-voter
// cluster formed through Serf dies; the new leader's autopilot takes
// over and removes the old leader after FailTimeout.
func TestAutopilot_Reconcile_LeaderFails(t *testing.T) {
	a := startAPNode(t, "a", nil)
	if err := a.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: a.id, Address: a.addr}}}).Error(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	waitFor(t, "a to lead", func() bool { return a.raft.State() == raft.Leader })
	b := startAPNode(t, "b", []string{a.mem.Addr()})
	c := startAPNode(t, "c", []string{a.mem.Addr()})
	connectAll(a, b, c)
	waitFor(t, "three voters", func() bool {
		s := suffrages(t, a.raft)
		return len(s) == 3 && s["b"] == raft.Voter && s["c"] == raft.Voter
	})

	if err := a.mem.Close(); err != nil {
		t.Fatalf("close a's membership: %v", err)
	}
	if err := a.raft.Shutdown().Error(); err != nil {
		t.Fatalf("shutdown a: %v", err)
	}
	b.trans.Disconnect(a.addr)
	c.trans.Disconnect(a.addr)
	var leader *apNode
	waitFor(t, "a new leader", func() bool {
		for _, n := range []*apNode{b, c} {
			if n.raft.State() == raft.Leader {
				leader = n
				return true
			}
		}
		return false
	})
	waitFor(t, "a removed", func() bool {
		s := suffrages(t, leader.raft)
		_, ok := s["a"]
		return !ok && len(s) == 2
	})
}
