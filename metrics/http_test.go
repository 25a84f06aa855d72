package metrics

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caskade/caskade/internal/metricstest"
)

func TestServer_Endpoints(t *testing.T) {
	reg := NewRegistry("v1.2.3")
	var notReady atomic.Pointer[error]
	ready := func() error {
		if e := notReady.Load(); e != nil {
			return *e
		}
		return nil
	}
	s, err := Listen("127.0.0.1:0", NewHandler(reg, ready), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	base := "http://" + s.Addr()

	f := metricstest.Scrape(t, base+MetricsPath)
	if v, ok := f.Value("caskade_build_info", "version", "v1.2.3"); !ok || v != 1 {
		t.Errorf("caskade_build_info{version=v1.2.3} = %v (found %v), want 1", v, ok)
	}
	if _, ok := f.Value("go_goroutines"); !ok {
		t.Error("no go_goroutines: the Go collector is missing")
	}

	for _, tt := range []struct {
		name     string
		notReady error
		path     string
		code     int
		body     string
	}{
		{"live", nil, LivePath, http.StatusOK, "ok\n"},
		{"ready", nil, ReadyPath, http.StatusOK, "ok\n"},
		{"not ready", errors.New("no known leader"), ReadyPath, http.StatusServiceUnavailable, "not ready: no known leader\n"},
		{"not ready, joined error on one line", errors.Join(errors.New("a"), errors.New("b")), ReadyPath, http.StatusServiceUnavailable, "not ready: a; b\n"},
		{"live while not ready", errors.New("catching up"), LivePath, http.StatusOK, "ok\n"},
		{"unknown path", nil, "/nothing", http.StatusNotFound, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.notReady != nil {
				notReady.Store(&tt.notReady)
			} else {
				notReady.Store(nil)
			}
			code, body := metricstest.Get(t, base+tt.path)
			if code != tt.code || (tt.body != "" && body != tt.body) {
				t.Fatalf("GET %s = %d %q, want %d %q", tt.path, code, body, tt.code, tt.body)
			}
		})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := http.Get(base + LivePath); err == nil {
		t.Fatal("still serving after Close")
	}
}

func TestListen_BadAddr(t *testing.T) {
	if _, err := Listen("127.0.0.1:nope", NewHandler(NewRegistry("dev"), func() error { return nil }), nil); err == nil ||
		!strings.Contains(err.Error(), "nope") {
		t.Fatalf("Listen(bad port) = %v, want an error naming it", err)
	}
}
