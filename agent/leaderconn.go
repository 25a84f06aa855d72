package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/caskade/caskade/replication"
)

// maxLeaderConns bounds the connections a node keeps to (past) leaders:
// a cluster has a handful of nodes, and after a few leader changes the
// oldest connection is unlikely to be needed again.
const maxLeaderConns = 4

// errConnsClosed is returned by leaderConns.get after close.
var errConnsClosed = errors.New("agent: leader connections closed")

// leaderConns is a cache of gRPC connections from this node to other
// nodes' RPC addresses (in practice, the leaders it forwarded writes or
// ReadIndex calls to), dialed lazily with the node's own TLS
// configuration as a client: its certificate (identity certs.NodeIdentity)
// and its CAs, and from the node's listen IP when it listens on one
// (replication.SourceAddr), as its Raft connections are. The zero value
// is ready to use. Safe for concurrent use.
type leaderConns struct {
	// listen is the node's listen address, which the connections are
	// dialed from (replication.SourceAddr); nil lets the system choose.
	// Set before the first get, never changed afterwards.
	listen net.Addr

	mu     sync.Mutex             // guards conns and closed
	conns  map[string]*leaderConn // by RPC address
	closed bool                   // set by close; get refuses after it
}

// leaderConn is one cached connection and when it was last handed out.
type leaderConn struct {
	cc   *grpc.ClientConn
	used time.Time
}

// leaderConnectParams make a connection to a leader that restarted at
// the same address come back within seconds (gRPC's default backoff grows
// to two minutes).
var leaderConnectParams = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
	MinConnectTimeout: time.Second,
}

// get returns the connection to addr, dialing it (without blocking: gRPC
// connects on the first call) when there is none. serverTLS is the node's
// TLS configuration as a server (nil: plaintext).
func (c *leaderConns) get(addr string, serverTLS *tls.Config) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errConnsClosed
	}
	if lc, ok := c.conns[addr]; ok {
		lc.used = time.Now()
		return lc.cc, nil
	}
	creds := insecure.NewCredentials()
	if serverTLS != nil {
		creds = credentials.NewTLS(clientTLS(serverTLS))
	}
	// grpc.NewClient does no I/O, so holding mu here is brief.
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds), grpc.WithConnectParams(leaderConnectParams),
		grpc.WithContextDialer(c.dial))
	if err != nil {
		return nil, fmt.Errorf("agent: dial leader %s: %w", addr, err)
	}
	if c.conns == nil {
		c.conns = make(map[string]*leaderConn)
	}
	if len(c.conns) >= maxLeaderConns {
		// Drop the least recently used: it belongs to a node that has
		// most likely not been the leader for a while. Calls still in
		// flight on it fail with CANCELED.
		var oldest string
		for a, lc := range c.conns {
			if oldest == "" || lc.used.Before(c.conns[oldest].used) {
				oldest = a
			}
		}
		_ = c.conns[oldest].cc.Close()
		delete(c.conns, oldest)
	}
	c.conns[addr] = &leaderConn{cc: cc, used: time.Now()}
	return cc, nil
}

// dial is the connections' dialer: TCP from the node's listen IP when
// replication.SourceAddr says so. Unlike gRPC's default dialer it does
// not go through an HTTP CONNECT proxy named in the environment: nodes
// talk to each other directly, as their Raft connections do.
func (c *leaderConns) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: replication.SourceAddr(c.listen, addr)}
	return d.DialContext(ctx, "tcp", addr)
}

// close closes every connection; get fails afterwards. Calling it again
// is harmless.
func (c *leaderConns) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for a, lc := range c.conns {
		if err := lc.cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("agent: close connection to %s: %w", a, err))
		}
	}
	c.conns = nil
	return errors.Join(errs...)
}

// clientTLS derives the configuration this node dials other nodes' gRPC
// with from its server configuration, as the Raft stream layer does: the
// same certificate (good for client authentication too), and the CAs it
// verifies clients with as the roots when it has no RootCAs. gRPC sets
// the server name from the address dialed.
func clientTLS(server *tls.Config) *tls.Config {
	c := server.Clone()
	c.ClientAuth = tls.NoClientCert
	c.ClientCAs = nil
	if c.RootCAs == nil {
		c.RootCAs = server.ClientCAs
	}
	return c
}
