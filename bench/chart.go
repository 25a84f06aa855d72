package bench

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// ErrChartFormat is returned for a chart file whose name ends in neither
// .png nor .svg.
var ErrChartFormat = errors.New("bench: chart format unknown (want a file name ending in .png or .svg)")

// Chart formats, as the file name's extension gives them.
const (
	ChartPNG = "png"
	ChartSVG = "svg"
)

// ChartFormat returns the format of a chart written to path: ChartPNG or
// ChartSVG by its extension (any case), else ErrChartFormat.
func ChartFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return ChartPNG, nil
	case ".svg":
		return ChartSVG, nil
	}
	return "", fmt.Errorf("%w: %q", ErrChartFormat, path)
}

// Size of a chart: four panels in two rows.
const (
	chartWidth  = 30 * vg.Centimeter
	chartHeight = 20 * vg.Centimeter
)

// WriteChart writes a chart of rep to path, as PNG or SVG by its
// extension: latency (p50, p99, max) and throughput over the run, the
// latency by percentile, and the latency histogram. A file that cannot
// be written completely is removed.
func WriteChart(path string, rep *Report) (err error) {
	format, err := ChartFormat(path)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("bench: chart: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	return Chart(f, format, rep)
}

// Chart draws the chart of rep (see WriteChart) to w in format, ChartPNG
// or ChartSVG.
func Chart(w io.Writer, format string, rep *Report) error {
	plots := [][]*plot.Plot{
		{latencyOverTime(rep), throughputOverTime(rep)},
		{latencyByPercentile(rep), latencyHistogram(rep)},
	}
	var (
		canvas vg.CanvasWriterTo
		dc     draw.Canvas
	)
	switch format {
	case ChartPNG:
		img := vgimg.New(chartWidth, chartHeight)
		canvas, dc = vgimg.PngCanvas{Canvas: img}, draw.New(img)
	case ChartSVG:
		svg := vgsvg.New(chartWidth, chartHeight)
		canvas, dc = svg, draw.New(svg)
	default:
		return fmt.Errorf("%w: %q", ErrChartFormat, format)
	}
	tiles := draw.Tiles{
		Rows: 2, Cols: 2,
		PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12),
	}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j, p := range plots[i] {
			p.Draw(canvases[i][j])
		}
	}
	if _, err := canvas.WriteTo(w); err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	return nil
}

// newPlot returns a plot with the title and axis labels.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Y.Min = 0
	p.X.Min = 0
	p.X.Tick.Marker = plainTicks{}
	p.Y.Tick.Marker = plainTicks{}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p
}

// addLine adds a line with points (so that a single point shows) in the
// i-th color of plotutil.
func addLine(p *plot.Plot, name string, i int, xys plotter.XYs) {
	if len(xys) == 0 {
		return
	}
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return // only NaN or infinite values, which the callers never make
	}
	l.Color = plotutil.Color(i)
	s.Color = plotutil.Color(i)
	s.Radius = vg.Points(1.5)
	p.Add(l, s)
	p.Legend.Add(name, l, s)
}

// title names the run in each plot's title.
func (rep *Report) title(what string) string {
	return fmt.Sprintf("%s — %s, %d clients", what, rep.Workload, rep.Clients)
}

// latencyOverTime plots p50, p99 and max of each time bucket, in ms.
func latencyOverTime(rep *Report) *plot.Plot {
	p := newPlot(rep.title("Latency over time"), "seconds since start", "latency (ms)")
	var p50, p99, pmax plotter.XYs
	for _, b := range rep.Timeline {
		if b.OK == 0 {
			continue
		}
		x := b.Start + b.Seconds/2
		p50 = append(p50, plotter.XY{X: x, Y: ms(b.P50)})
		p99 = append(p99, plotter.XY{X: x, Y: ms(b.P99)})
		pmax = append(pmax, plotter.XY{X: x, Y: ms(b.Max)})
	}
	addLine(p, "p50", 0, p50)
	addLine(p, "p99", 1, p99)
	addLine(p, "max", 2, pmax)
	return p
}

// throughputOverTime plots the operations (and errors) per second of each
// time bucket.
func throughputOverTime(rep *Report) *plot.Plot {
	p := newPlot(rep.title("Throughput"), "seconds since start", "operations per second")
	var ops, errs plotter.XYs
	for i, b := range rep.Timeline {
		if i > 0 && i == len(rep.Timeline)-1 && b.Seconds < rep.Timeline[0].Seconds/2 {
			// The run ended early in this bucket: a rate over so short
			// a time (the last operations ending together) is noise.
			break
		}
		x := b.Start + b.Seconds/2
		ops = append(ops, plotter.XY{X: x, Y: float64(b.OK+b.Errors) / b.Seconds})
		errs = append(errs, plotter.XY{X: x, Y: float64(b.Errors) / b.Seconds})
	}
	addLine(p, "all", 0, ops)
	if rep.Errors > 0 {
		addLine(p, "errors", 1, errs)
	}
	return p
}

// latencyByPercentile plots Distribution on a scale of nines: 0, 90, 99,
// 99.9 ... percent are equally spaced, which shows the tail.
func latencyByPercentile(rep *Report) *plot.Plot {
	p := newPlot(rep.title("Latency by percentile"), "percentile", "latency (ms)")
	var xys plotter.XYs
	maxNines := 1.0
	for _, d := range rep.Distribution {
		x := nines(d.Percentile, rep.Latency.Count)
		maxNines = max(maxNines, math.Ceil(x))
		xys = append(xys, plotter.XY{X: x, Y: ms(d.Latency)})
	}
	addLine(p, "latency", 0, xys)
	p.X.Min, p.X.Max = 0, maxNines
	var ticks plot.ConstantTicks
	for n := 0; float64(n) <= maxNines; n++ {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: ninesLabel(n)})
	}
	p.X.Tick.Marker = ticks
	p.Legend = plot.NewLegend() // one line: no legend
	return p
}

// ninesLabel names the percentile of n nines: 0%, 90%, 99%, 99.9% ...
func ninesLabel(n int) string {
	switch n {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", n-2) + "%"
}

// nines places a percentile on the scale of nines: -log10(1 - p/100).
// The 100th percentile, at infinity, is drawn one step past the last
// percentile the count supports.
func nines(percentile float64, count int64) float64 {
	if percentile >= 100 {
		return math.Log10(float64(max(count, 1))) + 0.1
	}
	return -math.Log10(1 - percentile/100)
}

// latencyHistogram draws Histogram as bars labelled by their upper bounds.
func latencyHistogram(rep *Report) *plot.Plot {
	p := newPlot(rep.title("Latency histogram"), "latency up to", "operations")
	if len(rep.Histogram) == 0 {
		return p
	}
	values := make(plotter.Values, len(rep.Histogram))
	labels := make([]string, len(rep.Histogram))
	for i, b := range rep.Histogram {
		values[i] = float64(b.Count)
		labels[i] = formatMicros(b.UpTo)
	}
	bars, err := plotter.NewBarChart(values, vg.Points(14))
	if err != nil {
		return p // only for negative or NaN counts, which a histogram never has
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Color = color.Transparent
	p.Add(bars)
	p.NominalX(labels...)
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	return p
}

// plainTicks are plot.DefaultTicks labelled with the shortest form of
// their values: 250 rather than 250.00.
type plainTicks struct{}

// Ticks implements plot.Ticker.
func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}

// ms converts microseconds to milliseconds.
func ms(us int64) float64 { return float64(us) / 1e3 }
