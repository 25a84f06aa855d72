package robustness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/tests/robustness/check"
	"github.com/caskade/caskade/tests/robustness/history"
)

// Config configures one run.
type Config struct {
	// Binary is the caskade binary; Failpoints says it was built with
	// -tags failpoints (else FaultFailpoint is skipped).
	Binary     string
	Failpoints bool
	Seed       uint64
	// Duration is how long the traffic runs (the last fault may take it
	// a few seconds further).
	Duration time.Duration
	Clients  int // concurrent clients; 0 means 8
	Keys     int // key space; 0 means 10
	Rate     int // operations per second of all clients; 0 means no cap
	// Faults are the kinds drawn from; none means a run without faults.
	Faults []FaultKind
	// WorkDir holds the certificates and the nodes' data; the caller
	// removes it.
	WorkDir string
	// ResultsDir is the run's folder: the nodes' logs and, on a
	// violation, porcupine's visualization and the history.
	ResultsDir string
	// Env adds environment variables to every start of a node, by node
	// ID (CASKADE_BUGS).
	Env map[string][]string
	// NodeArgs are more `caskade serve` flags for every node.
	NodeArgs []string
	// Prepare, when set, runs once the cluster has formed, before the
	// traffic starts.
	Prepare func(ctx context.Context, c *Cluster) error
	// CheckTimeout is porcupine's time budget; 0 means check's default.
	CheckTimeout time.Duration
	// Logf, when set, receives progress lines (each fault as it happens).
	Logf func(format string, args ...any)
	// Cleanup, when set, registers a function to run when the caller is
	// done, even if Run does not return (t.Cleanup): Run registers the
	// cluster's Close with it, besides closing the cluster before it
	// returns.
	Cleanup func(func())
}

func (c *Config) withDefaults() {
	if c.Clients == 0 {
		c.Clients = 8
	}
	if c.Keys == 0 {
		c.Keys = 10
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Bounds of a run's phases.
const (
	// healthTimeout bounds the wait for a whole, healthy cluster before
	// each fault and after the run (a removed member is promoted back to
	// voter after autopilot's 10 s of stable health).
	healthTimeout = 45 * time.Second
	// settleTimeout bounds the wait for every node to apply the same log
	// after the run.
	settleTimeout = 60 * time.Second
	// readLogTimeout bounds reading one node's whole log.
	readLogTimeout = 60 * time.Second
	// readyTimeout bounds the wait for a restarted cluster to serve a
	// linearizable read.
	readyTimeout = 60 * time.Second
)

// DefaultNodeArgs are the serve flags of every node of a run: segments
// small enough, and a compaction interval short enough, that compaction
// runs during a run; Raft snapshots every thousand or so entries, and
// few entries kept after one, so that snapshots are taken, and a node
// that was down a few seconds catches up from one. This makes the crash
// points of compaction and snapshots reachable.
var DefaultNodeArgs = []string{
	"--segment-bytes", "64KiB", "--compaction-interval", "1s",
	"--raft-snapshot-threshold", "1024", "--raft-snapshot-interval", "2s", "--raft-trailing-logs", "512",
	"--log-level", "info",
}

// Result is what a run did and found.
type Result struct {
	Name string
	Seed uint64
	// Elapsed is the wall time of the traffic.
	Elapsed time.Duration
	// Ops counts the recorded operations, by outcome.
	Ops, OKOps, FailedOps, AmbiguousOps int
	// Faults describes each fault injected, in order, with its time.
	Faults []string
	// FaultKinds counts the faults by kind.
	FaultKinds map[FaultKind]int
	// Report is the checker's verdict: the history's and the final logs'
	// (after the run and after the final restart) merged.
	Report check.Report
	// Problems are failures the checker does not see: a node that
	// crashed without a failpoint, did not restart or did not stop
	// cleanly; a cluster that did not recover after the run.
	Problems []string
	// Stalls are times the cluster took longer than healthTimeout to be
	// whole again before a fault (liveness; they do not fail a run).
	Stalls []string
	// ResultsDir is the run's folder.
	ResultsDir string
}

// OK reports whether the run found nothing wrong.
func (r Result) OK() bool { return r.Report.OK() && len(r.Problems) == 0 }

// Run runs one seeded run: a cluster, traffic and faults for
// cfg.Duration, then the checks. The error is the harness's own failure
// (the cluster could not be started); what the run found is in Result.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	cfg.withDefaults()
	res = Result{Name: fmt.Sprintf("seed-%d", cfg.Seed), Seed: cfg.Seed, ResultsDir: cfg.ResultsDir, FaultKinds: map[FaultKind]int{}}
	if err := os.MkdirAll(cfg.ResultsDir, 0o755); err != nil {
		return res, err
	}
	c, err := startCluster(cfg)
	if err != nil {
		return res, err
	}
	defer c.Close()
	if cfg.Cleanup != nil {
		cfg.Cleanup(c.Close)
	}
	if cfg.Prepare != nil {
		if err := cfg.Prepare(ctx, c); err != nil {
			return res, fmt.Errorf("prepare: %w", err)
		}
	}

	hist := &history.History{}
	start := time.Now()
	traffic, err := StartTraffic(ctx, c, TrafficConfig{Clients: cfg.Clients, Keys: cfg.Keys, Rate: cfg.Rate}, cfg.Seed, start, hist)
	if err != nil {
		return res, err
	}
	fl := &faulter{c: c, rng: rand.New(rand.NewPCG(cfg.Seed, 0)), failpoints: cfg.Failpoints}
	end := start.Add(cfg.Duration)
	for ctx.Err() == nil {
		gap := fl.span(time.Second, 3*time.Second)
		if time.Until(end) < gap+2*time.Second {
			break
		}
		sleep(ctx, gap)
		if len(cfg.Faults) == 0 {
			continue
		}
		hctx, cancel := context.WithTimeout(ctx, healthTimeout)
		herr := c.WaitHealthy(hctx)
		cancel()
		if herr != nil {
			res.Stalls = append(res.Stalls, fmt.Sprintf("%.1fs: %v", time.Since(start).Seconds(), herr))
			cfg.Logf("%s: stall at %.1fs: %v", res.Name, time.Since(start).Seconds(), herr)
			fl.repair()
			continue
		}
		kind := cfg.Faults[fl.rng.IntN(len(cfg.Faults))]
		at := time.Since(start)
		desc := fl.inject(ctx, kind)
		res.FaultKinds[kind]++
		res.Faults = append(res.Faults, fmt.Sprintf("%.1fs %s", at.Seconds(), desc))
		cfg.Logf("%s: %.1fs %s", res.Name, at.Seconds(), desc)
	}
	sleep(ctx, time.Until(end))
	traffic.Stop()
	res.Elapsed = time.Since(start)
	ops := hist.Ops()
	res.Ops = len(ops)
	for _, op := range ops {
		switch op.Outcome {
		case history.OK:
			res.OKOps++
		case history.Failed:
			res.FailedOps++
		case history.Ambiguous:
			res.AmbiguousOps++
		}
	}

	// Whole again, settled, then checked.
	fl.repair()
	res.Problems = append(res.Problems, fl.problems...)
	opts := check.Options{Timeout: cfg.CheckTimeout, ResultsDir: cfg.ResultsDir, Name: res.Name}
	reports := []check.Report{check.History(ops, opts)}
	if logs, err := settledLogs(ctx, c); err != nil {
		res.Problems = append(res.Problems, "after the run: "+err.Error())
	} else {
		reports = append(reports, check.Final(ops, logs, opts))
	}

	// Every node restarts cleanly, and the logs are still whole.
	if err := c.StopAll(); err != nil {
		res.Problems = append(res.Problems, "final stop: "+err.Error())
	}
	if err := c.StartAll(); err != nil {
		res.Problems = append(res.Problems, "final start: "+err.Error())
	} else if err := servesLinearizableRead(ctx, c); err != nil {
		res.Problems = append(res.Problems, "after the final restart: "+err.Error())
	} else if logs, err := settledLogs(ctx, c); err != nil {
		res.Problems = append(res.Problems, "after the final restart: "+err.Error())
	} else {
		ropts := opts
		ropts.Name = res.Name + "-after-restart"
		reports = append(reports, check.Final(ops, logs, ropts))
	}
	res.Report = check.Merge(reports...)

	for _, e := range c.TakeExits() {
		if e.Failpoint != "" && e.Killed {
			continue // the crash point it was armed with fired
		}
		res.Problems = append(res.Problems, fmt.Sprintf("%s exited by itself (%s) at %s; see %s",
			e.Node, e.Status, e.At.Format("15:04:05.000"), c.Node(e.Node).LogPath))
	}
	return res, nil
}

// startAttempts bounds the cluster starts of a run: a port picked free
// may be taken by someone else before the node binds it.
const startAttempts = 3

// startCluster starts the run's cluster, again on new ports and in a new
// directory when a node could not bind its address.
func startCluster(cfg Config) (*Cluster, error) {
	args := append(append([]string{}, DefaultNodeArgs...), cfg.NodeArgs...)
	for attempt := 1; ; attempt++ {
		c, err := StartCluster(ClusterConfig{
			Binary: cfg.Binary,
			Dir:    filepath.Join(cfg.WorkDir, fmt.Sprintf("cluster-%d", attempt)),
			LogDir: cfg.ResultsDir,
			Env:    cfg.Env,
			Args:   args,
		})
		if err == nil || attempt == startAttempts || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
		cfg.Logf("start the cluster again on other ports: %v", err)
	}
}

// settledLogs waits for the cluster to be whole and settled, then reads
// every node's log.
func settledLogs(ctx context.Context, c *Cluster) ([]history.NodeLog, error) {
	hctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	// A member added back may still be a non-voter (autopilot promotes it
	// after its stabilization time): that does not keep it from holding
	// the log, which Settle alone decides.
	_ = c.WaitHealthy(hctx)
	sctx, cancel2 := context.WithTimeout(ctx, settleTimeout)
	defer cancel2()
	if err := c.Settle(sctx); err != nil {
		return nil, err
	}
	var logs []history.NodeLog
	for _, n := range c.Nodes {
		l, err := readLog(ctx, c, n)
		if err != nil {
			return nil, err
		}
		logs = append(logs, l)
	}
	return logs, nil
}

// readLog consumes n's whole log, STALE, from n alone.
func readLog(ctx context.Context, c *Cluster, n *Node) (history.NodeLog, error) {
	ctx, cancel := context.WithTimeout(ctx, readLogTimeout)
	defer cancel()
	cl, err := c.DialDirect(ctx, n)
	if err != nil {
		return history.NodeLog{}, fmt.Errorf("read the log of %s: %w", n.ID, err)
	}
	defer cl.Close()
	cons := client.NewConsumer(cl, 0, &client.ConsumerOptions{Consistency: client.ConsistencyStale, MaxRetries: 5})
	defer cons.Close()
	l := history.NodeLog{Node: n.ID}
	for {
		rec, err := cons.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return history.NodeLog{}, fmt.Errorf("read the log of %s at offset %d: %w", n.ID, cons.Position(), err)
		}
		l.Records = append(l.Records, history.Record{
			Offset:    rec.Offset,
			Key:       string(rec.Key),
			Value:     string(rec.Value),
			Tombstone: rec.Type == client.RecordTombstone,
		})
	}
	l.Next = cons.HighWaterMark()
	return l, nil
}

// servesLinearizableRead waits for the cluster to answer a LINEARIZABLE
// read through the cluster-aware client.
func servesLinearizableRead(ctx context.Context, c *Cluster) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	cl, err := c.Dial(ctx, nil, client.WithTimeout(2*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	for {
		_, err := cl.Get(ctx, []byte("k0"))
		if err == nil || errors.Is(err, client.ErrNotFound) {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no linearizable read within %v: %w", readyTimeout, err)
		}
		sleep(ctx, pollInterval)
	}
}
