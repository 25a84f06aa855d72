package robustness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/caskade/caskade/internal/failpoint"
)

// FaultKind names a kind of fault.
type FaultKind string

// Fault kinds.
const (
	// FaultKill SIGKILLs a random node and restarts it after 0.5 to 3 s.
	FaultKill FaultKind = "kill"
	// FaultKillLeader SIGKILLs the leader and restarts it after 0.5 to 3 s.
	FaultKillLeader FaultKind = "kill-leader"
	// FaultPause SIGSTOPs a random node or the leader for 1 to 5 s, then
	// SIGCONTs it.
	FaultPause FaultKind = "pause"
	// FaultIsolate cuts a random node or the leader off for 2 to 6 s: from
	// everyone or from its peers only (its clients still reach it), with
	// connections rejected or silently dropped.
	FaultIsolate FaultKind = "isolate"
	// FaultRestartCluster stops every node (SIGTERM, or SIGKILL) and starts
	// them all again.
	FaultRestartCluster FaultKind = "restart-cluster"
	// FaultRemoveMember removes a follower from the Raft configuration
	// and lets it come back: while it keeps running (autopilot adds it
	// again), or stopped first and restarted with its directory kept or
	// wiped.
	FaultRemoveMember FaultKind = "remove-member"
	// FaultFailpoint restarts a random node with a crash point armed
	// (CASKADE_FAILPOINTS) and, once it crashed there (or after 15 s),
	// restarts it without.
	FaultFailpoint FaultKind = "failpoint"
)

// AllFaults lists every fault kind.
var AllFaults = []FaultKind{
	FaultKill, FaultKillLeader, FaultPause, FaultIsolate,
	FaultRestartCluster, FaultRemoveMember, FaultFailpoint,
}

// ParseFaults parses a comma-separated list of fault kinds; "all" means
// AllFaults and "none" or "" means none.
func ParseFaults(s string) ([]FaultKind, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "all":
		return append([]FaultKind(nil), AllFaults...), nil
	case "", "none":
		return nil, nil
	}
	var out []FaultKind
	for _, f := range strings.Split(s, ",") {
		k := FaultKind(strings.TrimSpace(f))
		known := false
		for _, a := range AllFaults {
			known = known || a == k
		}
		if !known {
			return nil, fmt.Errorf("unknown fault %q (known: all, none, %s)", k, joinKinds(AllFaults))
		}
		out = append(out, k)
	}
	return out, nil
}

func joinKinds(ks []FaultKind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// Bounds of the faults.
const (
	// restartTries is how many times a node that fails to start is
	// started again before the fault gives up on it.
	restartTries = 3
	// failpointWait bounds the wait for an armed crash point to fire.
	failpointWait = 15 * time.Second
	// removalWait bounds the wait for a removed server to leave the
	// leader's configuration.
	removalWait = 15 * time.Second
)

// faulter injects faults into a cluster, drawing its choices from rng.
type faulter struct {
	c          *Cluster
	rng        *rand.Rand
	failpoints bool // the binary honours CASKADE_FAILPOINTS
	// problems are failures of the system under test noticed while
	// injecting (a node that does not restart, a removal that fails).
	problems []string
}

// inject runs one fault of kind and returns what it did. It returns
// when the fault is over: the node restarted, resumed or healed (not
// necessarily caught up).
func (f *faulter) inject(ctx context.Context, kind FaultKind) string {
	switch kind {
	case FaultKill:
		return f.kill(ctx, f.randomNode(), "")
	case FaultKillLeader:
		l := f.c.Leader(ctx)
		if l == nil {
			return "kill-leader: no leader, skipped"
		}
		return f.kill(ctx, l, "leader ")
	case FaultPause:
		return f.pause(ctx)
	case FaultIsolate:
		return f.isolate(ctx)
	case FaultRestartCluster:
		return f.restartCluster()
	case FaultRemoveMember:
		return f.removeMember(ctx)
	case FaultFailpoint:
		return f.failpoint(ctx)
	}
	return "unknown fault " + string(kind)
}

// randomNode picks any node.
func (f *faulter) randomNode() *Node { return f.c.Nodes[f.rng.IntN(len(f.c.Nodes))] }

// nodeOrLeader picks the leader half of the time (any node when there is
// none), else any node; role says which.
func (f *faulter) nodeOrLeader(ctx context.Context) (n *Node, role string) {
	if f.rng.IntN(2) == 0 {
		if l := f.c.Leader(ctx); l != nil {
			return l, "leader "
		}
	}
	return f.randomNode(), ""
}

// span draws a duration in [lo, hi).
func (f *faulter) span(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(f.rng.Int64N(int64(hi-lo)))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// problem records a failure of the system under test.
func (f *faulter) problem(format string, args ...any) {
	f.problems = append(f.problems, fmt.Sprintf(format, args...))
}

// restart starts n (without failpoints), trying again a few times; a
// node that will not start is a problem.
func (f *faulter) restart(n *Node) error {
	var err error
	for try := 0; try < restartTries; try++ {
		if err = f.c.StartNode(n); err == nil {
			return nil
		}
		if try+1 < restartTries {
			time.Sleep(time.Second)
		}
	}
	f.problem("%s did not restart: %v", n.ID, err)
	return err
}

func (f *faulter) kill(ctx context.Context, n *Node, role string) string {
	down := f.span(500*time.Millisecond, 3*time.Second)
	if err := n.Kill(); err != nil {
		f.problem("kill %s: %v", n.ID, err)
	}
	sleep(ctx, down)
	desc := fmt.Sprintf("kill -9 %s%s, down %v", role, n.ID, down.Round(100*time.Millisecond))
	if err := f.restart(n); err != nil {
		return desc + ", did not restart"
	}
	return desc
}

func (f *faulter) pause(ctx context.Context) string {
	n, role := f.nodeOrLeader(ctx)
	d := f.span(time.Second, 5*time.Second)
	if err := n.Pause(); err != nil {
		return "pause: " + err.Error()
	}
	sleep(ctx, d)
	if err := n.Resume(); err != nil {
		f.problem("resume %s: %v", n.ID, err)
	}
	return fmt.Sprintf("pause %s%s for %v", role, n.ID, d.Round(100*time.Millisecond))
}

func (f *faulter) isolate(ctx context.Context) string {
	n, role := f.nodeOrLeader(ctx)
	d := f.span(2*time.Second, 6*time.Second)
	mode := Reject
	if f.rng.IntN(2) == 0 {
		mode = Drop
	}
	peersOnly := f.rng.IntN(2) == 0
	scope := "from everyone"
	if peersOnly {
		scope = "from its peers"
	}
	f.c.Isolate(n, mode, peersOnly)
	sleep(ctx, d)
	if err := f.c.Heal(); err != nil {
		f.problem("heal: %v", err)
	}
	return fmt.Sprintf("isolate %s%s %s (%v) for %v", role, n.ID, scope, mode, d.Round(100*time.Millisecond))
}

func (f *faulter) restartCluster() string {
	how, stop := "SIGTERM", f.c.StopAll
	if f.rng.IntN(2) == 0 {
		how, stop = "SIGKILL", f.c.KillAll
	}
	if err := stop(); err != nil {
		f.problem("restart-cluster: %s: %v", how, err)
	}
	desc := "restart the cluster (" + how + ")"
	var failed []string
	if err := f.c.StartAll(); err != nil {
		// Start each that did not come up again, one by one.
		for _, n := range f.c.Nodes {
			if !n.Running() && f.restart(n) != nil {
				failed = append(failed, n.ID)
			}
		}
	}
	if len(failed) > 0 {
		desc += ", " + strings.Join(failed, ", ") + " did not restart"
	}
	return desc
}

// removeMember removes a follower and brings it back.
func (f *faulter) removeMember(ctx context.Context) string {
	l := f.c.Leader(ctx)
	if l == nil {
		return "remove-member: no leader, skipped"
	}
	var followers []*Node
	for _, n := range f.c.Nodes {
		if n != l {
			followers = append(followers, n)
		}
	}
	n := followers[f.rng.IntN(len(followers))]
	variant := []string{"running", "stopped, dir kept", "stopped, dir wiped"}[f.rng.IntN(3)]
	desc := fmt.Sprintf("remove %s (%s) and add it back", n.ID, variant)
	if variant == "running" {
		if err := f.c.RemoveServer(ctx, n.ID); err != nil {
			return desc + ": " + err.Error()
		}
		return desc // autopilot adds it back as a non-voter and promotes it
	}
	if err := n.Kill(); err != nil {
		f.problem("kill %s: %v", n.ID, err)
	}
	removed := false
	if err := f.c.RemoveServer(ctx, n.ID); err == nil {
		deadline := time.Now().Add(removalWait)
		for time.Now().Before(deadline) {
			if in, ok := f.c.InConfig(ctx, n.ID); ok && !in {
				removed = true
				break
			}
			sleep(ctx, pollInterval)
		}
	} else {
		desc += ": " + err.Error()
	}
	// Never wipe a node that may still be a voter: that loses data by
	// design, not by a bug.
	if variant == "stopped, dir wiped" {
		if removed {
			if err := os.RemoveAll(n.Dir); err != nil {
				f.problem("wipe %s: %v", n.Dir, err)
			}
		} else {
			desc += " (not removed in time: dir kept)"
		}
	}
	if err := f.restart(n); err != nil {
		desc += ", did not restart"
	}
	return desc
}

// failpointArms are the arms drawn for each crash point: hit counts
// within reach of a fault's wait at the suite's write rates.
var failpointArms = map[string][]int{
	failpoint.RaftLogAppend:     {1, 5, 20, 100},
	failpoint.FSMApply:          {1, 5, 20, 100},
	failpoint.CompactionOutputs: {1, 2},
	failpoint.CompactionMarker:  {1, 2},
	failpoint.CompactionRename:  {1, 2, 3},
	failpoint.CompactionSwap:    {1, 2},
	failpoint.SnapshotPersist:   {1},
	failpoint.SnapshotRestore:   {1},
}

// failpoint restarts a node with a crash point armed, waits for it to
// crash there, and restarts it without.
func (f *faulter) failpoint(ctx context.Context) string {
	if !f.failpoints {
		return "failpoint: the binary was built without -tags failpoints, skipped"
	}
	names := failpoint.Names()
	name := names[f.rng.IntN(len(names))]
	arms := failpointArms[name]
	if len(arms) == 0 {
		arms = []int{1}
	}
	spec := fmt.Sprintf("%s@%d", name, arms[f.rng.IntN(len(arms))])
	n := f.randomNode()
	desc := fmt.Sprintf("failpoint %s on %s", spec, n.ID)
	if err := n.Kill(); err != nil {
		f.problem("kill %s: %v", n.ID, err)
	}
	started := time.Now()
	err := f.c.StartNode(n, failpoint.EnvFailpoints+"="+spec)
	if err == nil {
		// Wait for the crash.
		t := time.NewTimer(failpointWait)
		select {
		case <-n.Done():
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if crashed, hit, ok := CrashOf(n); ok && !n.Running() {
		desc += fmt.Sprintf(": crashed at %s hit %d after %v", crashed, hit, time.Since(started).Round(100*time.Millisecond))
	} else {
		switch {
		case err != nil:
			f.problem("%s with %s armed did not start: %v", n.ID, spec, err)
			desc += ": did not start"
		case n.Running():
			desc += ": not hit"
		default:
			desc += ": exited without a crash line"
		}
		if kerr := n.Kill(); kerr != nil {
			f.problem("kill %s: %v", n.ID, kerr)
		}
	}
	if err := f.restart(n); err != nil {
		desc += ", did not restart"
	}
	return desc
}

// repair heals the network, resumes paused nodes and starts stopped ones,
// so the next fault starts from a whole cluster.
func (f *faulter) repair() {
	if err := f.c.Heal(); err != nil {
		f.problem("heal: %v", err)
	}
	for _, n := range f.c.Nodes {
		if !n.Running() {
			_ = f.restart(n)
		}
	}
}
