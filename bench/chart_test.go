package bench_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/caskade/caskade/bench"
)

func TestChartFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, want string
	}{
		{"out.png", bench.ChartPNG},
		{"dir/Out.PNG", bench.ChartPNG},
		{"out.svg", bench.ChartSVG},
		{"out.jpg", ""},
		{"out", ""},
		{"png", ""},
	}
	for _, tt := range tests {
		got, err := bench.ChartFormat(tt.path)
		if got != tt.want || (tt.want == "") != errors.Is(err, bench.ErrChartFormat) {
			t.Errorf("ChartFormat(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

// pngMagic starts every PNG file.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// checkChart checks that path holds a non-empty chart in its format.
func checkChart(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 1000 {
		t.Fatalf("%s: %d bytes, want a chart", path, len(b))
	}
	switch filepath.Ext(path) {
	case ".png":
		if !bytes.HasPrefix(b, pngMagic) {
			t.Errorf("%s does not start with the PNG signature: % x", path, b[:8])
		}
	case ".svg":
		// The root element is <svg>, and the document is well-formed XML.
		d := xml.NewDecoder(bytes.NewReader(b))
		var root string
		for root == "" {
			tok, err := d.Token()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if se, ok := tok.(xml.StartElement); ok {
				root = se.Name.Local
			}
		}
		if root != "svg" {
			t.Errorf("%s: root element <%s>, want <svg>", path, root)
		}
		for {
			if _, err := d.Token(); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Errorf("%s is not well-formed: %v", path, err)
				}
				break
			}
		}
	}
}

func TestWriteChart(t *testing.T) {
	t.Parallel()
	_, c := startServer(t)
	o := small(bench.Mixed, 300)
	o.Populate = true
	o.ReadRatio = 0.5
	rep, err := bench.Run(t.Context(), c, o)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"chart.png", "chart.svg"} {
		path := filepath.Join(dir, name)
		if err := bench.WriteChart(path, rep); err != nil {
			t.Fatalf("WriteChart %s: %v", name, err)
		}
		checkChart(t, path)
	}
}

func TestWriteChart_NoSuccess(t *testing.T) {
	t.Parallel()
	// Every get of an empty store fails: the latency panels are empty,
	// and the chart is still drawn.
	_, c := startServer(t)
	rep, err := bench.Run(t.Context(), c, small(bench.Get, 20))
	if err != nil || rep.OK != 0 {
		t.Fatalf("run: ok %d, %v; want only errors", rep.OK, err)
	}
	path := filepath.Join(t.TempDir(), "errors.svg")
	if err := bench.WriteChart(path, rep); err != nil {
		t.Fatal(err)
	}
	checkChart(t, path)
}

func TestWriteChart_BadFormat(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chart.jpg")
	err := bench.WriteChart(path, &bench.Report{})
	if !errors.Is(err, bench.ErrChartFormat) {
		t.Fatalf("err %v, want ErrChartFormat", err)
	}
	if _, serr := os.Stat(path); !os.IsNotExist(serr) {
		t.Errorf("a file was made for a refused format: %v", serr)
	}
}
