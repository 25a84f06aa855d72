package check

import (
	"os"
	"strings"
	"testing"

	"github.com/caskade/caskade/tests/robustness/history"
)

func TestFinal(t *testing.T) {
	// A run: k written three times and deleted, j once, an ambiguous
	// write to m that applied and one to n that did not.
	ops := []history.Op{
		put(1, "k", "a", 0, 10, 1),
		put(1, "j", "b", 20, 30, 2),
		put(1, "k", "c", 40, 50, 3),
		ambiguous(put(2, "m", "d", 45, 0, 0)), // applied at 4
		cas(1, "k", 3, "e", 60, 70, 5),
		ambiguous(put(3, "n", "f", 75, 0, 0)), // never applied
		staleGet(4, "k", 80, 90, "c", 3),
		consume(4, 4, 80, 90, "m", "d", 4),
		del(1, "k", 100, 110, 6),
	}
	full := []history.Record{rec(1, "k", "a"), rec(2, "j", "b"), rec(3, "k", "c"), rec(4, "m", "d"), rec(5, "k", "e"), tomb(6, "k")}
	compacted := []history.Record{rec(2, "j", "b"), rec(4, "m", "d"), tomb(6, "k")} // k's values superseded
	without := func(recs []history.Record, off uint64) []history.Record {
		var out []history.Record
		for _, r := range recs {
			if r.Offset != off {
				out = append(out, r)
			}
		}
		return out
	}
	with := func(recs []history.Record, r history.Record) []history.Record {
		out := append([]history.Record(nil), without(recs, r.Offset)...)
		for i := range out {
			if out[i].Offset > r.Offset {
				return append(out[:i], append([]history.Record{r}, out[i:]...)...)
			}
		}
		return append(out, r)
	}

	type want struct {
		lost, divergent int
		says            string // a violation line contains it; "" = OK
	}
	tests := []struct {
		name string
		ops  []history.Op // nil: ops
		logs []history.NodeLog
		want want
	}{
		{name: "agree, one compacted", logs: []history.NodeLog{
			nodeLog("n1", 7, full...), nodeLog("n2", 7, compacted...), nodeLog("n3", 7, full...),
		}},
		{name: "ambiguous write left out", ops: append(ops[:len(ops):len(ops)], ambiguous(put(5, "z", "g", 120, 0, 0))), logs: []history.NodeLog{
			nodeLog("n1", 7, full...), nodeLog("n2", 7, full...),
		}},
		{name: "lost acknowledged write", want: want{lost: 1, says: `lost write: op #1 (client 1) put("j", "b")`}, logs: []history.NodeLog{
			nodeLog("n1", 7, full...), nodeLog("n2", 7, without(full, 2)...),
		}},
		{name: "lost acknowledged tombstone", want: want{lost: 1, says: `delete("k")`}, logs: []history.NodeLog{
			nodeLog("n1", 7, full...), nodeLog("n2", 7, without(full, 6)...),
		}},
		{name: "node behind", want: want{lost: 1, says: "its log ends at 6"}, logs: []history.NodeLog{
			nodeLog("n1", 7, full...), nodeLog("n2", 6, without(full, 6)...),
		}},
		{name: "divergent record", want: want{divergent: 1, says: "divergence at offset 4"}, ops: append(ops[:len(ops):len(ops)], ambiguous(put(5, "m", "g", 40, 0, 0))), logs: []history.NodeLog{
			nodeLog("n1", 7, full...), nodeLog("n2", 7, with(full, rec(4, "m", "g"))...),
		}},
		{name: "committed record missing from a node", want: want{divergent: 1, says: "nodes n2 neither hold it"}, logs: []history.NodeLog{
			nodeLog("n1", 7, full...), nodeLog("n2", 7, without(full, 4)...),
		}},
		{name: "value never written", want: want{says: "no client ever wrote"}, logs: []history.NodeLog{
			nodeLog("n1", 8, append(full[:6:6], rec(7, "k", "zzz"))...),
		}},
		{name: "failed write applied", ops: append(ops[:len(ops):len(ops)], failed(put(5, "k", "g", 120, 130, 0))), want: want{says: "its write failed"}, logs: []history.NodeLog{
			nodeLog("n1", 8, append(full[:6:6], rec(7, "k", "g"))...),
		}},
		{name: "write at another offset", want: want{says: "acknowledged at offset 2"}, logs: []history.NodeLog{
			nodeLog("n1", 8, append(without(full, 2), rec(7, "j", "b"))...),
		}},
		{name: "write applied twice", ops: append(ops[:len(ops):len(ops)], ambiguous(put(5, "q", "g", 120, 0, 0))), want: want{says: "applied twice"}, logs: []history.NodeLog{
			nodeLog("n1", 9, append(full[:6:6], rec(7, "q", "g"), rec(8, "q", "g"))...),
		}},
		{name: "tombstone nothing deleted", want: want{says: `tombstones of "j"`}, logs: []history.NodeLog{
			nodeLog("n1", 8, append(full[:6:6], tomb(7, "j"))...),
		}},
		{name: "tombstone of an ambiguous delete", ops: append(ops[:len(ops):len(ops)], ambiguous(del(5, "j", 120, 0, 0))), logs: []history.NodeLog{
			nodeLog("n1", 8, append(full[:6:6], tomb(7, "j"))...),
		}},
		{name: "more tombstones than deletes", ops: append(ops[:len(ops):len(ops)], ambiguous(del(5, "j", 120, 0, 0))), want: want{says: "only 1 deletes"}, logs: []history.NodeLog{
			nodeLog("n1", 9, append(full[:6:6], tomb(7, "j"), tomb(8, "j"))...),
		}},
		{name: "keyless record", want: want{says: "keyless"}, logs: []history.NodeLog{
			nodeLog("n1", 8, append(full[:6:6], rec(7, "", "x"))...),
		}},
		{name: "read record lost", ops: append(ops[:len(ops):len(ops)], ambiguous(put(5, "q", "g", 120, 0, 0)), staleGet(6, "q", 130, 140, "g", 7)), want: want{lost: 1, says: "have lost"}, logs: []history.NodeLog{
			nodeLog("n1", 8, full...),
		}},
		{name: "read record held differently", ops: append(ops[:len(ops):len(ops)], ambiguous(put(5, "q", "g", 120, 0, 0)), staleGet(6, "q", 130, 140, "g", 7)), want: want{says: "holds differently"}, logs: []history.NodeLog{
			nodeLog("n1", 9, append(full[:6:6], rec(7, "q", "h"), rec(8, "q", "g"))...),
		}},
		{name: "records out of order", want: want{says: "must strictly increase"}, logs: []history.NodeLog{
			nodeLog("n1", 7, append([]history.Record{full[1], full[0]}, full[2:]...)...),
		}},
		{name: "record past the high-water mark", want: want{says: "past the high-water mark"}, logs: []history.NodeLog{
			nodeLog("n1", 6, full...),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.ops
			if o == nil {
				o = ops
			}
			if h := History(o, Options{}); !h.OK() {
				t.Fatalf("the history itself fails: %v", h)
			}
			r := Final(o, tt.logs, Options{})
			if r.LostWrites != tt.want.lost || r.LogDivergence != tt.want.divergent {
				t.Errorf("lost %d, divergent %d; want %d, %d\n%v", r.LostWrites, r.LogDivergence, tt.want.lost, tt.want.divergent, r)
			}
			if r.OK() != (tt.want.says == "") {
				t.Fatalf("OK() = %t\n%v", r.OK(), r)
			}
			if tt.want.says != "" && !containsLine(r.Violations, tt.want.says) {
				t.Errorf("no violation says %q\n%v", tt.want.says, r)
			}
			if !r.Linearizable || r.Unknown || r.StaleViolations != 0 {
				t.Errorf("Final set History's fields\n%v", r)
			}
		})
	}
}

func TestFinal_WritesResultsOnViolation(t *testing.T) {
	dir := t.TempDir()
	ops := []history.Op{put(1, "k", "a", 0, 10, 1)}
	logs := []history.NodeLog{nodeLog("n1", 2, rec(1, "k", "a")), nodeLog("n2", 1)}
	r := Final(ops, logs, Options{ResultsDir: dir, Name: "seed-3"})
	if r.LostWrites != 1 {
		t.Fatalf("LostWrites = %d, want 1\n%v", r.LostWrites, r)
	}
	if len(r.Files) != 2 || !strings.HasSuffix(r.Files[0], "seed-3-history.jsonl") || !strings.HasSuffix(r.Files[1], "seed-3-logs.jsonl") {
		t.Fatalf("Files = %q", r.Files)
	}
	data, err := os.ReadFile(r.Files[1])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(data), "\n") != 2 || !strings.Contains(string(data), `"Node":"n2"`) {
		t.Fatalf("logs file:\n%s", data)
	}
	h := History(ops, Options{ResultsDir: dir, Name: "seed-3"})
	if m := Merge(h, r); len(m.Files) != 2 {
		t.Fatalf("merged files = %q, want the history once and the logs", m.Files)
	}
}
