package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
)

// report holds one invocation's results.
type report struct {
	Mode        string      `json:"mode"`
	Go          string      `json:"go"`
	Platform    string      `json:"platform"`
	CPUs        int         `json:"cpus"`
	Keys        int         `json:"keys"`
	Puts        int         `json:"puts_per_run"`
	Writers     int         `json:"writers"`
	CompactKeys int         `json:"compact_keys"` // each written 3 times
	Rounds      int         `json:"rounds"`
	Benchtime   string      `json:"benchtime"`
	KeyBytes    int         `json:"key_bytes"`
	ValueBytes  int         `json:"value_bytes"`
	Dir         string      `json:"dir"`
	Stores      []storeInfo `json:"stores"`
	Rows        []row       `json:"rows"`
	// Speedup is, per store, its ops/s with many durable writers over its
	// ops/s with one.
	Speedup map[string]float64 `json:"durable_speedup,omitempty"`
	Targets []target           `json:"targets"`
}

type storeInfo struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Settings string `json:"settings"`
}

type row struct {
	Workload string `json:"workload"`
	Title    string `json:"title"`
	Rate     bool   `json:"-"`
	Cells    []cell `json:"stores"`
}

type cell struct {
	Store string `json:"store"`
	// NsPerOp is the median over rounds; RoundsNs each round's value.
	NsPerOp   float64   `json:"ns_per_op"`
	OpsPerSec float64   `json:"ops_per_sec"`
	RoundsNs  []float64 `json:"rounds_ns_per_op"`
	// Ratio is this store's time per op over caskade's: above 1, caskade
	// is faster. 0 when caskade did not run.
	Ratio float64 `json:"ratio_to_caskade,omitempty"`
	// Space is set on the compact row: the store's bytes on disk after
	// its compaction.
	Space *space `json:"space,omitempty"`
}

// space is a compact cell's bytes on disk after compaction: medians over
// the rounds, each taken on its own.
type space struct {
	// LiveBytes is what the keys and their latest values take:
	// compact keys × (key bytes + value bytes).
	LiveBytes int64 `json:"live_bytes"`
	// DiskBytes are the bytes allocated (st_blocks × 512) to the regular
	// files under the store's dir, store open; ClosedBytes the same after
	// closing it; ApparentBytes the files' apparent sizes (what ls shows),
	// store open.
	DiskBytes     int64 `json:"disk_bytes"`
	ClosedBytes   int64 `json:"closed_disk_bytes"`
	ApparentBytes int64 `json:"apparent_bytes"`
	// Amplification is DiskBytes ÷ LiveBytes, ClosedAmplification
	// ClosedBytes ÷ LiveBytes.
	Amplification       float64 `json:"space_amplification"`
	ClosedAmplification float64 `json:"closed_space_amplification"`
	// Rounds holds each round's DiskBytes, ClosedBytes and ApparentBytes.
	Rounds [][3]int64 `json:"rounds_disk_closed_apparent_bytes"`
}

// target is one of the goals, checked against this run.
type target struct {
	Name string  `json:"name"`
	What string  `json:"what"`
	Want string  `json:"want"`
	Got  float64 `json:"got"`
	Met  bool    `json:"met"`
}

func newReport(p *plan) *report {
	r := &report{
		Mode: p.mode, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		CPUs: runtime.NumCPU(), Keys: p.keys, Puts: p.puts, Writers: p.writers, CompactKeys: p.compactKeys,
		Rounds: p.rounds, Benchtime: p.benchtime.String(),
		KeyBytes: keySize, ValueBytes: valueSize, Dir: p.root,
	}
	for _, be := range p.backends {
		r.Stores = append(r.Stores, storeInfo{Name: be.name, Version: version(be.module), Settings: be.settings})
	}
	for _, w := range p.workloads {
		rw := row{Workload: w.name, Title: w.title, Rate: w.rate}
		for _, be := range p.backends {
			rw.Cells = append(rw.Cells, cell{Store: be.name})
		}
		r.Rows = append(r.Rows, rw)
	}
	return r
}

func (r *report) cell(workload, store string) *cell {
	for i := range r.Rows {
		if r.Rows[i].Workload != workload {
			continue
		}
		for j := range r.Rows[i].Cells {
			if c := &r.Rows[i].Cells[j]; c.Store == store {
				return c
			}
		}
	}
	return nil
}

// add records one round of one cell: its time per op and, from a compact
// run, its bytes on disk (in extra, the run's b.ReportMetric values).
func (r *report) add(w workload, store string, nsPerOp float64, extra map[string]float64) {
	c := r.cell(w.name, store)
	c.RoundsNs = append(c.RoundsNs, nsPerOp)
	if d, ok := extra[metricDisk]; ok {
		if c.Space == nil {
			c.Space = &space{LiveBytes: int64(r.CompactKeys) * (keySize + valueSize)}
		}
		c.Space.Rounds = append(c.Space.Rounds, [3]int64{int64(d), int64(extra[metricDiskClosed]), int64(extra[metricApparent])})
	}
}

// finish computes medians, ratios, speed-ups and targets.
func (r *report) finish() {
	for i := range r.Rows {
		var base float64
		for j := range r.Rows[i].Cells {
			c := &r.Rows[i].Cells[j]
			c.NsPerOp = median(c.RoundsNs)
			c.OpsPerSec = 1e9 / c.NsPerOp
			if sp := c.Space; sp != nil {
				sp.DiskBytes, sp.ClosedBytes, sp.ApparentBytes = sp.median(0), sp.median(1), sp.median(2)
				sp.Amplification = float64(sp.DiskBytes) / float64(sp.LiveBytes)
				sp.ClosedAmplification = float64(sp.ClosedBytes) / float64(sp.LiveBytes)
			}
			if c.Store == "caskade" {
				base = c.NsPerOp
			}
		}
		for j := range r.Rows[i].Cells {
			if c := &r.Rows[i].Cells[j]; base > 0 {
				c.Ratio = c.NsPerOp / base
			}
		}
	}
	many := fmt.Sprintf("put-durable-%d", r.Writers)
	r.Speedup = map[string]float64{}
	for _, s := range r.Stores {
		one, n := r.cell("put-durable-1", s.Name), r.cell(many, s.Name)
		if one != nil && n != nil {
			r.Speedup[s.Name] = one.NsPerOp / n.NsPerOp
		}
	}
	// caskade's time over a peer's (for "at most" goals), or a peer's over
	// caskade's (for "at least as fast"): got is compared with want.
	vs := func(workload, peer string) (float64, bool) {
		c, p := r.cell(workload, "caskade"), r.cell(workload, peer)
		if c == nil || p == nil {
			return 0, false
		}
		return c.NsPerOp / p.NsPerOp, true
	}
	if got, ok := vs("put", "pebble"); ok {
		r.Targets = append(r.Targets, target{"put", "caskade time/op ÷ pebble's, no fsync", "≤ 0.50", got, got <= 0.5})
	}
	if got, ok := vs("get", "bbolt"); ok {
		r.Targets = append(r.Targets, target{"get", "caskade time/op ÷ bbolt's", "≤ 0.50", got, got <= 0.5})
	}
	if got, ok := vs("scan100", "bbolt"); ok {
		r.Targets = append(r.Targets, target{"scan100", "caskade scans/s ÷ bbolt's", "≥ 1.00", 1 / got, 1/got >= 1})
	}
	if s, ok := r.Speedup["caskade"]; ok {
		r.Targets = append(r.Targets, target{"durable", fmt.Sprintf("caskade %d-writer ops/s ÷ 1-writer", r.Writers), "≥ 8.00", s, s >= 8})
	}
	if c := r.cell("compact", "caskade"); c != nil && c.Space != nil {
		a := c.Space.Amplification
		r.Targets = append(r.Targets, target{"compact", "caskade disk ÷ live after compaction", "≤ 1.15", a, a <= 1.15})
	}
}

// median returns the median over the rounds of field i of Rounds.
func (s *space) median(i int) int64 {
	var xs []float64
	for _, r := range s.Rounds {
		xs = append(xs, float64(r[i]))
	}
	return int64(median(xs))
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

const (
	labelWidth = 30
	cellWidth  = 22
)

func (r *report) writeTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "caskade vs bbolt, pebble, badger: %s mode, %s %s, %d CPUs\n", r.Mode, r.Go, r.Platform, r.CPUs)
	fmt.Fprintf(&b, "%d B keys in random order, %d B random values; %d keys preloaded for get/scan/reopen (load untimed);\n", r.KeyBytes, r.ValueBytes, r.Keys)
	fmt.Fprintf(&b, "each put run writes %d keys into a new empty store; other runs last %s; %d round(s), stores interleaved in each.\n", r.Puts, r.Benchtime, r.Rounds)
	if slices.ContainsFunc(r.Rows, func(rw row) bool { return rw.Workload == "compact" }) {
		fmt.Fprintf(&b, "compact: %d keys written, then overwritten twice (untimed), then the store's full compaction (the cell's time);\n", r.CompactKeys)
		fmt.Fprintf(&b, "  then bytes allocated to the files in the store's dir (st_blocks), open and after close, ÷ live bytes (%d × %d B = %s).\n",
			r.CompactKeys, r.KeyBytes+r.ValueBytes, fmtBytes(float64(r.CompactKeys*(r.KeyBytes+r.ValueBytes))))
	}
	fmt.Fprintf(&b, "Cells: median time per op (durable rows: ops/s), then ×R = the store's time per op ÷ caskade's (R > 1: caskade faster).\n")
	fmt.Fprintf(&b, "Stores (each in its own temp dir under %s, all in this one process):\n", r.Dir)
	vw := 0
	for _, s := range r.Stores {
		vw = max(vw, len(s.Version))
	}
	for _, s := range r.Stores {
		fmt.Fprintf(&b, "  %-8s %-*s  %s\n", s.Name, vw, s.Version, s.Settings)
	}
	b.WriteString("\n")

	line := func(label string, cells []string) {
		l := fmt.Sprintf("%-*s", labelWidth, label)
		for _, c := range cells {
			l += fmt.Sprintf("%-*s", cellWidth, c)
		}
		b.WriteString(strings.TrimRight(l, " ") + "\n")
	}
	var names []string
	for _, s := range r.Stores {
		names = append(names, s.Name)
	}
	line("workload", names)
	for _, rw := range r.Rows {
		var cells []string
		for _, c := range rw.Cells {
			v := fmtDur(c.NsPerOp)
			if rw.Rate {
				v = fmt.Sprintf("%.0f ops/s", c.OpsPerSec)
			}
			if c.Ratio > 0 && c.Store != "caskade" {
				v = fmt.Sprintf("%-11s ×%s", v, fmtRatio(c.Ratio))
			}
			cells = append(cells, v)
		}
		line(rw.Title, cells)
		if rw.Cells[0].Space != nil {
			var open, closed []string
			for _, c := range rw.Cells {
				if sp := c.Space; sp != nil {
					open = append(open, fmt.Sprintf("%.2f× (%s)", sp.Amplification, fmtBytes(float64(sp.DiskBytes))))
					closed = append(closed, fmt.Sprintf("%.2f× (%s)", sp.ClosedAmplification, fmtBytes(float64(sp.ClosedBytes))))
				}
			}
			line("  disk ÷ live, open", open)
			line("  disk ÷ live, after close", closed)
		}
	}
	if len(r.Speedup) > 0 {
		var cells []string
		for _, s := range r.Stores {
			cells = append(cells, fmtRatio(r.Speedup[s.Name])+"×")
		}
		line(fmt.Sprintf("durable %d÷1 writers ops/s", r.Writers), cells)
	}
	if worst, where := r.spread(); worst > 0 {
		fmt.Fprintf(&b, "\nlargest spread between rounds: %.0f%% of the median (%s)\n", worst*100, where)
	}

	if len(r.Targets) > 0 {
		b.WriteString("\ntargets, checked on this run:\n")
		for _, t := range r.Targets {
			met := "met"
			if !t.Met {
				met = "NOT MET"
			}
			fmt.Fprintf(&b, "  %-8s %-40s %6.2f  (want %s)  %s\n", t.Name, t.What, t.Got, t.Want, met)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// spread returns the largest (max-min)/median over the cells with more
// than one round, and which cell it was.
func (r *report) spread() (float64, string) {
	var worst float64
	var where string
	for _, rw := range r.Rows {
		for _, c := range rw.Cells {
			if len(c.RoundsNs) < 2 {
				continue
			}
			if s := (slices.Max(c.RoundsNs) - slices.Min(c.RoundsNs)) / c.NsPerOp; s > worst {
				worst, where = s, rw.Workload+"/"+c.Store
			}
		}
	}
	return worst, where
}

// fmtRatio writes a ratio with about three significant digits (two below 1).
func fmtRatio(x float64) string {
	switch {
	case x >= 100:
		return fmt.Sprintf("%.0f", x)
	case x >= 10:
		return fmt.Sprintf("%.1f", x)
	case x >= 1:
		return fmt.Sprintf("%.2f", x)
	case x < 0.001:
		return "<0.001"
	}
	return fmt.Sprintf("%.2g", x)
}

// fmtBytes writes a byte count in decimal units with three significant
// digits.
func fmtBytes(n float64) string {
	switch {
	case n >= 1e9:
		return threeDigits(n/1e9, "GB", false)
	case n >= 1e6:
		return threeDigits(n/1e6, "MB", false)
	case n >= 1e3:
		return threeDigits(n/1e3, "kB", false)
	}
	return threeDigits(n, "B", true)
}

// fmtDur writes nanoseconds with three significant digits.
func fmtDur(ns float64) string {
	switch {
	case ns >= 1e9:
		return threeDigits(ns/1e9, "s", false)
	case ns >= 1e6:
		return threeDigits(ns/1e6, "ms", false)
	case ns >= 1e3:
		return threeDigits(ns/1e3, "µs", false)
	}
	return threeDigits(ns, "ns", true)
}

// threeDigits writes v in unit with three significant digits; a base unit
// (whole) has no fractions.
func threeDigits(v float64, unit string, whole bool) string {
	switch {
	case v >= 100 || whole:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}
