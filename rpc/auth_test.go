package rpc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/certs"
	"github.com/caskade/caskade/engine"
)

// testPolicy is the default policy plus an identity the tests use to
// check a role.
const testPolicy = `p, root, *, *
p, reader, *, read
p, app, kv:app/*, read
p, app, kv:app/*, write
g, ops, admins
p, admins, cluster, admin
`

func writeFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuthorizer_Default(t *testing.T) {
	a, err := OpenAuthorizer("", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		identity, object, action string
		want                     bool
	}{
		{"root", "kv:anything", ActionWrite, true},
		{"root", ObjectCluster, ActionAdmin, true},
		{"node", ObjectLog, ActionWrite, true},
		{"reader", "kv:app/1", ActionRead, true},
		{"reader", ObjectLog, ActionRead, true},
		{"reader", "kv:app/1", ActionWrite, false},
		{"reader", ObjectCluster, ActionAdmin, false},
		{"app", "kv:app/1", ActionWrite, true},
		{"app", "kv:app/*", ActionRead, true},
		{"app", "kv:app*", ActionRead, false},
		{"app", "kv:apple", ActionRead, false},
		{"app", "kv:*", ActionRead, false},
		{"app", ObjectLog, ActionRead, false},
		{"app", "kv:app/1", ActionAdmin, false},
		{"mallory", "kv:app/1", ActionRead, false},
		{"", "kv:app/1", ActionRead, false},
		{"*", "kv:app/1", ActionRead, false},
		{"ROOT", "kv:x", ActionRead, false},
	}
	for _, tt := range tests {
		got, err := a.Allowed(tt.identity, tt.object, tt.action)
		if err != nil || got != tt.want {
			t.Errorf("Allowed(%q, %q, %q) = %v, %v; want %v", tt.identity, tt.object, tt.action, got, err, tt.want)
		}
	}
	for id, want := range map[string]bool{"root": true, "node": true, "reader": true, "app": true, "mallory": false, "": false, "*": false} {
		if a.Known(id) != want {
			t.Errorf("Known(%q) = %v", id, !want)
		}
	}
	if m, p := a.Sources(); m != "(built in)" || p != "(built in)" {
		t.Errorf("Sources = %q, %q", m, p)
	}
}

func TestAuthorizer_LoadErrors(t *testing.T) {
	dir := t.TempDir()
	model := writeFile(t, dir, "model.conf", string(DefaultModel()))
	tests := []struct {
		name, model, policy, err string
	}{
		{"missing policy", "", "missing.csv", "no such file"},
		{"three fields wanted", "", "p, root, *\n", "line 1: p rule has 2 fields, the model wants 3"},
		{"unknown type", "", "# comment\n\nx, root, *, *\n", "line 3: rule type \"x\""},
		{"empty field", "", "p, root, , read\n", "empty field"},
		{"empty type", "", ", a, b, c\n", "rule type \"\""},
		{"bad csv", "", "p, \"root, *, *\n", "line 1"},
		{"bad model", "[matchers]\nm = r.sub ==\n", "", "authorization model"},
		{"two request fields", "[request_definition]\nr = sub, obj\n[policy_definition]\np = sub, obj\n[policy_effect]\ne = some(where (p.eft == allow))\n[matchers]\nm = r.sub == p.sub\n", "", "r = sub, obj, act"},
		{"matcher fails", "[request_definition]\nr = sub, obj, act\n[policy_definition]\np = sub, obj, act\n[policy_effect]\ne = some(where (p.eft == allow))\n[matchers]\nm = nosuchfunc(r.sub)\n", "", "authorization model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mp, pp := model, ""
			if tt.model != "" {
				mp = writeFile(t, t.TempDir(), "m.conf", tt.model)
			}
			switch {
			case tt.policy == "missing.csv":
				pp = filepath.Join(dir, "missing.csv")
			case tt.policy != "":
				pp = writeFile(t, t.TempDir(), "p.csv", tt.policy)
			}
			_, err := OpenAuthorizer(mp, pp)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err %v, want it to contain %q", err, tt.err)
			}
		})
	}
}

func TestAuthorizer_Reload(t *testing.T) {
	dir := t.TempDir()
	pp := writeFile(t, dir, "policy.csv", "p, reader, *, read\n")
	a, err := OpenAuthorizer("", pp)
	if err != nil {
		t.Fatal(err)
	}
	allowed := func(id, obj, act string) bool {
		t.Helper()
		ok, err := a.Allowed(id, obj, act)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if allowed("reader", "kv:k", ActionWrite) {
		t.Fatal("reader may write before the reload")
	}
	writeFile(t, dir, "policy.csv", "p, reader, *, read\np, reader, kv:k, write\n")
	if allowed("reader", "kv:k", ActionWrite) {
		t.Fatal("the policy changed without a reload")
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if !allowed("reader", "kv:k", ActionWrite) || allowed("reader", "kv:j", ActionWrite) {
		t.Fatal("reload did not take the new policy")
	}
	// A broken file leaves the policy in use alone.
	writeFile(t, dir, "policy.csv", "p, reader\n")
	if err := a.Reload(); err == nil {
		t.Fatal("Reload of a broken policy: no error")
	}
	if !allowed("reader", "kv:k", ActionWrite) {
		t.Fatal("a failed reload changed the policy")
	}
}

func TestAuthorizer_Roles(t *testing.T) {
	a, err := OpenAuthorizer("", writeFile(t, t.TempDir(), "p.csv", testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Known("ops") || !a.Known("admins") {
		t.Fatal("role members are not known")
	}
	if err := a.authorize("ops", caskadev1.Maintenance_Compact_FullMethodName, &caskadev1.CompactRequest{}); err != nil {
		t.Fatalf("ops may compact through its role: %v", err)
	}
	var pe *permissionError
	if err := a.authorize("ops", caskadev1.KV_Get_FullMethodName, &caskadev1.GetRequest{Key: []byte("k")}); !errors.As(err, &pe) {
		t.Fatalf("ops reads a key: %v", err)
	}
}

func TestAuthorizer_CallsWithoutCertificate(t *testing.T) {
	a, err := OpenAuthorizer("", "")
	if err != nil {
		t.Fatal(err)
	}
	plain := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{}})
	for _, c := range []context.Context{context.Background(), plain,
		peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{}})} {
		if err := a.check(c, caskadev1.KV_Get_FullMethodName, &caskadev1.GetRequest{Key: []byte("k")}); !errors.Is(err, errNoIdentity) {
			t.Fatalf("check = %v, want errNoIdentity", err)
		}
	}
	// Open services need no identity.
	if err := a.check(context.Background(), "/grpc.health.v1.Health/Check", nil); err != nil {
		t.Fatal(err)
	}
	// A verified certificate without a common name is no identity.
	chain := []*x509.Certificate{{}}
	ti := credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{chain}}}
	if err := a.check(peer.NewContext(context.Background(), &peer.Peer{AuthInfo: ti}), caskadev1.KV_Get_FullMethodName,
		&caskadev1.GetRequest{Key: []byte("k")}); !errors.Is(err, errNoIdentity) {
		t.Fatalf("check with an empty CN = %v", err)
	}
	chain[0].Subject.CommonName = "reader"
	if err := a.check(peer.NewContext(context.Background(), &peer.Peer{AuthInfo: ti}), caskadev1.KV_Get_FullMethodName,
		&caskadev1.GetRequest{Key: []byte("k")}); err != nil {
		t.Fatalf("check as reader = %v", err)
	}
}

// tlsServer is a server with mutual TLS and authorization, and the
// certificates of its deployment.
type tlsServer struct {
	*testServer
	dir  string // certs.Init's directory
	auth *Authorizer
}

// startTLSServer makes certificates for root, reader, app and mallory (whom
// the policy does not name) and serves a store over mutual TLS with the
// policy in policyFile ("" means the default).
func startTLSServer(t *testing.T, policyFile string) *tlsServer {
	t.Helper()
	dir := t.TempDir()
	if _, err := certs.Init(dir, &certs.Options{Clients: []string{"reader", "app", "mallory"}}); err != nil {
		t.Fatal(err)
	}
	tc, err := certs.ServerTLSConfig(filepath.Join(dir, certs.ServerFile), filepath.Join(dir, certs.ServerKeyFile), filepath.Join(dir, certs.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	a, err := OpenAuthorizer("", policyFile)
	if err != nil {
		t.Fatal(err)
	}
	o := engine.Options{Sync: engine.SyncNever, SegmentBytes: 64 << 10, MaxKeySize: testMaxKey, MaxValueSize: testMaxValue}
	db, err := engine.Open(t.TempDir(), &o)
	if err != nil {
		t.Fatal(err)
	}
	ts := serveStore(t, db, Options{MaxKeySize: o.MaxKeySize, MaxValueSize: o.MaxValueSize, NodeID: "n1", TLS: tc, Authorizer: a})
	ts.db = db
	t.Cleanup(func() { ts.stop(t) })
	return &tlsServer{testServer: ts, dir: dir, auth: a}
}

// conn dials the server presenting the client certificate in certFile and
// keyFile (none when certFile is ""), trusting the CA of the deployment.
func (s *tlsServer) conn(t *testing.T, certFile, keyFile string) *grpc.ClientConn {
	t.Helper()
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(s.dir, certs.CAFile))
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("CA: %v", err)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// as dials the server as a client identity of the deployment.
func (s *tlsServer) as(t *testing.T, identity string) *grpc.ClientConn {
	t.Helper()
	return s.conn(t, filepath.Join(s.dir, certs.ClientFile(identity)), filepath.Join(s.dir, certs.ClientKeyFile(identity)))
}

// denied checks that err refuses identity the action on the object.
func denied(t *testing.T, err error, identity, action, object string) {
	t.Helper()
	checkErr(t, err, wantErr{code: codes.PermissionDenied, reason: caskadev1.ReasonPermissionDenied,
		meta: map[string]string{caskadev1.MetaIdentity: identity, caskadev1.MetaAction: action, caskadev1.MetaObject: object}})
	if msg := err.Error(); !strings.Contains(msg, action) || !strings.Contains(msg, identity) {
		t.Errorf("message %q does not name the identity and the action", msg)
	}
}

func TestTLS_Authorization(t *testing.T) {
	s := startTLSServer(t, "")
	c := ctx(t)

	// root may do everything.
	root := s.as(t, "root")
	kv := caskadev1.NewKVClient(root)
	for _, k := range []string{"app/1", "other"} {
		if _, err := kv.Put(c, &caskadev1.PutRequest{Key: []byte(k), Value: []byte("v0")}); err != nil {
			t.Fatalf("root put %s: %v", k, err)
		}
	}
	if _, err := caskadev1.NewClusterClient(root).Status(c, &caskadev1.StatusRequest{}); err != nil {
		t.Fatalf("root status: %v", err)
	}
	if _, err := caskadev1.NewLogClient(root).Consume(c, &caskadev1.ConsumeRequest{Offset: 1}); err != nil {
		t.Fatalf("root consume: %v", err)
	}
	next := s.db.NextOffset()

	// reader reads, and may not write: nothing is written.
	reader := s.as(t, "reader")
	rkv := caskadev1.NewKVClient(reader)
	if got, err := rkv.Get(c, &caskadev1.GetRequest{Key: []byte("app/1")}); err != nil || string(got.Item.Value) != "v0" {
		t.Fatalf("reader get: %v, %v", got, err)
	}
	if _, err := rkv.Scan(c, &caskadev1.ScanRequest{}); err != nil {
		t.Fatalf("reader scan: %v", err)
	}
	_, err := rkv.Put(c, &caskadev1.PutRequest{Key: []byte("app/1"), Value: []byte("v1")})
	denied(t, err, "reader", ActionWrite, "kv:app/1")
	_, err = rkv.CompareAndSwap(c, &caskadev1.CompareAndSwapRequest{Key: []byte("app/1"), ExpectedOffset: 1, Value: []byte("v1")})
	denied(t, err, "reader", ActionWrite, "kv:app/1")
	_, err = caskadev1.NewMaintenanceClient(reader).Compact(c, &caskadev1.CompactRequest{})
	denied(t, err, "reader", ActionAdmin, ObjectCluster)
	ps, err := caskadev1.NewLogClient(reader).ProduceStream(c)
	if err != nil {
		t.Fatal(err)
	}
	ps.Send(&caskadev1.ProduceStreamRequest{Values: [][]byte{[]byte("x")}})
	_, err = ps.Recv()
	denied(t, err, "reader", ActionWrite, ObjectLog)
	if n := s.db.NextOffset(); n != next {
		t.Fatalf("NextOffset %d after refused writes, want %d", n, next)
	}
	if got, _ := s.db.Get([]byte("app/1")); string(got.Value) != "v0" {
		t.Fatalf("app/1 = %q after a refused write", got.Value)
	}

	// app reads and writes under app/ only.
	app := s.as(t, "app")
	akv := caskadev1.NewKVClient(app)
	if _, err := akv.Put(c, &caskadev1.PutRequest{Key: []byte("app/2"), Value: []byte("a")}); err != nil {
		t.Fatalf("app put app/2: %v", err)
	}
	next = s.db.NextOffset()
	_, err = akv.Put(c, &caskadev1.PutRequest{Key: []byte("other"), Value: []byte("a")})
	denied(t, err, "app", ActionWrite, "kv:other")
	_, err = akv.Get(c, &caskadev1.GetRequest{Key: []byte("other")})
	denied(t, err, "app", ActionRead, "kv:other")
	_, err = akv.Delete(c, &caskadev1.DeleteRequest{Key: []byte("apple")})
	denied(t, err, "app", ActionWrite, "kv:apple")
	res, err := akv.Scan(c, &caskadev1.ScanRequest{Prefix: []byte("app/")})
	if err != nil || len(res.Items) != 2 {
		t.Fatalf("app scan app/: %v, %v", res, err)
	}
	if _, err := akv.Scan(c, &caskadev1.ScanRequest{Start: []byte("app/"), End: []byte("app0")}); err != nil {
		t.Fatalf("app scan [app/, app0): %v", err)
	}
	_, err = akv.Scan(c, &caskadev1.ScanRequest{})
	denied(t, err, "app", ActionRead, "kv:*")
	_, err = akv.Scan(c, &caskadev1.ScanRequest{Start: []byte("app/"), End: []byte("other")})
	denied(t, err, "app", ActionRead, "kv:*")
	cs, err := caskadev1.NewLogClient(app).ConsumeStream(c, &caskadev1.ConsumeStreamRequest{Offset: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.Recv()
	denied(t, err, "app", ActionRead, ObjectLog)
	if n := s.db.NextOffset(); n != next {
		t.Fatalf("NextOffset %d after refused writes, want %d", n, next)
	}

	// An identity from the CA that the policy does not name.
	_, err = caskadev1.NewKVClient(s.as(t, "mallory")).Get(c, &caskadev1.GetRequest{Key: []byte("app/1")})
	checkErr(t, err, wantErr{code: codes.Unauthenticated, reason: caskadev1.ReasonUnauthenticated,
		meta: map[string]string{caskadev1.MetaIdentity: "mallory"}})

	// Health needs a certificate but no rule.
	hc, err := healthpb.NewHealthClient(s.as(t, "mallory")).Check(c, &healthpb.HealthCheckRequest{})
	if err != nil || hc.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health as mallory: %v, %v", hc, err)
	}
}

// TestTLS_BadCertificates: a caller without a certificate, with one from
// another CA or with an expired one cannot connect; nothing is written.
func TestTLS_BadCertificates(t *testing.T) {
	s := startTLSServer(t, "")
	next := s.db.NextOffset()

	other := t.TempDir()
	if _, err := certs.Init(other, nil); err != nil {
		t.Fatal(err)
	}
	ca, err := certs.LoadCA(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-48 * time.Hour)
	expiredCert, expiredKey, err := ca.Issue(certs.Request{CN: "root", NotBefore: past, NotAfter: past.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	expDir := t.TempDir()
	writeFile(t, expDir, "root.pem", string(expiredCert))
	writeFile(t, expDir, "root-key.pem", string(expiredKey))

	// In TLS 1.3 the client's handshake ends before the server checks its
	// certificate: the call fails with the server's alert, or with a
	// broken connection, whichever the client reads first.
	for _, tt := range []struct {
		name      string
		cert, key string
	}{
		{"no certificate", "", ""},
		{"another CA", filepath.Join(other, certs.ClientFile("root")), filepath.Join(other, certs.ClientKeyFile("root"))},
		{"expired", filepath.Join(expDir, "root.pem"), filepath.Join(expDir, "root-key.pem")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := caskadev1.NewKVClient(s.conn(t, tt.cert, tt.key)).Put(c, &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v")})
			if err == nil {
				t.Fatal("put succeeded")
			}
			if code := statusCode(err); code != codes.Unavailable && code != codes.Unauthenticated {
				t.Fatalf("put: %v, want Unavailable or Unauthenticated", err)
			}
		})
	}
	// A server certificate from another CA fails on the client's side.
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(filepath.Join(other, certs.CAFile))
	pool.AppendCertsFromPEM(b)
	kp, _ := tls.LoadX509KeyPair(filepath.Join(s.dir, certs.ClientFile("root")), filepath.Join(s.dir, certs.ClientKeyFile("root")))
	conn, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := caskadev1.NewKVClient(conn).Put(ctx(t), &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v")}); statusCode(err) != codes.Unavailable {
		t.Fatalf("put to a server of another CA: %v", err)
	}
	// A server name the certificate does not hold fails too.
	conn2, err := grpc.NewClient(s.addr, grpc.WithAuthority("elsewhere.example.com"),
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: s.pool(t), Certificates: []tls.Certificate{kp}})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if _, err := caskadev1.NewKVClient(conn2).Put(ctx(t), &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v")}); statusCode(err) != codes.Unavailable {
		t.Fatalf("put to a wrong server name: %v", err)
	}
	// Plaintext to a TLS server gets nowhere.
	plain, err := grpc.NewClient(s.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := caskadev1.NewKVClient(plain).Put(ctx(t), &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v")}); err == nil {
		t.Fatal("plaintext put to a TLS server succeeded")
	}
	if n := s.db.NextOffset(); n != next {
		t.Fatalf("NextOffset %d after refused connections, want %d", n, next)
	}
}

// pool is the CA pool of the deployment.
func (s *tlsServer) pool(t *testing.T) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	b, err := os.ReadFile(filepath.Join(s.dir, certs.CAFile))
	if err != nil || !pool.AppendCertsFromPEM(b) {
		t.Fatalf("CA: %v", err)
	}
	return pool
}

// statusCode is the gRPC code of err.
func statusCode(err error) codes.Code { return status.Code(err) }

// TestTLS_Reload: a new policy takes effect on Server.Reload, without a
// restart or a new connection.
func TestTLS_Reload(t *testing.T) {
	dir := t.TempDir()
	pp := writeFile(t, dir, "policy.csv", testPolicy)
	s := startTLSServer(t, pp)
	kv := caskadev1.NewKVClient(s.as(t, "reader"))
	c := ctx(t)
	_, err := kv.Put(c, &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v")})
	denied(t, err, "reader", ActionWrite, "kv:k")

	writeFile(t, dir, "policy.csv", testPolicy+"p, reader, kv:k, write\n")
	if err := s.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(c, &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("put after the reload: %v", err)
	}
	// A broken policy is refused and the last good one stays.
	writeFile(t, dir, "policy.csv", "p, reader, kv:k\n")
	if err := s.srv.Reload(); err == nil {
		t.Fatal("Reload of a broken policy: no error")
	}
	if _, err := kv.Put(c, &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v2")}); err != nil {
		t.Fatalf("put after a failed reload: %v", err)
	}
}

// TestServer_Reload_AuthorizationOff: a plaintext server has no policy.
func TestServer_Reload_AuthorizationOff(t *testing.T) {
	ts := startServer(t, nil)
	if err := ts.srv.Reload(); !errors.Is(err, errAuthorizationOff) {
		t.Fatalf("Reload = %v", err)
	}
}

// TestAuthorizer_Plaintext: an Authorizer on a plaintext server refuses
// every call as unauthenticated (it has no identity to go by) and writes
// nothing.
func TestAuthorizer_Plaintext(t *testing.T) {
	a, err := OpenAuthorizer("", "")
	if err != nil {
		t.Fatal(err)
	}
	o := engine.Options{Sync: engine.SyncNever, SegmentBytes: 64 << 10}
	db, err := engine.Open(t.TempDir(), &o)
	if err != nil {
		t.Fatal(err)
	}
	ts := serveStore(t, db, Options{Authorizer: a})
	ts.db = db
	t.Cleanup(func() { ts.stop(t) })
	_, err = ts.kv.Put(ctx(t), &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v")})
	checkErr(t, err, wantErr{code: codes.Unauthenticated, reason: caskadev1.ReasonUnauthenticated})
	st, err := ts.log.ConsumeStream(ctx(t), &caskadev1.ConsumeStreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err == io.EOF || statusCode(err) != codes.Unauthenticated {
		t.Fatalf("stream: %v", err)
	}
	if db.NextOffset() != 1 {
		t.Fatal("a refused call wrote")
	}
}
