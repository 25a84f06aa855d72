// Package history records what the robustness suite's clients did: one
// Op per call, with the times it was issued and answered and what it
// returned. The traffic generator (package robustness) writes a History;
// the checker (package check) reads it. Nothing here talks to a server.
package history

import (
	"sync"
	"time"
)

// Kind is the operation a client issued.
type Kind int

// Operation kinds.
const (
	Put     Kind = iota + 1 // KV.Put(Key, Value)
	Get                     // KV.Get(Key) at Consistency
	Delete                  // KV.Delete(Key)
	CAS                     // KV.CompareAndSwap(Key, Expected, Value)
	Consume                 // Log.Consume(Offset) at Consistency
)

// String returns the kind's lower-case name.
func (k Kind) String() string {
	switch k {
	case Put:
		return "put"
	case Get:
		return "get"
	case Delete:
		return "delete"
	case CAS:
		return "cas"
	case Consume:
		return "consume"
	}
	return "unknown"
}

// IsWrite reports whether the kind changes the store.
func (k Kind) IsWrite() bool { return k == Put || k == Delete || k == CAS }

// Consistency is a read's consistency level.
type Consistency int

// Consistency levels; writes use Linearizable.
const (
	Linearizable Consistency = iota
	Stale
)

// String returns "linearizable" or "stale".
func (c Consistency) String() string {
	if c == Stale {
		return "stale"
	}
	return "linearizable"
}

// Outcome says how a call ended.
type Outcome int

// Outcomes.
const (
	// OK: the call succeeded; the result fields hold what it returned.
	OK Outcome = iota + 1
	// Failed: the call definitely did not take effect (for example a CAS
	// refused with FAILED_PRECONDITION, a read that got an error, or a write
	// refused before it was sent). A failed read constrains nothing.
	Failed
	// Ambiguous: a write that may or may not have been applied (timeout,
	// connection lost after sending, ErrWriteUnknown). The checker treats
	// it as possibly applied at any time after Call, and the client that
	// issued it continues as a new process (a new Client id).
	Ambiguous
)

// String returns the outcome's lower-case name.
func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Failed:
		return "failed"
	case Ambiguous:
		return "ambiguous"
	}
	return "unknown"
}

// Op is one call and its answer. Values are unique per write across a
// run, so a read's value names the write it observed.
type Op struct {
	Client int    // logical process: a new id after an Ambiguous op
	Node   string // the node the call was sent to (its ID); "" when routed by the client
	Kind   Kind
	Key    string // Put/Get/Delete/CAS
	Value  string // Put/CAS: the value written
	// Expected is CAS's expected offset (0: the key must be absent).
	Expected uint64
	// From is Consume's requested offset.
	From        uint64
	Consistency Consistency

	Call   time.Duration // since the run began, when the call was issued
	Return time.Duration // since the run began, when it returned (meaningless when Ambiguous)

	Outcome Outcome
	Err     string // the error text when not OK

	// Results when OK.
	// Offset: a write's offset; a Get's record offset (0 when not found);
	// a Consume's record offset.
	Offset uint64
	Found  bool   // Get: the key had a value
	Got    string // Get: the value read; Consume: the record's value
	GotKey string // Consume: the record's key ("" for a keyless record)
	// Tombstone: Consume returned a delete record.
	Tombstone bool
	// Current is, for a CAS refused with FAILED_PRECONDITION (Outcome
	// Failed), the key's current offset the server reported.
	Current uint64
}

// History is the ordered list of operations of one run; safe for
// concurrent Add.
type History struct {
	mu  sync.Mutex // guards ops
	ops []Op
}

// Add appends op.
func (h *History) Add(op Op) {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	h.mu.Unlock()
}

// Ops returns a copy of the operations in the order they were added.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Op(nil), h.ops...)
}

// Len returns the number of operations.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// Record is one record of a node's log, as read back after a run.
type Record struct {
	Offset    uint64
	Key       string // "" for a keyless record
	Value     string
	Tombstone bool
}

// NodeLog is a node's whole log, consumed from offset 0 (STALE, from that
// node alone) after a run, once the cluster has settled.
type NodeLog struct {
	Node    string
	Records []Record // in offset order
	Next    uint64   // the node's high-water mark (next offset)
}
