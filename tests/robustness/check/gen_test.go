package check

import (
	"fmt"
	"sort"
	"time"

	"github.com/caskade/caskade/tests/robustness/history"
)

// genOptions shape a generated run.
type genOptions struct {
	ops       int // operations
	keys      int // size of the key space
	spread    int // how far (in steps) a call or return may lie from its linearization point
	ambiguous int // percent of writes whose outcome is lost
}

// version is one value a key had in the reference run.
type version struct {
	value string
	off   uint64
}

// genRun is a run of the reference model: a single-threaded store, each
// operation taking effect at its own step, with call and return times
// drawn around it, so the history is linearizable by construction (an
// operation that returned before another was called took effect first).
type genRun struct {
	ops      []history.Op
	log      []history.Record
	versions map[string][]version // key → its values, oldest first
	applied  map[string][]int     // key → the writes that applied, in order
}

// step is the length of one step of the reference run.
const genStep = 10 * time.Microsecond

// generate runs the reference model with intn as its source of choices.
func generate(intn func(n int) int, o genOptions) *genRun {
	g := &genRun{versions: make(map[string][]version), applied: make(map[string][]int)}
	type keyState struct {
		present bool
		value   string
		off     uint64
	}
	cur := make(map[string]keyState)
	var next uint64 = 1
	var values int
	clientFree := []time.Duration{} // client → when its last operation returned
	pickClient := func(call time.Duration) int {
		for c, free := range clientFree {
			if free < call {
				return c
			}
		}
		clientFree = append(clientFree, 0)
		return len(clientFree) - 1
	}
	for i := range o.ops {
		point := time.Duration(i+1+o.spread) * genStep
		call := point - time.Duration(intn(o.spread+1))*genStep
		ret := point + time.Duration(intn(o.spread+1))*genStep
		key := fmt.Sprintf("k%d", intn(o.keys))
		s := cur[key]
		op := history.Op{Key: key, Call: call, Return: ret, Outcome: history.OK}
		write := func(tomb bool) {
			rec := history.Record{Offset: next, Key: key, Value: op.Value, Tombstone: tomb}
			g.log = append(g.log, rec)
			op.Offset = next
			next++
			g.applied[key] = append(g.applied[key], len(g.ops))
			if tomb {
				cur[key] = keyState{}
			} else {
				cur[key] = keyState{present: true, value: op.Value, off: rec.Offset}
				g.versions[key] = append(g.versions[key], version{value: op.Value, off: rec.Offset})
			}
		}
		newValue := func() string {
			values++
			return fmt.Sprintf("v%d", values)
		}
		switch r := intn(100); {
		case r < 25:
			op.Kind, op.Value = history.Put, newValue()
			write(false)
		case r < 35:
			op.Kind = history.Delete
			if s.present {
				write(true)
			} else {
				op.Outcome, op.Err = history.Failed, "delete: client: key not found"
			}
		case r < 50:
			op.Kind, op.Value = history.CAS, newValue()
			switch intn(3) {
			case 0:
				op.Expected = s.off
			case 1:
				op.Expected = uint64(intn(int(next) + 1))
			}
			if op.Expected == s.off {
				write(false)
			} else {
				op.Outcome, op.Current = history.Failed, s.off
				op.Err = "compare-and-swap: compare-and-swap mismatch"
			}
		case r < 80:
			op.Kind = history.Get
			op.Found, op.Got, op.Offset = s.present, s.value, s.off
			if intn(3) == 0 {
				// Stale: any earlier state of the key.
				op.Consistency = history.Stale
				vs := g.versions[key]
				if k := intn(len(vs) + 1); k < len(vs) {
					op.Found, op.Got, op.Offset = true, vs[k].value, vs[k].off
				} else {
					op.Found, op.Got, op.Offset = false, "", 0
				}
			}
		default:
			op.Kind, op.Key = history.Consume, ""
			op.From = uint64(intn(int(next)) + 1)
			if intn(2) == 0 {
				op.Consistency = history.Stale
			}
			if op.From >= next {
				op.Outcome, op.Err = history.Failed, "offset out of range"
				break
			}
			k := sort.Search(len(g.log), func(k int) bool { return g.log[k].Offset >= op.From })
			r := g.log[k]
			op.Offset, op.GotKey, op.Got, op.Tombstone = r.Offset, r.Key, r.Value, r.Tombstone
		}
		if op.Kind.IsWrite() && intn(100) < o.ambiguous {
			if op.Outcome == history.OK && intn(2) == 0 {
				// It did not apply after all: undo it.
				g.log = g.log[:len(g.log)-1]
				next--
				cur[key] = s
				g.applied[key] = g.applied[key][:len(g.applied[key])-1]
				if op.Kind != history.Delete {
					g.versions[key] = g.versions[key][:len(g.versions[key])-1]
				}
			}
			op.Outcome, op.Offset, op.Current, op.Return, op.Err = history.Ambiguous, 0, 0, 0, "write outcome unknown"
			op.Client = pickClient(call)
			clientFree[op.Client] = never // the process is replaced
		} else {
			op.Client = pickClient(call)
			clientFree[op.Client] = ret
		}
		g.ops = append(g.ops, op)
	}
	return g
}

// compacted returns the log without the records intn picks among those
// a later record of their key superseded.
func (g *genRun) compacted(intn func(n int) int) []history.Record {
	newest := make(map[string]uint64)
	for _, r := range g.log {
		newest[r.Key] = r.Offset
	}
	var out []history.Record
	for _, r := range g.log {
		if newest[r.Key] > r.Offset && intn(2) == 0 {
			continue
		}
		out = append(out, r)
	}
	return out
}

// nextOffset returns the log's high-water mark.
func (g *genRun) nextOffset() uint64 {
	if len(g.log) == 0 {
		return 1
	}
	return g.log[len(g.log)-1].Offset + 1
}

// staleCandidates returns, for the linearizable Get op i, the values of
// its key that an acknowledged write superseded before the Get was
// called: a Get returning one of them read stale data.
func (g *genRun) staleCandidates(i int) []history.Op {
	read := g.ops[i]
	var out []history.Op
	ws := g.applied[read.Key]
	for j := 0; j+1 < len(ws); j++ {
		w, later := g.ops[ws[j]], g.ops[ws[j+1]]
		if w.Kind == history.Delete || w.Outcome != history.OK || later.Outcome != history.OK {
			continue
		}
		if later.Return < read.Call {
			out = append(out, w)
		}
	}
	return out
}
