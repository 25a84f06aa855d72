package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/caskade/caskade/certs"
	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/replication"
)

// testCluster is three agents on loopback.
type testCluster struct {
	t      *testing.T
	agents []*Agent
	dirs   []string
	tls    *tls.Config // nil: plaintext
	ctls   *tls.Config // the clients' TLS config
}

// fastRaft shortens Raft's timeouts for tests, but not so far that a
// leader loses its lease while the race detector and parallel test
// packages load the two cores (seen in CI-like runs at 100 ms).
func fastRaft(c *replication.Config) {
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	c.LeaderLeaseTimeout = 250 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.ApplyTimeout = 5 * time.Second
}

func (c *testCluster) start(i int, addr string, bootstrap bool) {
	c.t.Helper()
	a, err := Start(Config{
		NodeID:    fmt.Sprintf("n%d", i),
		Addr:      addr,
		Dir:       c.dirs[i],
		Bootstrap: bootstrap,
		TLS:       c.tls,
		Engine:    engine.Options{Compaction: engine.CompactionOptions{Disabled: true}},
		Tune:      fastRaft,
	})
	if err != nil {
		c.t.Fatalf("start n%d: %v", i, err)
	}
	c.agents[i] = a
}

// newCluster starts three nodes: n0 bootstraps alone, then adds the
// others as voters.
func newCluster(t *testing.T, tlsConf, clientTLS *tls.Config) *testCluster {
	t.Helper()
	c := &testCluster{t: t, agents: make([]*Agent, 3), dirs: make([]string, 3), tls: tlsConf, ctls: clientTLS}
	for i := range c.dirs {
		c.dirs[i] = t.TempDir()
		c.start(i, "127.0.0.1:0", i == 0)
	}
	t.Cleanup(func() {
		for _, a := range c.agents {
			if a != nil {
				a.Close()
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, a := range c.agents[1:] {
		// A leader that loses its lease while the cluster grows (a loaded
		// machine) fails AddVoter; ask whoever leads next, a bounded
		// number of times. Adding a voter already added is a no-op.
		for attempt := 1; ; attempt++ {
			err := c.leader(nil).Node().AddVoter(ctx, a.ID(), a.Addr())
			if err == nil {
				break
			}
			if attempt == 5 || ctx.Err() != nil {
				t.Fatalf("add %s: %v", a.ID(), err)
			}
			t.Logf("add %s (attempt %d): %v; retrying", a.ID(), attempt, err)
		}
	}
	return c
}

// leader waits for a leader among the live agents other than not.
func (c *testCluster) leader(not *Agent) *Agent {
	c.t.Helper()
	var l *Agent
	waitFor(c.t, 10*time.Second, "a leader", func() bool {
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

func (c *testCluster) client(a *Agent) *client.Client {
	c.t.Helper()
	opt := client.WithInsecure()
	if c.ctls != nil {
		opt = client.WithTLSConfig(c.ctls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, []string{a.Addr()}, opt)
	if err != nil {
		c.t.Fatalf("dial %s: %v", a.Addr(), err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// converged waits until every live agent holds the same records at the
// same offsets as want.
func (c *testCluster) converged(want *Agent) {
	c.t.Helper()
	for _, a := range c.agents {
		if a == nil || a == want {
			continue
		}
		waitFor(c.t, 10*time.Second, a.ID()+" to catch up", func() bool {
			return a.Node().DB().NextOffset() == want.Node().DB().NextOffset()
		})
		wr, wn, err := want.Node().DB().ReadFrom(0, 100000)
		if err != nil {
			c.t.Fatal(err)
		}
		gr, gn, err := a.Node().DB().ReadFrom(0, 100000)
		if err != nil {
			c.t.Fatal(err)
		}
		if wn != gn || len(wr) != len(gr) {
			c.t.Fatalf("%s: next %d, %d records; %s: next %d, %d records", want.ID(), wn, len(wr), a.ID(), gn, len(gr))
		}
		for i := range wr {
			x, y := wr[i], gr[i]
			if x.Offset != y.Offset || x.Timestamp != y.Timestamp || x.Flags != y.Flags || x.Expiry != y.Expiry ||
				!bytes.Equal(x.Key, y.Key) || !bytes.Equal(x.Value, y.Value) {
				c.t.Fatalf("record %d differs: %s %+v, %s %+v", i, want.ID(), x, a.ID(), y)
			}
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestCluster_WriteOnLeaderEverywhere(t *testing.T) {
	c := newCluster(t, nil, nil)
	leader := c.leader(nil)
	lc := c.client(leader)
	ctx := ctxT(t)
	for i := range 20 {
		if _, err := lc.Put(ctx, []byte(fmt.Sprint("k", i%7)), []byte(fmt.Sprint("v", i))); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if _, err := lc.Produce(ctx, []byte("message")); err != nil {
		t.Fatal(err)
	}
	off, err := lc.CompareAndSwap(ctx, []byte("cas"), 0, []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.CompareAndSwap(ctx, []byte("cas"), off+100, []byte("2")); !errors.Is(err, client.ErrCASMismatch) {
		t.Fatalf("CAS with a wrong offset: %v", err)
	}
	if _, err := lc.Delete(ctx, []byte("k0")); err != nil {
		t.Fatal(err)
	}
	it, err := lc.Get(ctx, []byte("k6"))
	if err != nil || string(it.Value) != "v13" {
		t.Fatalf("linearizable get on the leader: %+v, %v", it, err)
	}
	c.converged(leader)

	for _, a := range c.agents {
		if a == leader {
			continue
		}
		fc := c.client(a)
		// Stale reads are local.
		it, err := fc.Get(ctx, []byte("k6"), client.Stale())
		if err != nil || string(it.Value) != "v13" {
			t.Fatalf("stale get on %s: %+v, %v", a.ID(), it, err)
		}
		// Writes are forwarded to the leader; linearizable reads ask it
		// for a read index (readindex_test.go has the details).
		if _, err := fc.Put(ctx, []byte("x"), []byte("y")); err != nil {
			t.Fatalf("forwarded put on follower %s: %v", a.ID(), err)
		}
		if it, err := fc.Get(ctx, []byte("x")); err != nil || string(it.Value) != "y" {
			t.Fatalf("linearizable get on follower %s: %+v, %v", a.ID(), it, err)
		}
		servers, err := fc.GetServers(ctx)
		if err != nil || len(servers) != 3 {
			t.Fatalf("servers from %s: %+v, %v", a.ID(), servers, err)
		}
		for _, s := range servers {
			if s.IsLeader != (s.RPCAddr == leader.Addr()) {
				t.Fatalf("servers from %s: %+v (leader %s)", a.ID(), servers, leader.Addr())
			}
		}
	}
}

func TestCluster_LeaderFailover_RestartCatchesUp(t *testing.T) {
	c := newCluster(t, nil, nil)
	old := c.leader(nil)
	lc := c.client(old)
	ctx := ctxT(t)
	acked := map[string]string{}
	for i := range 30 {
		k, v := fmt.Sprint("k", i), fmt.Sprint("v", i)
		if _, err := lc.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		acked[k] = v
	}
	var idx int
	for i, a := range c.agents {
		if a == old {
			idx = i
		}
	}
	addr := old.Addr()
	start := time.Now()
	if err := old.Close(); err != nil {
		t.Fatalf("close leader: %v", err)
	}
	c.agents[idx] = nil
	leader := c.leader(old)
	t.Logf("new leader %s after %v", leader.ID(), time.Since(start))
	nc := c.client(leader)
	for i := 30; i < 40; i++ {
		k, v := fmt.Sprint("k", i), fmt.Sprint("v", i)
		if _, err := nc.Put(ctx, []byte(k), []byte(v)); err != nil {
			t.Fatalf("put %d after failover: %v", i, err)
		}
		acked[k] = v
	}
	for _, a := range c.agents {
		if a == nil {
			continue
		}
		waitFor(t, 10*time.Second, a.ID()+" to apply", func() bool {
			return a.Node().DB().NextOffset() == leader.Node().DB().NextOffset()
		})
		for k, v := range acked {
			it, err := a.Node().DB().Get([]byte(k))
			if err != nil || string(it.Value) != v {
				t.Fatalf("%s: %s = %q, %v; want %q", a.ID(), k, it.Value, err, v)
			}
		}
	}

	// The old leader comes back as a follower on the same port and dir,
	// rebuilds its store from its Raft state, and catches up.
	c.start(idx, addr, false)
	c.converged(leader)
}

func TestCluster_SnapshotCatchUp(t *testing.T) {
	c := newCluster(t, nil, nil)
	leader := c.leader(nil)
	lc := c.client(leader)
	ctx := ctxT(t)
	for i := range 20 {
		if _, err := lc.Put(ctx, []byte(fmt.Sprint("k", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	c.converged(leader)
	for _, a := range c.agents {
		if err := a.Node().Snapshot(); err != nil {
			t.Fatalf("snapshot %s: %v", a.ID(), err)
		}
	}
	if _, err := lc.Put(ctx, []byte("after"), []byte("snapshot")); err != nil {
		t.Fatal(err)
	}
	// A follower restarted from its snapshot plus its log.
	var idx int
	for i, a := range c.agents {
		if a != leader {
			idx = i
		}
	}
	addr := c.agents[idx].Addr()
	if err := c.agents[idx].Close(); err != nil {
		t.Fatal(err)
	}
	c.agents[idx] = nil
	if _, err := lc.Put(ctx, []byte("while"), []byte("down")); err != nil {
		t.Fatal(err)
	}
	c.start(idx, addr, false)
	c.converged(leader)
}

func TestCluster_MutualTLS(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	sc, err := certs.ServerTLSConfig(p(certs.ServerFile), p(certs.ServerKeyFile), p(certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := certs.ClientTLSConfig(p(certs.ClientFile(certs.RootIdentity)), p(certs.ClientKeyFile(certs.RootIdentity)), p(certs.CAFile), "")
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, sc, cc)
	leader := c.leader(nil)
	lc := c.client(leader)
	ctx := ctxT(t)
	for i := range 5 {
		if _, err := lc.Put(ctx, []byte(fmt.Sprint("k", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	c.converged(leader)
	for _, a := range c.agents {
		if a == leader {
			continue
		}
		// Forwarded with the node's own certificate.
		if _, err := c.client(a).Put(ctx, []byte("x"), []byte("y")); err != nil {
			t.Fatalf("forwarded put on follower over TLS: %v", err)
		}
		if it, err := c.client(a).Get(ctx, []byte("x")); err != nil || string(it.Value) != "y" {
			t.Fatalf("linearizable get on follower over TLS: %+v, %v", it, err)
		}
	}
	c.converged(leader)
}
