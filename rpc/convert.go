package rpc

import (
	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

// itemProto converts a live value. The proto shares the item's slices.
func itemProto(it *engine.Item) *caskadev1.Item {
	return &caskadev1.Item{
		Key:               it.Key,
		Value:             it.Value,
		Offset:            it.Offset,
		TimestampUnixNano: it.Timestamp,
		ExpiryUnixNano:    it.Expiry,
	}
}

// recordProto converts a record of the log. The proto shares the record's
// slices (ReadFrom returns copies the caller owns).
func recordProto(r *engine.Record) *caskadev1.Record {
	return &caskadev1.Record{
		Offset:            r.Offset,
		TimestampUnixNano: r.Timestamp,
		Key:               r.Key,
		Value:             r.Value,
		Type:              recordType(r),
		ExpiryUnixNano:    r.Expiry,
	}
}

// recordType tells a tombstone, a keyed put and a keyless message apart.
func recordType(r *engine.Record) caskadev1.RecordType {
	switch {
	case r.Flags&engine.FlagTombstone != 0:
		return caskadev1.RecordType_TOMBSTONE
	case len(r.Key) == 0:
		return caskadev1.RecordType_MESSAGE
	}
	return caskadev1.RecordType_PUT
}

// itemBytes estimates the encoded size of an item in a message.
func itemBytes(it *engine.Item) int { return len(it.Key) + len(it.Value) + 48 }

// recordBytes estimates the encoded size of a record in a message.
func recordBytes(r *engine.Record) int { return len(r.Key) + len(r.Value) + 48 }
