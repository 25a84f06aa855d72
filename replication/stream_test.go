package replication

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestSourceAddr(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 7070} }
	tests := []struct {
		name   string
		listen net.Addr
		dest   string
		want   string // "" means nil: the system chooses
	}{
		{"one loopback IP to a loopback peer", tcp("127.0.0.11"), "127.0.0.12:7070", "127.0.0.11:0"},
		{"one loopback IP to localhost", tcp("127.0.0.11"), "localhost:7070", "127.0.0.11:0"},
		{"one loopback IP to a remote peer", tcp("127.0.0.1"), "10.0.0.5:7070", ""},
		{"one loopback IP to a peer by name", tcp("127.0.0.1"), "node-2.example:7070", ""},
		{"one LAN IP to a peer by name", tcp("10.0.0.4"), "node-2.example:7070", "10.0.0.4:0"},
		{"one LAN IP to a LAN peer", tcp("10.0.0.4"), "10.0.0.5:7070", "10.0.0.4:0"},
		{"one LAN IP to a loopback peer", tcp("10.0.0.4"), "127.0.0.1:7070", "10.0.0.4:0"},
		{"IPv6 to IPv6", tcp("::1"), "[::1]:7070", "[::1]:0"},
		{"IPv4 to IPv6", tcp("127.0.0.1"), "[::1]:7070", ""},
		{"IPv6 to IPv4", tcp("::1"), "127.0.0.1:7070", ""},
		{"every IPv4 interface", tcp("0.0.0.0"), "127.0.0.1:7070", ""},
		{"every IPv6 interface", tcp("::"), "127.0.0.1:7070", ""},
		{"not TCP", &net.UnixAddr{Name: "/tmp/sock", Net: "unix"}, "127.0.0.1:7070", ""},
		{"nil listen address", nil, "127.0.0.1:7070", ""},
		{"dest without a port", tcp("127.0.0.11"), "127.0.0.12", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SourceAddr(tt.listen, tt.dest)
			switch {
			case tt.want == "" && got != nil:
				t.Fatalf("SourceAddr(%v, %q) = %v, want nil", tt.listen, tt.dest, got)
			case tt.want != "" && (got == nil || got.String() != tt.want):
				t.Fatalf("SourceAddr(%v, %q) = %v, want %s", tt.listen, tt.dest, got, tt.want)
			}
		})
	}
}

// TestStreamLayer_Dial_FromListenIP checks that a node listening on one
// loopback IP reaches its peer from that IP, so that a peer (or a proxy
// in between) sees the node's own address.
func TestStreamLayer_Dial_FromListenIP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no second loopback address on this machine: %v", err)
	}
	sl, err := NewStreamLayer(ln, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	peer, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	type accepted struct {
		from net.Addr
		b    byte
		err  error
	}
	got := make(chan accepted, 1)
	go func() {
		c, err := peer.Accept()
		if err != nil {
			got <- accepted{err: err}
			return
		}
		defer c.Close()
		var b [1]byte
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(b[:])
		got <- accepted{from: c.RemoteAddr(), b: b[0], err: err}
	}()
	c, err := sl.Dial(raft.ServerAddress(peer.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a := <-got
	if a.err != nil {
		t.Fatal(a.err)
	}
	if ip := a.from.(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Errorf("peer saw the connection from %s, want 127.0.0.2", a.from)
	}
	if a.b != RaftByte {
		t.Errorf("first byte %#x, want RaftByte %#x", a.b, RaftByte)
	}
}
