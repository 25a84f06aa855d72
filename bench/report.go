package bench

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/caskade/caskade/client"
)

// Report is what a run measured. Its JSON form is what `caskade bench -o
// json` prints; latencies are in microseconds, of successful operations.
type Report struct {
	Workload    Workload `json:"workload"`
	Clients     int      `json:"clients"`
	KeySize     int      `json:"key_size,omitempty"`    // put, get, mixed
	Keys        int      `json:"keys,omitempty"`        // put, get, mixed
	ValueSize   int      `json:"value_size,omitempty"`  // of the values written, measured or populated
	ReadRatio   *float64 `json:"read_ratio,omitempty"`  // mixed
	Consistency string   `json:"consistency,omitempty"` // get, mixed, consume: linearizable or stale

	// Populated is how many keys (get, mixed) or records (consume) were
	// written before the measured run, in PopulateSeconds; they are not
	// counted below.
	Populated       int64   `json:"populated,omitempty"`
	PopulateSeconds float64 `json:"populate_seconds,omitempty"`

	// Ops is the operations completed: OK + Errors. With Total given and
	// neither Interrupted nor Stopped, it equals Total.
	Ops    int64 `json:"ops"`
	OK     int64 `json:"ok"`
	Errors int64 `json:"errors"`
	// Abandoned operations were cut short when the run was interrupted;
	// they are in neither OK nor Errors.
	Abandoned   int64  `json:"abandoned,omitempty"`
	Interrupted bool   `json:"interrupted,omitempty"`
	Stopped     string `json:"stopped,omitempty"` // why a fatal error stopped the run

	Seconds        float64 `json:"seconds"`          // from the first operation's start to the last one's end
	OpsPerSecond   float64 `json:"ops_per_second"`   // Ops / Seconds
	Bytes          int64   `json:"bytes"`            // key and value bytes of the successful operations
	BytesPerSecond float64 `json:"bytes_per_second"` // Bytes / Seconds

	Latency      Latency      `json:"latency"`
	Histogram    []HistBucket `json:"histogram"`       // latency buckets, log-spaced from min to max
	Distribution []Percentile `json:"distribution"`    // latency by percentile, for plotting
	ByOp         []OpReport   `json:"by_op,omitempty"` // mixed: puts and gets apart
	ErrorKinds   []ErrorCount `json:"error_kinds"`     // by count, most first
	Timeline     []TimeBucket `json:"timeline"`        // the run in time buckets of equal width (the last may be cut short)
}

// Latency summarizes a latency histogram, in microseconds.
type Latency struct {
	Count int64   `json:"count"`
	Min   int64   `json:"min_us"`
	Mean  float64 `json:"mean_us"`
	P50   int64   `json:"p50_us"`
	P90   int64   `json:"p90_us"`
	P99   int64   `json:"p99_us"`
	P999  int64   `json:"p99_9_us"`
	Max   int64   `json:"max_us"`
}

// HistBucket counts the latencies in (the previous bucket's UpTo, UpTo].
type HistBucket struct {
	UpTo  int64 `json:"le_us"`
	Count int64 `json:"count"`
}

// Percentile is the latency below which Percentile percent of the
// successful operations completed.
type Percentile struct {
	Percentile float64 `json:"percentile"`
	Latency    int64   `json:"us"`
}

// OpReport is the part of a mixed run one kind of operation did.
type OpReport struct {
	Op      string  `json:"op"`
	OK      int64   `json:"ok"`
	Errors  int64   `json:"errors"`
	Latency Latency `json:"latency"`
}

// ErrorCount is how many operations failed with one kind of error, with
// the first such error's message.
type ErrorCount struct {
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

// TimeBucket is one slice of the run, Start after its beginning and
// Seconds long.
type TimeBucket struct {
	Start   float64 `json:"start_seconds"`
	Seconds float64 `json:"seconds"`
	OK      int64   `json:"ok"`
	Errors  int64   `json:"errors"`
	P50     int64   `json:"p50_us"` // 0 when no operation succeeded in it
	P99     int64   `json:"p99_us"`
	Max     int64   `json:"max_us"`
}

// histBuckets is the number of buckets of Report.Histogram.
const histBuckets = 12

// report builds the Report of a measured phase that took elapsed.
func (r *runner) report(rec *recorder, elapsed time.Duration) *Report {
	o := &r.o
	rep := &Report{
		Workload:        o.Workload,
		Clients:         o.Clients,
		Populated:       r.populated,
		PopulateSeconds: seconds(r.populateTime),
		Seconds:         seconds(elapsed),
	}
	if r.populated == 0 {
		rep.PopulateSeconds = 0
	}
	if o.Workload.Keyed() {
		rep.KeySize, rep.Keys = o.KeySize, o.Keys
	}
	if o.Workload == Put || o.Workload == Mixed || o.Workload == Produce || r.populated > 0 {
		rep.ValueSize = o.ValueSize
	}
	if o.Workload == Mixed {
		ratio := o.ReadRatio
		rep.ReadRatio = &ratio
	}
	if o.Workload.Reads() {
		rep.Consistency = consistencyName(o.Consistency)
	}

	rec.mu.Lock()
	defer rec.mu.Unlock()
	all := hdr.New(1, maxLatencyMicros, sigFigs)
	names := make([]string, 0, len(rec.mu.ops))
	for name, s := range rec.mu.ops {
		names = append(names, name)
		rep.OK += s.ok
		rep.Errors += s.errors
		rep.Bytes += s.bytes
		all.Merge(s.latency)
	}
	slices.Sort(names)
	rep.Ops = rep.OK + rep.Errors
	rep.Abandoned = rec.mu.abandoned
	if elapsed > 0 {
		rep.OpsPerSecond = float64(rep.Ops) / elapsed.Seconds()
		rep.BytesPerSecond = float64(rep.Bytes) / elapsed.Seconds()
	}
	rep.Latency = summarize(all)
	rep.Histogram = histogram(all, histBuckets)
	rep.Distribution = distribution(all)
	if o.Workload == Mixed {
		for _, name := range names {
			s := rec.mu.ops[name]
			rep.ByOp = append(rep.ByOp, OpReport{Op: name, OK: s.ok, Errors: s.errors, Latency: summarize(s.latency)})
		}
	}
	rep.ErrorKinds = []ErrorCount{}
	for kind, e := range rec.mu.errs {
		rep.ErrorKinds = append(rep.ErrorKinds, ErrorCount{Kind: kind, Count: e.count, Example: e.example})
	}
	slices.SortFunc(rep.ErrorKinds, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Kind, b.Kind))
	})
	rep.Timeline = make([]TimeBucket, len(rec.mu.buckets))
	for i, b := range rec.mu.buckets {
		from := time.Duration(i) * rec.mu.width
		tb := TimeBucket{Start: seconds(from), Seconds: seconds(min(rec.mu.width, max(elapsed-from, 0))), OK: b.ok, Errors: b.errors}
		if b.latency != nil {
			tb.P50, tb.P99, tb.Max = b.latency.ValueAtQuantile(50), b.latency.ValueAtQuantile(99), b.latency.Max()
		}
		rep.Timeline[i] = tb
	}
	return rep
}

func consistencyName(c client.Consistency) string {
	if c == client.ConsistencyStale {
		return "stale"
	}
	return "linearizable"
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// summarize gives the summary of h; all zero when h is empty.
func summarize(h *hdr.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Count: h.TotalCount(),
		Min:   h.Min(),
		Mean:  math.Round(h.Mean()*10) / 10,
		P50:   h.ValueAtQuantile(50),
		P90:   h.ValueAtQuantile(90),
		P99:   h.ValueAtQuantile(99),
		P999:  h.ValueAtQuantile(99.9),
		Max:   h.Max(),
	}
}

// histogram counts the values of h in n buckets whose bounds grow
// geometrically from its min to its max, so that both a tight mode and a
// long tail show. Each value of h is counted in exactly one bucket.
func histogram(h *hdr.Histogram, n int) []HistBucket {
	if h.TotalCount() == 0 {
		return []HistBucket{}
	}
	lo, hi := float64(max(h.Min(), 1)), float64(max(h.Max(), 1))
	bounds := make([]int64, 0, n)
	for i := 1; i <= n; i++ {
		b := int64(math.Ceil(lo * math.Pow(hi/lo, float64(i)/float64(n))))
		if len(bounds) > 0 && b <= bounds[len(bounds)-1] {
			continue // a narrow range: fewer, distinct bounds
		}
		bounds = append(bounds, b)
	}
	bounds[len(bounds)-1] = h.Max() // Max is the highest equivalent value: every value is <= it
	out := make([]HistBucket, len(bounds))
	for i, b := range bounds {
		out[i].UpTo = b
	}
	i := 0
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		// A bar holds values equivalent to its highest, To: count it there.
		for i < len(out)-1 && bar.To > out[i].UpTo {
			i++
		}
		out[i].Count += bar.Count
	}
	return out
}

// distribution gives the latency at percentiles spaced evenly on the
// scale of "nines" (90, 99, 99.9, ...: -log10(1 - p/100)), ten points per
// nine, as far as the number of values supports, then 100 (the max).
func distribution(h *hdr.Histogram) []Percentile {
	out := []Percentile{}
	count := h.TotalCount()
	if count == 0 {
		return out
	}
	maxNines := math.Log10(float64(count))
	for i := 0; float64(i)/10 < maxNines; i++ {
		p := 100 * (1 - math.Pow(10, -float64(i)/10))
		out = append(out, Percentile{Percentile: math.Round(p*1e4) / 1e4, Latency: h.ValueAtQuantile(p)})
	}
	return append(out, Percentile{Percentile: 100, Latency: h.Max()})
}

// WriteText writes the report for people to read.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Workload %s: %s\n", rep.Workload, rep.describe())
	if rep.Populated > 0 {
		what := "keys"
		if rep.Workload == Consume {
			what = "records"
		}
		fmt.Fprintf(&b, "Populated %d %s first in %s (not measured)\n", rep.Populated, what, formatSeconds(rep.PopulateSeconds))
	}
	b.WriteString("\nSummary:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  Operations:\t%d in %s (%d ok, %d errors)\n", rep.Ops, formatSeconds(rep.Seconds), rep.OK, rep.Errors)
	fmt.Fprintf(tw, "  Throughput:\t%.1f ops/s, %s/s\n", rep.OpsPerSecond, formatBytes(rep.BytesPerSecond))
	if rep.Interrupted {
		fmt.Fprintf(tw, "  Interrupted:\t%d operations in flight abandoned (not counted)\n", rep.Abandoned)
	}
	if rep.Stopped != "" {
		fmt.Fprintf(tw, "  Stopped:\t%s\n", rep.Stopped)
	}
	tw.Flush()

	b.WriteString("\nLatency of successful operations:\n")
	if rep.Latency.Count == 0 {
		b.WriteString("  (none)\n")
	} else {
		fmt.Fprintf(&b, "  %s\n", rep.Latency.line())
		for _, op := range rep.ByOp {
			fmt.Fprintf(&b, "  %-4s %d ok, %d errors: %s\n", op.Op, op.OK, op.Errors, op.Latency.line())
		}
		b.WriteString("\nLatency histogram:\n")
		writeHistogram(&b, rep.Histogram)
	}
	if len(rep.ErrorKinds) > 0 {
		b.WriteString("\nErrors:\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, e := range rep.ErrorKinds {
			fmt.Fprintf(tw, "  %s\t%d\te.g. %s\n", e.Kind, e.Count, e.Example)
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describe gives the parameters of the run in one line.
func (rep *Report) describe() string {
	parts := []string{fmt.Sprintf("%d clients", rep.Clients)}
	if rep.Keys > 0 {
		parts = append(parts, fmt.Sprintf("%d keys of %d bytes", rep.Keys, rep.KeySize))
	}
	if rep.ValueSize > 0 {
		parts = append(parts, fmt.Sprintf("%d-byte values", rep.ValueSize))
	}
	if rep.ReadRatio != nil {
		parts = append(parts, fmt.Sprintf("%g%% reads", *rep.ReadRatio*100))
	}
	if rep.Consistency != "" {
		parts = append(parts, rep.Consistency+" reads")
	}
	return strings.Join(parts, ", ")
}

// line gives a latency summary in one line.
func (l Latency) line() string {
	return fmt.Sprintf("min %s  mean %s  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s",
		formatMicros(l.Min), formatMicros(int64(math.Round(l.Mean))), formatMicros(l.P50), formatMicros(l.P90),
		formatMicros(l.P99), formatMicros(l.P999), formatMicros(l.Max))
}

// histBarWidth is the length of the longest bar of a text histogram.
const histBarWidth = 40

// writeHistogram draws the buckets as bars of '∎', scaled to the largest.
func writeHistogram(b *strings.Builder, buckets []HistBucket) {
	var most int64
	for _, hb := range buckets {
		most = max(most, hb.Count)
	}
	tw := tabwriter.NewWriter(b, 0, 0, 1, ' ', tabwriter.AlignRight)
	for _, hb := range buckets {
		bar := 0
		if most > 0 {
			bar = int((hb.Count*histBarWidth + most - 1) / most)
		}
		fmt.Fprintf(tw, "  ≤ %s\t%d\t |%s\n", formatMicros(hb.UpTo), hb.Count, strings.Repeat("∎", bar))
	}
	tw.Flush()
}

// formatMicros prints a latency in µs, ms or s with three significant
// digits.
func formatMicros(us int64) string {
	if us < 1000 {
		return fmt.Sprintf("%dµs", us)
	}
	if v := round3(float64(us) / 1e3); v < 1000 {
		return threeDigits(v) + "ms"
	}
	return threeDigits(float64(us)/1e6) + "s"
}

// formatSeconds prints a duration in seconds with three significant
// digits, in ms below a second.
func formatSeconds(s float64) string {
	if v := round3(s * 1e3); v < 1000 {
		return threeDigits(v) + "ms"
	}
	return threeDigits(s) + "s"
}

// formatBytes prints a byte count (or rate) with a binary unit and three
// significant digits.
func formatBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for round3(n) >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", n, units[i])
	}
	return threeDigits(n) + " " + units[i]
}

// round3 rounds v (>= 0) to three significant digits; from 1000 on, to a
// whole number.
func round3(v float64) float64 {
	if v >= 1000 || v <= 0 {
		return math.Round(v)
	}
	scale := math.Pow(10, 2-math.Floor(math.Log10(v)))
	return math.Round(v*scale) / scale
}

// threeDigits prints v (>= 0) with three significant digits: 1.23, 12.3,
// 123, 1234.
func threeDigits(v float64) string {
	v = round3(v)
	decimals := 0
	switch {
	case v < 10:
		decimals = 2
	case v < 100:
		decimals = 1
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}
