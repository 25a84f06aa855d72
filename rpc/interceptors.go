package rpc

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// unaryLogger logs each unary call at debug level: method, code, time.
func unaryLogger(l *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !l.Enabled(ctx, slog.LevelDebug) {
			return handler(ctx, req)
		}
		start := time.Now()
		resp, err := handler(ctx, req)
		logCall(ctx, l, info.FullMethod, start, err)
		return resp, err
	}
}

// streamLogger logs each stream at debug level when it ends.
func streamLogger(l *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		if !l.Enabled(ctx, slog.LevelDebug) {
			return handler(srv, ss)
		}
		start := time.Now()
		err := handler(srv, ss)
		logCall(ctx, l, info.FullMethod, start, err)
		return err
	}
}

func logCall(ctx context.Context, l *slog.Logger, method string, start time.Time, err error) {
	l.LogAttrs(ctx, slog.LevelDebug, "call",
		slog.String("method", method),
		slog.String("code", status.Code(err).String()),
		slog.Duration("took", time.Since(start)))
}
