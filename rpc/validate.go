package rpc

import (
	"bytes"
	"fmt"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

// fieldError is a request the server refused before it reached the store:
// which field, why, and the engine error it stands for (so that
// errors.Is(err, engine.ErrKeyTooLarge) holds for an oversized key either
// way). status.go turns it into INVALID_ARGUMENT with a BadRequest field
// violation and an ErrorInfo.
type fieldError struct {
	Field  string // as the request spells it: "key", "values[3]", "ttl"
	Reason string // one of the caskadev1.Reason* constants
	Desc   string // what is wrong, for the client
	Limit  int    // the size limit, for KEY_TOO_LARGE and VALUE_TOO_LARGE
	Size   int    // the refused size, for KEY_TOO_LARGE and VALUE_TOO_LARGE
	Err    error  // the engine sentinel it matches; may be nil
}

// Error describes the refusal.
func (e *fieldError) Error() string { return e.Field + ": " + e.Desc }

// Unwrap returns the engine sentinel.
func (e *fieldError) Unwrap() error { return e.Err }

// checkKey refuses an empty key or one over MaxKeySize.
func (s *Server) checkKey(field string, key []byte) error {
	switch {
	case len(key) == 0:
		return &fieldError{Field: field, Reason: caskadev1.ReasonEmptyKey, Desc: "key is empty", Err: engine.ErrEmptyKey}
	case len(key) > s.opts.MaxKeySize:
		return &fieldError{
			Field: field, Reason: caskadev1.ReasonKeyTooLarge,
			Desc:  fmt.Sprintf("key of %d bytes is over the limit of %d", len(key), s.opts.MaxKeySize),
			Limit: s.opts.MaxKeySize, Size: len(key), Err: engine.ErrKeyTooLarge,
		}
	}
	return nil
}

// checkValue refuses a value over MaxValueSize.
func (s *Server) checkValue(field string, value []byte) error {
	if len(value) > s.opts.MaxValueSize {
		return &fieldError{
			Field: field, Reason: caskadev1.ReasonValueTooLarge,
			Desc:  fmt.Sprintf("value of %d bytes is over the limit of %d", len(value), s.opts.MaxValueSize),
			Limit: s.opts.MaxValueSize, Size: len(value), Err: engine.ErrValueTooLarge,
		}
	}
	return nil
}

// checkConsistency refuses a consistency level this server does not know.
func checkConsistency(c caskadev1.Consistency) error {
	switch c {
	case caskadev1.Consistency_CONSISTENCY_UNSPECIFIED, caskadev1.Consistency_LINEARIZABLE, caskadev1.Consistency_STALE:
		return nil
	}
	return invalidf("consistency", "unknown consistency level %d", int32(c))
}

// invalidf refuses a field for a reason that has no reason of its own.
func invalidf(field, format string, args ...any) error {
	return &fieldError{Field: field, Reason: caskadev1.ReasonInvalidArgument, Desc: fmt.Sprintf(format, args...)}
}

// badRangef refuses scan bounds that cannot be met.
func badRangef(field, format string, args ...any) error {
	return &fieldError{Field: field, Reason: caskadev1.ReasonBadRange, Desc: fmt.Sprintf(format, args...), Err: engine.ErrBadRange}
}

// checkScanRange applies the rules of engine.Scan to a request's bounds, so
// that the field at fault is named: with a prefix, start and end must not
// lie outside it, and end must not come before start. Empty bounds are
// unbounded.
func checkScanRange(start, end, prefix []byte) error {
	if len(prefix) > 0 {
		if len(start) > 0 && bytes.Compare(start, prefix) > 0 && !bytes.HasPrefix(start, prefix) {
			return badRangef("start", "start %q is after every key with prefix %q", start, prefix)
		}
		if len(end) > 0 && bytes.Compare(end, prefix) <= 0 {
			return badRangef("end", "end %q is before every key with prefix %q", end, prefix)
		}
	}
	if len(start) > 0 && len(end) > 0 && bytes.Compare(end, start) < 0 {
		return badRangef("end", "end %q is before start %q", end, start)
	}
	return nil
}
