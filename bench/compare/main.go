// Command compare runs the same workloads on caskade's engine and on bbolt,
// pebble and badger in one process, interleaved, and prints each store's
// time per op and its ratio to caskade's. See README.md.
//
//	go run .          full run (about 7 minutes on 2 cores)
//	go run . -quick   small run (under a minute)
//	go run . -workloads compact   only the overwrite-and-compact row
//
// The workloads are the functions behind BenchmarkCompare; this command
// runs them with testing.Benchmark, round-robin across stores, so machine
// noise falls on every store alike.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"testing"
	"time"
)

func main() {
	testing.Init() // testing.Benchmark needs the test flags' defaults

	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	quick := fs.Bool("quick", false, "small run: 100k keys, 50k puts, 1 round, 200ms runs (under a minute)")
	keys := fs.Int("keys", 0, "keys preloaded for get, scan and reopen (default 1000000, quick 100000)")
	compactKeys := fs.Int("compact-keys", 0, "keys of the compact workload, each written 3 times (default: the -keys count)")
	puts := fs.Int("puts", 0, "puts per run of the no-fsync put workload, the same for every store (default 500000, quick 50000)")
	rounds := fs.Int("rounds", 0, "interleaved rounds; the table shows each cell's median (default 3, quick 1)")
	benchtime := fs.Duration("benchtime", 0, "duration of each run of the other workloads (default 1s, quick 200ms)")
	writers := fs.Int("writers", 16, "concurrent writers of the second durable-put workload")
	dir := fs.String("dir", os.TempDir(), "parent of the stores' temp dirs (use a dir on the disk under test)")
	stores := fs.String("stores", "", "comma-separated stores to run (default all: caskade,bbolt,pebble,badger)")
	only := fs.String("workloads", "", "comma-separated workloads to run (default all: put,get,scan100,reopen,put-durable-1,put-durable-<writers>,compact)")
	jsonOut := fs.Bool("json", false, "print the report as JSON instead of a table")
	fs.Parse(os.Args[1:])

	p := plan{mode: "full", keys: 1_000_000, puts: 500_000, rounds: 3, benchtime: time.Second}
	if *quick {
		p = plan{mode: "quick", keys: 100_000, puts: 50_000, rounds: 1, benchtime: 200 * time.Millisecond}
	}
	if *keys > 0 {
		p.keys = *keys
	}
	p.compactKeys = p.keys
	if *compactKeys > 0 {
		p.compactKeys = *compactKeys
	}
	if *puts > 0 {
		p.puts = *puts
	}
	if *rounds > 0 {
		p.rounds = *rounds
	}
	if *benchtime > 0 {
		p.benchtime = *benchtime
	}
	p.writers = *writers
	if p.writers < 1 {
		fail(fmt.Errorf("-writers %d: want at least 1", p.writers))
	}
	var err error
	if p.backends, err = selectBackends(*stores); err != nil {
		fail(err)
	}

	root, err := os.MkdirTemp(*dir, "caskade-compare-")
	if err != nil {
		fail(err)
	}
	p.root = root
	// On interrupt, remove the stores rather than leave gigabytes behind.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() {
		<-sig
		os.RemoveAll(root)
		os.Exit(130)
	}()

	if p.workloads, err = selectWorkloads(workloads(p.config()), *only); err != nil {
		os.RemoveAll(root)
		fail(err)
	}
	rep, err := p.run()
	if rerr := os.RemoveAll(root); err == nil {
		err = rerr
	}
	if err != nil {
		fail(err)
	}
	if *jsonOut {
		err = rep.writeJSON(os.Stdout)
	} else {
		err = rep.writeTable(os.Stdout)
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compare:", err)
	os.Exit(1)
}

// plan is what one invocation runs.
type plan struct {
	mode        string
	keys        int
	puts        int
	writers     int
	compactKeys int
	rounds      int
	benchtime   time.Duration
	root        string
	backends    []backend
	workloads   []workload
}

func (p *plan) config() config {
	return config{keys: p.keys, puts: p.puts, writers: p.writers, compactKeys: p.compactKeys, root: p.root}
}

func selectWorkloads(all []workload, list string) ([]workload, error) {
	if list == "" {
		return all, nil
	}
	var out []workload
	for name := range strings.SplitSeq(list, ",") {
		found := false
		for _, w := range all {
			if w.name == strings.TrimSpace(name) {
				out = append(out, w)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown workload %q", name)
		}
	}
	return out, nil
}

// run runs every workload: for each, p.rounds rounds, each round running
// every store once, starting one store later than the round before. The
// read workloads share one preloaded dataset per store, loaded (untimed)
// before the first of them and removed after the last.
func (p *plan) run() (*report, error) {
	rep := newReport(p)
	cfg := p.config()
	var data map[string]*dataset
	defer func() {
		for _, d := range data {
			d.close()
		}
	}()
	lastPreload := -1
	for i, w := range p.workloads {
		if w.preload {
			lastPreload = i
		}
	}
	for i, w := range p.workloads {
		if w.preload && data == nil {
			data = map[string]*dataset{}
			for _, be := range p.backends {
				start := time.Now()
				d, err := loadDataset(be, p.root, p.keys)
				if err != nil {
					return nil, err
				}
				data[be.name] = d
				progress("loaded %d keys into %s in %.1fs (not timed)", p.keys, be.name, time.Since(start).Seconds())
			}
		}
		bt := p.benchtime.String()
		switch {
		case w.fixed:
			bt = fmt.Sprintf("%dx", p.puts)
		case w.once:
			bt = "1x"
		}
		if err := flag.Set("test.benchtime", bt); err != nil {
			return nil, err
		}
		for r := range p.rounds {
			for j := range p.backends {
				be := p.backends[(j+r)%len(p.backends)]
				x := &subject{be: be, cfg: cfg, data: data[be.name]}
				var err error
				res := testing.Benchmark(func(b *testing.B) {
					if err = w.run(b, x); err != nil {
						b.FailNow()
					}
				})
				if err == nil && res.N == 0 {
					err = fmt.Errorf("benchmark did not run")
				}
				if err != nil {
					return nil, fmt.Errorf("%s/%s: %w", w.name, be.name, err)
				}
				ns := float64(res.T.Nanoseconds()) / float64(res.N)
				if w.metric != "" {
					var ok bool
					if ns, ok = res.Extra[w.metric]; !ok {
						return nil, fmt.Errorf("%s/%s: no %s metric", w.name, be.name, w.metric)
					}
				}
				rep.add(w, be.name, ns, res.Extra)
				msg := fmt.Sprintf("round %d/%d  %-16s %-8s %10s/op  (%d ops)", r+1, p.rounds, w.name, be.name, fmtDur(ns), res.N)
				if d, ok := res.Extra[metricDisk]; ok {
					msg += fmt.Sprintf("  %s on disk (closed: %s), ×%.2f of live (whole op %.1fs)",
						fmtBytes(d), fmtBytes(res.Extra[metricDiskClosed]), res.Extra[metricAmp], res.T.Seconds())
				}
				progress("%s", msg)
			}
		}
		if i == lastPreload {
			for name, d := range data {
				if err := d.close(); err != nil {
					return nil, fmt.Errorf("%s: close dataset: %w", name, err)
				}
			}
			data = nil
		}
	}
	rep.finish()
	return rep, nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "# "+format+"\n", args...)
}
