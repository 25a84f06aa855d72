// Package check judges a robustness run's recorded history (package
// history): whether the linearizable operations are linearizable, whether
// stale reads and log reads returned only records that were written, and,
// after the run, whether the nodes' logs kept every acknowledged write and
// agree with each other. It talks to no server; its tests feed it
// synthetic histories.
//
// # The model
//
// Porcupine checks the linearizable operations against a register per
// key (partitioned by key, which keeps the search small). A key's state
// is absent, or a value with the offset of the record holding it, and
// the least offset the key's next write may get. The rules are the
// engine's (DESIGN.md §2, engine.DB.CompareAndSwap and Delete, applied
// the same way by the replicated FSM):
//
//   - Put(v) at offset o: the key holds (v, o). Offsets strictly
//     increase, so o must exceed every offset of the key's earlier writes.
//   - Delete at offset o: only a key with a live value can be deleted
//     (else NOT_FOUND and nothing is written); the key is then absent,
//     and its current offset is 0 again: CAS(expected 0) succeeds after a
//     delete. The tombstone's offset still moves the least next offset.
//   - CAS(e, v) at offset o: writes only if the key's current offset
//     (0 when absent) is e. A refusal (FAILED_PRECONDITION) reports the
//     current offset, which must differ from e; the model requires the
//     state to have exactly that offset.
//   - Get: returns the value and its record's offset, or not found.
//   - An ambiguous write (timeout, lost connection) may take effect at
//     any time after its call, or never. One whose value a read returned
//     did take effect, by that read's return, at the offset the read saw:
//     porcupine gets it as an operation with that return. One nobody read
//     is not given to porcupine (pending forever, it would make the search
//     exponential: every subset of them at every point); instead an
//     operation that can only be explained by it may assume it applied
//     just before, unseen: a Delete may find a value nobody read, a CAS
//     may find the key at an offset no other record holds, and a Get or
//     CAS may find the key absent after an ambiguous Delete. One lost
//     write may so explain more than one operation: a blind spot, never a
//     false alarm.
//
// Offsets also grow with real time across keys: a write called after an
// operation returned having seen offset m gets an offset above m. That is
// checked outside porcupine (which sees one key at a time) and gives the
// lower bound of an ambiguous write's offset.
//
// Stale reads (any replica's local state) may be old, but not invented:
// a stale Get returns a value some write of that key wrote (not one that
// failed), called before the read returned, at the offset that write was
// acknowledged at. Not found is always allowed: every key is absent
// before its first write, and a stale read may be that old. Consume
// (any consistency) is checked the same way, and must not skip a record
// that nothing superseded (compaction drops only superseded records).
//
// # What the history must hold
//
// Call and Return times from one monotonic clock; a value unique to each
// Put or CAS; no TTLs and no keyless Produce (no client op writes them);
// a failed CAS is read as a FAILED_PRECONDITION refusal when Current is
// set or its Err carries the client's "compare-and-swap mismatch" text
// (any other failed CAS constrains nothing). Final also assumes the logs
// were read after the cluster settled and TombstoneRetention is longer
// than the run.
//
// # Using it
//
// History checks a run's operations, Final the nodes' logs read back after
// it, Merge combines the two reports. All three are pure functions, safe
// for concurrent use.
package check
