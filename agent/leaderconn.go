package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
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
// and its CAs. The zero value is ready to use. Safe for concurrent use.
type leaderConns struct {
	mu     sync.Mutex                  // guards conns and closed
	conns  map[string]*grpc.ClientConn // by RPC address
	closed bool                        // set by close; get refuses after it
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
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	creds := insecure.NewCredentials()
	if serverTLS != nil {
		creds = credentials.NewTLS(clientTLS(serverTLS))
	}
	// grpc.NewClient does no I/O, so holding mu here is brief.
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("agent: dial leader %s: %w", addr, err)
	}
	if c.conns == nil {
		c.conns = make(map[string]*grpc.ClientConn)
	}
	for a, old := range c.conns {
		if len(c.conns) < maxLeaderConns {
			break
		}
		// Calls in flight on it fail with CANCELED; it belongs to a node
		// that is most likely no longer the leader.
		_ = old.Close()
		delete(c.conns, a)
	}
	c.conns[addr] = cc
	return cc, nil
}

// close closes every connection; get fails afterwards. Calling it again
// is harmless.
func (c *leaderConns) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for a, cc := range c.conns {
		if err := cc.Close(); err != nil {
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
