package robustness

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// violations is the number of problems the checker reported: one per
// violation line, at least one when the report is not OK.
func (r Result) violations() int {
	n := len(r.Report.Violations)
	if n == 0 && !r.Report.OK() {
		n = 1
	}
	return n
}

// verdict is PASS or FAIL.
func (r Result) verdict() string {
	if r.OK() {
		return "PASS"
	}
	return "FAIL"
}

// faultSummary lists the fault kinds with their counts, in AllFaults
// order: "kill 2, isolate 1".
func (r Result) faultSummary() string {
	var parts []string
	for _, k := range AllFaults {
		if n := r.FaultKinds[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	return strings.Join(parts, ", ")
}

// Line is the one-line summary of a run.
func (r Result) Line() string {
	unknown := ""
	if r.Report.Unknown {
		unknown = " (porcupine timed out)"
	}
	return fmt.Sprintf("seed=%d duration=%v ops=%d (ok %d, failed %d, ambiguous %d) faults=%d [%s] violations=%d%s lost=%d stale=%d divergent=%d problems=%d stalls=%d %s",
		r.Seed, r.Elapsed.Round(100*time.Millisecond), r.Ops, r.OKOps, r.FailedOps, r.AmbiguousOps,
		len(r.Faults), r.faultSummary(), r.violations(), unknown, r.Report.LostWrites, r.Report.StaleViolations,
		r.Report.LogDivergence, len(r.Problems), len(r.Stalls), r.verdict())
}

// Details lists what a run found and did, one item a line: violations,
// problems, stalls, faults and the files written.
func (r Result) Details() string {
	var b strings.Builder
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:\n", title)
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	section("violations", r.Report.Violations)
	section("problems", r.Problems)
	section("stalls", r.Stalls)
	section("faults", r.Faults)
	section("files", r.Report.Files)
	if r.ResultsDir != "" {
		fmt.Fprintf(&b, "results: %s\n", r.ResultsDir)
	}
	return b.String()
}

// Table formats the results of a batch of runs: one row per run and a
// total.
func Table(results []Result) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "seed\tduration\tops\tok\tfailed\tambiguous\tfaults\tviolations\tlost\tstale\tdivergent\tproblems\tstalls\tresult\t")
	var total Result
	total.FaultKinds = map[FaultKind]int{}
	pass := 0
	for _, r := range results {
		fmt.Fprintf(w, "%d\t%v\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n",
			r.Seed, r.Elapsed.Round(100*time.Millisecond), r.Ops, r.OKOps, r.FailedOps, r.AmbiguousOps, len(r.Faults),
			r.violations(), r.Report.LostWrites, r.Report.StaleViolations, r.Report.LogDivergence, len(r.Problems), len(r.Stalls), r.verdict())
		total.Elapsed += r.Elapsed
		total.Ops += r.Ops
		total.OKOps += r.OKOps
		total.FailedOps += r.FailedOps
		total.AmbiguousOps += r.AmbiguousOps
		total.Faults = append(total.Faults, r.Faults...)
		for k, n := range r.FaultKinds {
			total.FaultKinds[k] += n
		}
		total.Report.LostWrites += r.Report.LostWrites
		total.Report.StaleViolations += r.Report.StaleViolations
		total.Report.LogDivergence += r.Report.LogDivergence
		total.Problems = append(total.Problems, r.Problems...)
		total.Stalls = append(total.Stalls, r.Stalls...)
		if r.OK() {
			pass++
		}
	}
	violations := 0
	for _, r := range results {
		violations += r.violations()
	}
	fmt.Fprintf(w, "total\t%v\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d/%d pass\t\n",
		total.Elapsed.Round(100*time.Millisecond), total.Ops, total.OKOps, total.FailedOps, total.AmbiguousOps, len(total.Faults),
		violations, total.Report.LostWrites, total.Report.StaleViolations, total.Report.LogDivergence, len(total.Problems), len(total.Stalls),
		pass, len(results))
	_ = w.Flush()
	if s := total.faultSummary(); s != "" {
		fmt.Fprintf(&b, "faults by kind: %s\n", s)
	}
	return b.String()
}
