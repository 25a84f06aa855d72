package metrics

import (
	"fmt"
	"sync"

	gometrics "github.com/hashicorp/go-metrics/compat"
	gmprometheus "github.com/hashicorp/go-metrics/compat/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// hashicorp is the go-metrics sink of the process, installed once.
//
// hashicorp/raft, serf and memberlist report their own metrics only to
// go-metrics' process-wide global (through github.com/hashicorp/go-metrics/
// compat, which forwards to github.com/armon/go-metrics unless the binary
// is built with the tag hashicorpmetrics; its prometheus package follows
// the same tag, so the sink always matches what raft writes to). A
// global is therefore unavoidable here; it is written once, by
// Hashicorp, and read only through the collector it returns.
var hashicorp struct {
	once sync.Once
	sink *gmprometheus.PrometheusSink // set by once
	err  error                        // set by once
}

// Hashicorp returns a collector of the metrics hashicorp/raft, serf and
// memberlist report through go-metrics, named with the caskade_ prefix
// and go-metrics' key joined by underscores: caskade_raft_commitTime
// (the leader's time from appending an entry to committing it: the
// apply latency), caskade_raft_fsm_applyBatch (the store applying a
// batch of entries), caskade_raft_rpc_appendEntries_storeLogs (a
// follower's log write, fsync included), caskade_raft_leader_lastContact,
// caskade_raft_state_leader (elections won), caskade_serf_member_*,
// caskade_memberlist_* and more (hashicorp's telemetry documentation
// lists them). Timings are summaries in milliseconds, as hashicorp
// reports them; a metric appears once raft first reports it.
//
// The first call installs a Prometheus sink as go-metrics' global for the
// whole process; later calls return the same collector. So in a process
// that runs several nodes (tests, caskade dev) these metrics are the sum
// over its nodes, while the collectors of this package are per node.
// Register the collector with each Registry that should show them.
func Hashicorp() (prometheus.Collector, error) {
	hashicorp.once.Do(func() {
		sink, err := gmprometheus.NewPrometheusSinkFrom(gmprometheus.PrometheusOpts{
			// The sink registers itself; the caller registers it where it
			// wants it instead.
			Registerer: prometheus.NewRegistry(),
			Name:       Namespace + "_go_metrics_sink",
			// 0 keeps every metric: counters that vanish after a quiet
			// minute would read as resets.
			Expiration: 0,
		})
		if err != nil {
			hashicorp.err = fmt.Errorf("metrics: go-metrics sink: %w", err)
			return
		}
		conf := gometrics.DefaultConfig(Namespace)
		conf.EnableHostname = false       // the scrape target names the host
		conf.EnableRuntimeMetrics = false // the Go collector reports the runtime
		conf.EnableServiceLabel = false   // ServiceName is the name's prefix
		if _, err := gometrics.NewGlobal(conf, sink); err != nil {
			hashicorp.err = fmt.Errorf("metrics: go-metrics global: %w", err)
			return
		}
		hashicorp.sink = sink
	})
	if hashicorp.err != nil {
		return nil, hashicorp.err
	}
	return hashicorp.sink, nil
}
