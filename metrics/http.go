package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Paths the handler serves. Deployments probe them by name: never change
// them.
const (
	MetricsPath = "/metrics"
	LivePath    = "/livez"
	ReadyPath   = "/readyz"
)

// NewRegistry returns a registry with the Go runtime and process
// collectors (go_*, process_*) and caskade_build_info{version}, ready
// for a node's collectors.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace:   Namespace,
			Name:        "build_info",
			Help:        "Always 1; the version label names the caskade build.",
			ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }),
	)
	return reg
}

// NewHandler returns the HTTP handler of the endpoints: MetricsPath from
// g, LivePath, and ReadyPath asking ready (nil means ready; its error,
// on one line, is the 503's reason). GET and HEAD only.
func NewHandler(g prometheus.Gatherer, ready func() error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, promhttp.HandlerFor(g, promhttp.HandlerOpts{
		// A collector that fails (a store closing) must not hide the rest.
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET "+LivePath, func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+oneLine(err.Error()))
			return
		}
		writeText(w, http.StatusOK, "ok")
	})
	return mux
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

// oneLine joins the lines of s (errors.Join writes one per error).
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// Server serves a handler over plain HTTP on a listener of its own.
// Safe for concurrent use.
type Server struct {
	ln     net.Listener
	srv    *http.Server
	served chan error // Serve's result

	closeOnce sync.Once
	closeErr  error // set by closeOnce
}

// readHeaderTimeout bounds how long a connection may take to send its
// request headers, so idle or slow clients cannot hold connections open.
const readHeaderTimeout = 10 * time.Second

// Listen listens on addr (host:port; port 0 picks one) and serves h on
// it until Close. logger receives the HTTP server's own errors; nil
// discards them.
func Listen(addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		served: make(chan error, 1),
	}
	go func() { s.served <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server: it stops accepting, lets requests in flight
// finish until ctx ends, then cuts them off. It waits for the serving
// goroutine. Calling it again returns the first result.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		err := s.srv.Shutdown(ctx)
		if err != nil && ctx.Err() != nil {
			err = s.srv.Close()
		}
		if serr := <-s.served; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		s.closeErr = err
	})
	return s.closeErr
}
