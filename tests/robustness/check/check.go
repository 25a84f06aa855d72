package check

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/caskade/caskade/tests/robustness/history"
)

// DefaultTimeout is porcupine's time budget when Options.Timeout is 0.
const DefaultTimeout = 60 * time.Second

// maxViolations caps Report.Violations; further problems are counted
// in one closing line.
const maxViolations = 20

// Options tune a check.
type Options struct {
	Timeout    time.Duration // porcupine's time budget; 0 = 60s
	ResultsDir string        // on a violation, write porcupine's HTML visualization and the history (JSON lines) here; "" = don't write
	Name       string        // run name used in file names (e.g. "seed-7")
}

// withDefaults fills zero fields.
func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Name == "" {
		o.Name = "run"
	}
	return o
}

// Report is the outcome of checking one run.
type Report struct {
	Ops int // operations checked
	// Linearizable: porcupine found the linearizable ops linearizable
	// (false also when it timed out: see Unknown). Final runs no
	// porcupine check and leaves it true.
	Linearizable    bool
	Unknown         bool     // porcupine ran out of time
	StaleViolations int      // stale reads that returned a value from the future or never written
	LostWrites      int      // acknowledged writes missing from a node's log without being superseded (Final only)
	LogDivergence   int      // offsets where two nodes' logs disagree (Final only)
	Violations      []string // one human-readable line per problem (capped, e.g. first 20)
	Files           []string // files written to ResultsDir
}

// OK reports whether the run showed no problem: linearizable within
// the time budget, and no violation of any other kind.
func (r Report) OK() bool {
	return r.Linearizable && !r.Unknown && r.StaleViolations == 0 && r.LostWrites == 0 &&
		r.LogDivergence == 0 && len(r.Violations) == 0
}

// String summarizes the report on one line, then its violations one a
// line.
func (r Report) String() string {
	var b strings.Builder
	verdict := "ok"
	if !r.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "%s: %d ops, linearizable=%t unknown=%t stale=%d lost=%d divergent=%d",
		verdict, r.Ops, r.Linearizable, r.Unknown, r.StaleViolations, r.LostWrites, r.LogDivergence)
	for _, v := range r.Violations {
		b.WriteString("\n  ")
		b.WriteString(v)
	}
	for _, f := range r.Files {
		b.WriteString("\n  wrote ")
		b.WriteString(f)
	}
	return b.String()
}

// Merge combines reports (for one run's History + Final): counts add
// up, Linearizable holds if it holds in all, and Ops is the largest.
func Merge(rs ...Report) Report {
	m := Report{Linearizable: true}
	seen := make(map[string]bool)
	for _, r := range rs {
		m.Ops = max(m.Ops, r.Ops)
		m.Linearizable = m.Linearizable && r.Linearizable
		m.Unknown = m.Unknown || r.Unknown
		m.StaleViolations += r.StaleViolations
		m.LostWrites += r.LostWrites
		m.LogDivergence += r.LogDivergence
		m.Violations = append(m.Violations, r.Violations...)
		for _, f := range r.Files {
			// History and Final both write the history file.
			if !seen[f] {
				seen[f] = true
				m.Files = append(m.Files, f)
			}
		}
	}
	return m
}

// problems collects violation lines, up to maxViolations.
type problems struct {
	lines []string
	more  int // problems past the cap
}

// addf records one problem.
func (p *problems) addf(format string, args ...any) {
	if len(p.lines) >= maxViolations {
		p.more++
		return
	}
	p.lines = append(p.lines, fmt.Sprintf(format, args...))
}

// list returns the lines, with a closing count of those left out.
func (p *problems) list() []string {
	if p.more == 0 {
		return p.lines
	}
	return append(p.lines, fmt.Sprintf("… and %d more problems", p.more))
}

// opString describes history operation i for a violation line.
func opString(i int, op history.Op) string {
	var b strings.Builder
	fmt.Fprintf(&b, "op #%d (client %d", i, op.Client)
	if op.Node != "" {
		fmt.Fprintf(&b, ", node %s", op.Node)
	}
	b.WriteString(") ")
	stale := ""
	if op.Consistency == history.Stale {
		stale = ", stale"
	}
	switch op.Kind {
	case history.Get:
		fmt.Fprintf(&b, "get(%q%s)", op.Key, stale)
	case history.Put:
		fmt.Fprintf(&b, "put(%q, %q)", op.Key, op.Value)
	case history.Delete:
		fmt.Fprintf(&b, "delete(%q)", op.Key)
	case history.CAS:
		fmt.Fprintf(&b, "cas(%q, expect %d, %q)", op.Key, op.Expected, op.Value)
	case history.Consume:
		fmt.Fprintf(&b, "consume(%d%s)", op.From, stale)
	default:
		fmt.Fprintf(&b, "kind %d", op.Kind)
	}
	b.WriteString(" → ")
	switch op.Outcome {
	case history.OK:
		switch op.Kind {
		case history.Get:
			if op.Found {
				fmt.Fprintf(&b, "%q@%d", op.Got, op.Offset)
			} else {
				b.WriteString("absent")
			}
		case history.Consume:
			b.WriteString(recordOf(op).at(op.Offset))
		default:
			fmt.Fprintf(&b, "%d", op.Offset)
		}
		fmt.Fprintf(&b, " [%v, %v]", op.Call, op.Return)
	case history.Failed:
		if op.Kind == history.CAS && casMismatch(op) {
			fmt.Fprintf(&b, "mismatch, key at %d", op.Current)
		} else {
			fmt.Fprintf(&b, "failed (%s)", op.Err)
		}
		fmt.Fprintf(&b, " [%v, %v]", op.Call, op.Return)
	case history.Ambiguous:
		fmt.Fprintf(&b, "? (%s) [%v, ?]", op.Err, op.Call)
	default:
		fmt.Fprintf(&b, "outcome %d", op.Outcome)
	}
	return b.String()
}

// casMismatchText is in the text of every error the client returns for
// a CAS refused with FAILED_PRECONDITION (client.CASError.Error; a test
// keeps the two in step).
const casMismatchText = "compare-and-swap mismatch"

// casMismatch reports whether a failed CAS was refused because the key
// was not at the expected offset, so that op.Current is the key's offset
// then. A nonzero Current says so on its own; a refusal because the key
// was absent has Current 0 and is known by its error text.
func casMismatch(op history.Op) bool {
	return op.Kind == history.CAS && op.Outcome == history.Failed &&
		(op.Current != 0 || strings.Contains(op.Err, casMismatchText))
}

// fileName returns a path in dir for the run's file with suffix, safe
// whatever the run's name holds.
func fileName(dir, name, suffix string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name+suffix)
	return filepath.Join(dir, safe)
}

// writeJSONLines writes each item as one JSON line to path.
func writeJSONLines[T any](path string, items []T) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range items {
		if err := enc.Encode(&items[i]); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return w.Flush()
}

// writeHistory writes ops as JSON lines (one history.Op each, in
// order, so line i+1 is op #i) into opts.ResultsDir, and records the file
// or the failure in r.
func writeHistory(r *Report, p *problems, ops []history.Op, opts Options) {
	if err := os.MkdirAll(opts.ResultsDir, 0o755); err != nil {
		p.addf("could not write results: %v", err)
		return
	}
	path := fileName(opts.ResultsDir, opts.Name, "-history.jsonl")
	if err := writeJSONLines(path, ops); err != nil {
		p.addf("could not write results: %v", err)
		return
	}
	r.Files = append(r.Files, path)
}
