package agent

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/metrics"
	"github.com/caskade/caskade/replication"
	"github.com/caskade/caskade/rpc"
)

// nodeMetrics are the collectors of an agent started with
// Config.Metrics.
type nodeMetrics struct {
	engine *metrics.Engine
	raft   *metrics.Raft // nil until register
	rpc    *rpc.Metrics
	// mem is the membership the Serf collector reads; nil until it
	// starts (the collector is registered before, and reports no member
	// until then).
	mem atomic.Pointer[replication.Membership]
}

// newNodeMetrics returns the collectors of an agent with cfg, or nil
// without cfg.Metrics, and hooks the fsync histogram into rc's store.
func newNodeMetrics(cfg Config, rc *replication.Config) *nodeMetrics {
	if cfg.Metrics == nil {
		return nil
	}
	m := &nodeMetrics{engine: metrics.NewEngine(), rpc: rpc.NewMetrics()}
	rc.Engine.OnSync = m.engine.ObserveSync
	return m
}

// register attaches the collectors to node and registers them, with the
// go-metrics sink of raft and Serf (metrics.Hashicorp), with reg. On
// failure it unregisters what it registered.
func (m *nodeMetrics) register(reg prometheus.Registerer, node *replication.Node, serf bool) error {
	m.engine.Attach(func() engine.Stats { return node.DB().Stats() })
	m.raft = metrics.NewRaft(node)
	cs := []prometheus.Collector{m.engine, m.raft, m.rpc}
	if serf {
		cs = append(cs, metrics.NewMembers(func() []replication.Member {
			if mem := m.mem.Load(); mem != nil {
				return mem.Members()
			}
			return nil
		}))
	}
	var done []prometheus.Collector
	fail := func(err error) error {
		for _, c := range done {
			reg.Unregister(c)
		}
		m.raft.Close()
		return fmt.Errorf("agent: metrics: %w", err)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fail(err)
		}
		done = append(done, c)
	}
	hc, err := metrics.Hashicorp()
	if err != nil {
		return fail(err)
	}
	if err := reg.Register(hc); err != nil {
		// Another agent of this process may have registered the
		// process-wide sink with reg already: it shows the same metrics.
		if !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return fail(err)
		}
	}
	return nil
}

// close stops what register started.
func (m *nodeMetrics) close() {
	if m != nil && m.raft != nil {
		m.raft.Close()
	}
}

// Ready reports why the node should not get traffic yet, or nil when it
// should: it is not closing, Raft runs, the node knows a leader and has
// applied the entries it knows committed, up to metrics.ReadyMaxLag of
// them (metrics.CaughtUp). It is what /readyz answers.
func (a *Agent) Ready() error {
	if a.closing.Load() {
		return errors.New("shutting down")
	}
	return metrics.CaughtUp(a.node.Stats(), metrics.ReadyMaxLag)
}
