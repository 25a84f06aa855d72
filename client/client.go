package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// DefaultTimeout bounds each unary call whose context has no earlier
// deadline, unless WithTimeout says otherwise.
const DefaultTimeout = 10 * time.Second

// Client talks to a caskade store over gRPC. It is safe for concurrent
// use; one Client per process and store is the intended use, since it
// multiplexes every call over its connections.
type Client struct {
	conn    *grpc.ClientConn
	timeout time.Duration // per unary call; 0: none. Immutable after Dial.

	view *view // what the resolver knows of the cluster; for tests

	kv    caskadev1.KVClient
	log   caskadev1.LogClient
	clus  caskadev1.ClusterClient
	maint caskadev1.MaintenanceClient

	closed atomic.Bool
}

// Option configures Dial.
type Option func(*dialConfig)

// dialConfig is what the Options of one Dial set.
type dialConfig struct {
	// security returns the transport credentials and the server name to
	// verify ("" for the host of each endpoint); set by the last of
	// WithTransportCredentials, WithInsecure, WithTLS and WithTLSConfig.
	security func() (credentials.TransportCredentials, string, error)
	timeout  time.Duration
	dialOpts []grpc.DialOption

	discover        *bool         // nil: discover when there are several endpoints
	refresh         time.Duration // resolver's interval
	failoverTimeout time.Duration
}

// WithTransportCredentials secures the connections with creds (TLS or
// mutual TLS).
func WithTransportCredentials(creds credentials.TransportCredentials) Option {
	return func(c *dialConfig) {
		c.security = func() (credentials.TransportCredentials, string, error) { return creds, "", nil }
	}
}

// WithInsecure makes the connections plaintext: for a server on the
// loopback interface only. Dial refuses to guess between this and TLS, so
// one of WithInsecure, WithTLS, WithTLSConfig and WithTransportCredentials
// is required; the last one given wins.
func WithInsecure() Option {
	return WithTransportCredentials(insecure.NewCredentials())
}

// WithTLS secures the connections with mutual TLS: the client presents
// the certificate and key in certFile and keyFile (its common name is the
// caller's identity) and trusts servers whose certificate a CA in caFile
// signed, for the host of the endpoint it dials. Dial reads the files
// (see LoadTLSConfig).
func WithTLS(certFile, keyFile, caFile string) Option {
	return func(c *dialConfig) {
		c.security = func() (credentials.TransportCredentials, string, error) {
			cfg, err := LoadTLSConfig(certFile, keyFile, caFile)
			if err != nil {
				return nil, "", err
			}
			return credentials.NewTLS(cfg), "", nil
		}
	}
}

// WithTLSConfig secures the connections with TLS as cfg says (a copy is
// kept). Each server's certificate is verified for the host of the
// endpoint dialed, or for cfg.ServerName when it is set (the same name
// for every endpoint).
func WithTLSConfig(cfg *tls.Config) Option {
	cfg = cfg.Clone()
	return func(c *dialConfig) {
		c.security = func() (credentials.TransportCredentials, string, error) {
			return credentials.NewTLS(cfg), cfg.ServerName, nil
		}
	}
}

// LoadTLSConfig returns a mutual-TLS client configuration: the
// certificate and key in certFile and keyFile, servers trusted if a CA in
// caFile signed their certificate, TLS 1.2 or newer. Set its ServerName to
// verify every server against one name instead of the endpoint's host.
func LoadTLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA certificates %s: no PEM certificate in the file", caFile)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
	}, nil
}

// WithTimeout bounds each unary call (Put, Get, Status, ...) whose context
// has no earlier deadline; 0 means no bound. Streams (Consumer, Producer,
// Snapshot) are bounded by their context only. The default is
// DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *dialConfig) { c.timeout = d }
}

// WithDiscovery says whether the Client asks the cluster for its servers
// (GetServers) and talks to all of them, writes and linearizable reads to
// the leader and stale reads to the followers in turn. Without it the
// Client talks to the endpoints given and nothing else. The default is on
// with several endpoints and off with one, so that one endpoint addresses
// one node (its Status, its stale reads) as before.
func WithDiscovery(on bool) Option {
	return func(c *dialConfig) { c.discover = &on }
}

// WithRefreshInterval sets how often a discovering Client asks the
// cluster for its servers when nothing else made it ask (it also asks
// when a node fails, answers NOT_LEADER, or the leader is lost); 0 means
// DefaultRefreshInterval.
func WithRefreshInterval(d time.Duration) Option {
	return func(c *dialConfig) { c.refresh = d }
}

// WithFailoverTimeout bounds how long a call waits for a (new) leader to
// be found before it fails with ErrUnavailable; the call's context and
// timeout bound it too. 0 means DefaultFailoverTimeout.
func WithFailoverTimeout(d time.Duration) Option {
	return func(c *dialConfig) { c.failoverTimeout = d }
}

// WithDialOptions adds gRPC dial options, applied after the Client's own
// (so they win where both set the same thing). A grpc.WithContextDialer
// replaces the dialer that fails calls on a node that went quiet within
// 2 seconds.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *dialConfig) { c.dialOpts = append(c.dialOpts, opts...) }
}

// Dial returns a Client for the servers at endpoints (host:port each). It
// does not wait for a connection: calls connect on demand, and a server
// that cannot be reached makes them fail with ErrUnavailable. ctx is
// checked before anything is set up.
func Dial(ctx context.Context, endpoints []string, opts ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	cfg := dialConfig{timeout: DefaultTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if err := checkEndpoints(endpoints); err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	if cfg.security == nil {
		return nil, fmt.Errorf("dial: %w: no transport credentials (use WithTLS, WithTLSConfig, WithTransportCredentials or WithInsecure)", ErrInvalidArgument)
	}
	if cfg.timeout < 0 || cfg.refresh < 0 || cfg.failoverTimeout < 0 {
		return nil, fmt.Errorf("dial: %w: negative timeout or interval", ErrInvalidArgument)
	}
	if cfg.refresh == 0 {
		cfg.refresh = DefaultRefreshInterval
	}
	if cfg.failoverTimeout == 0 {
		cfg.failoverTimeout = DefaultFailoverTimeout
	}
	discover := len(endpoints) > 1
	if cfg.discover != nil {
		discover = *cfg.discover
	}
	creds, serverName, err := cfg.security()
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	// The resolver's own connections (for GetServers) are secured and
	// named like the Client's.
	secure := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if serverName != "" {
		// Verify every server against this name rather than its host.
		secure = append(secure, grpc.WithAuthority(serverName))
	}
	v := newView(!discover)
	rb := &resolverBuilder{
		view:     v,
		discover: discover,
		interval: cfg.refresh,
		// Its connections end when a node goes quiet, like the Client's.
		dialOpts: append([]grpc.DialOption{connectParams(), grpc.WithContextDialer(dialIdle)}, secure...),
	}
	rt := &retrier{view: v, failoverTimeout: cfg.failoverTimeout}
	dopts := append(dialOptions(rb, rt), secure...)
	dopts = append(dopts, cfg.dialOpts...)
	conn, err := grpc.NewClient(target(endpoints), dopts...)
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w", endpoints, err)
	}
	conn.Connect() // start connecting now rather than at the first call
	return &Client{
		conn:    conn,
		timeout: cfg.timeout,
		view:    v,
		kv:      caskadev1.NewKVClient(conn),
		log:     caskadev1.NewLogClient(conn),
		clus:    caskadev1.NewClusterClient(conn),
		maint:   caskadev1.NewMaintenanceClient(conn),
	}, nil
}

// Close closes the connections. Calls in flight fail; later calls return
// ErrClosed. Closing twice returns ErrClosed.
func (c *Client) Close() error {
	if c.closed.Swap(true) {
		return ErrClosed
	}
	if err := c.conn.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// unary returns the context for one unary call: ctx bounded by the
// Client's timeout.
func (c *Client) unary(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// check returns ErrClosed once Close was called.
func (c *Client) check(op string) error {
	if c.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return nil
}

// wrap turns the error of a call into one that errors.Is matches against
// this package's sentinels, prefixed with the operation.
func (c *Client) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if c.closed.Load() {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	return fmt.Errorf("%s: %w", op, FromError(err))
}
