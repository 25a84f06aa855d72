package client_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faultProxy forwards the TCP connections made to its own loopback port
// to a target address, and can turn the connections open at a moment into
// a black hole (Freeze): nothing is forwarded any more, either way, and
// nothing is closed, the way a client sees a host that lost power or
// network. Connections made after Freeze are forwarded as before, so a
// call sent again would reach the server. It is safe for concurrent use.
type faultProxy struct {
	Addr   string // host:port to dial instead of the target
	target string // immutable

	lis      net.Listener
	wg       sync.WaitGroup // the accept loop and every copy goroutine
	accepted atomic.Int64   // connections accepted so far

	mu struct {
		sync.Mutex
		pairs  []*proxyPair // every pair accepted, frozen or not, until Close
		closed bool         // Close ran: accepted connections are closed at once
	}
}

// proxyPair is one forwarded connection: the client's side and the
// server's.
type proxyPair struct {
	client, server net.Conn
	frozen         atomic.Bool // set once by Freeze, never cleared
}

// startProxy starts a proxy to target on 127.0.0.1; it stops (closing
// every connection) when the test ends.
func startProxy(t testing.TB, target string) *faultProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{Addr: lis.Addr().String(), target: target, lis: lis}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// accept forwards each connection until the listener is closed.
func (p *faultProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return // closed by Close
		}
		p.accepted.Add(1)
		s, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			c.Close() // the target is down: so is the proxy for this client
			continue
		}
		pair := &proxyPair{client: c, server: s}
		p.mu.Lock()
		if p.mu.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.mu.pairs = append(p.mu.pairs, pair)
		p.wg.Add(2)
		p.mu.Unlock()
		go p.copy(pair, s, c)
		go p.copy(pair, c, s)
	}
}

// copy forwards src to dst until either fails or the pair is frozen. A
// frozen pair's goroutines return without closing anything; bytes read at
// the moment of Freeze may still pass.
func (p *faultProxy) copy(pair *proxyPair, dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if pair.frozen.Load() {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Pass the half-close on, as TCP would.
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite() // the other direction ends on its own
				}
			}
			return
		}
	}
}

// Freeze black-holes the connections open now, in both directions,
// without closing them (Close does). It returns at once.
func (p *faultProxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pair := range p.mu.pairs {
		pair.frozen.Store(true)
		// Wake the copy goroutines blocked in Read: they see the flag
		// and stop. The sockets stay open.
		now := time.Now()
		_ = pair.client.SetReadDeadline(now)
		_ = pair.server.SetReadDeadline(now)
	}
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines. Calling it again does nothing.
func (p *faultProxy) Close() {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return
	}
	p.mu.closed = true
	pairs := p.mu.pairs
	p.mu.pairs = nil
	p.mu.Unlock()
	p.lis.Close()
	for _, pair := range pairs {
		pair.client.Close()
		pair.server.Close()
	}
	p.wg.Wait()
}
