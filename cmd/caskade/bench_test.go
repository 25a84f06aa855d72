package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caskade/caskade/bench"
)

// TestBench_BadFlags checks that bad flags and combinations exit with
// code 2, name the flag, and send nothing: the endpoint is a closed port,
// so a run that got as far as dialing would fail otherwise.
func TestBench_BadFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"CASKADE_ENDPOINTS": closedAddr(t)}
	tests := []struct {
		name string
		args []string
		want []string // parts of stderr
	}{
		{"neither total nor duration", []string{"put"}, []string{"give --total N (operations) or --duration D"}},
		{"both total and duration", []string{"put", "--total", "10", "--duration", "1s"}, []string{"--total and --duration: give one of them"}},
		{"zero total", []string{"put", "--total", "0"}, []string{"--total 0: want at least 1"}},
		{"negative duration", []string{"produce", "--duration", "-1s"}, []string{"--duration -1s"}},
		{"bad duration", []string{"produce", "--duration", "soon"}, []string{`invalid argument "soon" for "--duration"`}},
		{"zero clients", []string{"put", "--total", "5", "--clients", "0"}, []string{"--clients 0: want at least 1"}},
		{"key too short", []string{"get", "--total", "5", "--keys", "100000", "--key-size", "8"}, []string{`--key-size 8 is too small for --keys 100000: keys are "bench-" and 5 digits, want at least 11`}},
		{"key size zero", []string{"put", "--total", "5", "--key-size", "0"}, []string{`"--key-size" flag`}},
		{"value size over the limit", []string{"put", "--total", "5", "--value-size", "2GiB"}, []string{`"--value-size" flag`}},
		{"zero keys", []string{"mixed", "--total", "5", "--keys", "0"}, []string{"--keys 0: want at least 1"}},
		{"read ratio", []string{"mixed", "--total", "5", "--read-ratio", "1.5"}, []string{"--read-ratio 1.5: want a fraction"}},
		{"negative read ratio", []string{"mixed", "--total", "5", "--read-ratio", "-0.1"}, []string{"--read-ratio -0.1"}},
		{"consistency", []string{"get", "--total", "5", "--consistency", "strong"}, []string{`"--consistency" flag`, "want linearizable or stale"}},
		{"chart format", []string{"put", "--total", "5", "--chart", "out.jpg"}, []string{"--chart out.jpg: want a file name ending in .png or .svg"}},
		{"zero records", []string{"consume", "--total", "5", "--records", "0"}, []string{"--records 0: want at least 1"}},
		{"keys of produce", []string{"produce", "--total", "5", "--keys", "10"}, []string{"unknown flag: --keys"}},
		{"read ratio of put", []string{"put", "--total", "5", "--read-ratio", "0.5"}, []string{"unknown flag: --read-ratio"}},
		{"consistency of put", []string{"put", "--total", "5", "--consistency", "stale"}, []string{"unknown flag: --consistency"}},
		{"unknown workload", []string{"scan"}, []string{`bench: unknown workload "scan"`}},
		{"several problems", []string{"put", "--clients", "0", "--chart", "x.gif"}, []string{"--clients 0", "give --total N", "--chart x.gif"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, env, "", append([]string{"bench"}, tt.args...)...)
			if r.code != exitUsage || r.stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", r.code, r.stdout, exitUsage)
			}
			for _, part := range tt.want {
				if !strings.Contains(r.stderr, part) {
					t.Errorf("stderr %q lacks %q", r.stderr, part)
				}
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

func TestBench_PutText(t *testing.T) {
	t.Parallel()
	s, env := serverEnv(t, nil)
	before := s.DB.NextOffset()
	r := runCLI(t, env, "", "bench", "put", "--total", "200", "--clients", "4", "--keys", "100", "--value-size", "100")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q (want no progress bar off a terminal)", r.code, r.stderr)
	}
	for _, want := range []string{
		"Workload put: 4 clients, 100 keys of 16 bytes, 100-byte values\n",
		"Operations:  200 in ",
		"(200 ok, 0 errors)",
		"Latency of successful operations:\n  min ",
		"p99.9 ",
		"Latency histogram:\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "Errors:") {
		t.Errorf("an error section without errors:\n%s", r.stdout)
	}
	if got := s.DB.NextOffset() - before; got != 200 {
		t.Errorf("server's next offset advanced by %d, want 200", got)
	}
}

func TestBench_JSON(t *testing.T) {
	t.Parallel()
	s, env := serverEnv(t, nil)
	env["CASKADE_OUTPUT"] = "json"

	var rep bench.Report
	decode(t, runCLI(t, env, "", "bench", "get", "--total", "100", "--keys", "50", "--key-size", "12", "--consistency", "stale"), &rep)
	if rep.Workload != bench.Get || rep.Ops != 100 || rep.OK != 100 || rep.Populated != 50 || rep.Consistency != "stale" || rep.KeySize != 12 {
		t.Errorf("get: %+v", rep)
	}
	if s.DB.Len() != 50 {
		t.Errorf("store holds %d keys, want the 50 populated", s.DB.Len())
	}

	rep = bench.Report{}
	decode(t, runCLI(t, env, "", "bench", "mixed", "--total", "120", "--keys", "50", "--key-size", "12", "--read-ratio", "0.25", "--populate=false"), &rep)
	if rep.Ops != 120 || rep.OK != 120 || rep.Populated != 0 || len(rep.ByOp) != 2 || rep.ReadRatio == nil || *rep.ReadRatio != 0.25 {
		t.Errorf("mixed: %+v", rep)
	}

	before := s.DB.NextOffset()
	rep = bench.Report{}
	decode(t, runCLI(t, env, "", "bench", "produce", "--total", "60", "--value-size", "64"), &rep)
	if rep.OK != 60 || rep.Bytes != 60*64 || s.DB.NextOffset()-before != 60 {
		t.Errorf("produce: %+v; next offset advanced by %d", rep, s.DB.NextOffset()-before)
	}

	rep = bench.Report{}
	decode(t, runCLI(t, env, "", "bench", "consume", "--total", "80"), &rep)
	if rep.OK != 80 || rep.Errors != 0 || rep.Populated != 0 {
		t.Errorf("consume: %+v", rep)
	}

	// The output is one JSON object with the documented fields.
	r := runCLI(t, env, "", "bench", "put", "--duration", "100ms", "--clients", "2")
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || r.code != 0 || r.stderr != "" {
		t.Fatalf("put -o json: exit %d, %v: %q %q", r.code, err, r.stdout, r.stderr)
	}
	for _, k := range []string{"ops", "ok", "errors", "ops_per_second", "bytes_per_second", "latency", "histogram", "error_kinds", "timeline"} {
		if _, ok := m[k]; !ok {
			t.Errorf("put -o json lacks %q", k)
		}
	}
}

func TestBench_Chart(t *testing.T) {
	t.Parallel()
	_, env := serverEnv(t, nil)
	dir := t.TempDir()
	png, svg := filepath.Join(dir, "put.png"), filepath.Join(dir, "put.SVG")
	r := runCLI(t, env, "", "bench", "put", "--total", "100", "--chart", png)
	if r.code != 0 || !strings.HasSuffix(r.stdout, "\nChart written to "+png+"\n") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(png)
	if err != nil || len(b) < 1000 || !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s: %d bytes, %v; want a PNG", png, len(b), err)
	}
	env["CASKADE_OUTPUT"] = "json"
	r = runCLI(t, env, "", "bench", "produce", "--total", "100", "--chart", svg)
	var rep bench.Report
	decode(t, r, &rep) // no chart line in the JSON
	b, err = os.ReadFile(svg)
	if err != nil || len(b) < 1000 || !bytes.Contains(b[:min(len(b), 512)], []byte("<svg")) {
		t.Fatalf("%s: %d bytes, %v; want an SVG", svg, len(b), err)
	}

	r = runCLI(t, env, "", "bench", "produce", "--total", "10", "--chart", filepath.Join(dir, "missing", "x.svg"))
	if r.code != exitFailure || !strings.Contains(r.stderr, "--chart "+filepath.Join(dir, "missing", "x.svg")) {
		t.Errorf("chart in a missing directory: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestBench_Refused checks runs the server cannot serve.
func TestBench_Refused(t *testing.T) {
	t.Parallel()
	s, env := serverEnv(t, nil)
	before := s.DB.NextOffset()

	// A value over the server's limit stops the run at once.
	r := runCLI(t, env, "", "bench", "put", "--total", "1000", "--value-size", "2KiB")
	if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "caskade: --value-size: the server refused the value") {
		t.Errorf("value too large: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "", "bench", "get", "--total", "10", "--keys", "10", "--value-size", "2KiB")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--value-size") {
		t.Errorf("populate with values too large: exit %d, stderr %q", r.code, r.stderr)
	}
	if s.DB.NextOffset() != before {
		t.Error("a refused value was written")
	}

	// Gets of missing keys all fail: the report shows them, the exit
	// code says so.
	r = runCLI(t, env, "", "bench", "get", "--total", "20", "--populate=false")
	if r.code != exitFailure || !strings.Contains(r.stdout, "(0 ok, 20 errors)") || !strings.Contains(r.stdout, "not_found") ||
		!strings.Contains(r.stderr, "no operation succeeded: 20 errors, 20 of them not_found") {
		t.Errorf("gets of missing keys: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// Nothing to consume.
	r = runCLI(t, env, "", "bench", "consume", "--total", "5", "--populate=false")
	if r.code != exitNo || !strings.Contains(r.stderr, "the log is empty") {
		t.Errorf("consume of an empty log: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestBench_Unavailable(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	r := runCLI(t, map[string]string{"CASKADE_ENDPOINTS": addr, "CASKADE_TIMEOUT": "2s"}, "", "bench", "produce", "--total", "10", "--clients", "2")
	if r.code != exitFailure || !strings.Contains(r.stderr, "no operation succeeded") || !strings.Contains(r.stderr, "(--endpoints "+addr+")") {
		t.Errorf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestBench_Interrupt stops a long run and checks that the report of what
// was done is printed with exit code 130.
func TestBench_Interrupt(t *testing.T) {
	t.Parallel()
	s, env := serverEnv(t, nil)
	env["CASKADE_OUTPUT"] = "json"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	before := s.DB.NextOffset()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		done <- run(ctx, []string{"bench", "put", "--duration", "1m", "--clients", "4"}, strings.NewReader(""), &out, &errOut, lookup)
	}()
	waitFor(t, "puts to reach the server", func() bool { return s.DB.NextOffset()-before >= 50 })
	cancel()
	code := <-done
	if code != exitInterrupted || !strings.Contains(errOut.String(), "interrupted") {
		t.Fatalf("exit %d, stderr %q; want %d", code, errOut.String(), exitInterrupted)
	}
	var rep bench.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report %q: %v", out.String(), err)
	}
	written := int64(s.DB.NextOffset() - before)
	// Puts written but not yet acknowledged when the run stopped are
	// abandoned: the server holds between OK and OK+Abandoned of them.
	if !rep.Interrupted || rep.OK == 0 || rep.Errors != 0 || written < rep.OK || written > rep.OK+rep.Abandoned {
		t.Errorf("report ok %d, errors %d, abandoned %d, interrupted %v; server wrote %d", rep.OK, rep.Errors, rep.Abandoned, rep.Interrupted, written)
	}
}

// TestBenchBar draws the progress of both kinds of phases into a buffer
// (the command draws it only on a terminal).
func TestBenchBar(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	b := &benchBar{w: &buf}
	b.update(bench.Progress{Phase: bench.PhasePopulate, Done: 5, Total: 10, Elapsed: 100e6})
	b.update(bench.Progress{Phase: bench.PhasePopulate, Done: 10, Total: 10, Elapsed: 200e6})
	b.update(bench.Progress{Phase: bench.PhaseRun, Done: 40, Errors: 1, Elapsed: 500e6, Duration: 1e9})
	b.close()
	if out := buf.String(); !strings.Contains(out, "populate: ") || !strings.Contains(out, "run: 80 ops/s, 1 errors, 40 ops") {
		t.Errorf("progress output %q lacks the phases", out)
	}
	var nilBar *benchBar
	nilBar.close() // a command off a terminal has none
}
