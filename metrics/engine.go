package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caskade/caskade/engine"
)

// Namespace prefixes every metric of this package.
const Namespace = "caskade"

// fsyncBuckets are the bounds, in seconds, of the fsync latency
// histogram: 50 µs (a write-back cache) to about 1.6 s (a disk in
// trouble), doubling.
var fsyncBuckets = prometheus.ExponentialBuckets(0.00005, 2, 16)

// Engine collects the metrics of one store:
//
//	caskade_engine_keys                         keys in the keydir
//	caskade_engine_keydir_bytes                 heap held by the keydir
//	caskade_engine_log_bytes                    bytes of records in all segments
//	caskade_engine_live_bytes                   bytes of keyed records the keydir points at
//	caskade_engine_dead_bytes                   superseded bytes a merge would drop
//	caskade_engine_segments                     segments, the active one included
//	caskade_engine_next_offset                  the offset the next write gets
//	caskade_engine_earliest_offset              the log start
//	caskade_engine_compactions_total            merges since the store opened
//	caskade_engine_compaction_reclaimed_bytes_total  bytes merges reclaimed since then
//	caskade_engine_fsyncs_total                 fsyncs of the log since then
//	caskade_engine_fsync_seconds                fsync latency (histogram)
//
// The gauges and the counters come from engine.DB.Stats at scrape time;
// the histogram from ObserveSync, which the store calls through
// engine.Options.OnSync. Since the store reports counters from
// when it opened, they restart at 0 when the store is reopened (a cluster
// node's Restore), which Prometheus' rate() treats as a counter reset.
//
// Make it before the store opens (ObserveSync must go into the Options),
// then Attach the store. Until then it reports only the histogram.
type Engine struct {
	// stats reads the store; nil until Attach.
	stats atomic.Pointer[func() engine.Stats]
	fsync prometheus.Histogram

	keys, keydirBytes, logBytes, liveBytes, deadBytes *prometheus.Desc
	segments, nextOffset, earliestOffset              *prometheus.Desc
	compactions, reclaimed, fsyncs                    *prometheus.Desc
}

// NewEngine returns an Engine attached to no store.
func NewEngine() *Engine {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "engine", name), help, nil, nil)
	}
	return &Engine{
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "engine", Name: "fsync_seconds",
			Help:    "Time an fsync of the store's log took (group commit shares one among concurrent writers).",
			Buckets: fsyncBuckets,
		}),
		keys:           d("keys", "Keys in the keydir."),
		keydirBytes:    d("keydir_bytes", "Heap bytes held by the keydir (keys, tables, ordered view)."),
		logBytes:       d("log_bytes", "Bytes of records in all segments of the store."),
		liveBytes:      d("live_bytes", "Bytes of keyed records the keydir points at."),
		deadBytes:      d("dead_bytes", "Bytes of superseded records, which a merge drops."),
		segments:       d("segments", "Segments of the store, the active one included."),
		nextOffset:     d("next_offset", "The offset the next write gets (the log's high-water mark)."),
		earliestOffset: d("earliest_offset", "The log start: the oldest segment's base offset."),
		compactions:    d("compactions_total", "Segment merges since the store opened."),
		reclaimed:      d("compaction_reclaimed_bytes_total", "Bytes merges reclaimed since the store opened."),
		fsyncs:         d("fsyncs_total", "Fsyncs of the store's log since it opened."),
	}
}

// ObserveSync records one fsync; give it to the store as
// engine.Options.OnSync.
func (e *Engine) ObserveSync(d time.Duration) { e.fsync.Observe(d.Seconds()) }

// Attach makes e report the store stats reads, from the next scrape on.
// stats is called at every scrape, so a caller whose store may be
// replaced (a cluster node's FSM) passes a function that finds the
// current one.
func (e *Engine) Attach(stats func() engine.Stats) { e.stats.Store(&stats) }

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	e.fsync.Describe(ch)
	for _, d := range []*prometheus.Desc{e.keys, e.keydirBytes, e.logBytes, e.liveBytes, e.deadBytes,
		e.segments, e.nextOffset, e.earliestOffset, e.compactions, e.reclaimed, e.fsyncs} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	e.fsync.Collect(ch)
	stats := e.stats.Load()
	if stats == nil {
		return
	}
	st := (*stats)()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(e.keys, float64(st.Keys))
	gauge(e.keydirBytes, float64(st.KeydirBytes))
	gauge(e.logBytes, float64(st.Bytes))
	gauge(e.liveBytes, float64(st.LiveBytes))
	gauge(e.deadBytes, float64(st.DeadBytes))
	gauge(e.segments, float64(len(st.Segments)))
	gauge(e.nextOffset, float64(st.NextOffset))
	gauge(e.earliestOffset, float64(st.Earliest))
	counter(e.compactions, float64(st.Compaction.Merges))
	counter(e.reclaimed, float64(st.Compaction.Reclaimed))
	counter(e.fsyncs, float64(st.Syncs))
}
