package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caskade/caskade/internal/rpctest"
)

// serverEnv starts a test server and returns the environment that points
// the client commands at it.
func serverEnv(t *testing.T, opts *rpctest.Options) (*rpctest.Server, map[string]string) {
	t.Helper()
	s := rpctest.Start(t, opts)
	return s, map[string]string{"CASKADE_ENDPOINTS": s.Addr, "CASKADE_TIMEOUT": "5s"}
}

// TestClientCmds_Session runs a session of client commands against one
// server, as a user would, and checks every output and exit code.
func TestClientCmds_Session(t *testing.T) {
	t.Parallel()
	s, env := serverEnv(t, nil)
	cli := func(stdin string, args ...string) result {
		t.Helper()
		return runCLI(t, env, stdin, args...)
	}

	cli("", "put", "app/a", "alpha").want(t, 0, "1\n", "")
	cli("", "put", "app/b", "beta").want(t, 0, "2\n", "")
	cli("bin\x00\xff", "put", "app/c").want(t, 0, "3\n", "") // value from stdin
	cli("", "put", "other", "x\ty").want(t, 0, "4\n", "")
	cli("", "put", "tmp", "soon gone", "--ttl", "1h").want(t, 0, "5\n", "")

	cli("", "get", "app/a").want(t, 0, "alpha", "")
	cli("", "get", "app/c", "--stale").want(t, 0, "bin\x00\xff", "")
	cli("", "get", "missing").want(t, exitNo, "", "caskade: key not found: missing\n")

	// Scans: all, prefix, range, pages, keys only.
	cli("", "scan").want(t, 0, "app/a\talpha\napp/b\tbeta\napp/c\t\"bin\\x00\\xff\"\nother\t\"x\\ty\"\ntmp\tsoon gone\n", "")
	cli("", "scan", "--prefix", "app/", "--keys-only").want(t, 0, "app/a\napp/b\napp/c\n", "")
	cli("", "scan", "--start", "app/b", "--end", "tmp", "--keys-only").want(t, 0, "app/b\napp/c\nother\n", "")
	cli("", "scan", "--prefix", "app/", "--limit", "2").want(t, 0, "app/a\talpha\napp/b\tbeta\n", "more keys: continue with --start app/c\n")
	cli("", "scan", "--prefix", "app/", "--limit", "2", "--start", "app/c", "--keys-only").want(t, 0, "app/c\n", "")
	cli("", "scan", "--prefix", "app/", "--limit", "3").want(t, 0, "app/a\talpha\napp/b\tbeta\napp/c\t\"bin\\x00\\xff\"\n", "")
	cli("", "scan", "--prefix", "zzz").want(t, 0, "", "")

	// Delete.
	cli("", "del", "app/b").want(t, 0, "6\n", "")
	cli("", "del", "app/b").want(t, exitNo, "", "caskade: key not found: app/b\n")

	// Compare and swap.
	cli("", "cas", "lock", "0", "mine").want(t, 0, "7\n", "")
	cli("", "cas", "lock", "0", "yours").want(t, exitNo, "", "caskade: compare-and-swap failed: key lock exists at offset 7, expected absent (0)\n")
	cli("", "cas", "lock", "3", "yours").want(t, exitNo, "", "caskade: compare-and-swap failed: key lock is at offset 7, expected 3\n")
	cli("", "cas", "nolock", "3", "v").want(t, exitNo, "", "caskade: compare-and-swap failed: key nolock is absent, expected offset 3\n")
	cli("released", "cas", "lock", "7").want(t, 0, "8\n", "")
	cli("", "get", "lock").want(t, 0, "released", "")

	// Produce: one argument, several (one batch), stdin lines (a stream).
	cli("", "produce", "m0").want(t, 0, "9\n", "")
	cli("", "produce", "m1", "m2").want(t, 0, "10\n11\n", "")
	cli("line a\n\nline c\r\n", "produce").want(t, 0, "12\n13\n14\n", "")
	cli("", "produce").want(t, 0, "", "") // no lines, no records

	// Consume everything, a window, and past the end.
	cli("", "consume").want(t, 0, strings.Join([]string{
		"1\tput\tapp/a\talpha",
		"2\tput\tapp/b\tbeta",
		"3\tput\tapp/c\t\"bin\\x00\\xff\"",
		"4\tput\tother\t\"x\\ty\"",
		"5\tput\ttmp\tsoon gone",
		"6\ttombstone\tapp/b",
		"7\tput\tlock\tmine",
		"8\tput\tlock\treleased",
		"9\tmessage\t\tm0",
		"10\tmessage\t\tm1",
		"11\tmessage\t\tm2",
		"12\tmessage\t\tline a",
		"13\tmessage\t\t",
		"14\tmessage\t\tline c",
	}, "\n")+"\n", "")
	cli("", "consume", "--from", "6", "--limit", "2").want(t, 0, "6\ttombstone\tapp/b\n7\tput\tlock\tmine\n",
		"more records: continue with --from 8 (high-water mark 15)\n")
	cli("", "consume", "--prefix", "lock").want(t, 0, "7\tput\tlock\tmine\n8\tput\tlock\treleased\n", "")
	cli("", "consume", "--from", "15").want(t, 0, "", "")
	cli("", "consume", "--from", "16").want(t, exitNo, "", "caskade: --from 16 is past the end of the log (next offset 15)\n")

	// Compact (one segment: nothing sealed to merge), and a request out
	// of time.
	cli("", "compact").want(t, 0, "nothing to compact\n", "")
	cli("", "get", "app/a", "--timeout", "1ns").want(t, exitFailure, "", "deadline exceeded (--timeout 1ns)\n")

	// Status.
	r := cli("", "status")
	if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "node             test ("+s.Addr+")\n") ||
		!strings.Contains(r.stdout, "next offset      15\n") || !strings.Contains(r.stdout, "role             leader") {
		t.Fatalf("status: %+v", r)
	}
}

// TestClientCmds_JSON checks -o json of every client command.
func TestClientCmds_JSON(t *testing.T) {
	t.Parallel()
	s, env := serverEnv(t, nil)
	env["CASKADE_OUTPUT"] = "json"
	cli := func(stdin string, args ...string) result {
		t.Helper()
		return runCLI(t, env, stdin, args...)
	}
	cli("", "put", "k", "v").want(t, 0, `{"offset":1}`+"\n", "")
	cli("\xff", "put", "bin", "--ttl", "1h").want(t, 0, `{"offset":2}`+"\n", "")
	cli("", "del", "k").want(t, 0, `{"offset":3}`+"\n", "")
	cli("", "cas", "c", "0", "x").want(t, 0, `{"offset":4}`+"\n", "")
	cli("", "produce", "a", "b").want(t, 0, `{"offset":5}`+"\n"+`{"offset":6}`+"\n", "")
	cli("l1\nl2\n", "produce").want(t, 0, `{"offset":7}`+"\n"+`{"offset":8}`+"\n", "")
	cli("", "get", "k").want(t, exitNo, "", "key not found: k")

	var it jsonItem
	decode(t, cli("", "get", "bin"), &it)
	if it.Key != "bin" || it.Value == nil || it.ValueEncoding != "base64" || it.Offset != 2 {
		t.Fatalf("get -o json: %+v", it)
	}
	if v, _ := base64.StdEncoding.DecodeString(*it.Value); string(v) != "\xff" {
		t.Fatalf("get -o json value %q", v)
	}
	if exp, err := time.Parse(time.RFC3339Nano, it.Expiry); err != nil || time.Until(exp) < 59*time.Minute {
		t.Fatalf("get -o json expiry %q: %v", it.Expiry, err)
	}
	if ts, err := time.Parse(time.RFC3339Nano, it.Timestamp); err != nil || time.Since(ts) > time.Minute {
		t.Fatalf("get -o json timestamp %q: %v", it.Timestamp, err)
	}

	var page jsonScan
	decode(t, cli("", "scan", "--limit", "1"), &page)
	if len(page.Items) != 1 || page.Items[0].Key != "bin" || page.Next == nil || *page.Next != "c" {
		t.Fatalf("scan -o json: %+v", page)
	}
	page = jsonScan{}
	decode(t, cli("", "scan", "--keys-only"), &page)
	if len(page.Items) != 2 || page.Items[1].Key != "c" || page.Items[1].Value != nil || page.Next != nil {
		t.Fatalf("scan --keys-only -o json: %+v", page)
	}

	var cons jsonConsume
	decode(t, cli("", "consume", "--from", "2", "--limit", "2"), &cons)
	if len(cons.Records) != 2 || cons.Next != 4 || cons.HighWaterMark != 9 {
		t.Fatalf("consume -o json: %+v", cons)
	}
	if r := cons.Records[1]; r.Offset != 3 || r.Type != "tombstone" || r.Key != "k" || r.Value != nil {
		t.Fatalf("consume -o json tombstone: %+v", r)
	}
	cons = jsonConsume{}
	decode(t, cli("", "consume", "--from", "9"), &cons)
	if len(cons.Records) != 0 || cons.Next != 9 || cons.HighWaterMark != 9 {
		t.Fatalf("consume -o json at the end: %+v", cons)
	}
	// Following: one record per line.
	r := cli("", "consume", "--follow", "--from", "7", "--limit", "2")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 2 {
		t.Fatalf("consume --follow -o json: %+v", r)
	}
	var rec jsonRecord
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil || rec.Offset != 8 || rec.Type != "message" || *rec.Value != "l2" {
		t.Fatalf("consume --follow -o json line %q: %v", lines[1], err)
	}

	var st jsonStatus
	decode(t, cli("", "status"), &st)
	if st.NodeID != "test" || st.RPCAddr != s.Addr || !st.IsLeader || st.NextOffset != 9 || st.Keys != 2 || st.SyncMode != "never" {
		t.Fatalf("status -o json: %+v", st)
	}
	var cr jsonCompact
	decode(t, cli("", "compact"), &cr)
	if cr.BytesBefore != cr.BytesAfter+cr.BytesReclaimed {
		t.Fatalf("compact -o json: %+v", cr)
	}
}

// TestClientCmds_EmptyStore checks the commands on a server with no
// records.
func TestClientCmds_EmptyStore(t *testing.T) {
	t.Parallel()
	_, env := serverEnv(t, nil)
	runCLI(t, env, "", "scan").want(t, 0, "", "")
	runCLI(t, env, "", "consume").want(t, 0, "", "")
	var cons jsonConsume
	decode(t, runCLI(t, env, "", "consume", "-o", "json"), &cons)
	if len(cons.Records) != 0 || cons.Next != 1 || cons.HighWaterMark != 1 {
		t.Fatalf("consume -o json of an empty log: %+v", cons)
	}
}

// TestClientCmds_ProduceStdinStream produces many lines, in several
// batches, and checks every offset comes back once, in order.
func TestClientCmds_ProduceStdinStream(t *testing.T) {
	t.Parallel()
	s, env := serverEnv(t, nil)
	const n = 5000
	var in, want strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "message %d\n", i)
		fmt.Fprintf(&want, "%d\n", i+1)
	}
	runCLI(t, env, in.String(), "produce").want(t, 0, want.String(), "")
	recs, _, err := s.DB.ReadFrom(n, 1)
	if err != nil || len(recs) != 1 || string(recs[0].Value) != fmt.Sprintf("message %d", n-1) {
		t.Fatalf("last record: %v %v", recs, err)
	}
}

// TestClientCmds_ProduceRefused checks that a line over the server's limit
// stops produce with exit code 2, after the lines before it.
func TestClientCmds_ProduceRefused(t *testing.T) {
	t.Parallel()
	s, env := serverEnv(t, nil)
	long := strings.Repeat("x", rpctest.MaxValueSize+1)
	r := runCLI(t, env, "a\nb\n"+long+"\n", "produce")
	if r.code != exitUsage || r.stderr != "caskade: stdin line 3: value of 1025 bytes is over the limit of 1024\n" {
		t.Fatalf("produce of a long line: %+v", r)
	}
	if next := s.DB.NextOffset(); next != 1 {
		t.Fatalf("next offset %d: the refused batch was written", next)
	}
	runCLI(t, env, "", "produce", "ok", long).want(t, exitUsage, "", "caskade: argument VALUE 2: value of 1025 bytes is over the limit of 1024\n")
	runCLI(t, env, "", "produce", long).want(t, exitUsage, "", "caskade: argument VALUE: value of 1025 bytes is over the limit of 1024\n")
	if next := s.DB.NextOffset(); next != 1 {
		t.Fatalf("next offset %d: a refused value was written", next)
	}
}

// TestClientCmds_BadInput checks that bad flags, arguments and variables
// give exit code 2, a one-line message naming the culprit, and no write.
func TestClientCmds_BadInput(t *testing.T) {
	t.Parallel()
	s, baseEnv := serverEnv(t, nil)
	runCLI(t, baseEnv, "", "put", "k", "orig").want(t, 0, "1\n", "")
	long := strings.Repeat("k", rpctest.MaxKeySize+1)
	big := strings.Repeat("v", rpctest.MaxValueSize+1)
	tests := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		err   string // part of the message
	}{
		{name: "bad output", args: []string{"get", "k", "-o", "xml"}, err: `invalid argument "xml" for "-o, --output" flag`},
		{name: "bad output env", env: map[string]string{"CASKADE_OUTPUT": "yaml"}, args: []string{"get", "k"}, err: `$CASKADE_OUTPUT="yaml"`},
		{name: "bad endpoint", args: []string{"get", "k", "--endpoints", "localhost"}, err: `--endpoints: "localhost" is not host:port`},
		{name: "bad endpoint env", env: map[string]string{"CASKADE_ENDPOINTS": "a:1,b"}, args: []string{"put", "k", "v"}, err: `--endpoints: "b" is not host:port`},
		{name: "empty endpoints", args: []string{"put", "k", "v", "--endpoints", ""}, err: "--endpoints is empty"},
		{name: "negative timeout", args: []string{"put", "k", "v", "--timeout", "-1s"}, err: "--timeout -1s"},
		{name: "timeout not a duration", args: []string{"put", "k", "v", "--timeout", "soon"}, err: `"--timeout" flag`},
		{name: "timeout env", env: map[string]string{"CASKADE_TIMEOUT": "soon"}, args: []string{"put", "k", "v"}, err: `$CASKADE_TIMEOUT="soon"`},
		{name: "empty key put", args: []string{"put", "", "v"}, err: "argument KEY is empty"},
		{name: "empty key get", args: []string{"get", ""}, err: "argument KEY is empty"},
		{name: "empty key del", args: []string{"del", ""}, err: "argument KEY is empty"},
		{name: "key over limit", args: []string{"put", long, "v"}, err: "caskade: argument KEY: key of 65 bytes is over the limit of 64\n"},
		{name: "key over limit get", args: []string{"get", long}, err: "argument KEY: key of 65 bytes"},
		{name: "key over limit cas", args: []string{"cas", long, "0", "v"}, err: "argument KEY: "},
		{name: "value over limit", args: []string{"put", "k", big}, err: "caskade: argument VALUE: value of 1025 bytes is over the limit of 1024\n"},
		{name: "stdin value over limit", stdin: big, args: []string{"put", "k"}, err: "argument VALUE: "},
		{name: "cas value over limit", args: []string{"cas", "k", "1", big}, err: "argument VALUE"},
		{name: "cas offset not a number", args: []string{"cas", "k", "one", "v"}, err: `argument EXPECTED_OFFSET: "one" is not an offset`},
		{name: "cas offset missing", args: []string{"cas", "k"}, err: "missing argument EXPECTED_OFFSET"},
		{name: "put key missing", args: []string{"put"}, err: "missing argument KEY"},
		{name: "put extra argument", args: []string{"put", "k", "v", "w"}, err: `unexpected argument "w"`},
		{name: "negative ttl", args: []string{"put", "k", "v", "--ttl", "-1s"}, err: "--ttl -1s"},
		{name: "ttl not a duration", args: []string{"put", "k", "v", "--ttl", "soon"}, err: `"--ttl" flag`},
		{name: "negative limit", args: []string{"scan", "--limit", "-1"}, err: "--limit -1"},
		{name: "end before start", args: []string{"scan", "--start", "b", "--end", "a"}, err: `--end "a" is before --start "b"`},
		{name: "start outside prefix", args: []string{"scan", "--prefix", "a", "--start", "b"}, err: "--prefix/--start/--end: "},
		{name: "scan argument", args: []string{"scan", "k"}, err: `unknown command "k"`},
		{name: "from not a number", args: []string{"consume", "--from", "start"}, err: `"--from" flag`},
		{name: "negative consume limit", args: []string{"consume", "--limit", "-1"}, err: "--limit -1"},
		{name: "snapshot without file", args: []string{"snapshot", "save"}, err: "missing argument FILE"},
		{name: "snapshot to a directory", args: []string{"snapshot", "save", os.TempDir()}, err: "is a directory"},
		{name: "snapshot unknown command", args: []string{"snapshot", "load", "f"}, err: `unknown command "load" for "caskade snapshot"`},
		{name: "unknown flag", args: []string{"get", "k", "--colour"}, err: "unknown flag: --colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range baseEnv {
				env[k] = v
			}
			for k, v := range tt.env {
				env[k] = v
			}
			r := runCLI(t, env, tt.stdin, tt.args...)
			r.want(t, exitUsage, "", tt.err)
			if n := len(r.stderr); n == 0 || r.stderr[n-1] != '\n' || countLines(r.stderr) != 1 {
				t.Errorf("stderr %q is not one line", r.stderr)
			}
			if next := s.DB.NextOffset(); next != 2 {
				t.Errorf("after a refused command: next offset %d, want 2", next)
			}
		})
	}
}

// TestClientCmds_Unavailable checks the exit code and message when no
// server answers.
func TestClientCmds_Unavailable(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	env := map[string]string{"CASKADE_ENDPOINTS": addr}
	for _, args := range [][]string{{"get", "k"}, {"put", "k", "v"}, {"status"}, {"consume"}, {"produce", "a", "b"}} {
		r := runCLI(t, env, "", args...)
		r.want(t, exitFailure, "", "unavailable")
		if !strings.Contains(r.stderr, "(--endpoints "+addr+")") {
			t.Errorf("%v: stderr %q does not name the endpoints", args, r.stderr)
		}
	}
}

// TestClientCmds_ConsumeFollow follows the log while records are produced,
// and checks that an interrupt ends it with exit code 130.
func TestClientCmds_ConsumeFollow(t *testing.T) {
	t.Parallel()
	_, env := serverEnv(t, nil)
	runCLI(t, env, "", "produce", "a").want(t, 0, "1\n", "")
	out := newSyncBuffer()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	go func() {
		done <- run(ctx, []string{"consume", "--follow"}, strings.NewReader(""), out, io.Discard, lookup)
	}()
	waitFor(t, "the first record", func() bool { return out.String() == "1\tmessage\t\ta\n" })
	runCLI(t, env, "", "produce", "b", "c").want(t, 0, "2\n3\n", "")
	waitFor(t, "the new records", func() bool { return out.String() == "1\tmessage\t\ta\n2\tmessage\t\tb\n3\tmessage\t\tc\n" })
	cancel()
	select {
	case code := <-done:
		if code != exitInterrupted {
			t.Fatalf("exit code %d after interrupt, want %d", code, exitInterrupted)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("consume --follow did not end after the interrupt")
	}
	// With --limit it ends by itself.
	runCLI(t, env, "", "consume", "--follow", "--from", "2", "--limit", "2").want(t, 0, "2\tmessage\t\tb\n3\tmessage\t\tc\n", "")
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  chan struct{} // a one-slot semaphore guarding buf
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
