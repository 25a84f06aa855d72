package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caskade/caskade/metrics"
)

// validateMetricsAddr checks --metrics-addr: "" (off) or host:port with a
// numeric port (0 picks a free one; an empty host means every
// interface).
func validateMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--metrics-addr %q: %w", addr, err)
	}
	if _, err := strconv.ParseUint(p, 10, 16); err != nil {
		return usageErrorf("--metrics-addr %q: bad port: want a number from 0 to 65535", addr)
	}
	return nil
}

// serveState is where serve is in its life, for /readyz.
type serveState int32

const (
	stateStarting serveState = iota // the store opens, the listener binds
	stateServing                    // gRPC accepts calls
	stateStopping                   // the shutdown has begun
)

// readiness is serve's own part of /readyz: not ready until gRPC serves,
// nor once the shutdown begins. Safe for concurrent use.
type readiness struct{ state atomic.Int32 }

func (r *readiness) set(s serveState) { r.state.Store(int32(s)) }

// check returns why serve is not ready, or nil.
func (r *readiness) check() error {
	switch serveState(r.state.Load()) {
	case stateStarting:
		return errors.New("starting")
	case stateStopping:
		return errors.New("shutting down")
	}
	return nil
}

// metricsShutdownTimeout bounds the wait for scrapes in flight when serve
// stops the metrics server.
const metricsShutdownTimeout = 2 * time.Second

// startMetrics serves reg at /metrics, /livez and ready at /readyz on
// --metrics-addr, and prints "metrics on ADDRESS". The returned stop
// closes the server.
func (a *app) startMetrics(c *serveConfig, logger *slog.Logger, reg *prometheus.Registry, ready func() error) (stop func(), err error) {
	s, err := metrics.Listen(c.metricsAddr, metrics.NewHandler(reg, ready), logger)
	if err != nil {
		return nil, failuref("--metrics-addr %s: %w", c.metricsAddr, err)
	}
	logger.Info("metrics", "addr", s.Addr(), "paths", []string{metrics.MetricsPath, metrics.LivePath, metrics.ReadyPath})
	fmt.Fprintf(a.stdout, "metrics on %s\n", s.Addr())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), metricsShutdownTimeout)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			logger.Warn("metrics server stopped with an error", "err", err)
		}
	}, nil
}
