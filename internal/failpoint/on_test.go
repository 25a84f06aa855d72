//go:build failpoints

package failpoint_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/caskade/caskade/internal/failpoint"
	"github.com/caskade/caskade/internal/failpoint/fptest"
)

// TestHitChild hits every point 10 times, in turn, printing "hit <name>
// <n>" before each hit. Its parent arms one of them.
func TestHitChild(t *testing.T) {
	fptest.Child(t)
	for i := 1; i <= 10; i++ {
		for _, n := range failpoint.Names() {
			fmt.Printf("hit %s %d\n", n, i)
			failpoint.Hit(n)
		}
	}
	fmt.Println("survived")
}

// hitsOf returns the hit numbers the child printed for point.
func hitsOf(t *testing.T, r fptest.Result, point string) []int {
	t.Helper()
	var out []int
	for _, l := range r.Lines("hit " + point + " ") {
		n, err := strconv.Atoi(l)
		if err != nil {
			t.Fatalf("bad child line %q", l)
		}
		out = append(out, n)
	}
	return out
}

// An armed point kills the process by SIGKILL at its N-th hit: not
// before, and nothing runs after it.
func TestHit_CrashesAtNthHit(t *testing.T) {
	tests := []struct {
		spec    string
		point   string
		wantHit uint64
	}{
		{failpoint.FSMApply, failpoint.FSMApply, 1},
		{failpoint.RaftLogAppend + "@3", failpoint.RaftLogAppend, 3},
		{failpoint.SnapshotRestore + "@10", failpoint.SnapshotRestore, 10},
		{failpoint.CompactionSwap + "%1", failpoint.CompactionSwap, 1},
		// Two armed: the one reached first wins.
		{failpoint.SnapshotPersist + "@2," + failpoint.CompactionMarker + "@5", failpoint.SnapshotPersist, 2},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			r := fptest.Crash(t, "TestHitChild", t.TempDir(), tt.point, failpoint.EnvFailpoints+"="+tt.spec)
			if r.Hit != tt.wantHit {
				t.Fatalf("crashed at hit %d, want %d", r.Hit, tt.wantHit)
			}
			want := make([]int, tt.wantHit)
			for i := range want {
				want[i] = i + 1
			}
			if got := hitsOf(t, r, tt.point); !slices.Equal(got, want) {
				t.Fatalf("child reached hits %v of %s, want %v", got, tt.point, want)
			}
			if strings.Contains(r.Stdout, "survived") {
				t.Fatal("child went on after the crash point")
			}
		})
	}
}

// A point armed with a probability crashes at a hit that depends only on
// the seed: the same seed crashes at the same hit again.
func TestHit_ProbabilityIsSeeded(t *testing.T) {
	spec := failpoint.FSMApply + "%0.3"
	crashAt := func(seed string) uint64 {
		r := fptest.Crash(t, "TestHitChild", t.TempDir(), failpoint.FSMApply,
			failpoint.EnvFailpoints+"="+spec, failpoint.EnvSeed+"="+seed)
		if !strings.Contains(r.Stderr, failpoint.EnvSeed+"="+seed) {
			t.Fatalf("the armed line does not give the seed:\n%s", r.Stderr)
		}
		return r.Hit
	}
	// With 10 hits at 0.3, a seed that does not crash has odds 0.7^10;
	// these seeds all crash (the draw is fixed by the seed).
	for _, seed := range []string{"1", "2", "-7"} {
		first, second := crashAt(seed), crashAt(seed)
		if first != second {
			t.Fatalf("seed %s: crashed at hit %d, then at %d", seed, first, second)
		}
	}
}

// Bad configuration stops the process at start, with exit status 2 and a
// message naming the variable and the mistake.
func TestInit_BadConfigurationExits(t *testing.T) {
	tests := []struct {
		env  string
		want string
	}{
		{failpoint.EnvFailpoints + "=fsm-aply", `unknown failpoint "fsm-aply"`},
		{failpoint.EnvFailpoints + "=fsm-apply@0", "whole number from 1 up"},
		{failpoint.EnvFailpoints + "=fsm-apply%2", "in (0, 1]"},
		{failpoint.EnvBugs + "=stale-reads", `unknown bug "stale-reads"`},
		{failpoint.EnvSeed + "=abc", "not a decimal int64"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHitChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), tt.env, "CASKADE_FPTEST_DIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("child: %v, want exit status 2\n%s", err, out)
			}
			if !strings.Contains(string(out), tt.want) || strings.Contains("\n"+string(out), "\nhit ") {
				t.Fatalf("child output, want %q and no hit:\n%s", tt.want, out)
			}
		})
	}
}

// Unarmed, every point is passed (the child survives all its hits).
func TestHit_Unarmed(t *testing.T) {
	if !failpoint.Enabled {
		t.Fatal("Enabled is false under the failpoints tag")
	}
	r := fptest.Run(t, "TestHitChild", t.TempDir())
	if !strings.Contains(r.Stdout, "survived") {
		t.Fatalf("child did not finish:\n%s", r.Stdout)
	}
}

func TestHit_UnknownNamePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Hit of an unknown name did not panic")
		}
	}()
	failpoint.Hit("no-such-point")
}

func TestConfigure(t *testing.T) {
	if failpoint.Bug(failpoint.BugStaleReads) {
		t.Fatal("bug enabled before Configure")
	}
	restore, err := failpoint.Configure("", failpoint.BugStaleReads, "")
	if err != nil {
		t.Fatal(err)
	}
	if !failpoint.Bug(failpoint.BugStaleReads) || failpoint.Bug(failpoint.BugDropAckedWrites) {
		t.Fatal("Configure did not enable exactly the bug asked for")
	}
	if _, err := failpoint.Configure("", "nope", ""); err == nil || !strings.Contains(err.Error(), `unknown bug "nope"`) {
		t.Fatalf("Configure with a bad bug: %v", err)
	}
	if !failpoint.Bug(failpoint.BugStaleReads) {
		t.Fatal("a refused Configure changed the configuration")
	}
	restore()
	if failpoint.Bug(failpoint.BugStaleReads) {
		t.Fatal("restore left the bug enabled")
	}
}

// Every name of Names is one Hit accepts (it panics on others), and
// Hits counts the hits of unarmed points too.
func TestHits(t *testing.T) {
	restore, err := failpoint.Configure("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	for i, n := range failpoint.Names() {
		for range i + 1 {
			failpoint.Hit(n) // unarmed: passes, or panics if the name is unknown
		}
	}
	for i, n := range failpoint.Names() {
		if got := failpoint.Hits(n); got != uint64(i+1) {
			t.Errorf("Hits(%s) = %d, want %d", n, got, i+1)
		}
	}
	if got := failpoint.Hits("no-such-point"); got != 0 {
		t.Errorf("Hits of an unknown name = %d", got)
	}
}
