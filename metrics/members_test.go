package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caskade/caskade/internal/metricstest"
	"github.com/caskade/caskade/replication"
)

func TestMembers_CountsByStatus(t *testing.T) {
	members := []replication.Member{
		{Name: "a", Status: replication.MemberAlive},
		{Name: "b", Status: replication.MemberAlive},
		{Name: "c", Status: replication.MemberFailed},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewMembers(func() []replication.Member { return members }))
	f := metricstest.Gather(t, reg)
	for _, tt := range []struct {
		status string
		want   float64
	}{
		{"alive", 2}, {"failed", 1}, {"left", 0}, {"leaving", 0},
	} {
		if got, ok := f.Value("caskade_serf_members", "status", tt.status); !ok || got != tt.want {
			t.Errorf("caskade_serf_members{status=%q} = %v (found %v), want %v", tt.status, got, ok, tt.want)
		}
	}
}
