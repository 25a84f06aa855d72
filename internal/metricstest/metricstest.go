// Package metricstest reads Prometheus metrics in tests: from a Gatherer
// or by scraping an HTTP endpoint, into Families that answer "what is the
// value of this series".
package metricstest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are metric families by name.
type Families map[string]*dto.MetricFamily

// Gather collects g.
func Gather(t testing.TB, g prometheus.Gatherer) Families {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(Families, len(mfs))
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// Get fetches url with a 10-second timeout and returns the status code
// and body.
func Get(t testing.TB, url string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// Scrape fetches url (a /metrics endpoint) and parses its text
// exposition.
func Scrape(t testing.TB, url string) Families {
	t.Helper()
	code, body := Get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", url, code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return Families(mfs)
}

// Value returns the sum of the values of the series of the counter,
// gauge or untyped metric name whose labels include every pair of
// labels (name, value, name, value, ...), and whether any series
// matched.
func (f Families) Value(name string, labels ...string) (float64, bool) {
	var sum float64
	found := false
	for _, m := range f.series(name, labels) {
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		default:
			continue
		}
		found = true
	}
	return sum, found
}

// Count returns the total sample count of the series of the histogram
// or summary name whose labels include every pair of labels, and whether
// any series matched.
func (f Families) Count(name string, labels ...string) (uint64, bool) {
	var sum uint64
	found := false
	for _, m := range f.series(name, labels) {
		switch {
		case m.Histogram != nil:
			sum += m.Histogram.GetSampleCount()
		case m.Summary != nil:
			sum += m.Summary.GetSampleCount()
		default:
			continue
		}
		found = true
	}
	return sum, found
}

// series returns the series of name whose labels include labels.
func (f Families) series(name string, labels []string) []*dto.Metric {
	if len(labels)%2 != 0 {
		panic(fmt.Sprintf("metricstest: odd label list %q", labels))
	}
	mf := f[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range mf.GetMetric() {
		if hasLabels(m, labels) {
			out = append(out, m)
		}
	}
	return out
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i < len(labels); i += 2 {
		ok := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
