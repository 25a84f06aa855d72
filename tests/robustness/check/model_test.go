package check

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/tests/robustness/history"
)

func TestStep(t *testing.T) {
	absent := state{next: 1}
	at := func(v string, off uint64) state { return state{present: true, value: v, off: off, next: off + 1} }
	unknownAt := func(v string, lo uint64) state { return state{present: true, value: v, lo: lo, next: lo + 1} }
	gone := func(next uint64) state { return state{next: next} }
	tests := []struct {
		name string
		s    state
		in   input
		out  output
		ok   bool
		want state // checked when ok
	}{
		{name: "get absent", s: absent, in: input{kind: history.Get}, out: output{}, ok: true, want: absent},
		{name: "get absent finds value", s: absent, in: input{kind: history.Get}, out: output{found: true, value: "a", offset: 1}},
		{name: "get present", s: at("a", 3), in: input{kind: history.Get}, out: output{found: true, value: "a", offset: 3}, ok: true, want: at("a", 3)},
		{name: "get present without offset", s: at("a", 3), in: input{kind: history.Get}, out: output{found: true, value: "a"}, ok: true, want: at("a", 3)},
		{name: "get wrong value", s: at("a", 3), in: input{kind: history.Get}, out: output{found: true, value: "b", offset: 3}},
		{name: "get wrong offset", s: at("a", 3), in: input{kind: history.Get}, out: output{found: true, value: "a", offset: 4}},
		{name: "get present finds nothing", s: at("a", 3), in: input{kind: history.Get}, out: output{}},
		{name: "get fixes unknown offset", s: unknownAt("a", 5), in: input{kind: history.Get}, out: output{found: true, value: "a", offset: 9}, ok: true, want: at("a", 9)},
		{name: "get unknown offset below bound", s: unknownAt("a", 5), in: input{kind: history.Get}, out: output{found: true, value: "a", offset: 4}},

		{name: "put", s: absent, in: input{kind: history.Put, value: "a"}, out: output{offset: 1}, ok: true, want: at("a", 1)},
		{name: "put overwrites", s: at("a", 3), in: input{kind: history.Put, value: "b"}, out: output{offset: 7}, ok: true, want: at("b", 7)},
		{name: "put offset must grow", s: at("a", 3), in: input{kind: history.Put, value: "b"}, out: output{offset: 3}},
		{name: "put offset must grow past tombstone", s: gone(8), in: input{kind: history.Put, value: "b"}, out: output{offset: 7}},
		{name: "put after unknown needs room", s: unknownAt("a", 5), in: input{kind: history.Put, value: "b"}, out: output{offset: 5}},
		{name: "put after unknown", s: unknownAt("a", 5), in: input{kind: history.Put, value: "b"}, out: output{offset: 6}, ok: true, want: at("b", 6)},
		{name: "ambiguous put read", s: at("a", 3), in: input{kind: history.Put, value: "b", minOffset: 2}, out: output{ambiguous: true}, ok: true, want: unknownAt("b", 4)},
		{name: "ambiguous put read after global bound", s: at("a", 3), in: input{kind: history.Put, value: "b", minOffset: 10}, out: output{ambiguous: true}, ok: true, want: unknownAt("b", 10)},
		{name: "ambiguous put read at offset", s: at("a", 3), in: input{kind: history.Put, value: "b"}, out: output{ambiguous: true, offset: 6}, ok: true, want: at("b", 6)},

		{name: "delete", s: at("a", 3), in: input{kind: history.Delete}, out: output{offset: 4}, ok: true, want: gone(5)},
		{name: "delete absent", s: absent, in: input{kind: history.Delete}, out: output{offset: 4}},
		{name: "delete offset must grow", s: at("a", 3), in: input{kind: history.Delete}, out: output{offset: 2}},
		{name: "delete after a lost put", s: gone(5), in: input{kind: history.Delete, lostPut: true}, out: output{offset: 6}, ok: true, want: gone(7)},
		{name: "delete after a lost put needs room", s: gone(5), in: input{kind: history.Delete, lostPut: true}, out: output{offset: 5}},

		{name: "cas create", s: absent, in: input{kind: history.CAS, expected: 0, value: "a"}, out: output{offset: 2}, ok: true, want: at("a", 2)},
		{name: "cas create after delete", s: gone(5), in: input{kind: history.CAS, expected: 0, value: "a"}, out: output{offset: 6}, ok: true, want: at("a", 6)},
		{name: "cas expecting tombstone offset", s: gone(5), in: input{kind: history.CAS, expected: 4, value: "a"}, out: output{offset: 6}},
		{name: "cas swap", s: at("a", 3), in: input{kind: history.CAS, expected: 3, value: "b"}, out: output{offset: 4}, ok: true, want: at("b", 4)},
		{name: "cas wrong expected", s: at("a", 3), in: input{kind: history.CAS, expected: 2, value: "b"}, out: output{offset: 4}},
		{name: "cas create on present key", s: at("a", 3), in: input{kind: history.CAS, expected: 0, value: "b"}, out: output{offset: 4}},
		{name: "cas fixes unknown", s: unknownAt("a", 5), in: input{kind: history.CAS, expected: 8, value: "b"}, out: output{offset: 9}, ok: true, want: at("b", 9)},
		{name: "cas expected below unknown bound", s: unknownAt("a", 5), in: input{kind: history.CAS, expected: 4, value: "b"}, out: output{offset: 9}},
		{name: "cas offset above expected", s: unknownAt("a", 5), in: input{kind: history.CAS, expected: 8, value: "b"}, out: output{offset: 8}},
		{name: "ambiguous cas read", s: at("a", 3), in: input{kind: history.CAS, expected: 3, value: "b"}, out: output{ambiguous: true}, ok: true, want: unknownAt("b", 4)},
		{name: "ambiguous cas read without its precondition", s: at("a", 3), in: input{kind: history.CAS, expected: 2, value: "b"}, out: output{ambiguous: true}},
		{name: "cas after a lost put", s: at("a", 3), in: input{kind: history.CAS, expected: 5, value: "b", lostPut: true}, out: output{offset: 6}, ok: true, want: at("b", 6)},
		{name: "cas after a lost put at an old offset", s: at("a", 3), in: input{kind: history.CAS, expected: 3, value: "b", lostPut: true}, out: output{offset: 6}, ok: true, want: at("b", 6)},
		{name: "cas after a lost put below next", s: at("a", 3), in: input{kind: history.CAS, expected: 2, value: "b", lostPut: true}, out: output{offset: 6}},
		{name: "cas create after a lost delete", s: at("a", 3), in: input{kind: history.CAS, expected: 0, value: "b", lostDelete: true}, out: output{offset: 6}, ok: true, want: at("b", 6)},
		{name: "cas create after a lost delete needs room", s: at("a", 3), in: input{kind: history.CAS, expected: 0, value: "b", lostDelete: true}, out: output{offset: 4}},

		{name: "mismatch", s: at("a", 3), in: input{kind: history.CAS, expected: 2}, out: output{mismatch: true, current: 3}, ok: true, want: at("a", 3)},
		{name: "mismatch wrong current", s: at("a", 3), in: input{kind: history.CAS, expected: 2}, out: output{mismatch: true, current: 4}},
		{name: "mismatch but precondition held", s: at("a", 3), in: input{kind: history.CAS, expected: 3}, out: output{mismatch: true, current: 3}},
		{name: "mismatch absent", s: gone(5), in: input{kind: history.CAS, expected: 4}, out: output{mismatch: true, current: 0}, ok: true, want: gone(5)},
		{name: "mismatch absent but present", s: at("a", 3), in: input{kind: history.CAS, expected: 4}, out: output{mismatch: true, current: 0}},
		{name: "mismatch fixes unknown", s: unknownAt("a", 5), in: input{kind: history.CAS, expected: 4}, out: output{mismatch: true, current: 6}, ok: true, want: at("a", 6)},
		{name: "mismatch after a lost put", s: at("a", 3), in: input{kind: history.CAS, expected: 3, lostPut: true}, out: output{mismatch: true, current: 7}, ok: true, want: state{present: true, lost: true, off: 7, next: 8}},
		{name: "mismatch absent after a lost delete", s: at("a", 3), in: input{kind: history.CAS, expected: 3, lostDelete: true}, out: output{mismatch: true, current: 0}, ok: true, want: gone(5)},
		{name: "get absent after a lost delete", s: at("a", 3), in: input{kind: history.Get, lostDelete: true}, out: output{}, ok: true, want: gone(5)},
		{name: "get of a lost write's value", s: state{present: true, lost: true, off: 7, next: 8}, in: input{kind: history.Get}, out: output{found: true, value: "", offset: 7}},
		{name: "delete of a lost write's value", s: state{present: true, lost: true, off: 7, next: 8}, in: input{kind: history.Delete}, out: output{offset: 9}, ok: true, want: gone(10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, out := tt.in, tt.out
			ok, got := step(tt.s, &in, &out)
			if ok != tt.ok {
				t.Fatalf("step(%v, %s) ok = %t, want %t", tt.s, describe(&in, &out), ok, tt.ok)
			}
			if ok && got != tt.want {
				t.Fatalf("step(%v, %s) = %v (%+v), want %v (%+v)", tt.s, describe(&in, &out), got, got, tt.want, tt.want)
			}
			if !ok && got != tt.s {
				t.Fatalf("a refused step changed the state: %+v → %+v", tt.s, got)
			}
		})
	}
}

func TestModelHashAgreesWithEqual(t *testing.T) {
	a := state{present: true, value: "v", off: 3, next: 4}
	b := a
	if !model.Equal(a, b) || model.Hash(a) != model.Hash(b) {
		t.Fatal("equal states must hash alike")
	}
	c := a
	c.next = 5
	if model.Equal(a, c) {
		t.Fatal("states differing in next must differ")
	}
}

// The checker recognizes a CAS refused because the key was absent by the
// client's error text; this keeps the two in step.
func TestCASMismatchText(t *testing.T) {
	for _, e := range []*client.CASError{{Expected: 3}, {Expected: 0, Current: 7}} {
		err := fmt.Errorf("compare-and-swap: %w", e)
		if !errors.Is(err, client.ErrCASMismatch) || !strings.Contains(err.Error(), casMismatchText) {
			t.Fatalf("client CAS error %q does not contain %q", err, casMismatchText)
		}
		op := history.Op{Kind: history.CAS, Outcome: history.Failed, Expected: e.Expected, Current: e.Current, Err: err.Error()}
		if !casMismatch(op) {
			t.Fatalf("casMismatch(%+v) = false", op)
		}
	}
	other := history.Op{Kind: history.CAS, Outcome: history.Failed, Expected: 3, Err: "compare-and-swap: client: unavailable"}
	if casMismatch(other) {
		t.Fatal("an unavailable CAS taken for a mismatch")
	}
}
