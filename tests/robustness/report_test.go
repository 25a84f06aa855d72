package robustness

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caskade/caskade/tests/robustness/check"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    []FaultKind
		wantErr string
	}{
		{in: "all", want: AllFaults},
		{in: "", want: nil},
		{in: "none", want: nil},
		{in: "kill", want: []FaultKind{FaultKill}},
		{in: "kill, pause,isolate", want: []FaultKind{FaultKill, FaultPause, FaultIsolate}},
		{in: "kill,explode", wantErr: `unknown fault "explode"`},
		{in: "kill,", wantErr: `unknown fault ""`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFaults(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFaults(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ParseFaults(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// passing and failing are two results as runs produce them.
var (
	passing = Result{
		Seed: 1, Elapsed: 61234 * time.Millisecond, Ops: 1000, OKOps: 900, FailedOps: 80, AmbiguousOps: 20,
		Faults:     []string{"2.0s kill -9 n1, down 1s", "9.1s pause n2 for 2s"},
		FaultKinds: map[FaultKind]int{FaultKill: 1, FaultPause: 1},
		Report:     check.Report{Ops: 1000, Linearizable: true},
	}
	failing = Result{
		Seed: 2, Elapsed: 60 * time.Second, Ops: 500, OKOps: 450, FailedOps: 40, AmbiguousOps: 10,
		Faults:     []string{"3.0s isolate n3 from everyone (drop) for 3s"},
		FaultKinds: map[FaultKind]int{FaultIsolate: 1},
		Report: check.Report{Ops: 500, Linearizable: false, LostWrites: 2,
			Violations: []string{"not linearizable: key k1", "lost: put k2", "lost: put k3"}},
		Problems:   []string{"n2 exited by itself (exit status 2)"},
		ResultsDir: "/tmp/results/seed-2",
	}
)

func TestResult_Line(t *testing.T) {
	tests := []struct {
		name string
		r    Result
		want string
	}{
		{"pass", passing, "seed=1 duration=1m1.2s ops=1000 (ok 900, failed 80, ambiguous 20) faults=2 [kill 1, pause 1] violations=0 lost=0 stale=0 divergent=0 problems=0 stalls=0 PASS"},
		{"fail", failing, "seed=2 duration=1m0s ops=500 (ok 450, failed 40, ambiguous 10) faults=1 [isolate 1] violations=3 lost=2 stale=0 divergent=0 problems=1 stalls=0 FAIL"},
		{"not OK without a violation line", Result{Seed: 3, Report: check.Report{Linearizable: true, Unknown: true}},
			"seed=3 duration=0s ops=0 (ok 0, failed 0, ambiguous 0) faults=0 [] violations=1 (porcupine timed out) lost=0 stale=0 divergent=0 problems=0 stalls=0 FAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Line(); got != tt.want {
				t.Errorf("Line() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestResult_Details(t *testing.T) {
	got := failing.Details()
	for _, want := range []string{"violations:\n  not linearizable: key k1\n", "problems:\n  n2 exited by itself", "faults:\n  3.0s isolate n3", "results: /tmp/results/seed-2"} {
		if !strings.Contains(got, want) {
			t.Errorf("Details() lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(passing.Details(), "violations") {
		t.Errorf("Details() of a passing run lists violations:\n%s", passing.Details())
	}
}

func TestTable(t *testing.T) {
	got := Table([]Result{passing, failing})
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("Table has %d lines, want a header, two runs, a total and the faults by kind:\n%s", len(lines), got)
	}
	wantFields := [][]string{
		{"seed", "duration", "ops", "ok", "failed", "ambiguous", "faults", "violations", "lost", "stale", "divergent", "problems", "stalls", "result"},
		{"1", "1m1.2s", "1000", "900", "80", "20", "2", "0", "0", "0", "0", "0", "0", "PASS"},
		{"2", "1m0s", "500", "450", "40", "10", "1", "3", "2", "0", "0", "1", "0", "FAIL"},
		{"total", "2m1.2s", "1500", "1350", "120", "30", "3", "3", "2", "0", "0", "1", "0", "1/2", "pass"},
	}
	for i, want := range wantFields {
		if f := strings.Fields(lines[i]); !slices.Equal(f, want) {
			t.Errorf("line %d = %q, want fields %q", i, lines[i], want)
		}
	}
	if want := "faults by kind: kill 1, pause 1, isolate 1"; lines[4] != want {
		t.Errorf("last line = %q, want %q", lines[4], want)
	}
}
