package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
)

func TestStatusOf(t *testing.T) {
	secret := "/var/lib/caskade/00000000000000000001.log"
	fileErr := &engine.FileError{Op: "read record", Path: secret, Position: 42, Err: engine.ErrCorrupt}
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		reason   string
		field    string
		meta     map[string]string
		internal bool
	}{
		{"nil", nil, codes.OK, "", "", nil, false},
		{"canceled", fmt.Errorf("wait: %w", context.Canceled), codes.Canceled, "", "", nil, false},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "", "", nil, false},
		{"status passes through", status.Error(codes.ResourceExhausted, "too big"), codes.ResourceExhausted, "", "", nil, false},
		{"field error", &fieldError{Field: "values[2]", Reason: caskadev1.ReasonValueTooLarge, Desc: "big", Limit: 10, Size: 11, Err: engine.ErrValueTooLarge},
			codes.InvalidArgument, caskadev1.ReasonValueTooLarge, "values[2]", map[string]string{caskadev1.MetaLimit: "10", caskadev1.MetaSize: "11"}, false},
		{"empty key", engine.ErrEmptyKey, codes.InvalidArgument, caskadev1.ReasonEmptyKey, "key", nil, false},
		{"key too large", fmt.Errorf("%w: 9 bytes, limit 8", engine.ErrKeyTooLarge), codes.InvalidArgument, caskadev1.ReasonKeyTooLarge, "key", nil, false},
		{"value too large", fmt.Errorf("value 3: %w", engine.ErrValueTooLarge), codes.InvalidArgument, caskadev1.ReasonValueTooLarge, "value", nil, false},
		{"bad range", fmt.Errorf("%w: end before start", engine.ErrBadRange), codes.InvalidArgument, caskadev1.ReasonBadRange, "range", nil, false},
		{"not found", engine.ErrNotFound, codes.NotFound, caskadev1.ReasonKeyNotFound, "", nil, false},
		{"offset", &engine.OffsetError{Requested: 1, Earliest: 5, Next: 9}, codes.OutOfRange, caskadev1.ReasonOffsetOutOfRange, "",
			map[string]string{caskadev1.MetaEarliestOffset: "5", caskadev1.MetaNextOffset: "9", caskadev1.MetaRequestedOffset: "1"}, false},
		{"bare out of range", engine.ErrOutOfRange, codes.OutOfRange, caskadev1.ReasonOffsetOutOfRange, "", nil, false},
		{"cas", fmt.Errorf("cas: %w", &engine.CASError{Expected: 3, Current: 4}), codes.FailedPrecondition, caskadev1.ReasonCASMismatch, "",
			map[string]string{caskadev1.MetaCurrentOffset: "4", caskadev1.MetaExpectedOffset: "3"}, false},
		{"failed", fmt.Errorf("%w: %w", engine.ErrFailed, fileErr), codes.Unavailable, caskadev1.ReasonStoreFailed, "", nil, true},
		{"corrupt", fileErr, codes.DataLoss, caskadev1.ReasonDataLoss, "", nil, true},
		{"closed", engine.ErrClosed, codes.Unavailable, caskadev1.ReasonStoreClosed, "", nil, false},
		{"segment closed", segment.ErrClosed, codes.Unavailable, caskadev1.ReasonStoreClosed, "", nil, false},
		{"no maintenance", errNoMaintenance, codes.Unimplemented, "", "", nil, false},
		{"no identity", errNoIdentity, codes.Unauthenticated, caskadev1.ReasonUnauthenticated, "", nil, false},
		{"unknown identity", &unknownIdentityError{Identity: "mallory\xff"}, codes.Unauthenticated, caskadev1.ReasonUnauthenticated, "",
			map[string]string{caskadev1.MetaIdentity: "mallory\uFFFD"}, false},
		{"permission", fmt.Errorf("authorize: %w", &permissionError{Identity: "reader", Action: "write", Object: "kv:app/\x00"}),
			codes.PermissionDenied, caskadev1.ReasonPermissionDenied, "",
			map[string]string{caskadev1.MetaIdentity: "reader", caskadev1.MetaAction: "write", caskadev1.MetaObject: "kv:app/\x00"}, false},
		{"not leader", fmt.Errorf("put: %w", &NotLeaderError{LeaderAddr: "10.0.0.2:7070"}), codes.FailedPrecondition, caskadev1.ReasonNotLeader, "",
			map[string]string{caskadev1.MetaLeaderAddr: "10.0.0.2:7070"}, false},
		{"not leader, none known", &NotLeaderError{}, codes.FailedPrecondition, caskadev1.ReasonNotLeader, "", nil, false},
		{"unknown", fmt.Errorf("open %s: %w", secret, errors.New("disk on fire")), codes.Internal, "", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, internal := statusOf(tt.err)
			if st.Code() != tt.code || internal != tt.internal {
				t.Fatalf("code %v internal %v, want %v %v", st.Code(), internal, tt.code, tt.internal)
			}
			if strings.Contains(st.Message(), secret) || strings.Contains(fmt.Sprint(st.Details()), secret) {
				t.Fatalf("status leaks a path: %q %v", st.Message(), st.Details())
			}
			var info *errdetails.ErrorInfo
			var br *errdetails.BadRequest
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					info = d
				case *errdetails.BadRequest:
					br = d
				}
			}
			switch {
			case tt.reason == "" && info != nil:
				t.Fatalf("unexpected ErrorInfo %v", info)
			case tt.reason != "" && (info == nil || info.Reason != tt.reason || info.Domain != caskadev1.Domain):
				t.Fatalf("ErrorInfo %v, want reason %s", info, tt.reason)
			}
			for k, v := range tt.meta {
				if info.Metadata[k] != v {
					t.Errorf("metadata %s = %q, want %q", k, info.Metadata[k], v)
				}
			}
			switch {
			case tt.field == "" && br != nil:
				t.Fatalf("unexpected BadRequest %v", br)
			case tt.field != "" && (br == nil || br.FieldViolations[0].Field != tt.field || br.FieldViolations[0].Reason != tt.reason):
				t.Fatalf("BadRequest %v, want field %s", br, tt.field)
			}
		})
	}
}

// leakyStore fails every Get with an error that names a file.
type leakyStore struct {
	Store
	err error
}

func (s leakyStore) Get([]byte) (engine.Item, error) { return engine.Item{}, s.err }

// Internal errors reach the client as a generic message; the server's log
// gets the whole error.
func TestServer_InternalErrorsDoNotLeak(t *testing.T) {
	ts := startServer(t, nil)
	var logBuf lockedBuffer
	secret := "/srv/data/00000000000000000001.log"
	for _, tt := range []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("read %s: %w", secret, errors.New("input/output error")), codes.Internal},
		{&engine.FileError{Op: "read", Path: secret, Position: 9, Err: engine.ErrCorrupt}, codes.DataLoss},
	} {
		fake := serveStore(t, leakyStore{Store: ts.db, err: tt.err}, Options{Logger: newTestLogger(&logBuf)})
		_, err := fake.kv.Get(ctx(t), &caskadev1.GetRequest{Key: []byte("k")})
		if status.Code(err) != tt.code || strings.Contains(err.Error(), secret) {
			t.Fatalf("client got %v, want %v without the path", err, tt.code)
		}
		if !strings.Contains(logBuf.String(), secret) {
			t.Fatalf("server log %q lacks the real error", logBuf.String())
		}
		fake.stop(t)
	}
}
