package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// Sentinel errors. Errors returned by a Client match them with errors.Is,
// whichever server or wire they came over; errors.As with *Error gives the
// gRPC code, the reason and the details.
var (
	// ErrNotFound: the key has no live value (never written, deleted or
	// expired).
	ErrNotFound = errors.New("client: key not found")
	// ErrCASMismatch: a CompareAndSwap found the key at another offset;
	// every *CASError matches it.
	ErrCASMismatch = errors.New("client: compare-and-swap mismatch")
	// ErrOutOfRange: an offset below the log start or past its end; every
	// *OffsetError matches it.
	ErrOutOfRange = errors.New("client: offset out of range")
	// ErrInvalidArgument: the request was refused as malformed and nothing
	// was written. *Error.Violations says which fields were at fault.
	ErrInvalidArgument = errors.New("client: invalid argument")
	// ErrEmptyKey: a zero-length key. Matches ErrInvalidArgument too.
	ErrEmptyKey = errors.New("client: empty key")
	// ErrKeyTooLarge: a key over the server's limit. Matches
	// ErrInvalidArgument too.
	ErrKeyTooLarge = errors.New("client: key too large")
	// ErrValueTooLarge: a value over the server's limit. Matches
	// ErrInvalidArgument too.
	ErrValueTooLarge = errors.New("client: value too large")
	// ErrBadRange: scan bounds that cannot be met. Matches
	// ErrInvalidArgument too.
	ErrBadRange = errors.New("client: bad range")
	// ErrTooLarge: a message over the size limit of the server or the
	// client (gRPC's ResourceExhausted).
	ErrTooLarge = errors.New("client: message too large")
	// ErrUnavailable: no server could be reached, or the one reached is
	// stopping or cannot take writes. Retrying later may succeed.
	ErrUnavailable = errors.New("client: unavailable")
	// ErrWriteUnknown: a write was sent but its answer was lost (the node
	// failed or the deadline passed): it may or may not have been applied.
	// The Client never sends such a write again by itself; read the key
	// before writing again, or use CompareAndSwap. Every
	// *WriteUnknownError matches it, and ErrUnavailable or
	// context.DeadlineExceeded too, as its cause says.
	ErrWriteUnknown = errors.New("client: write outcome unknown, it may have been applied")
	// ErrNotLeader: a write reached a node that is not the leader.
	ErrNotLeader = errors.New("client: not the leader")
	// ErrCorrupt: the server found corrupt data (gRPC's DataLoss).
	ErrCorrupt = errors.New("client: corrupt data on the server")
	// ErrUnauthenticated: the server does not know the caller (no client
	// certificate reached it, or its policy does not name the
	// certificate's identity). Nothing was read or written.
	ErrUnauthenticated = errors.New("client: unauthenticated")
	// ErrPermissionDenied: the caller may not do this; every
	// *PermissionError matches it. Nothing was read or written.
	ErrPermissionDenied = errors.New("client: permission denied")
	// ErrUnimplemented: the server cannot do this (an older server, or a
	// store without the feature).
	ErrUnimplemented = errors.New("client: not implemented by the server")
	// ErrInternal: the server failed; its log has the details.
	ErrInternal = errors.New("client: internal server error")
	// ErrClosed: the Client (or the Consumer) was closed.
	ErrClosed = errors.New("client: closed")
)

// FieldViolation is one field of a request that the server refused.
type FieldViolation struct {
	Field       string // the request field, e.g. "key"
	Description string
}

// Error is an error answered by a server: its gRPC status, decoded.
// errors.Is matches it against the sentinel errors of this package (and
// against context.Canceled and context.DeadlineExceeded for those codes).
type Error struct {
	Code       codes.Code
	Message    string            // the server's message
	Reason     string            // google.rpc.ErrorInfo reason, or ""
	Metadata   map[string]string // google.rpc.ErrorInfo metadata, or nil
	Violations []FieldViolation  // google.rpc.BadRequest field violations

	status *status.Status
}

// Error gives the code and the server's message (which names the fields
// at fault; Violations has them one by one).
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", codeText(e.Code), e.Message)
}

// GRPCStatus returns the status the server sent, so that status.FromError
// and status.Code work on errors of this package.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Is reports whether e is one of the kinds target stands for.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Code == codes.NotFound
	case ErrCASMismatch:
		return e.Code == codes.FailedPrecondition && e.Reason == caskadev1.ReasonCASMismatch
	case ErrNotLeader:
		return e.Reason == caskadev1.ReasonNotLeader
	case ErrOutOfRange:
		return e.Code == codes.OutOfRange
	case ErrInvalidArgument:
		return e.Code == codes.InvalidArgument
	case ErrEmptyKey:
		return e.Code == codes.InvalidArgument && e.Reason == caskadev1.ReasonEmptyKey
	case ErrKeyTooLarge:
		return e.Code == codes.InvalidArgument && e.Reason == caskadev1.ReasonKeyTooLarge
	case ErrValueTooLarge:
		return e.Code == codes.InvalidArgument && e.Reason == caskadev1.ReasonValueTooLarge
	case ErrBadRange:
		return e.Code == codes.InvalidArgument && e.Reason == caskadev1.ReasonBadRange
	case ErrTooLarge:
		return e.Code == codes.ResourceExhausted
	case ErrUnavailable:
		return e.Code == codes.Unavailable
	case ErrCorrupt:
		return e.Code == codes.DataLoss
	case ErrUnauthenticated:
		return e.Code == codes.Unauthenticated
	case ErrPermissionDenied:
		return e.Code == codes.PermissionDenied
	case ErrUnimplemented:
		return e.Code == codes.Unimplemented
	case ErrInternal:
		return e.Code == codes.Internal || e.Code == codes.Unknown
	case context.Canceled:
		return e.Code == codes.Canceled
	case context.DeadlineExceeded:
		return e.Code == codes.DeadlineExceeded
	}
	return false
}

// CASError reports a CompareAndSwap whose expected offset was not the
// key's current one; nothing was written. errors.Is(err, ErrCASMismatch)
// holds for it.
type CASError struct {
	Expected uint64 // the offset the call expected
	Current  uint64 // the key's current offset; 0 when the key is absent
	Err      *Error // the server's answer
}

// Error describes the mismatch.
func (e *CASError) Error() string {
	if e.Current == 0 {
		return fmt.Sprintf("compare-and-swap mismatch: key is absent, expected offset %d", e.Expected)
	}
	return fmt.Sprintf("compare-and-swap mismatch: key is at offset %d, expected %d", e.Current, e.Expected)
}

// Is makes errors.Is(err, ErrCASMismatch) true.
func (e *CASError) Is(target error) bool { return target == ErrCASMismatch }

// Unwrap returns the server's answer.
func (e *CASError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// OffsetError reports a read below the log start or past its end.
// errors.Is(err, ErrOutOfRange) holds for it.
type OffsetError struct {
	Requested uint64 // the offset asked for
	Earliest  uint64 // the log start: the first offset still readable
	Next      uint64 // the high-water mark: the offset the next write gets
	Err       *Error // the server's answer
}

// Error describes where the offset fell.
func (e *OffsetError) Error() string {
	if e.Requested < e.Earliest {
		return fmt.Sprintf("offset %d is before the log start (earliest offset %d)", e.Requested, e.Earliest)
	}
	return fmt.Sprintf("offset %d is past the end of the log (next offset %d)", e.Requested, e.Next)
}

// Is makes errors.Is(err, ErrOutOfRange) true.
func (e *OffsetError) Is(target error) bool { return target == ErrOutOfRange }

// Unwrap returns the server's answer.
func (e *OffsetError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// PermissionError reports a call the server's authorization policy does
// not allow; nothing was read or written. errors.Is(err,
// ErrPermissionDenied) holds for it.
type PermissionError struct {
	Identity string // the caller's identity: its certificate's common name
	Action   string // read, write or admin
	Object   string // kv:KEY, kv:PREFIX* (a scan), log or cluster
	Err      *Error // the server's answer
}

// Error names who may not do what.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("permission denied: identity %q may not %s %q", e.Identity, e.Action, e.Object)
}

// Is makes errors.Is(err, ErrPermissionDenied) true.
func (e *PermissionError) Is(target error) bool { return target == ErrPermissionDenied }

// Unwrap returns the server's answer.
func (e *PermissionError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// WriteUnknownError reports a write whose request may have reached a
// server that failed (or did not answer in time) before acknowledging it:
// the write may have been applied. errors.Is(err, ErrWriteUnknown) holds
// for it; Unwrap gives the failure.
type WriteUnknownError struct {
	Addr string // the node the write was sent to; "" if unknown
	Err  error  // the failure: an *Error (UNAVAILABLE, DEADLINE_EXCEEDED)
}

// Error says that the write may have been applied.
func (e *WriteUnknownError) Error() string {
	return fmt.Sprintf("write outcome unknown, it may have been applied (sent to %s): %v", e.Addr, e.Err)
}

// Is makes errors.Is(err, ErrWriteUnknown) true.
func (e *WriteUnknownError) Is(target error) bool { return target == ErrWriteUnknown }

// Unwrap returns the failure.
func (e *WriteUnknownError) Unwrap() error { return e.Err }

// FromError decodes an error returned by a gRPC call into an *Error, a
// *CASError, an *OffsetError or a *PermissionError. Errors that carry no gRPC status (and
// nil) are returned as they are.
func FromError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err // decoded already
	}
	var wu *WriteUnknownError
	if errors.As(err, &wu) {
		return &WriteUnknownError{Addr: wu.Addr, Err: FromError(wu.Err)}
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if st.Code() == codes.OK {
		return nil
	}
	e = &Error{Code: st.Code(), Message: st.Message(), status: st}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			e.Reason, e.Metadata = d.GetReason(), d.GetMetadata()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				e.Violations = append(e.Violations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	switch {
	case e.Is(ErrCASMismatch):
		return &CASError{Expected: e.offset(caskadev1.MetaExpectedOffset), Current: e.offset(caskadev1.MetaCurrentOffset), Err: e}
	case e.Is(ErrPermissionDenied) && e.Reason == caskadev1.ReasonPermissionDenied:
		return &PermissionError{
			Identity: e.Metadata[caskadev1.MetaIdentity],
			Action:   e.Metadata[caskadev1.MetaAction],
			Object:   e.Metadata[caskadev1.MetaObject],
			Err:      e,
		}
	case e.Is(ErrOutOfRange):
		return &OffsetError{
			Requested: e.offset(caskadev1.MetaRequestedOffset),
			Earliest:  e.offset(caskadev1.MetaEarliestOffset),
			Next:      e.offset(caskadev1.MetaNextOffset),
			Err:       e,
		}
	}
	return e
}

// offset parses the decimal offset in metadata key k; 0 if absent or bad.
func (e *Error) offset(k string) uint64 {
	n, err := strconv.ParseUint(e.Metadata[k], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// LeaderAddr returns the leader's address that a NOT_LEADER answer
// carries, or "".
func (e *Error) LeaderAddr() string { return e.Metadata[caskadev1.MetaLeaderAddr] }

// codeText names a gRPC code for messages: "not found", "unavailable".
func codeText(c codes.Code) string {
	switch c {
	case codes.InvalidArgument:
		return "invalid argument"
	case codes.NotFound:
		return "not found"
	case codes.FailedPrecondition:
		return "failed precondition"
	case codes.OutOfRange:
		return "out of range"
	case codes.ResourceExhausted:
		return "resource exhausted"
	case codes.Unavailable:
		return "unavailable"
	case codes.DataLoss:
		return "data loss"
	case codes.Unauthenticated:
		return "unauthenticated"
	case codes.PermissionDenied:
		return "permission denied"
	case codes.Unimplemented:
		return "not implemented"
	case codes.Internal:
		return "internal error"
	case codes.DeadlineExceeded:
		return "deadline exceeded"
	case codes.Canceled:
		return "canceled"
	}
	return "error " + c.String()
}
