package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caskade/caskade/bench"
	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/engine"
)

// benchFlags are the flags of one bench workload command.
type benchFlags struct {
	workload    bench.Workload
	clients     int
	total       int64
	duration    time.Duration
	keySize     byteSize
	valueSize   byteSize
	keys        int
	records     int
	consistency consistencyFlag
	readRatio   float64
	populate    bool
	chart       string
}

// consistencyFlag is a pflag.Value: linearizable or stale.
type consistencyFlag struct{ c client.Consistency }

// Set implements pflag.Value.
func (f *consistencyFlag) Set(v string) error {
	switch strings.ToLower(v) {
	case "linearizable":
		f.c = client.ConsistencyLinearizable
	case "stale":
		f.c = client.ConsistencyStale
	default:
		return fmt.Errorf("%q is not a consistency (want linearizable or stale)", v)
	}
	return nil
}

// String implements pflag.Value.
func (f *consistencyFlag) String() string {
	if f.c == client.ConsistencyStale {
		return "stale"
	}
	return "linearizable"
}

// Type implements pflag.Value.
func (f *consistencyFlag) Type() string { return "level" }

func (a *app) newBenchCmd(cc *clientConfig) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench WORKLOAD",
		Short: "Load-test a server or cluster: put, get, mixed, produce or consume",
		Long: `Drive the servers at --endpoints with --clients concurrent workers (sharing
one client connection, like an application) for --total operations or for
--duration, then print the throughput, the errors by kind and the latency
of the successful operations: p50, p90, p99, p99.9, max and a histogram.
-o json prints the same as one JSON object (latencies in microseconds,
plus a timeline); --chart FILE.png or FILE.svg draws latency and
throughput over time, latency by percentile and the histogram. A progress
bar shows on stderr when it is a terminal (never with -o json).

    caskade bench put --total 100000 --clients 32 --value-size 1KiB
    caskade bench get --duration 30s --consistency stale --chart get.png
    caskade bench mixed --duration 1m --read-ratio 0.9 -o json

Workloads:
  put      Put of a random key of the key space (--keys keys of --key-size
           bytes: "bench-" and a zero-padded number) with a --value-size value
  get      Get of a random key of the key space
  mixed    Get with probability --read-ratio, else Put
  produce  Produce of a --value-size keyless record
  consume  Consume of one record by offset, in offset order over the records
           the log holds when the run starts (wrapping at the end)

get and mixed first write every key of the key space once (--populate,
on by default; not measured, reported as "Populated"), so that reads find
values; --populate=false reads what a put run with the same --keys and
--key-size left. consume first produces --records records when the log is
empty. The keys and records stay in the store: delete the keys with
"caskade scan --prefix bench- --keys-only" and del, or bench a scratch
server.

Each operation is counted once when it ends: with --total, ok + errors =
--total. With --duration no operation starts once the time is up and
those in flight finish. Ctrl-C stops the run: the report of what was done
is printed (operations cut short are "abandoned", not counted) and the
exit code is 130. A request the server refuses as such (a key or value
over its limit, an identity it does not know) stops the run with exit
code 2 or 3; a run in which no operation succeeded exits with code 3.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("bench: unknown workload %q (want put, get, mixed, produce or consume)", args[0])
			}
			return cmd.Help()
		},
	}
	for _, w := range bench.Workloads() {
		cmd.AddCommand(a.newBenchWorkloadCmd(cc, w))
	}
	return cmd
}

// benchShort is the one-line help of each workload command.
var benchShort = map[bench.Workload]string{
	bench.Put:     "Put random keys of the key space",
	bench.Get:     "Get random keys of the key space (written first unless --populate=false)",
	bench.Mixed:   "Get (--read-ratio) and put random keys of the key space",
	bench.Produce: "Produce keyless records",
	bench.Consume: "Consume records by offset, in order (produced first if the log is empty)",
}

func (a *app) newBenchWorkloadCmd(cc *clientConfig, w bench.Workload) *cobra.Command {
	f := &benchFlags{
		workload:  w,
		keySize:   byteSize{n: bench.DefaultKeySize, min: 1, max: engine.MaxKeySizeLimit},
		valueSize: byteSize{n: bench.DefaultValueSize, min: 1, max: engine.MaxValueSizeLimit},
	}
	cmd := &cobra.Command{
		Use:   string(w),
		Short: benchShort[w],
		Long:  benchShort[w] + `. See "caskade bench --help".`,
		Args:  argsNamed(),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			o, err := f.options(cmd.Flags())
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				return a.runBench(cmd.Context(), cc, f, c, o)
			})
		}),
	}
	fs := cmd.Flags()
	fs.IntVar(&f.clients, "clients", bench.DefaultClients, "concurrent workers")
	fs.Int64Var(&f.total, "total", 0, "run this many operations (or give --duration)")
	fs.DurationVar(&f.duration, "duration", 0, "run for this long, e.g. 30s (or give --total)")
	fs.StringVar(&f.chart, "chart", "", "write a chart of the run to this .png or .svg file")
	if w != bench.Get {
		fs.Var(&f.valueSize, "value-size", "bytes of each value written (e.g. 256, 4KiB)")
	}
	switch w {
	case bench.Put, bench.Get, bench.Mixed:
		fs.Var(&f.keySize, "key-size", `bytes of each key: "bench-" and a zero-padded number`)
		fs.IntVar(&f.keys, "keys", bench.DefaultKeys, "size of the key space")
	case bench.Consume:
		fs.IntVar(&f.records, "records", bench.DefaultRecords, "records to produce first when the log is empty (with --populate)")
	}
	switch w {
	case bench.Get, bench.Mixed, bench.Consume:
		fs.Var(&f.consistency, "consistency", "reads: linearizable (the leader, up to date) or stale (any replica)")
		fs.BoolVar(&f.populate, "populate", true, "write what the reads need first (not measured)")
	}
	if w == bench.Get {
		fs.Var(&f.valueSize, "value-size", "bytes of each value the populate step writes")
	}
	if w == bench.Mixed {
		fs.Float64Var(&f.readRatio, "read-ratio", 0.5, "fraction of operations that are gets, from 0 to 1; the rest are puts")
	}
	return cmd
}

// options checks the flags and returns the options of the run. Every
// message names the flag at fault.
func (f *benchFlags) options(fs *pflag.FlagSet) (bench.Options, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, usageErrorf(format, args...)) }
	if f.clients < 1 {
		bad("--clients %d: want at least 1", f.clients)
	}
	switch total, duration := fs.Changed("total"), fs.Changed("duration"); {
	case total && duration:
		bad("--total and --duration: give one of them, not both")
	case !total && !duration:
		bad("give --total N (operations) or --duration D (e.g. 30s)")
	case total && f.total < 1:
		bad("--total %d: want at least 1", f.total)
	case duration && f.duration <= 0:
		bad("--duration %v: want a positive duration such as 30s", f.duration)
	}
	if f.workload.Keyed() {
		if f.keys < 1 {
			bad("--keys %d: want at least 1", f.keys)
		} else if need := bench.MinKeySize(f.keys); int(f.keySize.n) < need {
			bad("--key-size %d is too small for --keys %d: keys are %q and %d digits, want at least %d",
				f.keySize.n, f.keys, bench.KeyPrefix, need-len(bench.KeyPrefix), need)
		}
	}
	if f.workload == bench.Consume && f.records < 1 {
		bad("--records %d: want at least 1", f.records)
	}
	if f.workload == bench.Mixed && !(f.readRatio >= 0 && f.readRatio <= 1) {
		bad("--read-ratio %v: want a fraction from 0 (all puts) to 1 (all gets)", f.readRatio)
	}
	if f.chart != "" {
		if _, err := bench.ChartFormat(f.chart); err != nil {
			bad("--chart %s: want a file name ending in .png or .svg", f.chart)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return bench.Options{}, &cliError{code: exitUsage, err: err}
	}
	return bench.Options{
		Workload:    f.workload,
		Clients:     f.clients,
		Total:       f.total,
		Duration:    f.duration,
		KeySize:     int(f.keySize.n),
		ValueSize:   int(f.valueSize.n),
		Keys:        f.keys,
		Records:     f.records,
		Consistency: f.consistency.c,
		ReadRatio:   f.readRatio,
		Populate:    f.populate,
	}, nil
}

// runBench runs the load, prints the report and writes the chart.
func (a *app) runBench(ctx context.Context, cc *clientConfig, f *benchFlags, c *client.Client, o bench.Options) error {
	var bar *benchBar
	if !cc.output.json && isTerminal(a.stderr) {
		bar = &benchBar{w: a.stderr}
		o.Progress = bar.update
	}
	rep, err := bench.Run(ctx, c, o)
	bar.close()
	if rep == nil || (err != nil && !errors.Is(err, context.Canceled)) {
		return benchError(err, cc)
	}
	if cc.output.json {
		if werr := writeJSON(a.stdout, rep); werr != nil {
			return werr
		}
	} else if werr := rep.WriteText(a.stdout); werr != nil {
		return werr
	}
	if f.chart != "" {
		if cerr := bench.WriteChart(f.chart, rep); cerr != nil {
			return failuref("--chart %s: %w", f.chart, cerr)
		}
		if !cc.output.json {
			fmt.Fprintf(a.stdout, "\nChart written to %s\n", f.chart)
		}
	}
	if err != nil {
		return err // interrupted: the report of what was done is printed
	}
	if rep.OK == 0 && rep.Errors > 0 {
		return noSuccess(rep, cc)
	}
	return nil
}

// benchError explains an error that left no report to print.
func benchError(err error, cc *clientConfig) error {
	var fe *bench.FatalError
	switch {
	case errors.Is(err, bench.ErrEmptyLog):
		return noErrorf("the log is empty: nothing to consume (produce records first, or leave --populate on)")
	case errors.Is(err, client.ErrKeyTooLarge):
		return usageErrorf("--key-size: the server refused the key: %s", serverMessage(err))
	case errors.Is(err, client.ErrValueTooLarge), errors.Is(err, client.ErrTooLarge):
		return usageErrorf("--value-size: the server refused the value: %s", serverMessage(err))
	case errors.As(err, &fe):
		return failuref("%w", cc.explain(fe.Err))
	}
	return cc.explain(err)
}

// noSuccess is the error of a run in which every operation failed.
func noSuccess(rep *bench.Report, cc *clientConfig) error {
	top := rep.ErrorKinds[0]
	msg := fmt.Sprintf("no operation succeeded: %d errors, %d of them %s (e.g. %s)", rep.Errors, top.Count, top.Kind, top.Example)
	switch top.Kind {
	case bench.KindNotFound:
		msg += " (the keys are missing: leave --populate on, or put the same --keys and --key-size first)"
	case bench.KindUnavailable, bench.KindWriteUnknown:
		msg += fmt.Sprintf(" (--endpoints %s)", strings.Join(cc.endpoints, ","))
	case bench.KindDeadlineExceeded:
		msg += fmt.Sprintf(" (--timeout %v)", cc.timeout)
	}
	return failuref("%s", msg)
}

// benchBar draws the progress of a run on a terminal: one bar per phase.
// Its methods are called by one goroutine at a time (bench calls Progress
// from one goroutine per phase, one phase after another); a nil *benchBar
// draws nothing.
type benchBar struct {
	w     io.Writer
	phase bench.Phase
	bar   *progressbar.ProgressBar
}

// update implements bench.Options.Progress.
func (b *benchBar) update(p bench.Progress) {
	if b.bar == nil || p.Phase != b.phase {
		b.close()
		b.phase = p.Phase
		b.bar = b.newBar(p)
	}
	// The rate over the whole phase: the bar's own rate jumps with each
	// update, a tenth of a second's operations at once.
	var rate float64
	if p.Elapsed > 0 {
		rate = float64(p.Done) / p.Elapsed.Seconds()
	}
	desc := fmt.Sprintf("%s: %.0f ops/s", b.phase, rate)
	if p.Phase == bench.PhaseRun {
		desc += fmt.Sprintf(", %d errors", p.Errors)
	}
	if p.Total > 0 {
		b.bar.Describe(desc)
		_ = b.bar.Set64(p.Done)
		return
	}
	b.bar.Describe(fmt.Sprintf("%s, %d ops", desc, p.Done))
	_ = b.bar.Set64(min(p.Elapsed, p.Duration).Milliseconds())
}

// newBar starts the bar of a phase: of its operations when it has a
// total, else of its time.
func (b *benchBar) newBar(p bench.Progress) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(b.w),
		progressbar.OptionSetDescription(string(p.Phase)),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(bench.ProgressInterval),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetElapsedTime(true),
	}
	if p.Total > 0 {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true))
		return progressbar.NewOptions64(p.Total, opts...)
	}
	opts = append(opts, progressbar.OptionSetPredictTime(false))
	return progressbar.NewOptions64(p.Duration.Milliseconds(), opts...)
}

// close clears the bar of the last phase from the terminal.
func (b *benchBar) close() {
	if b == nil || b.bar == nil {
		return
	}
	_ = b.bar.Finish() // OptionClearOnFinish: the line is cleared
	b.bar = nil
}
