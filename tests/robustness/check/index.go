package check

import (
	"fmt"
	"math"
	"time"

	"github.com/caskade/caskade/tests/robustness/history"
)

// never is a time after every other: the return of an operation that
// never answered.
const never = time.Duration(math.MaxInt64)

// record is the content of one log record, as a write, a read or a
// node's log shows it.
type record struct {
	key   string // "" for a keyless record
	value string // "" for a tombstone
	tomb  bool
}

// at describes the record at offset o.
func (r record) at(o uint64) string {
	switch {
	case r.key == "":
		return fmt.Sprintf("keyless %q@%d", r.value, o)
	case r.tomb:
		return fmt.Sprintf("%q=tombstone@%d", r.key, o)
	}
	return fmt.Sprintf("%q=%q@%d", r.key, r.value, o)
}

// recordOf returns the record an OK operation wrote or read.
func recordOf(op history.Op) record {
	switch op.Kind {
	case history.Put, history.CAS:
		return record{key: op.Key, value: op.Value}
	case history.Delete:
		return record{key: op.Key, tomb: true}
	case history.Get:
		return record{key: op.Key, value: op.Got}
	case history.Consume:
		if op.Tombstone {
			return record{key: op.GotKey, tomb: true}
		}
		return record{key: op.GotKey, value: op.Got}
	}
	return record{}
}

// fromLog returns a node log record's content.
func fromLog(r history.Record) record {
	if r.Tombstone {
		return record{key: r.Key, tomb: true}
	}
	return record{key: r.Key, value: r.Value}
}

// index is what both checks look up in a history: which operations are
// usable, which write wrote each value, and which writes were
// acknowledged at each offset.
type index struct {
	ops   []history.Op
	valid []bool // the operation is well formed; others are skipped

	byValue map[string]int   // a Put's or CAS's value → its operation
	deletes map[string][]int // key → its deletes that may have applied (OK or Ambiguous)
	okAt    map[uint64]int   // offset → the OK write acknowledged at it
}

// newIndex validates ops and indexes them, reporting malformed
// operations to p.
func newIndex(ops []history.Op, p *problems) *index {
	x := &index{
		ops:     ops,
		valid:   make([]bool, len(ops)),
		byValue: make(map[string]int, len(ops)),
		deletes: make(map[string][]int),
		okAt:    make(map[uint64]int, len(ops)),
	}
	for i, op := range ops {
		if why := malformed(op); why != "" {
			p.addf("history: %s: %s", opString(i, op), why)
			continue
		}
		if op.Kind == history.Put || op.Kind == history.CAS {
			if j, dup := x.byValue[op.Value]; dup {
				p.addf("history: %s writes the value of %s: values must be unique per write", opString(i, op), opString(j, ops[j]))
				continue
			}
			x.byValue[op.Value] = i
		}
		x.valid[i] = true
		if op.Kind == history.Delete && op.Outcome != history.Failed {
			x.deletes[op.Key] = append(x.deletes[op.Key], i)
		}
		if op.Kind.IsWrite() && op.Outcome == history.OK && op.Offset != 0 {
			if j, dup := x.okAt[op.Offset]; dup {
				p.addf("offset %d acknowledged twice: to %s and to %s", op.Offset, opString(j, ops[j]), opString(i, op))
				continue
			}
			x.okAt[op.Offset] = i
		}
	}
	return x
}

// malformed says what is wrong with op, or "" if nothing is.
func malformed(op history.Op) string {
	switch {
	case op.Kind < history.Put || op.Kind > history.Consume:
		return "unknown kind"
	case op.Outcome < history.OK || op.Outcome > history.Ambiguous:
		return "unknown outcome"
	case op.Outcome != history.Ambiguous && op.Return < op.Call:
		return "returned before it was called"
	case op.Kind != history.Consume && op.Key == "":
		return "no key"
	case op.Kind == history.Get && op.Outcome == history.OK && !op.Found && op.Offset != 0:
		return "a get that found no value returned an offset"
	case op.Kind == history.Consume && op.Outcome == history.OK && op.Offset == 0:
		return "a consume returned no offset"
	}
	return ""
}

// ok reports whether operation i is valid and succeeded.
func (x *index) ok(i int) bool { return x.valid[i] && x.ops[i].Outcome == history.OK }

// explain says why no client write can have produced r at offset o
// (0: not known) by time by, or returns "" when one can.
func (x *index) explain(r record, o uint64, by time.Duration) string {
	switch {
	case r.key == "":
		return "no client writes keyless records"
	case r.tomb:
		for _, d := range x.deletes[r.key] {
			op := x.ops[d]
			if op.Call > by {
				continue
			}
			if op.Outcome == history.Ambiguous || o == 0 || op.Offset == 0 || op.Offset == o {
				return ""
			}
		}
		return fmt.Sprintf("no delete of %q called by %v was acknowledged at offset %d or left ambiguous", r.key, by, o)
	}
	w, ok := x.byValue[r.value]
	if !ok {
		return "no client ever wrote that value"
	}
	op := x.ops[w]
	switch {
	case op.Key != r.key:
		return fmt.Sprintf("the value was written to key %q by %s", op.Key, opString(w, op))
	case op.Outcome == history.Failed:
		return fmt.Sprintf("its write failed, so it was never applied: %s", opString(w, op))
	case op.Call > by:
		return fmt.Sprintf("it comes from the future: its write was called at %v, after %v: %s", op.Call, by, opString(w, op))
	case op.Outcome == history.OK && o != 0 && op.Offset != 0 && op.Offset != o:
		return fmt.Sprintf("its write was acknowledged at offset %d: %s", op.Offset, opString(w, op))
	}
	return ""
}
