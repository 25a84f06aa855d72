package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/certs"
	"github.com/caskade/caskade/engine"
)

// serveOutput is a bytes.Buffer safe for concurrent use: the server writes
// while the test reads.
type serveOutput struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *serveOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *serveOutput) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// servedCLI is `caskade serve` running in-process.
type servedCLI struct {
	addr           string
	stdout, stderr *serveOutput
	cancel         context.CancelFunc
	code           chan int
}

var listeningRE = regexp.MustCompile(`listening on (\S+)\n`)

// startServeCLI runs `caskade serve args...` with env until the test stops
// it, and waits for it to print its address.
func startServeCLI(t *testing.T, env map[string]string, args ...string) *servedCLI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &servedCLI{stdout: &serveOutput{}, stderr: &serveOutput{}, cancel: cancel, code: make(chan int, 1)}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() {
		s.code <- run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), s.stdout, s.stderr, lookup)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listeningRE.FindStringSubmatch(s.stdout.String()); m != nil {
			s.addr = m[1]
			break
		}
		select {
		case code := <-s.code:
			cancel()
			t.Fatalf("serve exited with %d before listening: %s", code, s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not print its address in 10s; stderr: %s", s.stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop cancels the server's context (as SIGTERM does) and returns its exit
// code.
func (s *servedCLI) stop(t *testing.T) int {
	t.Helper()
	if s.cancel == nil {
		return 0
	}
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.code:
		return code
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop in 15s")
	}
	return -1
}

func dialKV(t *testing.T, addr string) caskadev1.KVClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return caskadev1.NewKVClient(conn)
}

func TestServe_StartServeStop(t *testing.T) {
	dir := t.TempDir()
	s := startServeCLI(t, nil, "--listen", "127.0.0.1:0", "--data-dir", dir, "--segment-bytes", "64KiB", "--log-format", "json")
	kv := dialKV(t, s.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	put, err := kv.Put(ctx, &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := kv.Get(ctx, &caskadev1.GetRequest{Key: []byte("k")})
	if err != nil || string(got.Item.Value) != "v" {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit code %d after shutdown; stderr: %s", code, s.stderr.String())
	}
	logs := s.stderr.String()
	for _, want := range []string{`"msg":"serving"`, `"msg":"shutting down"`, `"msg":"store closed"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
	// The store was closed cleanly: it opens, with the write in it.
	db, err := engine.Open(dir, &engine.Options{SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if it, err := db.Get([]byte("k")); err != nil || it.Offset != put.Offset {
		t.Fatalf("after shutdown: %v, %v", it, err)
	}
}

// The config file sets flags by name; the environment wins over it and the
// command line over both.
func TestServe_ConfigEnvFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ name, file, body string }{
		{"yaml", "caskade.yaml", "listen: 127.0.0.1:1\ndata-dir: " + filepath.Join(dir, "from-file") + "\nsync: never\nsegment-bytes: 65536\nlog-level: debug\nnode-id: file-node\n"},
		{"toml", "caskade.toml", "listen = \"127.0.0.1:1\"\ndata-dir = \"" + filepath.Join(dir, "from-file") + "\"\nsync = \"never\"\nsegment-bytes = 65536\nlog-level = \"debug\"\nnode-id = \"file-node\"\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := filepath.Join(dir, tt.file)
			if err := os.WriteFile(cfg, []byte(tt.body), 0o644); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{
				"CASKADE_CONFIG":   cfg,
				"CASKADE_DATA_DIR": filepath.Join(dir, "from-env"),
				"CASKADE_NODE_ID":  "env-node",
			}
			s := startServeCLI(t, env, "--listen", "127.0.0.1:0", "--node-id", "flag-node")
			conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			st, err := caskadev1.NewClusterClient(conn).Status(ctx, &caskadev1.StatusRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if st.NodeId != "flag-node" || st.SyncMode != "never" {
				t.Fatalf("node %q sync %q, want flag-node (flag) and never (file)", st.NodeId, st.SyncMode)
			}
			if !strings.Contains(s.stderr.String(), "level=DEBUG") {
				t.Errorf("log-level debug from the file not applied:\n%s", s.stderr.String())
			}
			if code := s.stop(t); code != exitOK {
				t.Fatalf("exit %d: %s", code, s.stderr.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "from-env")); err != nil {
				t.Fatalf("the environment's data dir was not used: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "from-file")); err == nil {
				t.Fatal("the file's data dir was used over the environment's")
			}
		})
	}
}

func TestServe_BadSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unknown := write("unknown.yaml", "listen: 127.0.0.1:0\nlisten-addr: x\n")
	badValue := write("bad.toml", "max-value-size = \"lots\"\n")
	certDir := filepath.Join(dir, "certs")
	if _, err := certs.Init(certDir, nil); err != nil {
		t.Fatal(err)
	}
	tlsArgs := []string{"--tls-cert", filepath.Join(certDir, certs.ServerFile), "--tls-key", filepath.Join(certDir, certs.ServerKeyFile),
		"--tls-ca", filepath.Join(certDir, certs.CAFile)}
	badPolicy := write("policy.csv", "p, root, *\n")
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		errPart string
	}{
		{"plaintext off loopback", nil, []string{"--listen", "0.0.0.0:7070"}, "--insecure"},
		{"all interfaces", nil, []string{"--listen", ":7070"}, "loopback"},
		{"bad listen", nil, []string{"--listen", "nonsense"}, "--listen"},
		{"bad env", map[string]string{"CASKADE_LOG_FORMAT": "xml"}, nil, "$CASKADE_LOG_FORMAT"},
		{"bad flag", nil, []string{"--sync", "sometimes"}, "--sync"},
		{"unknown config key", nil, []string{"--config", unknown}, `unknown setting "listen-addr"`},
		{"bad config value", nil, []string{"--config", badValue}, "max-value-size"},
		{"missing config", nil, []string{"--config", filepath.Join(dir, "none.yaml")}, "--config"},
		{"tls cert alone", nil, []string{"--tls-cert", "server.pem"}, "--tls-cert, --tls-key and --tls-ca go together"},
		{"tls ca from env alone", map[string]string{"CASKADE_TLS_CA": "ca.pem"}, nil, "go together"},
		{"policy without tls", nil, []string{"--auth-policy", badPolicy}, "--auth-model and --auth-policy need"},
		{"tls and insecure", nil, append([]string{"--insecure"}, tlsArgs...), "--insecure"},
		{"missing tls files", nil, []string{"--tls-cert", "none.pem", "--tls-key", "none-key.pem", "--tls-ca", "ca.pem"}, "none.pem"},
		{"key of another cert", nil, []string{"--tls-cert", tlsArgs[1], "--tls-key", filepath.Join(certDir, certs.ClientKeyFile("root")), "--tls-ca", tlsArgs[5]}, "--tls-key"},
		{"bad policy", nil, append([]string{"--auth-policy", badPolicy}, tlsArgs...), "line 1"},
		{"missing model", nil, append([]string{"--auth-model", filepath.Join(dir, "none.conf")}, tlsArgs...), "none.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"CASKADE_DATA_DIR": filepath.Join(dir, "data")}
			for k, v := range tt.env {
				env[k] = v
			}
			r := runCLI(t, env, "", append([]string{"serve"}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.errPart) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", r.code, r.stderr, exitUsage, tt.errPart)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
				t.Fatal("a refused serve created the store")
			}
		})
	}
}

// With mutual TLS a node may listen beyond loopback without --insecure.
func TestServe_Validate_TLSOffLoopback(t *testing.T) {
	c := &serveConfig{listen: "0.0.0.0:7070", shutdownTimeout: time.Second,
		tls: tlsFlags{cert: "s.pem", key: "s-key.pem", ca: "ca.pem"}}
	addEngineFlags(pflag.NewFlagSet("serve", pflag.ContinueOnError), &c.store) // the defaults
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	c.tls = tlsFlags{}
	if err := c.validate(); err == nil {
		t.Fatal("plaintext off loopback without --insecure: no error")
	}
}
