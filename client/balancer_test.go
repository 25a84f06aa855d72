package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caskade/caskade/agent"
	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/replication"
)

// lbCluster is n agents on loopback, plaintext.
type lbCluster struct {
	tb     testing.TB
	agents []*agent.Agent // nil once closed
}

func fastRaft(c *replication.Config) {
	// Short, but not so short that a loaded CI machine (-race, two
	// cores) deposes leaders in the middle of a test.
	c.HeartbeatTimeout = 500 * time.Millisecond
	c.ElectionTimeout = 500 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.ApplyTimeout = 5 * time.Second
}

// startAgent starts node i; the first bootstraps.
func (c *lbCluster) startAgent(i int) *agent.Agent {
	c.tb.Helper()
	a, err := agent.Start(agent.Config{
		NodeID:    fmt.Sprintf("n%d", i),
		Addr:      "127.0.0.1:0",
		Dir:       c.tb.TempDir(),
		Bootstrap: i == 0,
		Engine:    engine.Options{Compaction: engine.CompactionOptions{Disabled: true}},
		Tune:      fastRaft,
	})
	if err != nil {
		c.tb.Fatalf("start n%d: %v", i, err)
	}
	c.tb.Cleanup(func() { a.Close() })
	c.agents = append(c.agents, a)
	return a
}

// newLBCluster starts n nodes: n0 bootstraps, the others join as voters.
func newLBCluster(tb testing.TB, n int) *lbCluster {
	tb.Helper()
	c := &lbCluster{tb: tb}
	for i := range n {
		c.startAgent(i)
	}
	leader := c.leader(nil)
	for _, a := range c.agents {
		if a != leader {
			c.join(leader, a)
		}
	}
	return c
}

// join adds a as a voter through leader.
func (c *lbCluster) join(leader, a *agent.Agent) {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leader.Node().AddVoter(ctx, a.ID(), a.Addr()); err != nil {
		c.tb.Fatalf("add %s: %v", a.ID(), err)
	}
}

// leader waits for a leader among the live agents other than not.
func (c *lbCluster) leader(not *agent.Agent) *agent.Agent {
	c.tb.Helper()
	var l *agent.Agent
	poll(c.tb, 10*time.Second, "a leader", func() bool {
		for _, a := range c.agents {
			if a != nil && a != not && a.Node().IsLeader() {
				l = a
				return true
			}
		}
		return false
	})
	return l
}

// addrs returns the addresses of the live agents.
func (c *lbCluster) addrs() []string {
	var out []string
	for _, a := range c.agents {
		if a != nil {
			out = append(out, a.Addr())
		}
	}
	return out
}

// dialCluster returns a discovering Client of the cluster.
func dialCluster(tb testing.TB, endpoints []string, opts ...client.Option) *client.Client {
	tb.Helper()
	opts = append([]client.Option{client.WithInsecure(), client.WithTimeout(5 * time.Second),
		client.WithDiscovery(true), client.WithRefreshInterval(200 * time.Millisecond)}, opts...)
	c, err := client.Dial(context.Background(), endpoints, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// poll waits for cond, checking every 10ms, failing tb after d.
func poll(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// diff returns after minus before, per address.
func diff(after, before map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for a, n := range after {
		if d := n - before[a]; d > 0 {
			out[a] = d
		}
	}
	return out
}

// TestBalancer_Cluster_Routing: writes reach only the leader, stale reads
// spread over the followers, and a node added later gets stale reads
// after the next resolution. Per-node counts are the picker's (the
// agent has no per-node request counter); the leader's record count
// confirms the writes.
func TestBalancer_Cluster_Routing(t *testing.T) {
	c := newLBCluster(t, 3)
	leader := c.leader(nil)
	// Dialed with one follower only: the rest is discovered.
	var seed string
	for _, a := range c.agents {
		if a != leader {
			seed = a.Addr()
		}
	}
	cl := dialCluster(t, []string{seed})
	ctx := testCtx(t)

	const writes = 60
	// A leadership change during the writes (an election on a loaded
	// machine) moves them legitimately: then measure again.
	for attempt := 1; ; attempt++ {
		term := leader.Node().Term()
		// Followers forward writes, so a client whose view is a moment
		// old still succeeds: wait until its picks reach this leader.
		poll(t, 10*time.Second, "the client to pick the leader", func() bool {
			b := client.PickCounts(cl)[leader.Addr()]
			if _, err := cl.Put(ctx, []byte("warm-up"), []byte("v")); err != nil {
				t.Fatalf("warm-up put: %v", err)
			}
			return client.PickCounts(cl)[leader.Addr()] > b
		})
		before := client.PickCounts(cl)
		for i := range writes {
			if _, err := cl.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
		}
		picks := diff(client.PickCounts(cl), before)
		if (!leader.Node().IsLeader() || leader.Node().Term() != term) && attempt < 3 {
			t.Logf("leadership changed during the writes (picks %v); again", picks)
			leader = c.leader(nil)
			continue
		}
		// A first write may reach the seed before the resolver answered
		// (NOT_LEADER, retried once); every other pick is the leader's.
		if picks[leader.Addr()] != writes || len(picks) > 2 || (len(picks) == 2 && picks[seed] > 1) {
			t.Fatalf("write picks %v, want %d on the leader %s", picks, writes, leader.Addr())
		}
		break
	}
	if _, err := cl.Get(ctx, []byte("k1")); err != nil {
		t.Fatalf("linearizable get: %v", err)
	}

	const reads = 300
	before := client.PickCounts(cl)
	for i := range reads {
		if _, err := cl.Get(ctx, fmt.Appendf(nil, "k%d", i%writes), client.Stale()); err != nil && !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("stale get %d: %v", i, err)
		}
	}
	picks := diff(client.PickCounts(cl), before)
	t.Logf("stale read picks: %v (leader %s)", picks, leader.Addr())
	if picks[leader.Addr()] != 0 || len(picks) != 2 {
		t.Fatalf("stale read picks %v: want the two followers only", picks)
	}
	for a, n := range picks {
		if n < reads/2-reads/10 || n > reads/2+reads/10 {
			t.Fatalf("stale reads on %s: %d of %d, want %d±10%%", a, n, reads, reads/2)
		}
	}

	// A fourth node joins: after a resolution, it takes its share.
	n3 := c.startAgent(3)
	c.join(leader, n3)
	poll(t, 10*time.Second, "n3 to get stale reads", func() bool {
		before := client.PickCounts(cl)[n3.Addr()]
		for range 6 {
			if _, err := cl.Get(ctx, []byte("k1"), client.Stale()); err != nil && !errors.Is(err, client.ErrNotFound) {
				t.Fatalf("stale get: %v", err)
			}
		}
		return client.PickCounts(cl)[n3.Addr()] > before
	})
}

// TestBalancer_Cluster_LeaderFailover closes the leader under a write
// load: the client finds the new leader without a restart, writes whose
// outcome is unknown say so, and every acknowledged write is on the new
// leader.
func TestBalancer_Cluster_LeaderFailover(t *testing.T) {
	c := newLBCluster(t, 3)
	old := c.leader(nil)
	cl := dialCluster(t, c.addrs())
	ctx := testCtx(t)

	var (
		mu      sync.Mutex // guards acked and unknown
		acked   []string
		unknown int
		failed  atomic.Int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		written atomic.Int64
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%d", w, i)
				start := time.Now()
				_, err := cl.Put(ctx, []byte(k), []byte(k))
				if d := time.Since(start); d > 2*time.Second && err != nil {
					t.Errorf("put %s failed after %v: %v", k, d, err)
				}
				mu.Lock()
				switch {
				case err == nil:
					acked = append(acked, k)
					written.Add(1)
				case errors.Is(err, client.ErrWriteUnknown):
					unknown++
				default:
					failed.Add(1)
					if !errors.Is(err, client.ErrUnavailable) && !errors.Is(err, client.ErrNotLeader) {
						t.Errorf("put %s: %v", k, err)
					}
				}
				mu.Unlock()
			}
		}()
	}
	poll(t, 10*time.Second, "writes before the failover", func() bool { return written.Load() >= 100 })
	start := time.Now()
	if err := old.Close(); err != nil {
		t.Fatalf("close leader: %v", err)
	}
	for i, a := range c.agents {
		if a == old {
			c.agents[i] = nil
		}
	}
	after := written.Load()
	poll(t, 10*time.Second, "writes after the failover", func() bool { return written.Load() >= after+100 })
	t.Logf("writes flowing again %v after closing the leader", time.Since(start))
	close(stop)
	wg.Wait()
	leader := c.leader(old)

	mu.Lock()
	defer mu.Unlock()
	t.Logf("acknowledged %d, outcome unknown %d, failed %d", len(acked), unknown, failed.Load())
	db := leader.Node().DB()
	for _, k := range acked {
		it, err := db.Get([]byte(k))
		if err != nil || string(it.Value) != k {
			t.Fatalf("acknowledged %s on the new leader %s: %q, %v", k, leader.ID(), it.Value, err)
		}
	}
	// The client talks to the new leader, found without a restart.
	if _, err := cl.Put(ctx, []byte("after"), []byte("failover")); err != nil {
		t.Fatalf("put after failover: %v", err)
	}
	if picks := client.PickCounts(cl); picks[leader.Addr()] == 0 {
		t.Fatalf("no pick on the new leader %s: %v", leader.Addr(), picks)
	}
}

// BenchmarkBalancer_StaleGet is stale-read throughput through the
// balancer, with 8 callers per core, on a cluster of 1 and of 3 nodes
// (all on this machine, so the nodes share its cores).
func BenchmarkBalancer_StaleGet(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			c := newLBCluster(b, n)
			cl := dialCluster(b, c.addrs())
			ctx := context.Background()
			if _, err := cl.Put(ctx, []byte("k"), make([]byte, 100)); err != nil {
				b.Fatal(err)
			}
			for _, a := range c.agents {
				poll(b, 10*time.Second, "replication", func() bool { return a.Node().DB().NextOffset() > 1 })
			}
			b.SetParallelism(8)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := cl.Get(ctx, []byte("k"), client.Stale()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
