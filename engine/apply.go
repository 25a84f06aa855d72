package engine

import (
	"fmt"

	"github.com/caskade/caskade/engine/segment"
)

// OpKind says what an Op does.
type OpKind uint8

// The kinds of Op.
const (
	OpPut     OpKind = iota + 1 // store Value under Key (with Expiry if not 0)
	OpDelete                    // delete Key; ErrNotFound if it has no live value
	OpCAS                       // store Value under Key if its offset is Expected
	OpProduce                   // append a keyless record with Value
)

// Op is one write of a batch given to Apply. Its time fields come with it
// (fixed by whoever accepted the write, such as a Raft leader), so that
// every replica applying the same ops writes the same records.
type Op struct {
	Kind      OpKind
	Key       []byte
	Value     []byte
	Expected  uint64 // OpCAS: the key's current offset, 0 for absent
	Timestamp int64  // unix ns: the record's timestamp, and "now" for expiry checks
	Expiry    int64  // OpPut, OpCAS: unix ns; 0 = never
}

// Result is the outcome of one Op: the record's offset, or why nothing was
// written for it (ErrNotFound, a *CASError, or an input error).
type Result struct {
	Offset uint64
	Err    error
}

// Apply performs ops in order as one batch: one append, one keydir update
// and (under SyncAlways) one fsync. Each op sees the effects of the ops
// before it. The outcome depends only on the store's state and the ops —
// expiry is judged at each op's Timestamp, not by the clock — so replicas
// that apply the same ops from the same state end in the same state, with
// the same records at the same offsets. An op that is refused writes
// nothing and does not stop the others. The error is for the batch as a
// whole (the DB is closed or failed, an I/O error): then none of the
// results count.
func (db *DB) Apply(ops []Op) ([]Result, error) {
	res := make([]Result, len(ops))
	var first uint64
	err := db.writeBatch(func(add func(segment.Record)) error {
		if err := db.writable(); err != nil {
			return err
		}
		next := db.log.Next()
		// The batch's own writes, by key, for the ops after them.
		overlay := make(map[string]overlayEntry)
		for i := range ops {
			op := &ops[i]
			r, err := db.prepareOp(op, overlay)
			if err != nil {
				res[i].Err = err
				continue
			}
			res[i].Offset = next
			if len(r.Key) > 0 {
				overlay[string(r.Key)] = overlayEntry{offset: next, live: r.Flags&segment.FlagTombstone == 0, expiry: r.Expiry}
			}
			add(r)
			next++
		}
		return nil
	}, &first)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// overlayEntry is a key's state after an earlier op of the same batch.
type overlayEntry struct {
	offset uint64
	live   bool
	expiry int64
}

// prepareOp checks op against the current state (the keydir, then the
// batch's overlay) and returns the record to append. Caller holds writeMu.
func (db *DB) prepareOp(op *Op, overlay map[string]overlayEntry) (segment.Record, error) {
	if op.Timestamp <= 0 {
		return segment.Record{}, fmt.Errorf("%w: op timestamp %d", ErrBadRange, op.Timestamp)
	}
	if op.Kind != OpProduce {
		if err := db.checkKey(op.Key); err != nil {
			return segment.Record{}, err
		}
	}
	if op.Kind != OpDelete {
		if err := db.checkValue(op.Value); err != nil {
			return segment.Record{}, err
		}
	}
	if op.Expiry < 0 || op.Expiry != 0 && (op.Kind == OpDelete || op.Kind == OpProduce) {
		return segment.Record{}, fmt.Errorf("%w: expiry %d on a %v op", ErrBadRange, op.Expiry, op.Kind)
	}
	r := segment.Record{Timestamp: op.Timestamp, Key: op.Key, Value: op.Value, Expiry: op.Expiry}
	if op.Expiry != 0 {
		r.Flags = segment.FlagExpiry
	}
	switch op.Kind {
	case OpPut:
		return r, nil
	case OpProduce:
		r.Key = nil
		return r, nil
	case OpDelete, OpCAS:
		cur, err := db.currentAt(op.Key, op.Timestamp, overlay)
		if err != nil {
			return segment.Record{}, err
		}
		if op.Kind == OpDelete {
			if cur == 0 {
				return segment.Record{}, ErrNotFound
			}
			return segment.Record{Timestamp: op.Timestamp, Key: op.Key, Flags: segment.FlagTombstone}, nil
		}
		if cur != op.Expected {
			return segment.Record{}, &CASError{Expected: op.Expected, Current: cur}
		}
		return r, nil
	}
	return segment.Record{}, fmt.Errorf("%w: unknown op kind %d", ErrBadRange, op.Kind)
}

// currentAt returns the offset of key's live value at time now (0 if
// none), looking at the batch's overlay first. Caller holds writeMu.
func (db *DB) currentAt(key []byte, now int64, overlay map[string]overlayEntry) (uint64, error) {
	if o, ok := overlay[string(key)]; ok {
		if !o.live || o.expiry != 0 && o.expiry <= now {
			return 0, nil
		}
		return o.offset, nil
	}
	return db.liveAt(key, now)
}

// String names the op kind.
func (k OpKind) String() string {
	switch k {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpCAS:
		return "cas"
	case OpProduce:
		return "produce"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}
