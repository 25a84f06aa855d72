//go:build robustness

package robustness

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caskade/caskade/internal/failpoint"
)

// Flags of the suite: go test -tags robustness ./tests/robustness/ -args -seeds 5 ...
var (
	flagSeeds        = flag.Int("seeds", 3, "number of seeded runs of TestRobustness")
	flagSeed         = flag.Uint64("seed", 1, "seed of the first run; the others follow it")
	flagDuration     = flag.Duration("duration", 30*time.Second, "traffic time of each run")
	flagClients      = flag.Int("clients", 8, "concurrent clients of each run")
	flagKeys         = flag.Int("keys", 10, "keys the clients share")
	flagRate         = flag.Int("rate", 0, "operations per second of all clients together; 0: no cap")
	flagFaults       = flag.String("faults", "all", "fault kinds, comma-separated: all, none, or "+joinKinds(AllFaults))
	flagResults      = flag.String("results", "", "folder for the runs' results (default: a new folder in the system's temporary directory)")
	flagKeep         = flag.Bool("keep", false, "keep the node logs of runs that pass")
	flagCheckTimeout = flag.Duration("check-timeout", 2*time.Minute, "porcupine's time budget per check")
	flagBugDuration  = flag.Duration("bug-duration", 10*time.Second, "traffic time of each bug-mode run")
	flagBinary       = flag.String("binary", "", "caskade binary to run (default: build one with -tags failpoints)")
)

// suite is what TestMain prepares for every test.
var suite struct {
	binary     string
	failpoints bool   // binary was built with -tags failpoints
	buildErr   string // why no binary could be built
	results    string // the results folder
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		tmp, err := os.MkdirTemp("", "caskade-robustness-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer os.RemoveAll(tmp)
		buildBinary(tmp)
		suite.results = *flagResults
		if suite.results == "" {
			if suite.results, err = os.MkdirTemp("", "caskade-robustness-"+time.Now().Format("20060102-150405")+"-"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
		}
		fmt.Printf("robustness: binary %s (failpoints: %v), results in %s\n", suite.binary, suite.failpoints, suite.results)
		return m.Run()
	}()
	os.Exit(code)
}

// buildBinary builds cmd/caskade into dir once for every test: with the
// failpoints tag, or without it if that build fails (then failpoint
// faults are skipped and the bug-mode tests fail).
func buildBinary(dir string) {
	if *flagBinary != "" {
		suite.binary, suite.failpoints = *flagBinary, true
		return
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		suite.buildErr = fmt.Sprintf("go env GOMOD: %v", err)
		return
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(dir, "caskade")
	build := func(tags ...string) error {
		args := append([]string{"build"}, tags...)
		cmd := exec.Command("go", append(args, "-o", bin, "./cmd/caskade")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
		}
		return nil
	}
	if err := build("-tags", "failpoints"); err == nil {
		suite.binary, suite.failpoints = bin, true
		return
	} else if err2 := build(); err2 == nil {
		fmt.Fprintf(os.Stderr, "robustness: built without failpoints (failpoint faults skipped, bug modes unavailable): %v\n", err)
		suite.binary = bin
	} else {
		suite.buildErr = err2.Error()
	}
}

// run runs one seeded run named name and returns its result, its
// results folder removed when it passed (unless -keep).
func run(t *testing.T, name string, cfg Config) Result {
	t.Helper()
	if suite.binary == "" {
		t.Fatalf("no caskade binary: %s", suite.buildErr)
	}
	cfg.Binary, cfg.Failpoints = suite.binary, suite.failpoints
	cfg.Clients, cfg.Keys, cfg.Rate = *flagClients, *flagKeys, *flagRate
	cfg.CheckTimeout = *flagCheckTimeout
	cfg.WorkDir = t.TempDir()
	cfg.ResultsDir = filepath.Join(suite.results, name)
	cfg.Logf = t.Logf
	cfg.Cleanup = t.Cleanup
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("%s: %v (node logs in %s)", name, err, cfg.ResultsDir)
	}
	return res
}

// TestRobustness runs -seeds seeded runs of -duration with -faults and
// prints one line per run and a table. A run fails on any violation or
// problem; its folder keeps the node logs, and porcupine's visualization
// and the history when the checker found a violation.
func TestRobustness(t *testing.T) {
	faults, err := ParseFaults(*flagFaults)
	if err != nil {
		t.Fatalf("-faults: %v", err)
	}
	var results []Result
	for i := range *flagSeeds {
		seed := *flagSeed + uint64(i)
		name := fmt.Sprintf("seed-%d", seed)
		t.Run(name, func(t *testing.T) {
			res := run(t, name, Config{Seed: seed, Duration: *flagDuration, Faults: faults})
			results = append(results, res)
			t.Log(res.Line())
			if !res.OK() {
				t.Errorf("%s\n%s", res.Line(), res.Details())
				return
			}
			if !*flagKeep {
				_ = os.RemoveAll(res.ResultsDir)
			}
		})
	}
	if len(results) > 0 {
		t.Logf("%d runs of %v, faults %s, %d clients:\n%s", len(results), *flagDuration, *flagFaults, *flagClients, Table(results))
	}
}

// TestRobustness_BugStaleReads shows that the checker fails a node that
// answers LINEARIZABLE reads from stale state: n3 runs with
// CASKADE_BUGS=stale-linearizable-reads, as a follower (its applies
// trail the leader's by failpoint.StaleLag), and the client pinned to it
// reads from it.
func TestRobustness_BugStaleReads(t *testing.T) {
	if !suite.failpoints {
		t.Fatalf("the bug modes need a binary built with -tags failpoints: %s", suite.buildErr)
	}
	const buggy = "n3"
	res := run(t, "bug-"+failpoint.BugStaleReads, Config{
		Seed:     *flagSeed,
		Duration: *flagBugDuration,
		Env:      map[string][]string{buggy: {failpoint.EnvBugs + "=" + failpoint.BugStaleReads}},
		Prepare: func(ctx context.Context, c *Cluster) error {
			return c.MoveLeadership(ctx, buggy)
		},
	})
	t.Log("bug mode, violations expected: " + res.Line())
	if res.Report.OK() {
		t.Fatalf("the checker found nothing wrong with %s answering LINEARIZABLE reads from stale state:\n%s", buggy, res.Details())
	}
	t.Logf("found, as it should:\n%s", brief(res))
}

// TestRobustness_BugDropAckedWrites shows that the checker fails a leader
// that acknowledges writes it then drops: every node runs with
// CASKADE_BUGS=drop-acked-writes, so whichever leads drops every
// failpoint.DropEvery-th Put.
func TestRobustness_BugDropAckedWrites(t *testing.T) {
	if !suite.failpoints {
		t.Fatalf("the bug modes need a binary built with -tags failpoints: %s", suite.buildErr)
	}
	env := map[string][]string{}
	for _, id := range []string{"n1", "n2", "n3"} {
		env[id] = []string{failpoint.EnvBugs + "=" + failpoint.BugDropAckedWrites}
	}
	res := run(t, "bug-"+failpoint.BugDropAckedWrites, Config{Seed: *flagSeed, Duration: *flagBugDuration, Env: env})
	t.Log("bug mode, violations expected: " + res.Line())
	if res.Report.LostWrites == 0 && res.Report.Linearizable {
		t.Fatalf("the checker found no lost write and a linearizable history with a leader dropping acknowledged writes:\n%s", res.Details())
	}
	t.Logf("found, as it should:\n%s", brief(res))
}

// brief lists the first few violations of a run and where its files
// are.
func brief(r Result) string {
	v := r.Report.Violations
	more := ""
	if len(v) > 3 {
		v, more = v[:3], fmt.Sprintf("\n  … %d more", len(r.Report.Violations)-3)
	}
	return fmt.Sprintf("  %s%s\nresults: %s", strings.Join(v, "\n  "), more, r.ResultsDir)
}
