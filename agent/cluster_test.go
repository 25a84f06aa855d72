package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/replication"
)

func fastAutopilot(c *replication.AutopilotConfig) {
	c.ReconcileInterval = 100 * time.Millisecond
	c.UpdateInterval = 200 * time.Millisecond
	c.ServerStabilizationTime = 500 * time.Millisecond
	c.LastContactThreshold = time.Second
}

// startSerfAgent starts an agent with membership on loopback that joins
// the Serf addresses in join and expects 3 voters.
func startSerfAgent(t *testing.T, id string, join []string) *Agent {
	t.Helper()
	a, err := Start(Config{
		NodeID:          id,
		Addr:            "127.0.0.1:0",
		Dir:             t.TempDir(),
		Engine:          engine.Options{Compaction: engine.CompactionOptions{Disabled: true}},
		Tune:            fastRaft,
		SerfAddr:        "127.0.0.1:0",
		Join:            join,
		GossipKey:       []byte("0123456789abcdef"),
		BootstrapExpect: 3,
		SerfTiming:      replication.TimingLocal,
		TuneAutopilot:   fastAutopilot,
	})
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// servers returns a's view of the Raft configuration by ID.
func servers(t *testing.T, a *Agent) map[string]replication.Server {
	t.Helper()
	srv, err := a.Node().Servers()
	if err != nil {
		return nil
	}
	out := make(map[string]replication.Server)
	for _, s := range srv {
		out[s.ID] = s
	}
	return out
}

func leaderOf(agents []*Agent) *Agent {
	for _, a := range agents {
		if a.Node().IsLeader() {
			return a
		}
	}
	return nil
}

func TestCluster_SerfBootstrapJoinLeave(t *testing.T) {
	n0 := startSerfAgent(t, "n0", nil)
	join := []string{n0.Membership().Addr()}
	agents := []*Agent{n0, startSerfAgent(t, "n1", join), startSerfAgent(t, "n2", join)}

	var leader *Agent
	waitFor(t, 10*time.Second, "a leader and 3 voters", func() bool {
		leader = leaderOf(agents)
		if leader == nil {
			return false
		}
		srv := servers(t, leader)
		for _, a := range agents {
			if !srv[a.ID()].Voter {
				return false
			}
		}
		return len(srv) == 3
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl := (&testCluster{t: t}).client(leader)
	put, err := cl.Put(ctx, []byte("k"), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	staleReads := func(a *Agent) bool {
		it, err := a.Node().DB().Get([]byte("k"))
		return err == nil && string(it.Value) == "v" && it.Offset == put
	}
	for _, a := range agents {
		waitFor(t, 5*time.Second, a.ID()+" to read the write", func() bool { return staleReads(a) })
	}

	// A fourth node with the same flags joins through Serf: it sorts
	// first by ID, so it would be in a bootstrap configuration, but the
	// others have Raft state, so it waits to be added instead.
	joiner := startSerfAgent(t, "n-joiner", []string{agents[1].Membership().Addr()})
	waitFor(t, 10*time.Second, "the joiner added and caught up", func() bool {
		l := leaderOf(agents)
		if l == nil {
			return false
		}
		_, in := servers(t, l)[joiner.ID()]
		return in && staleReads(joiner)
	})
	if joiner.Node().IsLeader() || len(servers(t, joiner)) < 4 {
		t.Fatalf("joiner: leader %v, configuration %v", joiner.Node().IsLeader(), servers(t, joiner))
	}

	// A node that leaves is removed from the Raft configuration.
	gone := agents[2]
	if err := gone.Close(); err != nil {
		t.Fatalf("close %s: %v", gone.ID(), err)
	}
	rest := []*Agent{agents[0], agents[1], joiner}
	waitFor(t, 10*time.Second, gone.ID()+" removed", func() bool {
		l := leaderOf(rest)
		if l == nil {
			return false
		}
		srv := servers(t, l)
		_, in := srv[gone.ID()]
		return !in && len(srv) == 3
	})
	for _, m := range rest[0].Membership().Members() {
		if string(m.ID) == gone.ID() && !slices.Contains([]replication.MemberStatus{replication.MemberLeft, replication.MemberLeaving}, m.Status) {
			t.Errorf("%s is %v in Serf, want left", gone.ID(), m.Status)
		}
	}
}
