package replication

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// RaftByte is the first byte of every Raft connection between nodes. A
// node's port is shared (cmux) between Raft and gRPC: a connection whose
// first byte is RaftByte is Raft's. gRPC (HTTP/2) connections start with
// "PRI", never with it. It must never change.
const RaftByte byte = 0x01

// StreamLayer is a raft.StreamLayer over a listener whose connections
// start with RaftByte (cmux's matcher sniffs it and replays it; the
// stream layer reads and checks it on the connection's first read), and
// dialing peers by writing RaftByte first. With a TLS config both directions then
// speak TLS (mutual TLS when the config asks for client certificates);
// without one they speak plaintext (tests and development).
//
// Safe for concurrent use.
type StreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config // nil: plaintext
	client    *tls.Config // nil: plaintext
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer returns a stream layer accepting from ln. advertise is the
// address peers reach this node at ("" means ln's address). tlsConf, if not
// nil, serves accepted connections (its Certificates, ClientCAs and
// ClientAuth) and dials peers (its Certificates as the client certificate;
// its RootCAs, or ClientCAs when RootCAs is nil, to verify them, with the
// dialed host as the server name).
func NewStreamLayer(ln net.Listener, advertise string, tlsConf *tls.Config) (*StreamLayer, error) {
	s := &StreamLayer{ln: ln, advertise: ln.Addr()}
	if advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			return nil, fmt.Errorf("raft address %q: %w", advertise, err)
		}
		s.advertise = a
	}
	if tlsConf != nil {
		s.server = tlsConf.Clone()
		c := tlsConf.Clone()
		c.ClientAuth = tls.NoClientCert
		c.ClientCAs = nil
		if c.RootCAs == nil {
			c.RootCAs = tlsConf.ClientCAs
		}
		s.client = c
	}
	return s, nil
}

// Accept waits for the next Raft connection from a peer. With TLS the
// handshake happens on the connection's first read or write, in the
// goroutine the transport gives it, not here.
func (s *StreamLayer) Accept() (net.Conn, error) {
	ln, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	var c net.Conn = &raftConn{Conn: ln}
	if s.server != nil {
		return tls.Server(c, s.server), nil
	}
	return c, nil
}

// Close closes the listener.
func (s *StreamLayer) Close() error { return s.ln.Close() }

// Addr is the address peers reach this node at.
func (s *StreamLayer) Addr() net.Addr { return s.advertise }

// Dial connects to a peer's Raft: it writes RaftByte, then (with TLS)
// completes a handshake, all within timeout.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("dial raft %s: %w", address, err)
	}
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial raft %s: %w", address, err)
	}
	if _, err := c.Write([]byte{RaftByte}); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial raft %s: %w", address, err)
	}
	if s.client != nil {
		conf := s.client
		if conf.ServerName == "" {
			host, _, err := net.SplitHostPort(string(address))
			if err != nil {
				c.Close()
				return nil, fmt.Errorf("dial raft %s: %w", address, err)
			}
			conf = conf.Clone()
			conf.ServerName = host
		}
		tc := tls.Client(c, conf)
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, fmt.Errorf("dial raft %s: tls: %w", address, err)
		}
		c = tc
	}
	if err := c.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial raft %s: %w", address, err)
	}
	return c, nil
}

// raftConn is an accepted connection whose first byte, RaftByte, is read
// and checked by its first Read (in the reader's goroutine, so a slow peer
// never holds up Accept).
type raftConn struct {
	net.Conn
	seen bool // the first byte has been read; only the reading goroutine touches it
}

// Read reads past the leading RaftByte, then from the connection.
func (c *raftConn) Read(p []byte) (int, error) {
	if !c.seen {
		var b [1]byte
		if _, err := io.ReadFull(c.Conn, b[:]); err != nil {
			return 0, err
		}
		if b[0] != RaftByte {
			return 0, fmt.Errorf("raft connection from %s starts with %#x, not %#x", c.RemoteAddr(), b[0], RaftByte)
		}
		c.seen = true
	}
	return c.Conn.Read(p)
}
