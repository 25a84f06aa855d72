package failpoint

import "testing"

// BenchmarkHit measures an unarmed crash point: nothing without the
// failpoints tag (Hit inlines to nothing), a map lookup with it.
func BenchmarkHit(b *testing.B) {
	b.ReportAllocs()
	// A plain loop, not b.Loop: b.Loop keeps calls in its body from being
	// inlined, and inlining away is what the untagged build is about.
	for range b.N {
		Hit(FSMApply)
	}
}

// BenchmarkBug measures a bug check on a hot path.
func BenchmarkBug(b *testing.B) {
	b.ReportAllocs()
	n := 0
	for range b.N {
		if Bug(BugDropAckedWrites) {
			n++
		}
	}
	if n != 0 {
		b.Fatal("bug enabled")
	}
}
