package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caskade/caskade/tests/robustness/history"
)

func TestHistory(t *testing.T) {
	type want struct {
		ok           bool
		linearizable bool   // checked when !ok
		stale        int    // checked when !ok
		says         string // a violation line contains it, when !ok
	}
	good := want{ok: true}
	notLinearizable := func(says string) want { return want{linearizable: false, says: says} }
	tests := []struct {
		name string
		ops  []history.Op
		want want
	}{
		{name: "empty", want: good},
		{name: "sequential", want: good, ops: []history.Op{
			get(1, "k", 0, 5, "", 0),
			put(1, "k", "a", 10, 20, 1),
			get(1, "k", 30, 40, "a", 1),
			put(1, "k", "b", 50, 60, 2),
			cas(1, "k", 2, "c", 70, 80, 3),
			casRefused(1, "k", 2, "x", 90, 100, 3),
			del(1, "k", 110, 120, 4),
			get(1, "k", 130, 140, "", 0),
			casRefused(1, "k", 4, "y", 150, 160, 0), // a tombstone is not a current offset
			cas(1, "k", 0, "d", 170, 180, 5),        // absent again after a delete
			get(1, "k", 190, 200, "d", 5),
		}},
		{name: "concurrent with a valid order", want: good, ops: []history.Op{
			put(1, "k", "a", 0, 100, 2),
			put(2, "k", "b", 10, 50, 1), // offsets put b first
			get(3, "k", 20, 30, "", 0),
			get(4, "k", 60, 70, "b", 1),
			get(5, "k", 60, 120, "a", 2),
			get(6, "k", 130, 140, "a", 2),
			put(7, "j", "c", 5, 200, 3), // another key, concurrent with all
		}},
		{name: "overlapping writes ordered by offsets", want: notLinearizable(`op #3`), ops: []history.Op{
			put(1, "k", "a", 0, 100, 2),
			put(2, "k", "b", 10, 50, 1),
			get(3, "k", 110, 120, "a", 2),
			get(4, "k", 130, 140, "b", 1), // b was overwritten by a (offset 2 > 1)
		}},
		{name: "stale linearizable read", want: notLinearizable(`get("k")`), ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			put(1, "k", "b", 20, 30, 2),
			get(2, "k", 40, 50, "a", 1),
		}},
		{name: "read of a value never written", want: notLinearizable("no client ever wrote"), ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			get(2, "k", 40, 50, "zzz", 1),
		}},
		{name: "read of a failed write", want: notLinearizable("its write failed"), ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			failed(put(1, "k", "b", 20, 30, 0)),
			get(2, "k", 40, 50, "b", 2),
		}},
		{name: "failed writes are ignored", want: good, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			failed(put(1, "k", "b", 20, 30, 0)),
			failed(get(2, "k", 35, 38, "", 0)),
			get(2, "k", 40, 50, "a", 1),
		}},
		{name: "ambiguous write that applied", want: good, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			ambiguous(put(1, "k", "b", 20, 0, 0)),
			get(2, "k", 30, 40, "a", 1),
			get(2, "k", 100, 110, "b", 2),
			get(3, "k", 120, 130, "b", 2),
		}},
		{name: "ambiguous write that did not apply", want: good, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			ambiguous(put(1, "k", "b", 20, 0, 0)),
			get(2, "k", 100, 110, "a", 1),
			put(3, "k", "c", 120, 130, 2),
			get(2, "k", 140, 150, "c", 2),
		}},
		{name: "ambiguous write seen then unseen", want: notLinearizable(`"a"`), ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			ambiguous(put(1, "k", "b", 20, 0, 0)),
			get(2, "k", 100, 110, "b", 2),
			get(2, "k", 120, 130, "a", 1),
		}},
		{name: "ambiguous write applied at a bad offset", want: notLinearizable(""), ops: []history.Op{
			put(1, "k", "a", 0, 10, 5),
			ambiguous(put(1, "k", "b", 20, 0, 0)),
			get(2, "k", 100, 110, "b", 3), // below a's offset, after a
		}},
		{name: "ambiguous delete, key later absent", want: good, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			ambiguous(del(1, "k", 20, 0, 0)),
			get(2, "k", 30, 40, "a", 1),
			get(2, "k", 50, 60, "", 0),
			cas(2, "k", 0, "b", 70, 80, 3), // the tombstone took offset 2
		}},
		{name: "ambiguous cas never seen", want: good, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			ambiguous(cas(1, "k", 1, "b", 20, 0, 0)),
			casRefused(2, "k", 9, "c", 30, 40, 1),
			get(2, "k", 50, 60, "a", 1),
		}},
		{name: "ambiguous cas seen through a refusal", want: good, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			ambiguous(cas(1, "k", 1, "b", 20, 0, 0)),
			casRefused(2, "k", 1, "c", 30, 40, 2), // the key moved: only the ambiguous CAS can have moved it
		}},
		{name: "refusal nothing explains", want: notLinearizable("✗ key at 2"), ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			casRefused(2, "k", 1, "c", 30, 40, 2),
		}},
		{name: "cas with wrong expected offset", want: notLinearizable(`cas("k", expect 5`), ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			cas(2, "k", 5, "b", 20, 30, 2),
		}},
		{name: "cas creating a present key", want: notLinearizable(""), ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			cas(2, "k", 0, "b", 20, 30, 2),
		}},
		{name: "delete of an absent key acknowledged", want: notLinearizable(`delete("k")`), ops: []history.Op{
			del(1, "k", 0, 10, 1),
		}},
		{name: "stale read from the future", want: want{linearizable: true, stale: 1, says: "from the future"}, ops: []history.Op{
			staleGet(2, "k", 0, 50, "a", 1),
			put(1, "k", "a", 100, 110, 1),
		}},
		{name: "stale old read", want: good, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			put(1, "k", "b", 20, 30, 2),
			staleGet(2, "k", 40, 50, "a", 1),
			staleGet(2, "k", 60, 70, "", 0),
			staleGet(2, "k", 25, 35, "b", 2), // concurrent with b's write
		}},
		{name: "stale read of a value never written", want: want{linearizable: true, stale: 1, says: "no client ever wrote"}, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			staleGet(2, "k", 40, 50, "zzz", 1),
		}},
		{name: "stale read of another key's value", want: want{linearizable: true, stale: 1, says: `written to key "k"`}, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			staleGet(2, "j", 40, 50, "a", 1),
		}},
		{name: "stale read at the wrong offset", want: want{linearizable: true, stale: 1, says: "acknowledged at offset 1"}, ops: []history.Op{
			put(1, "k", "a", 0, 10, 1),
			staleGet(2, "k", 40, 50, "a", 2),
		}},
		{name: "stale reads disagree on an ambiguous write's offset", want: want{linearizable: true, stale: 1, says: "the value is at offset 2"}, ops: []history.Op{
			ambiguous(put(1, "k", "a", 0, 0, 0)),
			staleGet(2, "k", 40, 50, "a", 2),
			staleGet(3, "k", 60, 70, "a", 3),
		}},
		{name: "offsets go back across keys", want: want{linearizable: true, says: "offsets went back"}, ops: []history.Op{
			put(1, "a", "x", 0, 10, 5),
			put(1, "b", "y", 20, 30, 3),
		}},
		{name: "offset acknowledged twice", want: want{linearizable: true, says: "acknowledged twice"}, ops: []history.Op{
			put(1, "a", "x", 0, 10, 1),
			put(2, "b", "y", 0, 10, 1),
		}},
		{name: "values must be unique", want: want{linearizable: true, says: "values must be unique"}, ops: []history.Op{
			put(1, "a", "x", 0, 10, 1),
			put(1, "a", "x", 20, 30, 2),
		}},
		{name: "consumes", want: good, ops: []history.Op{
			put(1, "a", "x", 0, 10, 1),
			put(1, "b", "y", 20, 30, 2),
			del(1, "a", 40, 50, 3),
			consume(2, 1, 60, 70, "a", "x", 1),
			consume(2, 2, 60, 70, "b", "y", 2),
			consumeTomb(2, 3, 60, 70, "a", 3),
			{Client: 2, Kind: history.Consume, Consistency: history.Stale, From: 1, Call: ms(5), Return: ms(8), Outcome: history.Failed, Err: "out of range"},
		}},
		{name: "consume skips a live record", want: want{linearizable: true, says: "skipped"}, ops: []history.Op{
			put(1, "a", "x", 0, 10, 1),
			put(1, "b", "y", 20, 30, 2),
			consume(2, 1, 40, 50, "b", "y", 2),
		}},
		{name: "consume passes a superseded record", want: good, ops: []history.Op{
			put(1, "a", "x", 0, 10, 1),
			put(1, "b", "y", 20, 30, 2),
			put(3, "a", "z", 25, 45, 3),
			consume(2, 1, 40, 50, "b", "y", 2),
		}},
		{name: "consume disagrees with a write", want: want{linearizable: true, says: "offset 1 holds"}, ops: []history.Op{
			put(1, "a", "x", 0, 10, 1),
			put(1, "b", "y", 20, 30, 2),
			consume(2, 1, 40, 50, "b", "y", 1),
		}},
		{name: "consume before the offset asked for", want: want{linearizable: true, says: "before the offset asked for"}, ops: []history.Op{
			put(1, "a", "x", 0, 10, 1),
			consume(2, 2, 40, 50, "a", "x", 1),
		}},
		{name: "consume of a tombstone nothing deleted", want: want{linearizable: true, says: "no delete"}, ops: []history.Op{
			put(1, "a", "x", 0, 10, 1),
			consumeTomb(2, 2, 40, 50, "a", 2),
		}},
		{name: "consume of a keyless record", want: want{linearizable: true, says: "keyless"}, ops: []history.Op{
			consume(2, 1, 40, 50, "", "x", 1),
		}},
		{name: "malformed operation", want: want{linearizable: true, says: "returned before it was called"}, ops: []history.Op{
			put(1, "a", "x", 10, 5, 1),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := History(tt.ops, Options{})
			if r.Ops != len(tt.ops) {
				t.Errorf("Ops = %d, want %d", r.Ops, len(tt.ops))
			}
			if r.OK() != tt.want.ok {
				t.Fatalf("OK() = %t, want %t\n%v", r.OK(), tt.want.ok, r)
			}
			if tt.want.ok {
				return
			}
			if r.Linearizable != tt.want.linearizable || r.Unknown {
				t.Errorf("Linearizable = %t (unknown %t), want %t\n%v", r.Linearizable, r.Unknown, tt.want.linearizable, r)
			}
			if r.StaleViolations != tt.want.stale {
				t.Errorf("StaleViolations = %d, want %d\n%v", r.StaleViolations, tt.want.stale, r)
			}
			if r.LostWrites != 0 || r.LogDivergence != 0 {
				t.Errorf("History counted Final's problems\n%v", r)
			}
			if !containsLine(r.Violations, tt.want.says) {
				t.Errorf("no violation says %q\n%v", tt.want.says, r)
			}
		})
	}
}

// containsLine reports whether a line contains s.
func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func TestHistory_ViolationsCapped(t *testing.T) {
	ops := []history.Op{put(1, "k", "a", 0, 10, 1)}
	for i := range 50 {
		ops = append(ops, staleGet(2, "k", 20+i, 21+i, "nope"+string(rune('a'+i%26))+string(rune('a'+i/26)), 1))
	}
	r := History(ops, Options{})
	if r.StaleViolations != 50 {
		t.Fatalf("StaleViolations = %d, want 50", r.StaleViolations)
	}
	if len(r.Violations) != maxViolations+1 || !strings.Contains(r.Violations[maxViolations], "30 more") {
		t.Fatalf("violations not capped at %d plus a count: %q", maxViolations, r.Violations)
	}
}

func TestHistory_WritesResultsOnViolation(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results")
	ops := []history.Op{
		put(1, "k", "a", 0, 10, 1),
		put(1, "k", "b", 20, 30, 2),
		get(2, "k", 40, 50, "a", 1),
		put(3, "j", "c", 0, 60, 3),
		get(3, "j", 70, 80, "c", 3),
	}
	r := History(ops, Options{ResultsDir: dir, Name: "seed 7/x"})
	if r.OK() {
		t.Fatal("a stale linearizable read passed")
	}
	if len(r.Files) != 2 {
		t.Fatalf("Files = %q, want the history and the visualization", r.Files)
	}
	for _, f := range r.Files {
		if filepath.Dir(f) != dir || strings.ContainsAny(filepath.Base(f), " /") {
			t.Errorf("file %q not a plain name in %s", f, dir)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(f, "-history.jsonl"):
			if n := strings.Count(string(data), "\n"); n != len(ops) {
				t.Errorf("history has %d lines, want %d", n, len(ops))
			}
		case strings.HasSuffix(f, "-linearizability.html"):
			// The page shows the failing key's operations, described.
			if !strings.Contains(string(data), `get(\"k\")`) || strings.Contains(string(data), `put(\"j\"`) {
				t.Errorf("visualization does not show key k's operations alone")
			}
		default:
			t.Errorf("unexpected file %s", f)
		}
	}

	// A passing run writes nothing.
	okDir := t.TempDir()
	if r := History(ops[:2], Options{ResultsDir: okDir}); !r.OK() || len(r.Files) != 0 {
		t.Fatalf("passing run: %v", r)
	}
	if entries, _ := os.ReadDir(okDir); len(entries) != 0 {
		t.Fatalf("passing run wrote %d files", len(entries))
	}
}

func TestMerge(t *testing.T) {
	h := Report{Ops: 10, Linearizable: true, StaleViolations: 1, Violations: []string{"s"}, Files: []string{"h"}}
	f := Report{Ops: 10, Linearizable: true, LostWrites: 2, LogDivergence: 3, Violations: []string{"l"}, Files: []string{"h", "l"}}
	m := Merge(h, f)
	if m.Ops != 10 || !m.Linearizable || m.StaleViolations != 1 || m.LostWrites != 2 || m.LogDivergence != 3 {
		t.Fatalf("Merge = %+v", m)
	}
	if strings.Join(m.Violations, ",") != "s,l" || strings.Join(m.Files, ",") != "h,l" {
		t.Fatalf("Merge lines/files = %q %q", m.Violations, m.Files)
	}
	if m.OK() {
		t.Fatal("merged report with problems is OK")
	}
	if !Merge(Report{Linearizable: true}, Report{Linearizable: true}).OK() {
		t.Fatal("merging clean reports is not OK")
	}
	if Merge(Report{Linearizable: true}, Report{Linearizable: false, Unknown: true}).OK() {
		t.Fatal("merging an unknown report is OK")
	}
}
