package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caskade/caskade/client"
)

// procNode is one `caskade serve` process of a cluster.
type procNode struct {
	id, addr string
	args     []string
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has been waited for
	log      *os.File      // the process's stdout and stderr
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs the node's process (again, after a kill: same directory and
// ports).
func (n *procNode) start(t *testing.T, bin string) {
	t.Helper()
	n.cmd = exec.Command(bin, n.args...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", n.id, err)
	}
	n.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait() // killed or stopped: the exit status is not the point
		close(done)
	}(n.cmd, n.done)
}

// signal sends sig to the process and waits up to d for it to exit;
// then it is killed.
func (n *procNode) signal(sig syscall.Signal, d time.Duration) {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	select {
	case <-n.done:
	case <-time.After(d):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
	n.cmd = nil
}

// TestServe_KillLeaderProcess runs three `caskade serve` processes as a
// Serf-formed cluster on loopback, writes through a client that knows all
// of them from several goroutines, and SIGKILLs the leader's process: a
// new leader is elected, writes resume, and every acknowledged write is
// on both live nodes at its acknowledged offset, with the same next
// offset on both. The killed process then restarts on its directory and
// ports and catches up.
func TestServe_KillLeaderProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds caskade and runs three processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "caskade")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("go build: %v\n%s", err, out)
	}

	nodes := make([]*procNode, 3)
	var firstSerf string
	for i := range nodes {
		n := &procNode{id: fmt.Sprintf("n%d", i), addr: freeAddr(t)}
		serf := freeAddr(t)
		if i == 0 {
			firstSerf = serf
		}
		n.args = []string{"serve", "--listen", n.addr, "--serf-addr", serf, "--node-id", n.id,
			"--data-dir", filepath.Join(dir, n.id), "--bootstrap-expect", "3", "--log-level", "warn"}
		if i > 0 {
			n.args = append(n.args, "--join", firstSerf)
		}
		f, err := os.Create(filepath.Join(dir, n.id+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		n.log = f
		n.start(t, bin)
		t.Cleanup(func() { n.signal(syscall.SIGTERM, 10*time.Second) })
		nodes[i] = n
	}
	logs := func() string {
		var b strings.Builder
		for _, n := range nodes {
			out, _ := os.ReadFile(n.log.Name())
			fmt.Fprintf(&b, "--- %s:\n%s", n.id, out)
		}
		return b.String()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// One client per node for status and stale reads, one with every
	// node for the load.
	per := make(map[string]*client.Client)
	var eps []string
	for _, n := range nodes {
		cl, err := client.Dial(ctx, []string{n.addr}, client.WithInsecure(), client.WithTimeout(time.Second))
		if err != nil {
			t.Fatalf("dial %s: %v", n.id, err)
		}
		t.Cleanup(func() { cl.Close() })
		per[n.id] = cl
		eps = append(eps, n.addr)
	}
	status := func(n *procNode) (client.Status, error) {
		sctx, scancel := context.WithTimeout(ctx, time.Second)
		defer scancel()
		return per[n.id].Status(sctx)
	}
	leaderOf := func(among []*procNode) *procNode {
		for _, n := range among {
			if st, err := status(n); err == nil && st.IsLeader {
				return n
			}
		}
		return nil
	}
	poll := func(d time.Duration, what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %s\n%s", d, what, logs())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var old *procNode
	poll(15*time.Second, "a leader with 3 servers", func() bool {
		old = leaderOf(nodes)
		if old == nil {
			return false
		}
		srv, err := per[old.id].GetServers(ctx)
		return err == nil && len(srv) == 3
	})
	all, err := client.Dial(ctx, eps, client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { all.Close() })

	type acked struct {
		key, value string
		offset     uint64
	}
	var (
		mu         sync.Mutex
		oks        []acked
		unknown    []string
		mark       atomic.Int64 // UnixNano of the kill; 0 before it
		firstAfter atomic.Int64 // UnixNano of the first ack after mark
	)
	lctx, lcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for seq := 0; lctx.Err() == nil; seq++ {
				k := fmt.Sprintf("w%d-%06d", w, seq)
				v := fmt.Sprintf("%-100s", k)
				off, err := all.Put(lctx, []byte(k), []byte(v))
				mu.Lock()
				switch {
				case err == nil:
					oks = append(oks, acked{k, v, off})
					if m, now := mark.Load(), time.Now().UnixNano(); m != 0 && now > m {
						firstAfter.CompareAndSwap(0, now)
					}
				case errors.Is(err, client.ErrWriteUnknown) || lctx.Err() != nil:
					unknown = append(unknown, k)
				}
				mu.Unlock()
				if err != nil && lctx.Err() == nil {
					time.Sleep(5 * time.Millisecond) // no leader yet
				}
			}
		})
	}
	stopLoad := sync.OnceFunc(func() { lcancel(); wg.Wait() })
	defer stopLoad()
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(oks) }
	poll(10*time.Second, "writes before the kill", func() bool { return count() >= 200 })

	killed := time.Now()
	old.signal(syscall.SIGKILL, 5*time.Second)
	mark.Store(killed.UnixNano())
	var live []*procNode
	for _, n := range nodes {
		if n != old {
			live = append(live, n)
		}
	}
	var leader *procNode
	poll(10*time.Second, "a new leader", func() bool { leader = leaderOf(live); return leader != nil })
	elected := time.Since(killed)
	poll(10*time.Second, "writes to resume", func() bool { return firstAfter.Load() != 0 })
	resumed := time.Unix(0, firstAfter.Load()).Sub(killed)
	before := count()
	poll(10*time.Second, "writes after the kill", func() bool { return count() >= before+200 })
	stopLoad()
	t.Logf("SIGKILLed leader %s: new leader %s after %v (polled), first acknowledged write after %v; %d acknowledged, %d unknown (ErrWriteUnknown or cancelled at stop): %v",
		old.id, leader.id, elected.Round(time.Millisecond), resumed.Round(time.Millisecond), len(oks), len(unknown), unknown)

	// Every live node reaches the same next offset and holds every
	// acknowledged write at its offset.
	check := func(n *procNode, d time.Duration) {
		t.Helper()
		// Asked afresh each time: a write the load's stop gave up on
		// may still be committed after it.
		poll(d, n.id+" to reach the leader's next offset", func() bool {
			lst, lerr := status(leader)
			st, err := status(n)
			return lerr == nil && err == nil && st.NextOffset == lst.NextOffset
		})
		for _, w := range oks {
			it, err := per[n.id].Get(ctx, []byte(w.key), client.Stale())
			if err != nil || string(it.Value) != w.value || it.Offset != w.offset {
				t.Fatalf("%s: acknowledged write %s at offset %d: got %q at %d, %v", n.id, w.key, w.offset, it.Value, it.Offset, err)
			}
		}
	}
	for _, n := range live {
		check(n, 10*time.Second)
	}

	// The killed process restarts on its directory and ports and catches
	// up from its Raft log and the leader.
	old.start(t, bin)
	check(old, 15*time.Second)
}
