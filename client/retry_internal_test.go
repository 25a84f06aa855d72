package client

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestOutcomeUnknown(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		code codes.Code
		ctx  context.Context
		want bool
	}{
		{codes.Internal, live, true},
		{codes.Unknown, live, true},
		{codes.Aborted, live, true},
		{codes.DataLoss, live, true},
		{codes.Canceled, live, true},       // cut off inside the cluster, not by the caller
		{codes.Canceled, cancelled, false}, // the caller gave up
		{codes.InvalidArgument, live, false},
		{codes.FailedPrecondition, live, false},
		{codes.NotFound, live, false},
		{codes.PermissionDenied, live, false},
		{codes.ResourceExhausted, live, false},
	}
	for _, tt := range tests {
		if got := outcomeUnknown(tt.code, tt.ctx); got != tt.want {
			t.Errorf("outcomeUnknown(%v, ctx err %v) = %v, want %v", tt.code, tt.ctx.Err(), got, tt.want)
		}
	}
}
