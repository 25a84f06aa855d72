package metrics

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caskade/caskade/replication"
)

// raftStates are the values of the state label of caskade_raft_state, as
// raft.RaftState.String spells them, lower-cased.
var raftStates = []string{"follower", "candidate", "leader", "shutdown"}

// Raft collects a node's Raft progress:
//
//	caskade_raft_state{state}            1 for the node's state (follower, candidate, leader, shutdown), 0 for the others
//	caskade_raft_leader_known            1 when the node knows a leader
//	caskade_raft_term                    the current term
//	caskade_raft_commit_index            the highest entry the node knows committed
//	caskade_raft_applied_index           the highest entry handed to the store
//	caskade_raft_last_index              the last entry in the node's log
//	caskade_raft_last_contact_seconds    time since a follower last heard from the leader (absent on the leader)
//	caskade_raft_leader_changes_total    new leaders this node learned of since NewRaft
//
// All but the last are read from replication.Node.Stats at scrape time.
// Leader changes are counted by a raft observer whose filter raft calls
// synchronously for every observation (counting there drops none, and
// needs no goroutine; it sends nothing anywhere): one for each
// LeaderObservation naming a leader, which raft emits only when the
// leader it knows changes, so an election (even one the old leader wins
// again) counts once. Raft's own timings (commit and apply latency and
// more) come through Hashicorp.
type Raft struct {
	node          *replication.Node
	observer      *raft.Observer
	leaderChanges atomic.Uint64

	state, leaderKnown, term, commitIndex, appliedIndex *prometheus.Desc
	lastIndex, lastContact, changes                     *prometheus.Desc
}

// NewRaft returns the collector of node and starts counting leader
// changes. Call Close when the node closes.
func NewRaft(node *replication.Node) *Raft {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "raft", name), help, labels, nil)
	}
	r := &Raft{
		node:         node,
		state:        d("state", "1 for the node's Raft state, 0 for the other states.", "state"),
		leaderKnown:  d("leader_known", "1 when the node knows a leader, else 0."),
		term:         d("term", "The node's current Raft term."),
		commitIndex:  d("commit_index", "The highest log index the node knows committed."),
		appliedIndex: d("applied_index", "The highest log index handed to the store."),
		lastIndex:    d("last_index", "The last index in the node's Raft log."),
		lastContact:  d("last_contact_seconds", "Seconds since this follower last heard from the leader."),
		changes:      d("leader_changes_total", "New leaders this node learned of."),
	}
	r.observer = raft.NewObserver(nil, false, func(o *raft.Observation) bool {
		if lo, ok := o.Data.(raft.LeaderObservation); ok && lo.LeaderID != "" {
			r.leaderChanges.Add(1)
		}
		return false // count only: nothing to send
	})
	node.Raft().RegisterObserver(r.observer)
	return r
}

// Close stops counting leader changes.
func (r *Raft) Close() { r.node.Raft().DeregisterObserver(r.observer) }

// Describe implements prometheus.Collector.
func (r *Raft) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{r.state, r.leaderKnown, r.term, r.commitIndex, r.appliedIndex,
		r.lastIndex, r.lastContact, r.changes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (r *Raft) Collect(ch chan<- prometheus.Metric) {
	st := r.node.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	state := strings.ToLower(st.State)
	for _, s := range raftStates {
		gauge(r.state, b2f(s == state), s)
	}
	gauge(r.leaderKnown, b2f(st.LeaderID != ""))
	gauge(r.term, float64(st.Term))
	gauge(r.commitIndex, float64(st.CommitIndex))
	gauge(r.appliedIndex, float64(st.AppliedIndex))
	gauge(r.lastIndex, float64(st.LastIndex))
	if state != "leader" && !st.LastContact.IsZero() {
		gauge(r.lastContact, time.Since(st.LastContact).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(r.changes, prometheus.CounterValue, float64(r.leaderChanges.Load()))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ReadyMaxLag is how many entries a cluster node's applied index may
// trail its commit index and the node still count as caught up: a
// follower under a steady write load is always a few batches behind,
// and that must not take it out of service.
const ReadyMaxLag = 1000

// CaughtUp reports why a cluster node with Raft state st is not ready to
// serve, or nil when it is: Raft is running, the node knows a leader,
// and it has applied the entries it knows committed, up to maxLag of
// them.
func CaughtUp(st replication.Stats, maxLag uint64) error {
	switch {
	case strings.EqualFold(st.State, raft.Shutdown.String()):
		return errors.New("raft is shut down")
	case st.LeaderID == "":
		return fmt.Errorf("no known leader (raft state %s, term %d)", strings.ToLower(st.State), st.Term)
	case st.CommitIndex > st.AppliedIndex && st.CommitIndex-st.AppliedIndex > maxLag:
		return fmt.Errorf("catching up: applied index %d trails commit index %d by more than %d", st.AppliedIndex, st.CommitIndex, maxLag)
	}
	return nil
}
