package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caskade/caskade/client"
)

// ackedWrite is a Put the cluster acknowledged.
type ackedWrite struct {
	key, value string
	offset     uint64
}

// writeLoad is several writers putting unique keys through one client
// until stopped, recording what was acknowledged and what is unknown.
type writeLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mark, when set (UnixNano), makes the first write acknowledged after
	// it set firstAfter (UnixNano).
	mark, firstAfter atomic.Int64

	mu struct {
		sync.Mutex
		acked   []ackedWrite
		unknown []string // keys whose write outcome is unknown (client.ErrWriteUnknown)
		stopped []string // keys whose write the stop cancelled (outcome unknown too)
		failed  []error  // writes that certainly failed (nothing written)
	}
}

// startWriteLoad starts writers goroutines putting keys "w<i>-<seq>" with
// 100 B values through cl, one at a time each, until stop.
func startWriteLoad(cl *client.Client, writers int) *writeLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &writeLoad{cancel: cancel}
	for w := range writers {
		l.wg.Go(func() {
			for seq := 0; ctx.Err() == nil; seq++ {
				k := fmt.Sprintf("w%d-%06d", w, seq)
				v := fmt.Sprintf("%-100s", k)
				cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
				off, err := cl.Put(cctx, []byte(k), []byte(v))
				ccancel()
				l.record(k, v, off, err, ctx.Err() != nil)
				if err != nil && ctx.Err() == nil {
					// Do not spin while no leader can take writes.
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	return l
}

// record files the outcome of one write; stopping says the load was
// being stopped, so a failure is the stop's, not the cluster's.
func (l *writeLoad) record(k, v string, off uint64, err error, stopping bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nil:
		l.mu.acked = append(l.mu.acked, ackedWrite{k, v, off})
		if m, now := l.mark.Load(), time.Now().UnixNano(); m != 0 && now > m {
			l.firstAfter.CompareAndSwap(0, now)
		}
	case stopping:
		l.mu.stopped = append(l.mu.stopped, k)
	case errors.Is(err, client.ErrWriteUnknown):
		l.mu.unknown = append(l.mu.unknown, k)
	default:
		l.mu.failed = append(l.mu.failed, err)
	}
}

// ackedCount returns how many writes were acknowledged so far.
func (l *writeLoad) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.mu.acked)
}

// stop stops the writers and waits for them.
func (l *writeLoad) stop() {
	l.cancel()
	l.wg.Wait()
}

// dialAll dials a client with every live agent as an endpoint.
func (c *testCluster) dialAll() *client.Client {
	c.t.Helper()
	var eps []string
	for _, a := range c.agents {
		if a != nil {
			eps = append(eps, a.Addr())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, eps, client.WithInsecure())
	if err != nil {
		c.t.Fatalf("dial %v: %v", eps, err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}

// checkAcked reads every acknowledged write back from a with a stale
// (local) read over gRPC: the value and the offset must be the ones
// acknowledged.
func (c *testCluster) checkAcked(a *Agent, acked []ackedWrite) {
	c.t.Helper()
	cl := c.client(a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, w := range acked {
		it, err := cl.Get(ctx, []byte(w.key), client.Stale())
		if err != nil || string(it.Value) != w.value || it.Offset != w.offset {
			c.t.Fatalf("%s: acknowledged write %s at offset %d: got %q at %d, %v", a.ID(), w.key, w.offset, it.Value, it.Offset, err)
		}
	}
}

// quiesce waits until leader has applied its whole log and the log has
// stopped growing for a while: a write its client gave up on (the load's
// stop cancels calls in flight) may still be committed after the writers
// return.
func (c *testCluster) quiesce(leader *Agent) {
	c.t.Helper()
	var last uint64
	var since time.Time
	waitFor(c.t, 10*time.Second, leader.ID()+" to go quiet", func() bool {
		st := leader.Node().Stats()
		if st.LastIndex != last || st.AppliedIndex != st.LastIndex {
			last, since = st.LastIndex, time.Now()
			return false
		}
		return time.Since(since) >= 200*time.Millisecond
	})
}

// indexOf returns a's index in c.agents.
func (c *testCluster) indexOf(a *Agent) int {
	for i, x := range c.agents {
		if x == a {
			return i
		}
	}
	c.t.Fatalf("%s is not in the cluster", a.ID())
	return -1
}

// TestCluster_KillLeaderUnderLoad kills the leader (Kill: no leadership
// transfer) while several writers put through a client that knows every
// node: a new leader is elected within a few seconds, writes resume, and
// every acknowledged write is on every live node at its acknowledged
// offset, with the same log everywhere. The killed node then restarts on
// its directory and port and catches up.
func TestCluster_KillLeaderUnderLoad(t *testing.T) {
	c := newCluster(t, nil, nil)
	old := c.leader(nil)
	cl := c.dialAll()
	load := startWriteLoad(cl, 8)
	defer load.stop()
	waitFor(t, 10*time.Second, "200 writes before the kill", func() bool { return load.ackedCount() >= 200 })

	idx, addr := c.indexOf(old), old.Addr()
	before := load.ackedCount()
	killed := time.Now()
	if err := old.Kill(); err != nil {
		t.Fatalf("kill %s: %v", old.ID(), err)
	}
	c.agents[idx] = nil
	// Only the new leader can acknowledge a write from here on.
	load.mark.Store(time.Now().UnixNano())
	leader := c.leader(old)
	elected := time.Since(killed)
	waitFor(t, 10*time.Second, "writes to resume", func() bool { return load.firstAfter.Load() != 0 })
	resumed := time.Unix(0, load.firstAfter.Load()).Sub(killed)
	waitFor(t, 10*time.Second, "200 writes after the kill", func() bool { return load.ackedCount() >= before+200 })
	load.stop()

	load.mu.Lock()
	acked, unknown, stopped, failed := load.mu.acked, load.mu.unknown, load.mu.stopped, load.mu.failed
	load.mu.Unlock()
	t.Logf("killed leader %s: new leader %s after %v, first acknowledged write after %v", old.ID(), leader.ID(), elected.Round(time.Millisecond), resumed.Round(time.Millisecond))
	applied := 0
	for _, k := range unknown {
		if _, err := leader.Node().DB().Get([]byte(k)); err == nil {
			applied++
		}
	}
	t.Logf("%d writes acknowledged; %d with an unknown outcome (ErrWriteUnknown; %d of them applied after all) %v; %d cancelled by the stop; %d failed",
		len(acked), len(unknown), applied, unknown, len(stopped), len(failed))
	for _, err := range failed {
		t.Logf("failed write: %v", err)
	}
	if elected > 5*time.Second {
		t.Errorf("new leader after %v, want within 5s", elected)
	}

	c.quiesce(leader)
	c.converged(leader)
	for _, a := range c.agents {
		if a != nil {
			c.checkAcked(a, acked)
		}
	}

	// The killed node comes back on the same directory and port,
	// rebuilds its store from its Raft log, and catches up.
	c.start(idx, addr, false)
	c.converged(leader)
	c.checkAcked(c.agents[idx], acked)
	last := acked[len(acked)-1]
	if it, err := c.agents[idx].Node().DB().Get([]byte(last.key)); err != nil || !bytes.Equal(it.Value, []byte(last.value)) {
		t.Fatalf("restarted %s: last write %s: %+v, %v", c.agents[idx].ID(), last.key, it, err)
	}
}
