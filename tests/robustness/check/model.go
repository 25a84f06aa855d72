package check

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/caskade/caskade/tests/robustness/history"
)

// input is what a client asked for, as porcupine sees one operation of
// one key's partition.
type input struct {
	op       int // the operation's index in the history (for descriptions)
	client   int
	node     string
	kind     history.Kind // Get, Put, Delete or CAS
	key      string
	value    string // Put, CAS
	expected uint64 // CAS
	// minOffset is the least offset this write can have been given:
	// one more than the largest offset some operation observed before
	// this one was called (offsets grow with real time across keys). It
	// bounds the offset of an ambiguous write whose offset no read gave.
	minOffset uint64
	// lostPut: a write of the key whose outcome was lost and whose value
	// nobody read was called before this operation returned, so it may
	// have applied just before this operation, unseen; and, for a CAS,
	// the offset it expects (or, refused, reports) is not one any other
	// record is known to hold, so it may be that write's.
	lostPut bool
	// lostDelete: a delete of the key whose outcome was lost was called
	// before this operation returned, so it may have applied just before.
	lostDelete bool
}

// output is what the client was answered.
type output struct {
	// ambiguous: a write whose outcome was lost but whose value a read
	// returned: it was applied, by that read's return. Offset is the one
	// the read saw, if it said.
	ambiguous bool
	// mismatch: a CAS refused with FAILED_PRECONDITION; current holds
	// the key's offset the server reported (0: absent).
	mismatch bool
	current  uint64
	found    bool   // Get: the key had a value
	value    string // Get: the value read
	// offset is a write's offset or a Get's record offset; 0 when not
	// known (an ambiguous write read without an offset, a Get of an
	// absent key).
	offset uint64
}

// state is one key's register. It is a comparable value, so porcupine's
// cache may compare states with ==.
type state struct {
	present bool   // the key has a live value
	value   string // the live value, when present and not lost
	// lost: the live value was written by a write whose outcome was
	// lost and that no read saw (so no read may see it now).
	lost bool
	// off is the live record's offset when present and known; 0 when
	// the record was written by an ambiguous write no read gave the
	// offset of. Absent keys have offset 0 in CAS terms.
	off uint64
	// lo is the least offset the live record can have while off is 0.
	lo uint64
	// next is the least offset the key's next write may get: offsets
	// strictly increase, so each write's offset exceeds those of all
	// writes of the key linearized before it.
	// Invariant: next > off and, while off is 0 and present, next > lo.
	next uint64
}

// initState is every key's state before the run: absent, and offsets
// start at 1.
var initState = state{next: 1}

// step is the sequential specification of one key of the store (see
// DESIGN.md §2 and engine's CompareAndSwap and Delete): it reports
// whether a call with in could have answered out in state s, and the
// state after it. It is pure.
//
// Ambiguous writes that a read saw are operations of their own, applied
// (out.ambiguous). Those nobody saw are not: porcupine would try every
// subset of them at every point of the history, forever pending as they
// are. Their only possible effects are the ones no read shows: a value
// nobody read (which a Delete may find, and a CAS may find at an offset
// no other record holds) or a tombstone (which a Get that finds nothing,
// or a CAS expecting absence, may find). The operations that need such
// an effect get it through in.lostPut and in.lostDelete. One lost write
// may thus explain several operations: a weaker check in that corner,
// never a false alarm.
func step(s state, in *input, out *output) (bool, state) {
	switch in.kind {
	case history.Get:
		if !out.found {
			return s.absent(in)
		}
		if !s.present || s.lost || s.value != out.value {
			return false, s
		}
		if out.offset == 0 {
			return true, s
		}
		return s.fix(out.offset)
	case history.Put:
		return s.write(true, in.value, in, out)
	case history.Delete:
		// The engine refuses to delete a key with no live value
		// (NOT_FOUND, nothing written): an acknowledged delete found
		// one.
		d := s
		if !s.present {
			if !in.lostPut {
				return false, s
			}
			d = state{present: true, lost: true, lo: s.next, next: s.next + 1}
		}
		if ok, n := d.write(false, "", in, out); ok {
			return true, n
		}
		return false, s
	case history.CAS:
		if out.mismatch {
			// A refusal reads the key: its current offset, which is
			// not what the call expected.
			if out.current == in.expected {
				return false, s
			}
			if out.current == 0 {
				return s.absent(in)
			}
			return s.foundAt(out.current, in)
		}
		held, s2 := s.holds(in)
		if !held {
			return false, s
		}
		if ok, n := s2.write(true, in.value, in, out); ok {
			return true, n
		}
	}
	return false, s
}

// absent reports whether the key can be absent, and the state that
// knows it: it is, or a lost delete removed it.
func (s state) absent(in *input) (bool, state) {
	switch {
	case !s.present:
		return true, s
	case in.lostDelete:
		return true, state{next: s.next + 1}
	}
	return false, s
}

// foundAt reports whether the key's live record can be at offset o
// (not 0), and the state that knows it: the live record's, or that of a
// lost write nobody read.
func (s state) foundAt(o uint64, in *input) (bool, state) {
	if ok, n := s.fix(o); ok {
		return true, n
	}
	if in.lostPut && o >= s.next {
		return true, state{present: true, lost: true, off: o, next: o + 1}
	}
	return false, s
}

// fix reports whether the live record can be at offset o, and the state
// with its offset known to be o.
func (s state) fix(o uint64) (bool, state) {
	if !s.present {
		return false, s
	}
	if s.off != 0 {
		return s.off == o, s
	}
	if o < s.lo {
		return false, s
	}
	s.off, s.lo = o, 0
	s.next = max(s.next, o+1)
	return true, s
}

// holds reports whether a CAS finds its precondition true, and the state
// that knows it.
func (s state) holds(in *input) (bool, state) {
	if in.expected == 0 {
		return s.absent(in)
	}
	return s.foundAt(in.expected, in)
}

// write applies a write that stores value (present) or a tombstone
// (!present), at out.offset when known, else at an offset at least
// next and in.minOffset.
func (s state) write(present bool, value string, in *input, out *output) (bool, state) {
	n := state{present: present, value: value}
	if o := out.offset; o != 0 {
		if o < s.next {
			return false, s
		}
		n.next = o + 1
		if present {
			n.off = o
		}
		return true, n
	}
	lo := max(s.next, in.minOffset)
	n.next = lo + 1
	if present {
		n.lo = lo
	}
	return true, n
}

// String describes the state for the visualization.
func (s state) String() string {
	switch {
	case !s.present:
		return fmt.Sprintf("absent (next offset ≥ %d)", s.next)
	case s.lost && s.off == 0:
		return fmt.Sprintf("a lost write's value@? (offset ≥ %d)", s.lo)
	case s.lost:
		return fmt.Sprintf("a lost write's value@%d", s.off)
	case s.off == 0:
		return fmt.Sprintf("%q@? (offset ≥ %d)", s.value, s.lo)
	}
	return fmt.Sprintf("%q@%d", s.value, s.off)
}

// describe renders one call and its answer, as the visualization and
// the violation lines show it.
func describe(in *input, out *output) string {
	var b strings.Builder
	switch in.kind {
	case history.Get:
		fmt.Fprintf(&b, "get(%q) → ", in.key)
		switch {
		case !out.found && in.lostDelete:
			b.WriteString("absent (after a lost delete?)")
		case !out.found:
			b.WriteString("absent")
		case out.offset == 0:
			fmt.Fprintf(&b, "%q", out.value)
		default:
			fmt.Fprintf(&b, "%q@%d", out.value, out.offset)
		}
		return b.String()
	case history.Put:
		fmt.Fprintf(&b, "put(%q, %q)", in.key, in.value)
	case history.Delete:
		fmt.Fprintf(&b, "delete(%q)", in.key)
	case history.CAS:
		fmt.Fprintf(&b, "cas(%q, expect %d, %q)", in.key, in.expected, in.value)
	default:
		return fmt.Sprintf("%v(%q)", in.kind, in.key)
	}
	switch {
	case out.mismatch:
		if out.current == 0 {
			b.WriteString(" ✗ key absent")
		} else {
			fmt.Fprintf(&b, " ✗ key at %d", out.current)
		}
	case out.ambiguous && out.offset != 0:
		fmt.Fprintf(&b, " → ? (read at %d)", out.offset)
	case out.ambiguous:
		b.WriteString(" → ? (read)")
	case out.offset != 0:
		fmt.Fprintf(&b, " → %d", out.offset)
	default:
		b.WriteString(" → ok")
	}
	switch {
	case in.lostPut && in.lostDelete:
		b.WriteString(" (after a lost write or delete?)")
	case in.lostPut:
		b.WriteString(" (after a lost write?)")
	case in.lostDelete:
		b.WriteString(" (after a lost delete?)")
	}
	return b.String()
}

// hashSeed seeds state hashes; any seed will do within one process.
var hashSeed = maphash.MakeSeed()

// model is the porcupine model of the store: a register per key,
// partitioned by key.
var model = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return initState },
	Step: func(s, in, out any) (bool, any) {
		return step(s.(state), in.(*input), out.(*output))
	},
	Equal: func(a, b any) bool { return a.(state) == b.(state) },
	Hash: func(v any) uint64 {
		s := v.(state)
		var h maphash.Hash
		h.SetSeed(hashSeed)
		h.WriteString(s.value)
		var buf [26]byte
		binary.LittleEndian.PutUint64(buf[0:], s.off)
		binary.LittleEndian.PutUint64(buf[8:], s.lo)
		binary.LittleEndian.PutUint64(buf[16:], s.next)
		if s.present {
			buf[24] = 1
		}
		if s.lost {
			buf[25] = 1
		}
		h.Write(buf[:])
		return h.Sum64()
	},
	DescribeOperation: func(in, out any) string { return describe(in.(*input), out.(*output)) },
	DescribeState:     func(s any) string { return s.(state).String() },
	DescribeOperationMetadata: func(m any) string {
		in, ok := m.(*input)
		if !ok {
			return ""
		}
		if in.node == "" {
			return fmt.Sprintf("history op #%d, client %d", in.op, in.client)
		}
		return fmt.Sprintf("history op #%d, client %d, node %s", in.op, in.client, in.node)
	},
}

// partitionByKey splits a history into one partition per key, in the
// order the keys first appear.
func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	idx := make(map[string]int)
	var parts [][]porcupine.Operation
	for _, op := range ops {
		k := op.Input.(*input).key
		i, ok := idx[k]
		if !ok {
			i = len(parts)
			idx[k] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}
