package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/caskade/caskade/tests/robustness/history"
)

// nodeView indexes one node's log.
type nodeView struct {
	log    *history.NodeLog
	at     map[uint64]record // offset → record
	newest map[string]uint64 // key → the offset of its newest record
}

// newNodeView indexes log, reporting records out of order or past the
// high-water mark to p.
func newNodeView(log *history.NodeLog, p *problems) *nodeView {
	v := &nodeView{log: log, at: make(map[uint64]record, len(log.Records)), newest: make(map[string]uint64)}
	var prev uint64
	for _, rec := range log.Records {
		switch {
		case rec.Offset <= prev:
			p.addf("node %s: record at offset %d follows offset %d: offsets must strictly increase from 1", log.Node, rec.Offset, prev)
			continue
		case rec.Offset >= log.Next:
			p.addf("node %s: record at offset %d is at or past the high-water mark %d", log.Node, rec.Offset, log.Next)
		}
		prev = rec.Offset
		v.at[rec.Offset] = fromLog(rec)
		if rec.Key != "" {
			v.newest[rec.Key] = max(v.newest[rec.Key], rec.Offset)
		}
	}
	return v
}

// holds reports whether the node's log keeps r at offset o, or has
// superseded it by a later record of its key (which lets compaction drop
// it).
func (v *nodeView) holds(r record, o uint64) bool {
	if got, ok := v.at[o]; ok {
		return got == r
	}
	return r.key != "" && v.newest[r.key] > o
}

// Final checks durability after a run: every acknowledged (OK) write is
// present in every node's log at its offset with its key and value, or
// superseded by a later record of the same key (compaction may drop
// superseded records); all nodes' logs agree record-for-record at every
// offset both hold (no divergence); and no log holds a keyed record that
// no client ever wrote (a value not in the history as a Put/CAS value or
// a tombstone of a key that had a delete). Ambiguous writes may or may
// not be present.
//
// Also: a record any node holds was committed, so every other node holds
// it or has superseded it (counted as divergence at its offset); no
// value is applied twice; no write the history says failed is in a log;
// and every record a read returned (a Get's value and offset, a
// Consume's record) is in the logs or superseded there, since replicas
// serve only committed records (a missing one counts as a lost write).
// Final assumes logs are read after the cluster settled, and that
// TombstoneRetention is longer than the run (else compaction may drop a
// tombstone nothing superseded). It leaves Linearizable true.
func Final(ops []history.Op, logs []history.NodeLog, opts Options) Report {
	opts = opts.withDefaults()
	var p problems
	r := Report{Ops: len(ops), Linearizable: true}
	// History reports what is wrong with the history itself.
	x := newIndex(ops, &problems{})
	if len(logs) == 0 {
		p.addf("no node logs to check")
	}
	nodes := make([]*nodeView, len(logs))
	for i := range logs {
		nodes[i] = newNodeView(&logs[i], &p)
	}

	// Every offset some node holds, with the record the first node
	// holding it has there; a disagreement is divergence.
	first := make(map[uint64]int) // offset → the first node holding it
	divergent := make(map[uint64]bool)
	var offsets []uint64
	for n, v := range nodes {
		for _, rec := range v.log.Records {
			o := rec.Offset
			f, ok := first[o]
			if !ok {
				first[o] = n
				offsets = append(offsets, o)
				continue
			}
			if f != n && nodes[f].at[o] != v.at[o] && !divergent[o] {
				divergent[o] = true
				p.addf("divergence at offset %d: node %s holds %s, node %s holds %s",
					o, nodes[f].log.Node, nodes[f].at[o].at(o), v.log.Node, v.at[o].at(o))
			}
		}
	}
	slices.Sort(offsets)
	offsets = slices.Compact(offsets)

	finalProvenance(x, nodes, first, offsets, &p)
	finalLostWrites(x, nodes, &r, &p)

	// A record some node holds was committed: every node holds it or
	// superseded it. Acknowledged writes were counted above.
	for _, o := range offsets {
		if _, ok := x.okAt[o]; ok || divergent[o] {
			continue
		}
		rec := nodes[first[o]].at[o]
		var missing []string
		for _, v := range nodes {
			if !v.holds(rec, o) {
				missing = append(missing, v.log.Node)
			}
		}
		if len(missing) > 0 {
			divergent[o] = true
			p.addf("divergence at offset %d: node %s holds %s, nodes %s neither hold it nor a later record of its key",
				o, nodes[first[o]].log.Node, rec.at(o), strings.Join(missing, ", "))
		}
	}

	r.LogDivergence = len(divergent)

	// What reads returned was committed. (History reports reads of
	// records no client wrote.) Each lost record counts once.
	lostRead := make(map[uint64]bool)
	for i, op := range x.ops {
		if !x.isRead(i) || op.Offset == 0 || lostRead[op.Offset] || x.explain(recordOf(op), op.Offset, op.Return) != "" {
			continue
		}
		rec, o := recordOf(op), op.Offset
		if f, ok := first[o]; ok {
			if got := nodes[f].at[o]; got != rec {
				p.addf("%s read a record that node %s holds differently: %s", opString(i, op), nodes[f].log.Node, got.at(o))
			}
			continue
		}
		var missing []string
		for _, v := range nodes {
			if !v.holds(rec, o) {
				missing = append(missing, v.log.Node)
			}
		}
		if len(missing) > 0 {
			lostRead[o] = true
			r.LostWrites++
			p.addf("%s read a record nodes %s have lost (neither hold it nor a later record of its key)",
				opString(i, op), strings.Join(missing, ", "))
		}
	}

	if opts.ResultsDir != "" && (r.LostWrites > 0 || r.LogDivergence > 0 || len(p.lines) > 0) {
		writeHistory(&r, &p, ops, opts)
		path := fileName(opts.ResultsDir, opts.Name, "-logs.jsonl")
		if err := writeJSONLines(path, logs); err != nil {
			p.addf("could not write results: %v", err)
		} else {
			r.Files = append(r.Files, path)
		}
	}
	r.Violations = p.list()
	return r
}

// finalProvenance checks that every record in the logs was written by a
// client: a value by the one Put or CAS that wrote it, to that key, not
// refused, at the offset it was acknowledged at, and only once; a
// tombstone by a delete of its key, no more tombstones of a key than its
// deletes that may have applied.
func finalProvenance(x *index, nodes []*nodeView, first map[uint64]int, offsets []uint64, p *problems) {
	valueAt := make(map[string]uint64)
	tombs := make(map[string][]uint64) // key → offsets of its tombstones
	for _, o := range offsets {
		rec := nodes[first[o]].at[o]
		if rec.tomb && rec.key != "" {
			tombs[rec.key] = append(tombs[rec.key], o) // counted below
			continue
		}
		where := fmt.Sprintf("node %s holds %s", nodes[first[o]].log.Node, rec.at(o))
		if why := x.explain(rec, o, never); why != "" {
			p.addf("%s: %s", where, why)
			continue
		}
		if prev, ok := valueAt[rec.value]; ok {
			p.addf("%s: the value is also at offset %d: a write was applied twice", where, prev)
			continue
		}
		valueAt[rec.value] = o
	}
	for key, at := range tombs {
		var acked, ambiguous int
		explained := make(map[uint64]bool)
		for _, d := range x.deletes[key] {
			op := x.ops[d]
			if op.Outcome == history.Ambiguous || op.Offset == 0 {
				ambiguous++
				continue
			}
			acked++
			explained[op.Offset] = true
		}
		var unexplained []uint64
		for _, o := range at {
			if !explained[o] {
				unexplained = append(unexplained, o)
			}
		}
		if len(unexplained) > ambiguous {
			p.addf("the logs hold %d tombstones of %q at offsets %v that no delete was acknowledged at, but only %d deletes of it are ambiguous",
				len(unexplained), key, unexplained, ambiguous)
		}
	}
}

// finalLostWrites counts the acknowledged writes some node neither holds
// at their offset nor has superseded.
func finalLostWrites(x *index, nodes []*nodeView, r *Report, p *problems) {
	for i, op := range x.ops {
		if !x.ok(i) || !op.Kind.IsWrite() || op.Offset == 0 {
			continue
		}
		rec := recordOf(op)
		var missing []string
		for _, v := range nodes {
			if !v.holds(rec, op.Offset) {
				what := "nothing"
				if got, ok := v.at[op.Offset]; ok {
					what = got.at(op.Offset)
				} else if v.log.Next <= op.Offset {
					what = fmt.Sprintf("nothing (its log ends at %d)", v.log.Next)
				}
				missing = append(missing, fmt.Sprintf("node %s has %s", v.log.Node, what))
			}
		}
		if len(missing) > 0 {
			r.LostWrites++
			p.addf("lost write: %s is neither at offset %d nor superseded: %s",
				opString(i, op), op.Offset, strings.Join(missing, "; "))
		}
	}
}
