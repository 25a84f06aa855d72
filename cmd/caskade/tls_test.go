//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// securePolicy lets root do everything and reader read.
const securePolicy = "p, root, *, *\np, reader, *, read\n"

// startSecureServe makes certificates in a temporary directory and runs
// `caskade serve` with mutual TLS and the policy in policy.csv there
// (securePolicy). It returns the server, the directory and a function that
// gives the client environment of an identity.
func startSecureServe(t *testing.T) (*servedCLI, string, func(identity string) map[string]string) {
	t.Helper()
	dir := t.TempDir()
	certDir := filepath.Join(dir, "certs")
	if r := runCLI(t, nil, "", "certs", "init", "--dir", certDir, "--clients", "reader"); r.code != exitOK {
		t.Fatalf("certs init: %d %s", r.code, r.stderr)
	}
	policy := filepath.Join(certDir, "policy.csv")
	if err := os.WriteFile(policy, []byte(securePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	// The server's TLS files come from the environment, the policy from a
	// flag: both paths work.
	env := testEnv(filepath.Join(dir, "data"))
	env["CASKADE_TLS_CERT"] = filepath.Join(certDir, "server.pem")
	env["CASKADE_TLS_KEY"] = filepath.Join(certDir, "server-key.pem")
	env["CASKADE_TLS_CA"] = filepath.Join(certDir, "ca.pem")
	s := startServeCLI(t, env, "--listen", "127.0.0.1:0", "--auth-model", filepath.Join(certDir, "model.conf"), "--auth-policy", policy)
	clientEnv := func(identity string) map[string]string {
		return map[string]string{
			"CASKADE_ENDPOINTS": s.addr,
			"CASKADE_TIMEOUT":   "5s",
			"CASKADE_CERT":      filepath.Join(certDir, "client-"+identity+".pem"),
			"CASKADE_KEY":       filepath.Join(certDir, "client-"+identity+"-key.pem"),
			"CASKADE_CA":        filepath.Join(certDir, "ca.pem"),
		}
	}
	return s, certDir, clientEnv
}

func TestServe_TLS_ClientCommands(t *testing.T) {
	s, certDir, env := startSecureServe(t)
	if logs := s.stderr.String(); !strings.Contains(logs, "serving mutual TLS") || strings.Contains(logs, "without TLS") {
		t.Fatalf("logs:\n%s", logs)
	}
	root, reader := env("root"), env("reader")

	runCLI(t, root, "", "put", "k", "v1").want(t, exitOK, "1\n", "")
	runCLI(t, reader, "", "get", "k").want(t, exitOK, "v1", "")
	r := runCLI(t, reader, "", "put", "k", "v2")
	if r.code != exitFailure || !strings.Contains(r.stderr, "permission denied") || !strings.Contains(r.stderr, `may not write "kv:k"`) {
		t.Fatalf("reader put: exit %d, stderr %q", r.code, r.stderr)
	}
	runCLI(t, root, "", "get", "k").want(t, exitOK, "v1", "")

	// The flags work as the environment does, and --server-name names the
	// server to verify.
	args := []string{"get", "k", "--endpoints", s.addr, "--cert", root["CASKADE_CERT"], "--key", root["CASKADE_KEY"], "--ca", root["CASKADE_CA"]}
	runCLI(t, nil, "", append(args, "--server-name", "localhost")...).want(t, exitOK, "v1", "")
	r = runCLI(t, nil, "", append(args, "--server-name", "elsewhere.example.com", "--timeout", "2s")...)
	if r.code != exitFailure || !strings.Contains(r.stderr, "unavailable") {
		t.Fatalf("wrong server name: exit %d, stderr %q", r.code, r.stderr)
	}

	// Plaintext to a TLS server: refused, with a hint.
	r = runCLI(t, map[string]string{"CASKADE_ENDPOINTS": s.addr, "CASKADE_TIMEOUT": "2s"}, "", "put", "k", "v3")
	if r.code != exitFailure || !strings.Contains(r.stderr, "--cert, --key and --ca") {
		t.Fatalf("plaintext put: exit %d, stderr %q", r.code, r.stderr)
	}

	// Bad client TLS settings are usage errors.
	partial := map[string]string{"CASKADE_ENDPOINTS": s.addr, "CASKADE_CERT": root["CASKADE_CERT"]}
	runCLI(t, partial, "", "get", "k").want(t, exitUsage, "", "--cert, --key and --ca go together")
	runCLI(t, nil, "", "get", "k", "--server-name", "x").want(t, exitUsage, "", "--server-name needs")
	missing := env("root")
	missing["CASKADE_CA"] = filepath.Join(certDir, "none.pem")
	runCLI(t, missing, "", "get", "k").want(t, exitUsage, "", "none.pem")

	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit %d: %s", code, s.stderr.String())
	}
}

// TestServe_TLS_SIGHUP: SIGHUP reloads the policy; a broken policy is
// refused and the one in use stays.
func TestServe_TLS_SIGHUP(t *testing.T) {
	s, certDir, env := startSecureServe(t)
	reader := env("reader")
	policy := filepath.Join(certDir, "policy.csv")
	r := runCLI(t, reader, "", "put", "k", "v")
	if r.code != exitFailure || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("reader put before the reload: exit %d, stderr %q", r.code, r.stderr)
	}

	hangup := func(wantLog string, n int) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(s.stderr.String(), wantLog) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP:\n%s", wantLog, s.stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if err := os.WriteFile(policy, []byte(securePolicy+"p, reader, kv:k, write\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hangup("authorization policy reloaded", 1)
	runCLI(t, reader, "", "put", "k", "v").want(t, exitOK, "1\n", "")
	r = runCLI(t, reader, "", "put", "j", "v")
	if r.code != exitFailure || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("reader put j: exit %d, stderr %q", r.code, r.stderr)
	}

	if err := os.WriteFile(policy, []byte("p, reader\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hangup("the authorization policy did not load", 1)
	runCLI(t, reader, "", "put", "k", "v2").want(t, exitOK, "2\n", "")

	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit %d: %s", code, s.stderr.String())
	}
}

// A plaintext server warns that it runs without TLS, and SIGHUP does not
// stop it.
func TestServe_Plaintext_Warns(t *testing.T) {
	s := startServeCLI(t, testEnv(t.TempDir()), "--listen", "127.0.0.1:0")
	if !strings.Contains(s.stderr.String(), "without TLS") {
		t.Fatalf("no warning:\n%s", s.stderr.String())
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "nothing to reload") {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP not handled:\n%s", s.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	runCLI(t, map[string]string{"CASKADE_ENDPOINTS": s.addr}, "", "put", "k", "v").want(t, exitOK, "1\n", "")
	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit %d: %s", code, s.stderr.String())
	}
}
