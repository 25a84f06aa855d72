package main

import (
	"bytes"
	"strings"
	"testing"
)

// testEnv is the environment of a test run on the store in dir: small
// segments and no fsync per write keep the tests fast (every run opens the
// store, and opening preallocates the active segment).
func testEnv(dir string) map[string]string {
	return map[string]string{
		"CASKADE_DATA_DIR":      dir,
		"CASKADE_SYNC":          "never",
		"CASKADE_SEGMENT_BYTES": "64KiB",
	}
}

// result is what one run of the binary gave.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command tree in-process with args, the given
// environment (nothing from the real one) and stdin.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := run(t.Context(), args, strings.NewReader(stdin), &out, &errOut, lookup)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// want checks the exit code and stdout of r, and that stderr contains
// errPart ("" means stderr must be empty).
func (r result) want(t *testing.T, code int, stdout, errPart string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d (stdout %q, stderr %q)", r.code, code, r.stdout, r.stderr)
	}
	if r.stdout != stdout {
		t.Errorf("stdout %q, want %q", r.stdout, stdout)
	}
	switch {
	case errPart == "" && r.stderr != "":
		t.Errorf("stderr %q, want none", r.stderr)
	case !strings.Contains(r.stderr, errPart):
		t.Errorf("stderr %q, want it to contain %q", r.stderr, errPart)
	}
}
