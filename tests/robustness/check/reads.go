package check

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/caskade/caskade/tests/robustness/history"
)

// observations are what History learns from the reads of a run.
type observations struct {
	// learned: an ambiguous write → the offset a read saw its value at.
	learned map[int]uint64
	// observedBy: an ambiguous write → the earliest return of a read
	// that saw its value: it was applied by then.
	observedBy map[int]time.Duration
	// bad: reads found wrong on their own terms; they are reported and
	// not used as evidence elsewhere.
	bad map[int]bool
	// stale counts stale reads with a problem.
	stale int
}

// observed is one claim about the record at an offset (or about a
// value's offset), and the operation that made it.
type observed struct {
	rec record
	off uint64
	op  int
}

// isRead reports whether operation i is a valid OK read that returned a
// record: a Get that found a value, or a Consume.
func (x *index) isRead(i int) bool {
	op := x.ops[i]
	return x.ok(i) && (op.Kind == history.Consume || op.Kind == history.Get && op.Found)
}

// checkReads checks every read that returned a record, stale or not:
// the record was written by a client to that key (or, for a tombstone,
// a delete of the key may have written it) by the time the read
// returned; every claim about an offset agrees with the writes
// acknowledged at it and with the other reads; and a Consume returned
// an offset at or after the one it asked for. A Get that found nothing
// is always fine here: every key is absent before its first write, and
// a stale read may be that old; linearizable ones are porcupine's.
func checkReads(x *index, p *problems) observations {
	obs := observations{
		learned:    make(map[int]uint64),
		observedBy: make(map[int]time.Duration),
		bad:        make(map[int]bool),
	}
	atOffset := make(map[uint64]observed, len(x.ops))
	valueAt := make(map[string]observed, len(x.ops))
	for o, w := range x.okAt {
		r := recordOf(x.ops[w])
		atOffset[o] = observed{rec: r, off: o, op: w}
		if !r.tomb {
			valueAt[r.value] = observed{rec: r, off: o, op: w}
		}
	}
	for i, op := range x.ops {
		if !x.isRead(i) {
			continue
		}
		r, o := recordOf(op), op.Offset
		var why []string
		if op.Kind == history.Consume && o < op.From {
			why = append(why, "the record is before the offset asked for")
		}
		explained := x.explain(r, o, op.Return)
		if explained != "" {
			why = append(why, explained)
		}
		if o != 0 {
			if prev, ok := atOffset[o]; !ok {
				atOffset[o] = observed{rec: r, off: o, op: i}
			} else if prev.rec != r {
				why = append(why, fmt.Sprintf("offset %d holds %s by %s", o, prev.rec.at(o), opString(prev.op, x.ops[prev.op])))
			}
			if !r.tomb && r.key != "" && explained == "" {
				if prev, ok := valueAt[r.value]; !ok {
					valueAt[r.value] = observed{rec: r, off: o, op: i}
				} else if prev.off != o {
					why = append(why, fmt.Sprintf("the value is at offset %d by %s", prev.off, opString(prev.op, x.ops[prev.op])))
				}
			}
		}
		if len(why) > 0 {
			obs.bad[i] = true
			if op.Consistency == history.Stale {
				obs.stale++
			}
			p.addf("%s: %s", opString(i, op), strings.Join(why, "; "))
			continue
		}
		if r.tomb || r.key == "" {
			continue
		}
		w := x.byValue[r.value]
		if x.ops[w].Outcome != history.Ambiguous {
			continue
		}
		if t, ok := obs.observedBy[w]; !ok || op.Return < t {
			obs.observedBy[w] = op.Return
		}
		if _, ok := obs.learned[w]; !ok && o != 0 {
			obs.learned[w] = o
		}
	}
	return obs
}

// writeOffset returns the offset write i is known to have: the one it
// was acknowledged at, or the one a read saw its value at; 0 if none.
func (x *index) writeOffset(i int, obs observations) uint64 {
	if x.ops[i].Outcome == history.OK {
		return x.ops[i].Offset
	}
	return obs.learned[i]
}

// checkOffsetOrder checks that offsets grow with real time: a write
// called after some operation returned having seen offset m (its own
// write's offset, or a record a read returned, stale or not: that
// record was committed) gets an offset above m. It returns, for every
// operation, the least offset it may have been given (1 for those that
// follow nothing), which bounds the offsets of ambiguous writes.
func checkOffsetOrder(x *index, obs observations, p *problems) []uint64 {
	type seen struct {
		ret time.Duration
		off uint64
		op  int
	}
	var witnesses []seen
	var writes []int
	for i, op := range x.ops {
		if !x.valid[i] {
			continue
		}
		if op.Kind.IsWrite() && op.Outcome != history.Failed {
			writes = append(writes, i)
		}
		if op.Outcome == history.OK && op.Offset != 0 && !obs.bad[i] && (op.Kind.IsWrite() || x.isRead(i)) {
			witnesses = append(witnesses, seen{ret: op.Return, off: op.Offset, op: i})
		}
	}
	slices.SortFunc(witnesses, func(a, b seen) int { return cmp.Compare(a.ret, b.ret) })
	slices.SortStableFunc(writes, func(a, b int) int { return cmp.Compare(x.ops[a].Call, x.ops[b].Call) })
	least := make([]uint64, len(x.ops))
	for i := range least {
		least[i] = 1
	}
	var top seen // the largest offset seen so far
	next := 0
	for _, i := range writes {
		op := x.ops[i]
		for next < len(witnesses) && witnesses[next].ret < op.Call {
			if witnesses[next].off > top.off {
				top = witnesses[next]
			}
			next++
		}
		least[i] = top.off + 1
		if o := x.writeOffset(i, obs); o != 0 && o <= top.off {
			how := "has"
			if op.Outcome == history.Ambiguous {
				how = "was read at"
			}
			p.addf("offsets went back: %s %s offset %d, but %s had seen offset %d before it was called",
				opString(i, op), how, o, opString(top.op, x.ops[top.op]), top.off)
		}
	}
	return least
}

// checkConsumeGaps checks that a Consume(from) returning offset r did
// not skip a record: every write known to be in the log at an offset in
// [from, r) must have been superseded, by a later write of its key
// called before the Consume returned, since compaction drops only
// superseded records (and tombstones past TombstoneRetention, which a
// run is far shorter than).
func checkConsumeGaps(x *index, obs *observations, p *problems) {
	var consumes []int
	for i, op := range x.ops {
		if x.ok(i) && op.Kind == history.Consume && !obs.bad[i] {
			consumes = append(consumes, i)
		}
	}
	if len(consumes) == 0 {
		return
	}
	type placed struct {
		off       uint64
		op        int
		key       string
		supersede time.Duration // the earliest call of a later write of key
	}
	var known []placed
	// unknownCall: key → the earliest call of a write of the key whose
	// offset is not known (it may supersede anything).
	unknownCall := make(map[string]time.Duration)
	for i, op := range x.ops {
		if !x.valid[i] || !op.Kind.IsWrite() || op.Outcome == history.Failed {
			continue
		}
		if o := x.writeOffset(i, *obs); o != 0 {
			known = append(known, placed{off: o, op: i, key: op.Key, supersede: never})
			continue
		}
		if t, ok := unknownCall[op.Key]; !ok || op.Call < t {
			unknownCall[op.Key] = op.Call
		}
	}
	// Per key, from the newest record back: the earliest call among the
	// writes after each one.
	slices.SortFunc(known, func(a, b placed) int {
		return cmp.Or(strings.Compare(a.key, b.key), cmp.Compare(b.off, a.off))
	})
	for i := 0; i < len(known); {
		j := i
		earliest, ok := unknownCall[known[i].key]
		if !ok {
			earliest = never
		}
		for ; j < len(known) && known[j].key == known[i].key; j++ {
			known[j].supersede = earliest
			earliest = min(earliest, x.ops[known[j].op].Call)
		}
		i = j
	}
	slices.SortFunc(known, func(a, b placed) int { return cmp.Compare(a.off, b.off) })
	sup := make([]time.Duration, len(known))
	for i := range known {
		sup[i] = known[i].supersede
	}
	rm := newRangeMax(sup)
	for _, c := range consumes {
		op := x.ops[c]
		lo, _ := slices.BinarySearchFunc(known, op.From, func(e placed, o uint64) int { return cmp.Compare(e.off, o) })
		hi, _ := slices.BinarySearchFunc(known, op.Offset, func(e placed, o uint64) int { return cmp.Compare(e.off, o) })
		if lo >= hi || rm.max(lo, hi) <= op.Return {
			continue
		}
		for k := lo; k < hi; k++ {
			if known[k].supersede > op.Return {
				w := known[k].op
				p.addf("%s skipped %s, which no write called before it returned superseded",
					opString(c, op), recordOf(x.ops[w]).at(known[k].off))
				if op.Consistency == history.Stale {
					obs.stale++
				}
				break
			}
		}
	}
}

// rangeMax answers maximum queries over ranges of a fixed slice (a
// sparse table: O(n log n) to build, O(1) a query).
type rangeMax struct {
	levels [][]time.Duration // levels[k][i] = max of v[i : i+2^k]
}

// newRangeMax builds the table over v.
func newRangeMax(v []time.Duration) *rangeMax {
	rm := &rangeMax{levels: [][]time.Duration{v}}
	for w := 1; 2*w <= len(v); w *= 2 {
		prev := rm.levels[len(rm.levels)-1]
		cur := make([]time.Duration, len(v)-2*w+1)
		for i := range cur {
			cur[i] = max(prev[i], prev[i+w])
		}
		rm.levels = append(rm.levels, cur)
	}
	return rm
}

// max returns the maximum of v[lo:hi]; lo < hi.
func (rm *rangeMax) max(lo, hi int) time.Duration {
	k := 0
	for 1<<(k+1) <= hi-lo {
		k++
	}
	return max(rm.levels[k][lo], rm.levels[k][hi-(1<<k)])
}
