package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caskade/caskade/certs"
	"github.com/caskade/caskade/rpc"
)

func TestCertsInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	r := runCLI(t, nil, "", "certs", "init", "--dir", dir, "--hosts", "localhost,127.0.0.1,node1", "--clients", "reader,app")
	if r.code != exitOK || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	names := []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem", "client-root.pem", "client-root-key.pem",
		"client-reader.pem", "client-reader-key.pem", "client-app.pem", "client-app-key.pem", "model.conf", "policy.csv"}
	var want strings.Builder
	for _, n := range names {
		want.WriteString("created " + filepath.Join(dir, n) + "\n")
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(n, "-key.pem") {
			mode = 0o600
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", n, fi.Mode().Perm(), mode)
		}
	}
	if r.stdout != want.String() {
		t.Fatalf("stdout:\n%s\nwant:\n%s", r.stdout, want.String())
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "policy.csv")); string(b) != string(rpc.DefaultPolicy()) {
		t.Fatal("policy.csv is not the default policy")
	}
	// The example files load as they are.
	if _, err := rpc.OpenAuthorizer(filepath.Join(dir, "model.conf"), filepath.Join(dir, "policy.csv")); err != nil {
		t.Fatal(err)
	}

	// Again: everything is kept, and an edited policy survives.
	os.WriteFile(filepath.Join(dir, "policy.csv"), []byte("p, root, *, *\n"), 0o644)
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	r = runCLI(t, nil, "", "certs", "init", "--dir", dir, "--clients", "reader")
	if r.code != exitOK || strings.Contains(r.stdout, "created") || !strings.Contains(r.stdout, "kept    "+filepath.Join(dir, "ca.pem")) {
		t.Fatalf("second init: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "policy.csv")); string(b) != "p, root, *, *\n" {
		t.Fatal("the edited policy was overwritten")
	}

	// --force makes everything anew.
	r = runCLI(t, nil, "", "certs", "init", "--dir", dir, "--force")
	if r.code != exitOK || strings.Contains(r.stdout, "kept") {
		t.Fatalf("forced init: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); string(b) == string(ca) {
		t.Fatal("--force kept the CA")
	}
	if fi, err := os.Stat(filepath.Join(dir, "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("forced CA key: %v, %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "policy.csv")); string(b) != string(rpc.DefaultPolicy()) {
		t.Fatal("--force kept the edited policy")
	}

	// A certificate without its key is refused; nothing is written.
	os.Remove(filepath.Join(dir, "server-key.pem"))
	r = runCLI(t, nil, "", "certs", "init", "--dir", dir)
	if r.code != exitFailure || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("init over a lone certificate: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestCertsNew(t *testing.T) {
	dir := t.TempDir()
	r := runCLI(t, nil, "", "certs", "new", "--dir", dir, "--cn", "alice")
	if r.code != exitFailure || !strings.Contains(r.stderr, "CA") {
		t.Fatalf("new without a CA: exit %d, stderr %q", r.code, r.stderr)
	}
	runCLI(t, nil, "", "certs", "init", "--dir", dir).want(t, exitOK, r.stdout+strings.Join([]string{
		"created " + filepath.Join(dir, "ca.pem"), "created " + filepath.Join(dir, "ca-key.pem"),
		"created " + filepath.Join(dir, "server.pem"), "created " + filepath.Join(dir, "server-key.pem"),
		"created " + filepath.Join(dir, "client-root.pem"), "created " + filepath.Join(dir, "client-root-key.pem"),
		"created " + filepath.Join(dir, "model.conf"), "created " + filepath.Join(dir, "policy.csv"), ""}, "\n"), "")

	cert, key := filepath.Join(dir, "client-alice.pem"), filepath.Join(dir, "client-alice-key.pem")
	runCLI(t, nil, "", "certs", "new", "--dir", dir, "--cn", "alice").want(t, exitOK, "created "+cert+"\ncreated "+key+"\n", "")
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key: %v, %v", fi.Mode(), err)
	}
	ca, err := certs.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(cert)
	if err := ca.Verify(b); err != nil {
		t.Fatal(err)
	}
	runCLI(t, nil, "", "certs", "new", "--dir", dir, "--cn", "alice").want(t, exitOK, "kept    "+cert+"\nkept    "+key+"\n", "")
	runCLI(t, nil, "", "certs", "new", "--dir", dir, "--cn", "alice", "--force").want(t, exitOK, "created "+cert+"\ncreated "+key+"\n", "")
	if b2, _ := os.ReadFile(cert); string(b2) == string(b) {
		t.Fatal("--force kept the certificate")
	}
}

func TestCerts_BadArgs(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name    string
		args    []string
		errPart string
	}{
		{"new without cn", []string{"certs", "new", "--dir", dir}, "--cn is required"},
		{"new with a path", []string{"certs", "new", "--dir", dir, "--cn", "../x"}, "--cn"},
		{"bad client", []string{"certs", "init", "--dir", dir, "--clients", "a b"}, "--clients"},
		{"empty host", []string{"certs", "init", "--dir", dir, "--hosts", ""}, "--hosts"},
		{"negative expiry", []string{"certs", "init", "--dir", dir, "--expiry", "-1h"}, "--expiry"},
		{"argument", []string{"certs", "init", "extra"}, "unknown command"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, nil, "", tt.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.errPart) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", r.code, r.stderr, exitUsage, tt.errPart)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("refused commands wrote %d files", len(entries))
	}
}
