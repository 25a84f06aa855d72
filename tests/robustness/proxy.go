package robustness

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// CutMode says how a Proxy cuts a connection off.
type CutMode int

// Cut modes.
const (
	// Reject closes the connection at once and refuses new ones, as a
	// host that is down or a firewall that rejects does: the ends learn
	// of it immediately.
	Reject CutMode = iota + 1
	// Drop keeps the connection open but lets no byte through either way,
	// and accepts new connections without connecting them, as a network
	// that loses packets does: the ends learn of it only by their own
	// timeouts. Heal closes the connections it held this way (bytes were
	// lost from their streams).
	Drop
)

// String returns "reject" or "drop".
func (m CutMode) String() string {
	switch m {
	case Reject:
		return "reject"
	case Drop:
		return "drop"
	}
	return "none"
}

// proxyDialTimeout bounds the proxy's connection to its target.
const proxyDialTimeout = 2 * time.Second

// Proxy forwards the TCP connections it accepts to one target address,
// byte for byte both ways, and can cut them off (Cut): all of them, or
// those from given source IP addresses. Safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu struct {
		sync.Mutex                 // guards the fields below; never held across I/O
		mode       CutMode         // 0: nothing is cut
		all        bool            // every connection is cut (with mode)
		from       map[string]bool // source IPs whose connections are cut (with mode)
		links      map[*link]struct{}
		// closed is set by Close; no link is added after it.
		closed bool
	}
	wg sync.WaitGroup // the accept loop and every connection's goroutines
}

// NewProxy listens on listen (host:port; port 0 picks one) and forwards
// what it accepts to target until Close.
func NewProxy(listen, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("proxy for %s: %w", target, err)
	}
	p := &Proxy{ln: ln, target: target}
	p.mu.links = make(map[*link]struct{})
	p.mu.from = make(map[string]bool)
	p.wg.Go(p.acceptLoop)
	return p, nil
}

// Addr returns the address the proxy accepts connections at.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Cut cuts off, as mode says, the connections from the source IPs ips,
// or every connection when ips is empty: those open now and those that
// come until Heal. Cuts add up; the last mode given applies to all of
// them.
func (p *Proxy) Cut(mode CutMode, ips ...string) {
	p.mu.Lock()
	p.mu.mode = mode
	if len(ips) == 0 {
		p.mu.all = true
	}
	for _, ip := range ips {
		p.mu.from[ip] = true
	}
	var hit []*link
	for l := range p.mu.links {
		if p.cutsLocked(l.ip) {
			hit = append(hit, l)
		}
	}
	p.mu.Unlock()
	for _, l := range hit {
		if mode == Reject {
			l.close()
		} else {
			l.dropped.Store(true)
		}
	}
}

// Heal lets every connection through again. Connections held by Drop are
// closed (bytes were lost from their streams); the ends reconnect.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.mu.mode, p.mu.all = 0, false
	clear(p.mu.from)
	var held []*link
	for l := range p.mu.links {
		if l.dropped.Load() {
			held = append(held, l)
		}
	}
	p.mu.Unlock()
	for _, l := range held {
		l.close()
	}
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines. Calling it again is harmless.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.mu.closed = true
	links := make([]*link, 0, len(p.mu.links))
	for l := range p.mu.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// cutsLocked reports whether connections from ip are cut. Caller holds
// p.mu.
func (p *Proxy) cutsLocked(ip string) bool {
	return p.mu.mode != 0 && (p.mu.all || p.mu.from[ip])
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (out of files): try again shortly.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

// handle forwards one accepted connection until either end closes it or
// a cut does.
func (p *Proxy) handle(src net.Conn) {
	l := &link{src: src, ip: ipOf(src.RemoteAddr())}
	p.mu.Lock()
	cut := p.cutsLocked(l.ip)
	if p.mu.closed || (cut && p.mu.mode == Reject) {
		p.mu.Unlock()
		src.Close()
		return
	}
	p.mu.links[l] = struct{}{}
	l.dropped.Store(cut)
	p.mu.Unlock()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.mu.links, l)
		p.mu.Unlock()
	}()
	if cut {
		// Held, never connected: read and discard until Heal or Close.
		l.pipe(nil, src)
		return
	}
	dst, err := net.DialTimeout("tcp", p.target, proxyDialTimeout)
	if err != nil {
		return // the target is down: the client sees its connection close
	}
	if !l.setDst(dst) {
		dst.Close() // cut while dialing
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { l.pipe(dst, src) })
	l.pipe(src, dst)
	wg.Wait()
}

// ipOf returns the IP of a TCP address, "" for anything else.
func ipOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	return ""
}

// link is one forwarded connection: src accepted, dst dialed.
type link struct {
	src     net.Conn
	ip      string      // src's remote IP
	dropped atomic.Bool // bytes read are discarded, not forwarded

	mu     sync.Mutex // guards dst and closed
	dst    net.Conn   // nil until dialed
	closed bool
}

// setDst records the dialed connection; false if the link was closed
// meanwhile.
func (l *link) setDst(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.dst = c
	return true
}

// close closes both ends; calling it again is harmless.
func (l *link) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	dst := l.dst
	l.mu.Unlock()
	l.src.Close()
	if dst != nil {
		dst.Close()
	}
}

// pipe copies from r to w (nil w: discards) until either fails, then
// closes the link. While the link is dropped, what it reads is
// discarded.
func (l *link) pipe(w, r net.Conn) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 && w != nil && !l.dropped.Load() {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
