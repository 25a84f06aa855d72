package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
)

// errNoMaintenance is returned by the Maintenance service when the store
// does not implement Maintainer.
var errNoMaintenance = errors.New("this store cannot compact or make snapshots")

// statusOf maps err to the status a client gets. This is the one place that
// knows gRPC codes. The order matters: the first match wins. internal
// reports errors whose full text must go to the server's log only (the
// client gets a generic message, without file paths).
func statusOf(err error) (st *status.Status, internal bool) {
	var (
		fe  *fieldError
		ae  *ArgumentError
		oe  *engine.OffsetError
		ce  *engine.CASError
		ue  *unknownIdentityError
		pe  *permissionError
		nl  *NotLeaderError
		gst interface{ GRPCStatus() *status.Status }
	)
	switch {
	case err == nil:
		return nil, false
	case errors.As(err, &gst):
		// Already a status (from the transport, or a nested call).
		return gst.GRPCStatus(), false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err), false
	case errors.Is(err, errNoIdentity):
		return withInfo(codes.Unauthenticated, errNoIdentity.Error(), caskadev1.ReasonUnauthenticated, nil), false
	case errors.As(err, &ue):
		return withInfo(codes.Unauthenticated, ue.Error(), caskadev1.ReasonUnauthenticated, map[string]string{
			caskadev1.MetaIdentity: validShort(ue.Identity),
		}), false
	case errors.As(err, &pe):
		return withInfo(codes.PermissionDenied, pe.Error(), caskadev1.ReasonPermissionDenied, map[string]string{
			caskadev1.MetaIdentity: validShort(pe.Identity),
			caskadev1.MetaAction:   validShort(pe.Action),
			caskadev1.MetaObject:   validShort(pe.Object),
		}), false
	case errors.As(err, &nl):
		var meta map[string]string
		if nl.LeaderAddr != "" {
			meta = map[string]string{caskadev1.MetaLeaderAddr: nl.LeaderAddr}
		}
		return withInfo(codes.FailedPrecondition, nl.Error(), caskadev1.ReasonNotLeader, meta), false
	case errors.Is(err, ErrUnavailable):
		return status.New(codes.Unavailable, err.Error()), false
	case errors.As(err, &fe):
		return invalidArgument(fe), false
	case errors.As(err, &ae):
		return invalidArgument(&fieldError{Field: ae.Field, Reason: caskadev1.ReasonInvalidArgument, Desc: ae.Desc}), false
	case errors.Is(err, engine.ErrEmptyKey):
		return invalidArgument(&fieldError{Field: "key", Reason: caskadev1.ReasonEmptyKey, Desc: "key is empty"}), false
	case errors.Is(err, engine.ErrKeyTooLarge):
		return invalidArgument(&fieldError{Field: "key", Reason: caskadev1.ReasonKeyTooLarge, Desc: err.Error()}), false
	case errors.Is(err, engine.ErrValueTooLarge):
		return invalidArgument(&fieldError{Field: "value", Reason: caskadev1.ReasonValueTooLarge, Desc: err.Error()}), false
	case errors.Is(err, engine.ErrBadRange):
		return invalidArgument(&fieldError{Field: "range", Reason: caskadev1.ReasonBadRange, Desc: err.Error()}), false
	case errors.Is(err, engine.ErrNotFound):
		return withInfo(codes.NotFound, "key not found", caskadev1.ReasonKeyNotFound, nil), false
	case errors.As(err, &oe):
		return withInfo(codes.OutOfRange,
			fmt.Sprintf("offset %d is out of range [%d, %d)", oe.Requested, oe.Earliest, oe.Next),
			caskadev1.ReasonOffsetOutOfRange, map[string]string{
				caskadev1.MetaRequestedOffset: strconv.FormatUint(oe.Requested, 10),
				caskadev1.MetaEarliestOffset:  strconv.FormatUint(oe.Earliest, 10),
				caskadev1.MetaNextOffset:      strconv.FormatUint(oe.Next, 10),
			}), false
	case errors.Is(err, engine.ErrOutOfRange):
		return withInfo(codes.OutOfRange, "offset is out of range", caskadev1.ReasonOffsetOutOfRange, nil), false
	case errors.As(err, &ce):
		return withInfo(codes.FailedPrecondition,
			fmt.Sprintf("compare-and-swap expected offset %d, key is at %d", ce.Expected, ce.Current),
			caskadev1.ReasonCASMismatch, map[string]string{
				caskadev1.MetaCurrentOffset:  strconv.FormatUint(ce.Current, 10),
				caskadev1.MetaExpectedOffset: strconv.FormatUint(ce.Expected, 10),
			}), false
	case errors.Is(err, engine.ErrCASMismatch):
		return withInfo(codes.FailedPrecondition, "compare-and-swap mismatch", caskadev1.ReasonCASMismatch, nil), false
	case errors.Is(err, engine.ErrFailed):
		// Before ErrCorrupt: the fsync error it wraps may be anything.
		return withInfo(codes.Unavailable, "the store failed to sync and refuses writes until the server restarts",
			caskadev1.ReasonStoreFailed, nil), true
	case errors.Is(err, engine.ErrCorrupt):
		return withInfo(codes.DataLoss, "data on the server's disk failed its checks", caskadev1.ReasonDataLoss, nil), true
	case errors.Is(err, engine.ErrClosed), errors.Is(err, segment.ErrClosed):
		return withInfo(codes.Unavailable, "the store is closed: the server is stopping", caskadev1.ReasonStoreClosed, nil), false
	case errors.Is(err, errNoMaintenance):
		return status.New(codes.Unimplemented, errNoMaintenance.Error()), false
	case errors.Is(err, ErrNotSupported):
		return status.New(codes.Unimplemented, ErrNotSupported.Error()), false
	}
	return status.New(codes.Internal, "internal error"), true
}

// invalidArgument is INVALID_ARGUMENT with a BadRequest naming the field
// and an ErrorInfo with the reason.
func invalidArgument(fe *fieldError) *status.Status {
	var meta map[string]string
	if fe.Limit > 0 || fe.Size > 0 {
		meta = map[string]string{
			caskadev1.MetaLimit: strconv.Itoa(fe.Limit),
			caskadev1.MetaSize:  strconv.Itoa(fe.Size),
		}
	}
	st := status.New(codes.InvalidArgument, fe.Error())
	return detailed(st,
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{
			Field: fe.Field, Description: fe.Desc, Reason: fe.Reason,
		}}},
		&errdetails.ErrorInfo{Reason: fe.Reason, Domain: caskadev1.Domain, Metadata: meta},
	)
}

// withInfo is a status with an ErrorInfo.
func withInfo(c codes.Code, msg, reason string, meta map[string]string) *status.Status {
	return detailed(status.New(c, msg), &errdetails.ErrorInfo{Reason: reason, Domain: caskadev1.Domain, Metadata: meta})
}

// detailed adds details to st. WithDetails fails only for codes.OK, which
// is never passed here.
func detailed(st *status.Status, details ...protoadapt.MessageV1) *status.Status {
	d, err := st.WithDetails(details...)
	if err != nil {
		panic(fmt.Sprintf("rpc: status details: %v", err))
	}
	return d
}

// toStatus is the error a handler returns for err: the mapped status.
// Errors that must not reach the client in full are logged with the call's
// method first.
func (s *Server) toStatus(method string, err error) error {
	st, internal := statusOf(err)
	if st == nil {
		return nil
	}
	if internal {
		s.opts.Logger.LogAttrs(context.Background(), slog.LevelError, "call failed",
			slog.String("method", method), slog.String("code", st.Code().String()), slog.Any("err", err))
	}
	return st.Err()
}
