package check

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/caskade/caskade/tests/robustness/history"
)

// BenchmarkHistory checks a run the size of a 60 s, 8-client robustness
// run: 100k operations over a small key space, about 9 overlapping at a
// time, 1% of writes ambiguous.
func BenchmarkHistory(b *testing.B) {
	for _, keys := range []int{10, 20} {
		b.Run(fmt.Sprintf("100k-ops-%d-keys", keys), func(b *testing.B) {
			rnd := rand.New(rand.NewPCG(7, 7))
			g := generate(rnd.IntN, genOptions{ops: 100_000, keys: keys, spread: 4, ambiguous: 1})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if r := History(g.ops, Options{}); !r.OK() {
					b.Fatalf("a correct run failed:\n%v", r)
				}
			}
			b.ReportMetric(float64(len(g.ops)), "ops/check")
		})
	}
}

// BenchmarkFinal checks the logs of three nodes after such a run.
func BenchmarkFinal(b *testing.B) {
	rnd := rand.New(rand.NewPCG(7, 7))
	g := generate(rnd.IntN, genOptions{ops: 100_000, keys: 20, spread: 4, ambiguous: 1})
	logs := []history.NodeLog{
		{Node: "n1", Records: g.log, Next: g.nextOffset()},
		{Node: "n2", Records: g.compacted(rnd.IntN), Next: g.nextOffset()},
		{Node: "n3", Records: g.compacted(rnd.IntN), Next: g.nextOffset()},
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := Final(g.ops, logs, Options{}); !r.OK() {
			b.Fatalf("a correct run failed:\n%v", r)
		}
	}
}
