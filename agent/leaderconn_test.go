package agent

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

// TestLeaderConns_DialFromListenIP checks that a node listening on one
// loopback IP calls the leader from that IP, as its Raft connections do,
// and that the zero value lets the system choose.
func TestLeaderConns_DialFromListenIP(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.3:0"); err != nil {
		t.Skipf("no second loopback address on this machine: %v", err)
	} else {
		ln.Close()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	from := make(chan net.Addr, 4)
	gs := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if p, ok := peer.FromContext(ctx); ok {
			from <- p.Addr
		}
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func() { _ = gs.Serve(ln) }()
	t.Cleanup(gs.Stop)

	tests := []struct {
		name   string
		listen net.Addr
		want   string
	}{
		{"listening on one IP", &net.TCPAddr{IP: net.ParseIP("127.0.0.3"), Port: 7070}, "127.0.0.3"},
		{"listening on every interface", &net.TCPAddr{IP: net.IPv4zero, Port: 7070}, "127.0.0.1"},
		{"zero value", nil, "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &leaderConns{listen: tt.listen}
			defer c.close()
			cc, err := c.get(ln.Addr().String(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
				t.Fatal(err)
			}
			got := (<-from).(*net.TCPAddr).IP.String()
			if got != tt.want {
				t.Errorf("the leader saw the call from %s, want %s", got, tt.want)
			}
		})
	}
}
