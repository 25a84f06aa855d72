package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/internal/metricstest"
)

var metricsOnRE = regexp.MustCompile(`metrics on (\S+)\n`)

// metricsURL is the base URL of the metrics server s printed.
func metricsURL(t *testing.T, s *servedCLI) string {
	t.Helper()
	m := metricsOnRE.FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("serve printed no metrics address: %q", s.stdout.String())
	}
	return "http://" + m[1]
}

// waitReady polls url's /readyz until it answers 200, for up to d.
func waitReady(t *testing.T, url string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, body := metricstest.Get(t, url+"/readyz")
		if code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %q after %v", code, body, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServe_Metrics(t *testing.T) {
	s := startServeCLI(t, nil, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--segment-bytes", "64KiB",
		"--metrics-addr", "127.0.0.1:0")
	url := metricsURL(t, s)
	for _, path := range []string{"/livez", "/readyz"} {
		if code, body := metricstest.Get(t, url+path); code != http.StatusOK || body != "ok\n" {
			t.Fatalf("GET %s = %d %q, want 200 ok", path, code, body)
		}
	}

	kv := dialKV(t, s.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		if _, err := kv.Put(ctx, &caskadev1.PutRequest{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Get(ctx, &caskadev1.GetRequest{Key: []byte("k1")}); err != nil {
		t.Fatal(err)
	}

	f := metricstest.Scrape(t, url+"/metrics")
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"caskade_grpc_server_handled_total", []string{"grpc_service", "caskade.v1.KV", "grpc_method", "Put", "grpc_code", "OK"}, 3},
		{"caskade_grpc_server_handled_total", []string{"grpc_service", "caskade.v1.KV", "grpc_method", "Get", "grpc_code", "OK"}, 1},
		{"caskade_engine_keys", nil, 3},
		{"caskade_engine_next_offset", nil, 4},
		{"caskade_build_info", []string{"version", "dev"}, 1},
	} {
		if got, ok := f.Value(tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if n, _ := f.Count("caskade_grpc_server_handling_seconds", "grpc_method", "Put"); n != 3 {
		t.Errorf("Put latency samples = %d, want 3", n)
	}
	// --sync always (the default): an fsync per Put at least, each timed.
	fsyncs, _ := f.Value("caskade_engine_fsyncs_total")
	if n, ok := f.Count("caskade_engine_fsync_seconds"); !ok || n == 0 || float64(n) != fsyncs {
		t.Errorf("fsync histogram samples = %d (found %v), want as many as caskade_engine_fsyncs_total (%v) and more than 0", n, ok, fsyncs)
	}
	if !strings.Contains(s.stderr.String(), "msg=metrics") {
		t.Errorf("the metrics address was not logged:\n%s", s.stderr.String())
	}

	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit %d: %s", code, s.stderr.String())
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "http://"), time.Second); err == nil {
		t.Fatal("the metrics server still accepts connections after serve stopped")
	}
}

// A one-node cluster (serve with cluster flags) is ready once it leads.
func TestServe_Metrics_Cluster(t *testing.T) {
	s := startServeCLI(t, nil, "--listen", "127.0.0.1:0", "--serf-addr", "127.0.0.1:0", "--bootstrap-expect", "1",
		"--data-dir", t.TempDir(), "--metrics-addr", "127.0.0.1:0", "--log-level", "warn")
	url := metricsURL(t, s)
	waitReady(t, url, 30*time.Second)
	f := metricstest.Scrape(t, url+"/metrics")
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"caskade_raft_state", []string{"state", "leader"}, 1},
		{"caskade_raft_leader_known", nil, 1},
		{"caskade_serf_members", []string{"status", "alive"}, 1},
	} {
		if got, ok := f.Value(tt.name, tt.labels...); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if _, ok := f.Value("caskade_engine_keys"); !ok {
		t.Error("no caskade_engine_keys")
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit %d: %s", code, s.stderr.String())
	}
}

func TestServe_Metrics_BadAddr(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	for _, tt := range []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		errPart string
	}{
		{"no port", nil, []string{"--metrics-addr", "127.0.0.1"}, exitUsage, `--metrics-addr "127.0.0.1"`},
		{"port out of range", nil, []string{"--metrics-addr", "127.0.0.1:99999"}, exitUsage, "--metrics-addr"},
		{"named port", nil, []string{"--metrics-addr", "localhost:http"}, exitUsage, "bad port"},
		{"from the environment", map[string]string{"CASKADE_METRICS_ADDR": "nonsense"}, nil, exitUsage, "--metrics-addr"},
		{"in use", nil, []string{"--metrics-addr", busy.Addr().String()}, exitFailure, "--metrics-addr " + busy.Addr().String()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"CASKADE_DATA_DIR": filepath.Join(dir, tt.name)}
			for k, v := range tt.env {
				env[k] = v
			}
			r := runCLI(t, env, "", append([]string{"serve", "--listen", "127.0.0.1:0"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.errPart) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", r.code, r.stderr, tt.code, tt.errPart)
			}
			if strings.Contains(r.stdout, "listening on") {
				t.Fatalf("served gRPC despite the bad --metrics-addr: %q", r.stdout)
			}
			if _, err := os.Stat(env["CASKADE_DATA_DIR"]); err == nil {
				t.Fatal("a refused serve created the store")
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	for _, tt := range []struct {
		state   serveState
		errPart string // "" means ready
	}{
		{stateStarting, "starting"},
		{stateServing, ""},
		{stateStopping, "shutting down"},
	} {
		var r readiness
		r.set(tt.state)
		err := r.check()
		if (tt.errPart == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.errPart)) {
			t.Errorf("state %d: check() = %v, want %q", tt.state, err, tt.errPart)
		}
	}
}
