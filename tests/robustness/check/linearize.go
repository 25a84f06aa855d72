package check

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/caskade/caskade/tests/robustness/history"
)

// maxExplained is how many non-linearizable keys History explains (a
// verbose porcupine run each) and draws.
const maxExplained = 3

// History checks the linearizable operations with porcupine v1.3.1
// (github.com/anishathalye/porcupine, in go.mod) using a per-key
// register model partitioned by key, and checks STALE reads on their own
// terms.
//
// Into porcupine go: linearizable Gets that answered; Puts, Deletes and
// CASes that were acknowledged (with their offsets); CASes refused with
// FAILED_PRECONDITION (a read of the key's offset); and ambiguous Puts
// and CASes whose value a read returned (they were applied by that
// read's return, at the offset it saw). Other ambiguous writes enter the
// model only where an operation needs their possible effect (see step).
// Failed reads and failed writes constrain nothing and are left out, and
// so are Deletes refused with NOT_FOUND (the history cannot tell them
// from other failures).
//
// Besides porcupine, History checks (see checkReads, checkOffsetOrder,
// checkConsumeGaps): every read that returned a record, stale or not,
// read a record some client wrote to that key, by then, at the offset
// it was acknowledged at, and consistently with every other read of
// that offset; offsets grow with real time across keys; and a Consume
// skipped no record that was not superseded. A stale Get that found
// nothing is always fine: every key is absent before its first write,
// and a stale read may be that old.
//
// An Illegal verdict is explained for up to three keys by a second,
// verbose porcupine run with its own Timeout budget, so a failing check
// may take up to twice Timeout. With ResultsDir set, a report that is
// not OK writes the history (JSON lines, line i+1 is op #i) and, when
// porcupine found a key not linearizable, its HTML visualization.
func History(ops []history.Op, opts Options) Report {
	opts = opts.withDefaults()
	var p problems
	r := Report{Ops: len(ops), Linearizable: true}
	x := newIndex(ops, &p)
	obs := checkReads(x, &p)
	least := checkOffsetOrder(x, obs, &p)
	checkConsumeGaps(x, &obs, &p)
	r.StaleViolations = obs.stale

	pops := x.porcupineOps(obs, least)
	var info *porcupine.LinearizationInfo
	switch porcupine.CheckOperationsTimeout(model, pops, opts.Timeout) {
	case porcupine.Ok:
	case porcupine.Unknown:
		r.Linearizable, r.Unknown = false, true
		p.addf("porcupine ran out of time (%v) on %d operations: linearizability unknown", opts.Timeout, len(pops))
	case porcupine.Illegal:
		r.Linearizable = false
		info = explain(pops, opts.Timeout, &p)
	}

	if opts.ResultsDir != "" && (!r.OK() || len(p.lines) > 0) {
		writeHistory(&r, &p, ops, opts)
		if info != nil {
			path := fileName(opts.ResultsDir, opts.Name, "-linearizability.html")
			if err := porcupine.VisualizePath(model, *info, path); err != nil {
				p.addf("could not write results: %v", err)
				_ = os.Remove(path) // a partial page helps nobody
			} else {
				r.Files = append(r.Files, path)
			}
		}
	}
	r.Violations = p.list()
	return r
}

// porcupineOps turns the operations that constrain the register model
// into porcupine's, in history order. least[i] is the least offset
// operation i may have (see checkOffsetOrder).
func (x *index) porcupineOps(obs observations, least []uint64) []porcupine.Operation {
	// The earliest call, per key, of an ambiguous write no read saw: a
	// lost put (or CAS), or a lost delete. See step.
	lostPut := make(map[string]time.Duration)
	lostDelete := make(map[string]time.Duration)
	earliest := func(m map[string]time.Duration, key string, t time.Duration) {
		if e, ok := m[key]; !ok || t < e {
			m[key] = t
		}
	}
	// Offsets some record is known to be at: a lost write cannot be there.
	known := make(map[uint64]bool)
	for i, op := range x.ops {
		switch {
		case !x.valid[i]:
		case op.Outcome == history.Ambiguous && op.Kind == history.Delete:
			earliest(lostDelete, op.Key, op.Call)
		case op.Outcome == history.Ambiguous:
			if _, seen := obs.observedBy[i]; !seen {
				earliest(lostPut, op.Key, op.Call)
			}
			if o := obs.learned[i]; o != 0 {
				known[o] = true
			}
		case op.Outcome == history.OK && op.Offset != 0 && !obs.bad[i] && (op.Kind.IsWrite() || x.isRead(i)):
			known[op.Offset] = true
		}
	}
	before := func(m map[string]time.Duration, key string, t time.Duration) bool {
		e, ok := m[key]
		return ok && e <= t
	}

	var out []porcupine.Operation
	for i, op := range x.ops {
		if !x.valid[i] {
			continue
		}
		in := &input{op: i, client: op.Client, node: op.Node, kind: op.Kind, key: op.Key, minOffset: least[i]}
		res := &output{}
		ret := op.Return
		switch {
		case op.Kind == history.Get && op.Consistency == history.Linearizable && op.Outcome == history.OK:
			res.found, res.value, res.offset = op.Found, op.Got, op.Offset
		case op.Kind == history.Consume || op.Kind == history.Get:
			continue
		case op.Outcome == history.OK:
			res.offset = op.Offset
		case casMismatch(op):
			res.mismatch, res.current = true, op.Current
		case op.Outcome == history.Ambiguous:
			t, seen := obs.observedBy[i]
			if !seen || t < op.Call {
				continue // a lost write: see lostPut and lostDelete
			}
			res.ambiguous, res.offset, ret = true, obs.learned[i], t
		default:
			continue // failed: never applied
		}
		switch op.Kind {
		case history.Put:
			in.value = op.Value
		case history.Delete:
			in.lostPut = before(lostPut, op.Key, ret)
		case history.CAS:
			in.value, in.expected = op.Value, op.Expected
			o := op.Expected
			if res.mismatch {
				o = op.Current
			}
			in.lostPut = o != 0 && !known[o] && before(lostPut, op.Key, ret)
		}
		if op.Kind == history.Get || op.Kind == history.CAS {
			in.lostDelete = before(lostDelete, op.Key, ret)
		}
		out = append(out, porcupine.Operation{
			ClientId: op.Client,
			Input:    in,
			Call:     int64(op.Call),
			Output:   res,
			Return:   int64(ret),
			Metadata: in,
		})
	}
	return out
}

// explain finds the keys whose operations are not linearizable (each
// checked alone), reports each, and checks up to maxExplained of them
// verbosely to say where their linearization gets stuck. It returns the
// verbose run's information, for the visualization. It stops when
// timeout has passed.
func explain(pops []porcupine.Operation, timeout time.Duration, p *problems) *porcupine.LinearizationInfo {
	deadline := time.Now().Add(timeout)
	var failing [][]porcupine.Operation
	var unknownKeys int
	for _, part := range partitionByKey(pops) {
		left := time.Until(deadline)
		if left <= 0 {
			unknownKeys++
			continue
		}
		switch porcupine.CheckOperationsTimeout(model, part, left) {
		case porcupine.Illegal:
			failing = append(failing, part)
		case porcupine.Unknown:
			unknownKeys++
		}
	}
	if unknownKeys > 0 {
		p.addf("porcupine: %d keys left unchecked while looking for the failing ones (out of time)", unknownKeys)
	}
	for _, part := range failing[min(len(failing), maxExplained):] {
		p.addf("key %q: not linearizable (%d operations)", keyOf(part), len(part))
	}
	failing = failing[:min(len(failing), maxExplained)]
	if len(failing) == 0 {
		return nil
	}
	left := time.Until(deadline)
	if left <= 0 {
		for _, part := range failing {
			p.addf("key %q: not linearizable (%d operations; out of time to say where)", keyOf(part), len(part))
		}
		return nil
	}
	_, info := porcupine.CheckOperationsVerbose(model, slices.Concat(failing...), left)
	partials := info.PartialLinearizations()
	for k, part := range failing {
		var longest []int
		if k < len(partials) {
			for _, l := range partials[k] {
				if len(l) > len(longest) {
					longest = l
				}
			}
		}
		p.addf("key %q: not linearizable: %s", keyOf(part), stuck(part, longest))
	}
	return &info
}

// stuck describes where a linearization of part stops: the state after
// its longest linearizable prefix (ids index part), and the operation
// left out of it that returned first, which no order could fit.
func stuck(part []porcupine.Operation, longest []int) string {
	s := initState
	in := make([]bool, len(part))
	for _, id := range longest {
		in[id] = true
		_, s = step(s, part[id].Input.(*input), part[id].Output.(*output))
	}
	var left []int
	for id := range part {
		if !in[id] {
			left = append(left, id)
		}
	}
	if len(left) == 0 {
		return "porcupine found no failing prefix (out of time)"
	}
	first := slices.MinFunc(left, func(a, b int) int { return cmp.Compare(part[a].Return, part[b].Return) })
	op, res := part[first].Input.(*input), part[first].Output.(*output)
	return fmt.Sprintf("after %d of %d operations the key is %s, and op #%d (client %d) %s [%v, %s] fits no order",
		len(longest), len(part), s, op.op, op.client, describe(op, res), time.Duration(part[first].Call), returnString(part[first].Return))
}

// keyOf returns the key of a partition's operations.
func keyOf(part []porcupine.Operation) string { return part[0].Input.(*input).key }

// returnString renders a porcupine return time, "?" when unbounded.
func returnString(t int64) string {
	if time.Duration(t) == never {
		return "?"
	}
	return time.Duration(t).String()
}
