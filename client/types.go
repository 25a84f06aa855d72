package client

import (
	"time"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// Item is a key's live value.
type Item struct {
	Key       []byte
	Value     []byte    // nil in a keys-only scan
	Offset    uint64    // offset of the record holding the value: what CompareAndSwap expects
	Timestamp time.Time // when the value was written; zero when unknown
	Expiry    time.Time // when the key reads as absent; zero: never
}

// RecordType says what a record of the log is.
type RecordType int

// Record types.
const (
	RecordPut       RecordType = iota + 1 // a keyed record holding the key's value
	RecordTombstone                       // a keyed record that deletes its key
	RecordMessage                         // a keyless record (Produce)
)

// String returns "put", "tombstone" or "message".
func (t RecordType) String() string {
	switch t {
	case RecordPut:
		return "put"
	case RecordTombstone:
		return "tombstone"
	case RecordMessage:
		return "message"
	}
	return "unknown"
}

// Record is one entry of the log.
type Record struct {
	Offset    uint64
	Type      RecordType
	Key       []byte // empty for a message
	Value     []byte // empty for a tombstone
	Timestamp time.Time
	Expiry    time.Time // zero: never expires
}

// Consistency is the consistency level of a read.
type Consistency int

// Consistency levels.
const (
	// ConsistencyLinearizable reads see every write acknowledged before
	// they began (served by the leader). The default.
	ConsistencyLinearizable Consistency = iota
	// ConsistencyStale reads are served by any replica from its local
	// state: fastest, and possibly behind the leader.
	ConsistencyStale
)

func (c Consistency) proto() caskadev1.Consistency {
	if c == ConsistencyStale {
		return caskadev1.Consistency_STALE
	}
	return caskadev1.Consistency_LINEARIZABLE
}

// unixTime converts unix nanoseconds from the wire; 0 is the zero Time.
func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// itemFromProto converts an item; its Value is nil only when keysOnly
// (the wire does not tell an empty value from an absent one).
func itemFromProto(p *caskadev1.Item, keysOnly bool) Item {
	return Item{
		Key:       p.GetKey(),
		Value:     nonNil(p.GetValue(), !keysOnly),
		Offset:    p.GetOffset(),
		Timestamp: unixTime(p.GetTimestampUnixNano()),
		Expiry:    unixTime(p.GetExpiryUnixNano()),
	}
}

// recordFromProto converts a record; Value is nil only for a tombstone.
func recordFromProto(p *caskadev1.Record) Record {
	r := Record{
		Offset:    p.GetOffset(),
		Key:       p.GetKey(),
		Value:     nonNil(p.GetValue(), p.GetType() != caskadev1.RecordType_TOMBSTONE),
		Timestamp: unixTime(p.GetTimestampUnixNano()),
		Expiry:    unixTime(p.GetExpiryUnixNano()),
	}
	switch p.GetType() {
	case caskadev1.RecordType_PUT:
		r.Type = RecordPut
	case caskadev1.RecordType_TOMBSTONE:
		r.Type = RecordTombstone
	case caskadev1.RecordType_MESSAGE:
		r.Type = RecordMessage
	}
	return r
}

// nonNil returns b, or an empty slice for a nil b when want.
func nonNil(b []byte, want bool) []byte {
	if b == nil && want {
		return []byte{}
	}
	return b
}
