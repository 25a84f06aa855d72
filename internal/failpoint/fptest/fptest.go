// Package fptest runs the crashing half of a failpoint test in a
// subprocess: the test binary runs itself again (os.Args[0]) with only
// the child test selected, a work directory, and failpoints armed in the
// environment, so a crash point kills the child and not the test.
//
// A test has two halves. The child is a test function that starts with
// Child, which skips it unless this process is such a subprocess; it
// writes what it has done to stdout (unbuffered, so whatever it wrote
// before the crash reaches the parent) and then meets the crash point.
// The parent calls Crash (or Run, for a child that must succeed), then
// checks the work directory against the child's output.
package fptest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caskade/caskade/internal/failpoint"
)

// envDir passes the work directory to the child; set, it also marks the
// process as a child.
const envDir = "CASKADE_FPTEST_DIR"

// childTimeout bounds a child run (a loaded machine with -race is slow).
const childTimeout = 2 * time.Minute

// Child returns the work directory when this process is a child run for
// the test t; otherwise it skips t (it is only half of a test).
func Child(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(envDir)
	if dir == "" {
		t.Skip("the child half of a failpoint test; its parent runs it")
	}
	return dir
}

// Result is what a child run left.
type Result struct {
	Stdout, Stderr string
	// Point and Hit name the failpoint that crashed the child ("" and 0
	// for a child that exited).
	Point string
	Hit   uint64
}

// Lines returns the child's stdout lines that begin with prefix, with the
// prefix cut off.
func (r Result) Lines(prefix string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

// Crash runs the child test named test with work directory dir and the
// environment variables env ("NAME=value") added, and requires that a
// failpoint killed it with SIGKILL at the point named point.
func Crash(t *testing.T, test, dir, point string, env ...string) Result {
	t.Helper()
	r, err := run(test, dir, env)
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		ws, ok := ee.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child %s: %v, want death by SIGKILL at failpoint %s\nstdout:\n%s\nstderr:\n%s", test, err, point, tail(r.Stdout), tail(r.Stderr))
		}
	case err != nil:
		t.Fatalf("child %s: %v", test, err)
	default:
		t.Fatalf("child %s exited normally, want a crash at failpoint %s\nstdout:\n%s\nstderr:\n%s", test, point, tail(r.Stdout), tail(r.Stderr))
	}
	if r.Point != point {
		t.Fatalf("child %s died by SIGKILL at failpoint %q, want %q\nstderr:\n%s", test, r.Point, point, tail(r.Stderr))
	}
	return r
}

// Run runs the child test named test like Crash does, and requires that
// it passed.
func Run(t *testing.T, test, dir string, env ...string) Result {
	t.Helper()
	r, err := run(test, dir, env)
	if err != nil {
		t.Fatalf("child %s: %v\nstdout:\n%s\nstderr:\n%s", test, err, tail(r.Stdout), tail(r.Stderr))
	}
	return r
}

// run runs the child and collects its output.
func run(test, dir string, env []string) (Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.timeout="+childTimeout.String())
	cmd.Env = append(childEnviron(), envDir+"="+dir)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	r.Point, r.Hit, _ = failpoint.ParseCrash(r.Stderr)
	if ctx.Err() != nil {
		return r, fmt.Errorf("no end within %v: %w", childTimeout, ctx.Err())
	}
	return r, err
}

// childEnviron is this process's environment without the variables that
// configure failpoints or mark a child: each run sets its own.
func childEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case failpoint.EnvFailpoints, failpoint.EnvBugs, failpoint.EnvSeed, envDir:
			continue
		}
		out = append(out, kv)
	}
	return out
}

// tail is the end of a child's output, enough to see why it failed.
func tail(s string) string {
	const n = 4000
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
