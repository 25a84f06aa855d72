package certs_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caskade/caskade/certs"
)

func parseCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	kp, err := tls.LoadX509KeyPair(path, strings.TrimSuffix(path, ".pem")+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(kp.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInit_Files(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	files, err := certs.Init(dir, &certs.Options{
		Hosts:   []string{"localhost", "127.0.0.1", "node1.example.com"},
		Clients: []string{"reader", "app", "reader"},
		Extra:   map[string][]byte{"policy.csv": []byte("p, root, *, *\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		if !f.Created {
			t.Errorf("%s: not created", f.Path)
		}
		names = append(names, filepath.Base(f.Path))
	}
	want := []string{"ca.pem", "ca-key.pem", "server.pem", "server-key.pem",
		"client-root.pem", "client-root-key.pem", "client-reader.pem", "client-reader-key.pem",
		"client-app.pem", "client-app-key.pem", "policy.csv"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %q, want %q", names, want)
	}
	for _, n := range want {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		wantMode := os.FileMode(0o644)
		if strings.HasSuffix(n, "-key.pem") {
			wantMode = 0o600
		}
		if fi.Mode().Perm() != wantMode {
			t.Errorf("%s: mode %v, want %v", n, fi.Mode().Perm(), wantMode)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: %v, %v", fi.Mode().Perm(), err)
	}

	ca, err := certs.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)

	srv := parseCert(t, filepath.Join(dir, "server.pem"))
	if srv.Subject.CommonName != certs.NodeIdentity {
		t.Errorf("server CN %q", srv.Subject.CommonName)
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: "node1.example.com", KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("server cert for usage %v: %v", usage, err)
		}
	}
	if !slices.ContainsFunc(srv.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("127.0.0.1")) }) {
		t.Errorf("server IPs %v lack 127.0.0.1", srv.IPAddresses)
	}
	if _, err := srv.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example.com"}); err == nil {
		t.Error("server cert verified for a host it was not made for")
	}
	if d := time.Until(srv.NotAfter); d < 364*24*time.Hour || d > 366*24*time.Hour {
		t.Errorf("server cert expires in %v, want about a year", d)
	}

	for _, id := range []string{"root", "reader", "app"} {
		c := parseCert(t, filepath.Join(dir, certs.ClientFile(id)))
		if c.Subject.CommonName != id {
			t.Errorf("client %s: CN %q", id, c.Subject.CommonName)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("client %s: %v", id, err)
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
			t.Errorf("client %s: usable for server auth", id)
		}
	}
}

func TestInit_KeepsAndForces(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	ca, srv := read(certs.CAFile), read(certs.ServerFile)

	// Again, with one more client: only that one is made.
	files, err := certs.Init(dir, &certs.Options{Clients: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		wantCreated := strings.Contains(f.Path, "client-bob")
		if f.Created != wantCreated {
			t.Errorf("%s: created %v, want %v", f.Path, f.Created, wantCreated)
		}
	}
	if read(certs.CAFile) != ca || read(certs.ServerFile) != srv {
		t.Fatal("a kept file changed")
	}

	// --force makes everything anew.
	files, err = certs.Init(dir, &certs.Options{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !f.Created {
			t.Errorf("%s: kept under Force", f.Path)
		}
	}
	if read(certs.CAFile) == ca || read(certs.ServerFile) == srv {
		t.Fatal("Force kept a file")
	}
}

func TestInit_Refusals(t *testing.T) {
	t.Run("cert without key", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := certs.Init(dir, nil); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, certs.ServerKeyFile))
		_, err := certs.Init(dir, nil)
		if err == nil || !strings.Contains(err.Error(), "without its key") {
			t.Fatalf("err %v", err)
		}
		if _, err := certs.Init(dir, &certs.Options{Force: true}); err != nil {
			t.Fatalf("Force: %v", err)
		}
	})
	t.Run("leaf without CA", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := certs.Init(dir, nil); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(dir, certs.CAFile))
		os.Remove(filepath.Join(dir, certs.CAKeyFile))
		_, err := certs.Init(dir, nil)
		if err == nil || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("err %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, certs.CAFile)); err == nil {
			t.Fatal("a refused Init wrote the CA")
		}
	})
	t.Run("leaf of another CA", func(t *testing.T) {
		dir, other := t.TempDir(), t.TempDir()
		for _, d := range []string{dir, other} {
			if _, err := certs.Init(d, nil); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := os.ReadFile(filepath.Join(other, certs.ClientFile("root")))
		os.WriteFile(filepath.Join(dir, certs.ClientFile("root")), b, 0o644)
		_, err := certs.Init(dir, nil)
		if err == nil || !strings.Contains(err.Error(), "not signed by") {
			t.Fatalf("err %v", err)
		}
	})
	for _, tt := range []struct {
		name string
		o    certs.Options
	}{
		{"bad identity", certs.Options{Clients: []string{"../x"}}},
		{"empty identity", certs.Options{Clients: []string{""}}},
		{"empty host", certs.Options{Hosts: []string{"localhost", " "}}},
		{"no hosts", certs.Options{Hosts: []string{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "c")
			if _, err := certs.Init(dir, &tt.o); err == nil {
				t.Fatal("no error")
			}
			if _, err := os.Stat(dir); err == nil {
				t.Fatal("a refused Init made the directory")
			}
		})
	}
}

func TestNewClient(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.NewClient(dir, "alice", nil); err == nil {
		t.Fatal("NewClient without a CA: no error")
	}
	if _, err := certs.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	files, err := certs.NewClient(dir, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || !files[0].Created || filepath.Base(files[0].Path) != "client-alice.pem" {
		t.Fatalf("files %+v", files)
	}
	if c := parseCert(t, files[0].Path); c.Subject.CommonName != "alice" {
		t.Fatalf("CN %q", c.Subject.CommonName)
	}
	files, err = certs.NewClient(dir, "alice", nil)
	if err != nil || files[0].Created {
		t.Fatalf("second NewClient: %+v, %v", files, err)
	}
	files, err = certs.NewClient(dir, "alice", &certs.Options{Force: true})
	if err != nil || !files[0].Created {
		t.Fatalf("forced NewClient: %+v, %v", files, err)
	}
	if _, err := certs.NewClient(dir, "a/b", nil); err == nil {
		t.Fatal("identity with a slash: no error")
	}
}

func TestCA_IssueExpired(t *testing.T) {
	ca, _, err := certs.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	certPEM, keyPEM, err := ca.Issue(certs.Request{CN: "late", NotBefore: past, NotAfter: past.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(kp.Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err == nil {
		t.Fatal("an expired certificate verified")
	}
	if err := ca.Verify(certPEM); err != nil {
		t.Fatalf("signature: %v", err)
	}
}

func TestTLSConfigs(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	sc, err := certs.ServerTLSConfig(p(certs.ServerFile), p(certs.ServerKeyFile), p(certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	if sc.ClientAuth != tls.RequireAndVerifyClientCert || sc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("server config: auth %v, min version %x", sc.ClientAuth, sc.MinVersion)
	}
	if _, err := certs.ClientTLSConfig(p(certs.ClientFile("root")), p(certs.ClientKeyFile("root")), p(certs.CAFile), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := certs.ServerTLSConfig(p(certs.ServerFile), p(certs.ClientKeyFile("root")), p(certs.CAFile)); err == nil {
		t.Fatal("mismatched key: no error")
	}
	if _, err := certs.ClientTLSConfig(p(certs.ClientFile("root")), p(certs.ClientKeyFile("root")), p(certs.ClientKeyFile("root")), ""); err == nil {
		t.Fatal("CA file without certificates: no error")
	}
}
