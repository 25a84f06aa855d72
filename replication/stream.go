package replication

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
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
// without one they speak plaintext (tests and development). A node that
// listens on one IP address dials its peers from that address
// (SourceAddr).
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
		// Kept as given, a host name too: peers dial it by name and check
		// the certificate against the name, which is how a certificate can
		// cover nodes whose IPs are not known in advance (pods).
		host, port, err := net.SplitHostPort(advertise)
		if err != nil {
			return nil, fmt.Errorf("raft address %q: %w", advertise, err)
		}
		if p, err := strconv.ParseUint(port, 10, 16); host == "" || err != nil || p == 0 {
			return nil, fmt.Errorf("raft address %q: want host:port with a host and a port from 1 to 65535", advertise)
		}
		s.advertise = tcpName(advertise)
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
// completes a handshake, all within timeout. The connection comes from
// the listener's IP address when SourceAddr says so.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, LocalAddr: SourceAddr(s.ln.Addr(), string(address))}
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

// SourceAddr returns the local address a node that listens at listen
// dials dest (host:port) from, for Raft and for its gRPC calls to other
// nodes: the listen IP with any port when the node listens on one IP
// address, so that its connections come from the address it serves at,
// as Consul's bind_addr does (firewalls, and the proxies of the
// robustness suite, recognize a node by that address). It returns nil,
// letting the system choose, when the node listens on every interface
// (0.0.0.0 or ::), when listen is not a TCP address, when dest is an IP
// of the other family, and when the listen IP is a loopback address but
// dest is not one (a node behind a local forwarder, which could not
// reach a remote peer from 127.0.0.1). A dest given by host name other
// than localhost counts as not loopback.
func SourceAddr(listen net.Addr, dest string) net.Addr {
	la, ok := listen.(*net.TCPAddr)
	if !ok || la == nil || la.IP == nil || la.IP.IsUnspecified() {
		return nil
	}
	host, _, err := net.SplitHostPort(dest)
	if err != nil {
		return nil
	}
	destLoopback := strings.EqualFold(host, "localhost")
	if ip := net.ParseIP(host); ip != nil {
		if (ip.To4() == nil) != (la.IP.To4() == nil) {
			return nil
		}
		destLoopback = ip.IsLoopback()
	}
	if la.IP.IsLoopback() && !destLoopback {
		return nil
	}
	return &net.TCPAddr{IP: la.IP, Zone: la.Zone}
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

// tcpName is a TCP address kept as written (host name or IP, and port).
type tcpName string

// Network returns "tcp".
func (tcpName) Network() string { return "tcp" }

// String returns the address as written.
func (a tcpName) String() string { return string(a) }
