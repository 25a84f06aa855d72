package agent

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/metricstest"
	"github.com/caskade/caskade/metrics"
	"github.com/caskade/caskade/replication"
)

// metricsNode is an agent with membership and its metrics endpoint.
type metricsNode struct {
	*Agent
	url string // base URL of the metrics server
}

// startMetricsNode starts an agent like startSerfAgent does (but with
// Raft's default timeouts), with a registry of its own served on a
// loopback port.
func startMetricsNode(t *testing.T, id string, join []string) metricsNode {
	t.Helper()
	reg := metrics.NewRegistry("test")
	// Raft's default timeouts (no Tune): fastRaft's elections flap on a
	// loaded machine, and the test waits for a steady leader.
	a, err := Start(Config{
		NodeID:          id,
		Addr:            "127.0.0.1:0",
		Dir:             t.TempDir(),
		Engine:          engine.Options{Compaction: engine.CompactionOptions{Disabled: true}},
		SerfAddr:        "127.0.0.1:0",
		Join:            join,
		BootstrapExpect: 3,
		SerfTiming:      replication.TimingLocal,
		TuneAutopilot:   fastAutopilot,
		Metrics:         reg,
	})
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { a.Close() })
	s, err := metrics.Listen("127.0.0.1:0", metrics.NewHandler(reg, a.Ready), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return metricsNode{Agent: a, url: "http://" + s.Addr()}
}

// scrapeAll scrapes the metrics of every node.
func scrapeAll(t *testing.T, nodes []metricsNode) []metricstest.Families {
	t.Helper()
	out := make([]metricstest.Families, len(nodes))
	for i, n := range nodes {
		out[i] = metricstest.Scrape(t, n.url+metrics.MetricsPath)
	}
	return out
}

// pollScrapes is waitFor for conditions that scrape: it polls every
// 100 ms, since scraping three nodes costs the nodes CPU that a loaded
// machine needs for their heartbeats.
func pollScrapes(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCluster_MetricsAndReadiness(t *testing.T) {
	n0 := startMetricsNode(t, "n0", nil)
	join := []string{n0.Membership().Addr()}
	nodes := []metricsNode{n0, startMetricsNode(t, "n1", join), startMetricsNode(t, "n2", join)}

	// Ready everywhere once the cluster has formed and caught up.
	for _, n := range nodes {
		pollScrapes(t, 30*time.Second, n.ID()+" /readyz 200", func() bool {
			code, _ := metricstest.Get(t, n.url+metrics.ReadyPath)
			return code == http.StatusOK
		})
		if code, body := metricstest.Get(t, n.url+metrics.LivePath); code != http.StatusOK {
			t.Fatalf("%s /livez = %d %q", n.ID(), code, body)
		}
	}

	// Three writes, retried across a leader change (this machine may be
	// loaded enough for one); the same keys, so a write applied twice
	// changes nothing below.
	cl := (&testCluster{t: t}).client(n0.Agent)
	for i := range 3 {
		key := fmt.Appendf(nil, "k%d", i)
		waitFor(t, 30*time.Second, fmt.Sprintf("Put %s", key), func() bool {
			_, err := cl.Put(ctxT(t), key, []byte("v"))
			return err == nil
		})
	}

	// Eventually (leadership may move meanwhile) exactly one node reports
	// itself leader and every node knows a leader, 3 alive members and
	// the 3 keys.
	var fams []metricstest.Families
	pollScrapes(t, 30*time.Second, "one leader, known everywhere, 3 members and 3 keys on every node", func() bool {
		fams = scrapeAll(t, nodes)
		leaders := 0.0
		for _, f := range fams {
			v, _ := f.Value("caskade_raft_state", "state", "leader")
			leaders += v
			known, _ := f.Value("caskade_raft_leader_known")
			alive, _ := f.Value("caskade_serf_members", "status", "alive")
			keys, _ := f.Value("caskade_engine_keys")
			if known != 1 || alive != 3 || keys != 3 {
				return false
			}
		}
		return leaders == 1
	})
	puts := 0.0
	for i, f := range fams {
		id := nodes[i].ID()
		if s, _ := f.Value("caskade_raft_state"); s != 1 {
			t.Errorf("%s: caskade_raft_state sums to %v over the states, want 1", id, s)
		}
		if v, ok := f.Value("caskade_serf_members", "status", "failed"); !ok || v != 0 {
			t.Errorf("%s: caskade_serf_members{status=failed} = %v (found %v), want 0", id, v, ok)
		}
		for _, name := range []string{"caskade_raft_term", "caskade_raft_commit_index", "caskade_raft_applied_index",
			"caskade_raft_last_index", "caskade_raft_leader_changes_total", "caskade_engine_next_offset"} {
			if v, ok := f.Value(name); !ok || v < 1 {
				t.Errorf("%s: %s = %v (found %v), want at least 1", id, name, v, ok)
			}
		}
		v, _ := f.Value("caskade_grpc_server_handled_total", "grpc_method", "Put", "grpc_code", "OK")
		puts += v
	}
	if puts < 3 {
		t.Errorf("Put calls answered OK over all nodes: %v, want at least 3", puts)
	}
	// Raft's own go-metrics, through the process-wide sink that every
	// node's registry shows.
	if n, ok := fams[0].Count("caskade_raft_commitTime"); !ok || n == 0 {
		t.Errorf("caskade_raft_commitTime has %d samples (found %v), want some", n, ok)
	}

	// A closing node is no longer ready, but still live.
	n2 := nodes[2]
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	code, body := metricstest.Get(t, n2.url+metrics.ReadyPath)
	if code != http.StatusServiceUnavailable || body != "not ready: shutting down\n" {
		t.Fatalf("closed node /readyz = %d %q, want 503 shutting down", code, body)
	}
	if code, _ := metricstest.Get(t, n2.url+metrics.LivePath); code != http.StatusOK {
		t.Fatalf("closed node /livez = %d, want 200 (the process still serves)", code)
	}
}
