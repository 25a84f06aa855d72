package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/client"
)

// statusErr builds the error a server sends: a status with an ErrorInfo
// (when reason is set) and a BadRequest (when fields are given).
func statusErr(t *testing.T, code codes.Code, reason string, meta map[string]string, fields ...string) error {
	t.Helper()
	st := status.New(code, "server says no")
	var details []any
	if reason != "" {
		details = append(details, &errdetails.ErrorInfo{Reason: reason, Domain: caskadev1.Domain, Metadata: meta})
	}
	if len(fields) > 0 {
		br := &errdetails.BadRequest{}
		for _, f := range fields {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: f, Description: f + " is bad"})
		}
		details = append(details, br)
	}
	for _, d := range details {
		var err error
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			st, err = st.WithDetails(d)
		case *errdetails.BadRequest:
			st, err = st.WithDetails(d)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return st.Err()
}

// allSentinels are the errors a mapped error is checked against: each
// row says which of them must match, and every other must not.
var allSentinels = []error{
	client.ErrNotFound, client.ErrCASMismatch, client.ErrOutOfRange,
	client.ErrInvalidArgument, client.ErrEmptyKey, client.ErrKeyTooLarge, client.ErrValueTooLarge, client.ErrBadRange,
	client.ErrTooLarge, client.ErrUnavailable, client.ErrNotLeader, client.ErrCorrupt,
	client.ErrUnauthenticated, client.ErrPermissionDenied, client.ErrUnimplemented, client.ErrInternal,
	client.ErrClosed, context.Canceled, context.DeadlineExceeded,
}

func TestFromError(t *testing.T) {
	tests := []struct {
		name   string
		code   codes.Code
		reason string
		meta   map[string]string
		fields []string
		is     []error
		check  func(t *testing.T, err error)
	}{
		{name: "not found", code: codes.NotFound, reason: caskadev1.ReasonKeyNotFound, is: []error{client.ErrNotFound}},
		{name: "not found without details", code: codes.NotFound, is: []error{client.ErrNotFound}},
		{
			name: "cas mismatch", code: codes.FailedPrecondition, reason: caskadev1.ReasonCASMismatch,
			meta: map[string]string{caskadev1.MetaCurrentOffset: "42", caskadev1.MetaExpectedOffset: "7"},
			is:   []error{client.ErrCASMismatch},
			check: func(t *testing.T, err error) {
				var ce *client.CASError
				if !errors.As(err, &ce) || ce.Current != 42 || ce.Expected != 7 || ce.Err == nil || ce.Err.Code != codes.FailedPrecondition {
					t.Fatalf("CASError: %#v", ce)
				}
			},
		},
		{
			name: "cas mismatch on an absent key", code: codes.FailedPrecondition, reason: caskadev1.ReasonCASMismatch,
			meta: map[string]string{caskadev1.MetaCurrentOffset: "0"}, is: []error{client.ErrCASMismatch},
			check: func(t *testing.T, err error) {
				var ce *client.CASError
				if !errors.As(err, &ce) || ce.Current != 0 {
					t.Fatalf("CASError: %#v", ce)
				}
			},
		},
		{name: "failed precondition without reason", code: codes.FailedPrecondition},
		{
			name: "not leader", code: codes.FailedPrecondition, reason: caskadev1.ReasonNotLeader,
			meta: map[string]string{caskadev1.MetaLeaderAddr: "10.0.0.1:7070"}, is: []error{client.ErrNotLeader},
			check: func(t *testing.T, err error) {
				var e *client.Error
				if !errors.As(err, &e) || e.LeaderAddr() != "10.0.0.1:7070" {
					t.Fatalf("Error: %#v", e)
				}
			},
		},
		{
			name: "offset out of range", code: codes.OutOfRange, reason: caskadev1.ReasonOffsetOutOfRange,
			meta: map[string]string{caskadev1.MetaEarliestOffset: "5", caskadev1.MetaNextOffset: "9", caskadev1.MetaRequestedOffset: "12"},
			is:   []error{client.ErrOutOfRange},
			check: func(t *testing.T, err error) {
				var oe *client.OffsetError
				if !errors.As(err, &oe) || oe.Earliest != 5 || oe.Next != 9 || oe.Requested != 12 {
					t.Fatalf("OffsetError: %#v", oe)
				}
				if got, want := oe.Error(), "offset 12 is past the end of the log (next offset 9)"; got != want {
					t.Fatalf("Error() = %q, want %q", got, want)
				}
			},
		},
		{
			name: "empty key", code: codes.InvalidArgument, reason: caskadev1.ReasonEmptyKey, fields: []string{"key"},
			is: []error{client.ErrInvalidArgument, client.ErrEmptyKey},
			check: func(t *testing.T, err error) {
				var e *client.Error
				if !errors.As(err, &e) || len(e.Violations) != 1 || e.Violations[0] != (client.FieldViolation{Field: "key", Description: "key is bad"}) {
					t.Fatalf("violations: %#v", e)
				}
				if got, want := err.Error(), "op: invalid argument: server says no"; got != want {
					t.Fatalf("Error() = %q, want %q", got, want)
				}
			},
		},
		{name: "key too large", code: codes.InvalidArgument, reason: caskadev1.ReasonKeyTooLarge, fields: []string{"key"}, is: []error{client.ErrInvalidArgument, client.ErrKeyTooLarge}},
		{name: "value too large", code: codes.InvalidArgument, reason: caskadev1.ReasonValueTooLarge, fields: []string{"value"}, is: []error{client.ErrInvalidArgument, client.ErrValueTooLarge}},
		{name: "bad range", code: codes.InvalidArgument, reason: caskadev1.ReasonBadRange, fields: []string{"start", "end"}, is: []error{client.ErrInvalidArgument, client.ErrBadRange}},
		{name: "other invalid argument", code: codes.InvalidArgument, reason: caskadev1.ReasonInvalidArgument, fields: []string{"ttl"}, is: []error{client.ErrInvalidArgument}},
		{name: "message too large", code: codes.ResourceExhausted, is: []error{client.ErrTooLarge}},
		{name: "store closed", code: codes.Unavailable, reason: caskadev1.ReasonStoreClosed, is: []error{client.ErrUnavailable}},
		{name: "store failed", code: codes.Unavailable, reason: caskadev1.ReasonStoreFailed, is: []error{client.ErrUnavailable}},
		{name: "connection refused", code: codes.Unavailable, is: []error{client.ErrUnavailable}},
		{name: "not leader while unavailable", code: codes.Unavailable, reason: caskadev1.ReasonNotLeader, is: []error{client.ErrUnavailable, client.ErrNotLeader}},
		{name: "data loss", code: codes.DataLoss, reason: caskadev1.ReasonDataLoss, is: []error{client.ErrCorrupt}},
		{name: "unauthenticated", code: codes.Unauthenticated, is: []error{client.ErrUnauthenticated}},
		{name: "permission denied", code: codes.PermissionDenied, is: []error{client.ErrPermissionDenied}},
		{
			name: "permission denied by the policy", code: codes.PermissionDenied, reason: caskadev1.ReasonPermissionDenied,
			meta: map[string]string{caskadev1.MetaIdentity: "reader", caskadev1.MetaAction: "write", caskadev1.MetaObject: "kv:app/1"},
			is:   []error{client.ErrPermissionDenied},
			check: func(t *testing.T, err error) {
				var pe *client.PermissionError
				if !errors.As(err, &pe) || pe.Identity != "reader" || pe.Action != "write" || pe.Object != "kv:app/1" || pe.Err == nil {
					t.Fatalf("PermissionError: %#v", pe)
				}
				if got, want := pe.Error(), `permission denied: identity "reader" may not write "kv:app/1"`; got != want {
					t.Fatalf("Error() = %q, want %q", got, want)
				}
			},
		},
		{name: "unknown identity", code: codes.Unauthenticated, reason: caskadev1.ReasonUnauthenticated,
			meta: map[string]string{caskadev1.MetaIdentity: "mallory"}, is: []error{client.ErrUnauthenticated}},
		{name: "unimplemented", code: codes.Unimplemented, is: []error{client.ErrUnimplemented}},
		{name: "internal", code: codes.Internal, is: []error{client.ErrInternal}},
		{name: "unknown", code: codes.Unknown, is: []error{client.ErrInternal}},
		{name: "canceled", code: codes.Canceled, is: []error{context.Canceled}},
		{name: "deadline", code: codes.DeadlineExceeded, is: []error{context.DeadlineExceeded}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sent := statusErr(t, tt.code, tt.reason, tt.meta, tt.fields...)
			// Wrapped the way calls wrap it, and decoded once more: both
			// must change nothing.
			err := fmt.Errorf("op: %w", client.FromError(client.FromError(sent)))
			for _, s := range allSentinels {
				want := false
				for _, w := range tt.is {
					want = want || w == s
				}
				if got := errors.Is(err, s); got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
				}
			}
			if got := status.Code(errors.Unwrap(err)); got != tt.code {
				t.Errorf("status.Code = %v, want %v", got, tt.code)
			}
			var e *client.Error
			if !errors.As(err, &e) || e.Code != tt.code || e.Reason != tt.reason || e.Message != "server says no" {
				t.Errorf("errors.As *Error: %#v", e)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestFromError_PassesOthersThrough(t *testing.T) {
	for _, err := range []error{nil, io.EOF, context.Canceled, errors.New("plain")} {
		if got := client.FromError(err); got != err {
			t.Errorf("FromError(%v) = %v", err, got)
		}
	}
	if got := client.FromError(status.Error(codes.OK, "")); got != nil {
		t.Errorf("FromError(OK) = %v", got)
	}
}
