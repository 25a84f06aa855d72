package check

import (
	"math/rand/v2"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/caskade/caskade/tests/robustness/history"
)

// drawn runs the reference model on choices rapid draws.
func drawn(t *rapid.T) *genRun {
	o := genOptions{
		ops:       rapid.IntRange(1, 80).Draw(t, "ops"),
		keys:      rapid.IntRange(1, 4).Draw(t, "keys"),
		spread:    rapid.IntRange(0, 6).Draw(t, "spread"),
		ambiguous: rapid.IntRange(0, 30).Draw(t, "ambiguous"),
	}
	choice := rapid.IntRange(0, 1<<30)
	return generate(func(n int) int { return choice.Draw(t, "choice") % n }, o)
}

// A run of a correct store passes every check.
func TestProperty_CorrectRunPasses(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := drawn(t)
		h := History(g.ops, Options{Timeout: 10 * time.Second})
		if !h.OK() {
			t.Fatalf("History of a correct run:\n%v", h)
		}
		choice := rapid.IntRange(0, 1)
		logs := []history.NodeLog{
			{Node: "n1", Records: g.log, Next: g.nextOffset()},
			{Node: "n2", Records: g.compacted(func(int) int { return choice.Draw(t, "drop") }), Next: g.nextOffset()},
		}
		if f := Final(g.ops, logs, Options{}); !f.OK() {
			t.Fatalf("Final of a correct run:\n%v", f)
		}
	})
}

// A linearizable read changed to return a value superseded before it
// began is caught.
func TestProperty_StaleLinearizableReadFails(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := drawn(t)
		var reads []int
		for i, op := range g.ops {
			if op.Kind == history.Get && op.Consistency == history.Linearizable && len(g.staleCandidates(i)) > 0 {
				reads = append(reads, i)
			}
		}
		if len(reads) == 0 {
			return // nothing to corrupt in this run
		}
		i := rapid.SampledFrom(reads).Draw(t, "read")
		old := rapid.SampledFrom(g.staleCandidates(i)).Draw(t, "old")
		ops := append([]history.Op(nil), g.ops...)
		ops[i].Found, ops[i].Got, ops[i].Offset = true, old.Value, old.Offset
		h := History(ops, Options{})
		if h.OK() || h.Linearizable || h.Unknown {
			t.Fatalf("op #%d made to read %q@%d (superseded before it began) passed:\n%v", i, old.Value, old.Offset, h)
		}
	})
}

// Dropping an acknowledged write nothing superseded from a node's log is
// caught.
func TestProperty_LostWriteFails(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := drawn(t)
		newest := make(map[string]uint64)
		for _, r := range g.log {
			newest[r.Key] = r.Offset
		}
		var live []int // log positions of acknowledged, unsuperseded records
		for p, r := range g.log {
			if _, ok := okWriteAt(g.ops, r.Offset); ok && newest[r.Key] == r.Offset {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			return
		}
		p := rapid.SampledFrom(live).Draw(t, "drop")
		lossy := append(append([]history.Record(nil), g.log[:p]...), g.log[p+1:]...)
		logs := []history.NodeLog{
			{Node: "n1", Records: g.log, Next: g.nextOffset()},
			{Node: "n2", Records: lossy, Next: g.nextOffset()},
		}
		f := Final(g.ops, logs, Options{})
		if f.LostWrites != 1 || f.OK() {
			t.Fatalf("dropping %v from n2: LostWrites = %d\n%v", g.log[p], f.LostWrites, f)
		}
	})
}

// okWriteAt returns the acknowledged write at offset o.
func okWriteAt(ops []history.Op, o uint64) (int, bool) {
	for i, op := range ops {
		if op.Kind.IsWrite() && op.Outcome == history.OK && op.Offset == o {
			return i, true
		}
	}
	return 0, false
}

// Many writes of one key whose outcome was lost, most never read: each
// is a possible effect at every later point, which porcupine cannot
// search as pending operations (rapid found a 61-operation run that ran
// out of a minute). They must not make the check inconclusive.
func TestHistory_ManyLostWrites(t *testing.T) {
	for seed := range uint64(30) {
		rnd := rand.New(rand.NewPCG(seed, 3))
		g := generate(rnd.IntN, genOptions{ops: 200, keys: 1, spread: 3, ambiguous: 40})
		if r := History(g.ops, Options{Timeout: 30 * time.Second}); !r.OK() {
			t.Fatalf("seed %d:\n%v", seed, r)
		}
	}
}
