package client_test

import (
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/caskade/caskade/certs"
	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/internal/rpctest"
	"github.com/caskade/caskade/rpc"
)

// startTLS serves a store over mutual TLS with the default policy and
// returns it with the directory of its certificates (root, reader, app,
// mallory).
func startTLS(t *testing.T) (*rpctest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	if _, err := certs.Init(dir, &certs.Options{Clients: []string{"reader", "app", "mallory"}}); err != nil {
		t.Fatal(err)
	}
	tc, err := certs.ServerTLSConfig(filepath.Join(dir, certs.ServerFile), filepath.Join(dir, certs.ServerKeyFile), filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	a, err := rpc.OpenAuthorizer("", "")
	if err != nil {
		t.Fatal(err)
	}
	return rpctest.Start(t, &rpctest.Options{TLS: tc, Authorizer: a}), dir
}

// dialAs dials the endpoints with the client certificate of identity.
func dialAs(t *testing.T, dir, identity string, endpoints []string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{
		client.WithTLS(filepath.Join(dir, certs.ClientFile(identity)), filepath.Join(dir, certs.ClientKeyFile(identity)), filepath.Join(dir, certs.CAFile)),
		client.WithTimeout(5 * time.Second), client.WithDialOptions(fastReconnect),
	}, opts...)
	c, err := client.Dial(testCtx(t), endpoints, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClient_TLS(t *testing.T) {
	s, dir := startTLS(t)
	ctx := testCtx(t)
	_, port, _ := net.SplitHostPort(s.Addr)

	// Two endpoints, each verified for its own host.
	root := dialAs(t, dir, "root", []string{s.Addr, net.JoinHostPort("localhost", port)})
	for range 4 {
		must(root.Put(ctx, []byte("app/1"), []byte("v")))(t)
	}
	if it := must(root.Get(ctx, []byte("app/1")))(t); string(it.Value) != "v" {
		t.Fatalf("get = %q", it.Value)
	}
	next := s.DB.NextOffset()

	reader := dialAs(t, dir, "reader", []string{s.Addr})
	must(reader.Get(ctx, []byte("app/1")))(t)
	_, err := reader.Put(ctx, []byte("app/1"), []byte("w"))
	var pe *client.PermissionError
	if !errors.Is(err, client.ErrPermissionDenied) || !errors.As(err, &pe) || pe.Identity != "reader" || pe.Action != "write" || pe.Object != "kv:app/1" {
		t.Fatalf("reader put: %v (%#v)", err, pe)
	}
	if s.DB.NextOffset() != next {
		t.Fatal("a refused put wrote")
	}

	mallory := dialAs(t, dir, "mallory", []string{s.Addr})
	if _, err := mallory.Get(ctx, []byte("app/1")); !errors.Is(err, client.ErrUnauthenticated) {
		t.Fatalf("mallory get: %v", err)
	}

	// A server name override: the certificate holds localhost.
	cfg, err := client.LoadTLSConfig(filepath.Join(dir, certs.ClientFile("root")), filepath.Join(dir, certs.ClientKeyFile("root")), filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "localhost"
	byName, err := client.Dial(ctx, []string{s.Addr}, client.WithTLSConfig(cfg), client.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer byName.Close()
	must(byName.Get(ctx, []byte("app/1")))(t)

	cfg.ServerName = "elsewhere.example.com"
	wrong, err := client.Dial(ctx, []string{s.Addr}, client.WithTLSConfig(cfg), client.WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if _, err := wrong.Get(ctx, []byte("app/1")); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("get with a wrong server name: %v", err)
	}
}

func TestDial_TLSFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	for _, tt := range []struct{ name, cert, key, ca string }{
		{"missing cert", p("nope.pem"), p(certs.ClientKeyFile("root")), p(certs.CAFile)},
		{"key of another cert", p(certs.ClientFile("root")), p(certs.ServerKeyFile), p(certs.CAFile)},
		{"missing CA", p(certs.ClientFile("root")), p(certs.ClientKeyFile("root")), p("nope.pem")},
		{"CA without certificates", p(certs.ClientFile("root")), p(certs.ClientKeyFile("root")), p(certs.ClientKeyFile("root"))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := client.Dial(testCtx(t), []string{"127.0.0.1:1"}, client.WithTLS(tt.cert, tt.key, tt.ca)); err == nil {
				c.Close()
				t.Fatal("Dial: no error")
			}
		})
	}
}
