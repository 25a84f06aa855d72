package robustness

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer accepts on 127.0.0.1 and echoes every byte back, until the
// test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// newTestProxy starts a proxy on 127.0.0.1 in front of an echo server.
func newTestProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := NewProxy("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close proxy: %v", err)
		}
	})
	return p
}

// dialFrom connects to addr from the loopback IP from.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// outcome is what an exchange over a connection through the proxy gives.
type outcome int

const (
	echoed outcome = iota + 1 // the bytes came back
	closed                    // the connection was closed
	silent                    // nothing came back within a short wait
)

func (o outcome) String() string {
	return map[outcome]string{echoed: "echoed", closed: "closed", silent: "silent"}[o]
}

// exchange writes a message and says what came back: within wait for a
// silent outcome to count.
func exchange(t *testing.T, c net.Conn, wait time.Duration) outcome {
	t.Helper()
	msg := []byte("ping")
	if _, err := c.Write(msg); err != nil {
		return closed
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	switch {
	case err == nil:
		return echoed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return silent
	default:
		return closed
	}
}

func TestProxy_Cut(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Skipf("no second loopback address on this machine: %v", err)
	} else {
		ln.Close()
	}
	// Closed connections and echoes show within this; silence is
	// waited for this long.
	const wait, quiet = 5 * time.Second, 200 * time.Millisecond
	tests := []struct {
		name string
		cut  func(p *Proxy)
		// What an open connection and a new one, from 127.0.0.1 and from
		// 127.0.0.2, see during the cut.
		openA, openB, newA, newB outcome
	}{
		{"nothing cut", func(*Proxy) {}, echoed, echoed, echoed, echoed},
		{"reject all", func(p *Proxy) { p.Cut(Reject) }, closed, closed, closed, closed},
		{"reject one source", func(p *Proxy) { p.Cut(Reject, "127.0.0.2") }, echoed, closed, echoed, closed},
		{"drop all", func(p *Proxy) { p.Cut(Drop) }, silent, silent, silent, silent},
		{"drop one source", func(p *Proxy) { p.Cut(Drop, "127.0.0.2") }, echoed, silent, echoed, silent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newTestProxy(t)
			a, b := dialFrom(t, "127.0.0.1", p.Addr()), dialFrom(t, "127.0.0.2", p.Addr())
			for _, c := range []net.Conn{a, b} {
				if got := exchange(t, c, wait); got != echoed {
					t.Fatalf("before the cut: %v, want echoed", got)
				}
			}
			tt.cut(p)
			check := func(what string, c net.Conn, want outcome) {
				t.Helper()
				d := wait
				if want == silent {
					d = quiet
				}
				if got := exchange(t, c, d); got != want {
					t.Errorf("%s: %v, want %v", what, got, want)
				}
			}
			check("open connection from 127.0.0.1", a, tt.openA)
			check("open connection from 127.0.0.2", b, tt.openB)
			check("new connection from 127.0.0.1", dialFrom(t, "127.0.0.1", p.Addr()), tt.newA)
			check("new connection from 127.0.0.2", dialFrom(t, "127.0.0.2", p.Addr()), tt.newB)

			// After Heal new connections pass again; those held by a drop
			// are closed, not resumed mid-stream.
			p.Heal()
			if tt.openB == silent {
				check("held connection after heal", b, closed)
			}
			check("new connection after heal, from 127.0.0.1", dialFrom(t, "127.0.0.1", p.Addr()), echoed)
			check("new connection after heal, from 127.0.0.2", dialFrom(t, "127.0.0.2", p.Addr()), echoed)
		})
	}
}

func TestProxy_TargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close() // nothing listens there now
	p, err := NewProxy("127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := exchange(t, dialFrom(t, "127.0.0.1", p.Addr()), 5*time.Second); got != closed {
		t.Fatalf("connection through a proxy whose target is down: %v, want closed", got)
	}
}

func TestProxy_Close(t *testing.T) {
	p, err := NewProxy("127.0.0.1:0", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dialFrom(t, "127.0.0.1", p.Addr())
	if got := exchange(t, c, 5*time.Second); got != echoed {
		t.Fatalf("before Close: %v, want echoed", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := exchange(t, c, 5*time.Second); got != closed {
		t.Fatalf("after Close: %v, want closed", got)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
