package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caskade/caskade/replication"
)

// memberStatuses are the statuses caskade_serf_members always reports, so
// that a status with no member reads 0 rather than missing.
var memberStatuses = []replication.MemberStatus{
	replication.MemberAlive, replication.MemberLeaving, replication.MemberLeft, replication.MemberFailed,
}

// Members collects the Serf members this node knows, by status:
//
//	caskade_serf_members{status}   members alive, leaving, left or failed (and unknown, when Serf reports such)
//
// read from the members function (replication.Membership.Members) at
// scrape time.
type Members struct {
	members func() []replication.Member
	desc    *prometheus.Desc
}

// NewMembers returns the collector of the members that members lists.
func NewMembers(members func() []replication.Member) *Members {
	return &Members{
		members: members,
		desc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "serf", "members"),
			"Serf members this node knows, by status.", []string{"status"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *Members) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// Collect implements prometheus.Collector.
func (m *Members) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[replication.MemberStatus]int, len(memberStatuses))
	for _, s := range memberStatuses {
		counts[s] = 0
	}
	for _, mem := range m.members() {
		counts[mem.Status]++
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, float64(n), s.String())
	}
}
