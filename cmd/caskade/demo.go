package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/engine"
)

// Shape of the demo's work. Keys are demo/key-00000000, demo/key-00000001,
// ...; the scan reads the first 1000 of them (prefix demo/key-00000).
const (
	demoValueBytes = 100
	demoBatch      = 10_000 // keys between progress updates and interrupt checks
	demoMessages   = 10
	demoScanPrefix = "demo/key-00000"
	demoScanKeys   = 1000 // keys under demoScanPrefix when -keys allows
	demoScanPage   = 100
	demoCounterKey = "demo/counter"
)

func (a *app) newDemoCmd() *cobra.Command {
	var keys int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Exercise the store end to end, check every answer and report timings",
		Long: `Exercise the store in --data-dir end to end: write --keys keys of 100 bytes
(under demo/), sync, read them all back and verify them, scan a prefix page
by page, increment demo/counter with compare-and-swap, produce and consume a
few messages, close, reopen and check everything again. Prints a short
report with timings; exits non-zero with a clear message on any mismatch.

Unless --sync (or CASKADE_SYNC) is given, the demo writes with --sync never
and syncs once at the end. Each run rewrites the same demo/ keys with values
that name the run, so a stale value from an earlier run is caught.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if keys < 1 {
				return usageErrorf("--keys %d: want 1 or more", keys)
			}
			opts := a.options()
			if !a.localFlags.Changed("sync") {
				opts.Sync = engine.SyncNever
			}
			d := &demo{
				a:     a,
				ctx:   cmd.Context(),
				out:   a.stdout,
				opts:  opts,
				n:     keys,
				nonce: strconv.FormatInt(time.Now().UnixNano(), 36),
			}
			return d.run()
		}),
	}
	cmd.Flags().IntVar(&keys, "keys", 100_000, "number of keys to write")
	return cmd
}

// demo is one run of the demo command.
type demo struct {
	a     *app
	ctx   context.Context
	out   io.Writer
	opts  engine.Options
	n     int
	nonce string // names this run inside every value it writes

	offs    []uint64 // offs[i]: offset of key i's record, from the write phase
	msgs    []uint64 // offsets of the produced messages
	counter int      // demo/counter after this run's compare-and-swap
	ctrOff  uint64   // offset of that record
}

func (d *demo) run() (err error) {
	began := time.Now()
	fmt.Fprintf(d.out, "caskade demo: %s keys of %d B in %s (sync=%s)\n",
		commas(int64(d.n)), demoValueBytes, d.a.local.dataDir, d.opts.Sync)
	s, err := d.a.openStore(true, d.opts)
	if err != nil {
		return err
	}
	defer func() {
		if s != nil {
			if cerr := s.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
	}()

	t := time.Now()
	if err := d.write(s.DB); err != nil {
		return err
	}
	d.report("write", time.Since(t), "%s keys, %s", commas(int64(d.n)), rate(d.n, time.Since(t), "writes/s"))

	t = time.Now()
	if err := s.Sync(); err != nil {
		return fmt.Errorf("demo: sync: %w", err)
	}
	d.report("sync", time.Since(t), "")

	if err := d.timedRead(s.DB, "read"); err != nil {
		return err
	}

	t = time.Now()
	got, pages, err := d.scan(s.DB)
	if err != nil {
		return err
	}
	d.report("scan", time.Since(t), "%s keys under %q in %d pages of %d, in order", commas(int64(got)), demoScanPrefix, pages, demoScanPage)

	t = time.Now()
	if err := d.cas(s.DB); err != nil {
		return err
	}
	d.report("cas", time.Since(t), "%s = %d at offset %d; a stale swap was refused", demoCounterKey, d.counter, d.ctrOff)

	t = time.Now()
	if err := d.produce(s.DB); err != nil {
		return err
	}
	d.report("produce", time.Since(t), "%d messages at offsets %d..%d", demoMessages, d.msgs[0], d.msgs[len(d.msgs)-1])
	t = time.Now()
	if err := d.consume(s.DB); err != nil {
		return err
	}
	d.report("consume", time.Since(t), "%d messages verified", demoMessages)

	next := s.NextOffset()
	t = time.Now()
	err, s = s.Close(), nil
	if err != nil {
		return fmt.Errorf("demo: close: %w", err)
	}
	d.report("close", time.Since(t), "")

	t = time.Now()
	if s, err = d.a.openStore(true, d.opts); err != nil {
		return err
	}
	d.report("reopen", time.Since(t), "%s keys, next offset %d", commas(int64(s.Len())), s.NextOffset())
	if got := s.NextOffset(); got != next {
		return failuref("demo: after reopen the next offset is %d, want %d", got, next)
	}
	if got := s.Len(); got < d.n+1 {
		return failuref("demo: after reopen the store has %d keys, want at least %d", got, d.n+1)
	}
	if err := d.timedRead(s.DB, "re-read"); err != nil {
		return err
	}
	if err := d.consume(s.DB); err != nil {
		return err
	}
	if err := d.checkCounter(s.DB); err != nil {
		return err
	}
	err, s = s.Close(), nil
	if err != nil {
		return fmt.Errorf("demo: close: %w", err)
	}
	fmt.Fprintf(d.out, "ok: every check passed in %.2fs\n", time.Since(began).Seconds())
	return nil
}

// report prints one line of the report.
func (d *demo) report(phase string, took time.Duration, format string, args ...any) {
	if isTerminal(d.a.stderr) {
		fmt.Fprint(d.a.stderr, "\r\033[K") // clear the progress line
	}
	line := fmt.Sprintf("  %-8s %9s  %s", phase, ms(took), fmt.Sprintf(format, args...))
	fmt.Fprintln(d.out, strings.TrimRight(line, " "))
}

// progress shows how far a long phase is, on a terminal only. It also
// stops the phase when the command is interrupted.
func (d *demo) progress(phase string, i int) error {
	if isTerminal(d.a.stderr) {
		fmt.Fprintf(d.a.stderr, "\r  %-8s %s/%s", phase, commas(int64(i)), commas(int64(d.n)))
	}
	return d.ctx.Err()
}

func demoKey(dst []byte, i int) []byte { return fmt.Appendf(dst[:0], "demo/key-%08d", i) }

// value returns key i's value in this run: the run's nonce, i, and filler
// up to demoValueBytes.
func (d *demo) value(dst []byte, i int) []byte {
	dst = fmt.Appendf(dst[:0], "%s %08d ", d.nonce, i)
	for len(dst) < demoValueBytes {
		dst = append(dst, 'a'+byte(len(dst)%26))
	}
	return dst
}

func (d *demo) write(db *engine.DB) error {
	d.offs = make([]uint64, d.n)
	var k, v []byte
	for i := range d.n {
		if i%demoBatch == 0 {
			if err := d.progress("write", i); err != nil {
				return err
			}
		}
		k, v = demoKey(k, i), d.value(v, i)
		off, err := db.Put(k, v)
		if err != nil {
			return fmt.Errorf("demo: put %s: %w", k, err)
		}
		if i > 0 && off <= d.offs[i-1] {
			return failuref("demo: put %s got offset %d, not above the previous %d", k, off, d.offs[i-1])
		}
		d.offs[i] = off
	}
	return nil
}

func (d *demo) timedRead(db *engine.DB, phase string) error {
	t := time.Now()
	var k, v []byte
	for i := range d.n {
		if i%demoBatch == 0 {
			if err := d.progress(phase, i); err != nil {
				return err
			}
		}
		k, v = demoKey(k, i), d.value(v, i)
		it, err := db.Get(k)
		if err != nil {
			return failuref("demo: %s %s: %w", phase, k, err)
		}
		if err := d.check(phase, k, &it, v, d.offs[i]); err != nil {
			return err
		}
	}
	took := time.Since(t)
	d.report(phase, took, "%s keys verified, %s", commas(int64(d.n)), rate(d.n, took, "reads/s"))
	return nil
}

// check compares an item with the value and offset this run wrote.
func (d *demo) check(phase string, key []byte, it *engine.Item, want []byte, off uint64) error {
	switch {
	case !bytes.Equal(it.Key, key):
		return failuref("demo: %s: got key %q, want %q", phase, it.Key, key)
	case !bytes.Equal(it.Value, want):
		return failuref("demo: %s %s: got value %q, want %q", phase, key, it.Value, want)
	case it.Offset != off:
		return failuref("demo: %s %s: got offset %d, want %d", phase, key, it.Offset, off)
	}
	return nil
}

// scan pages through the keys under demoScanPrefix that this run wrote
// and checks them in order.
func (d *demo) scan(db *engine.DB) (got, pages int, err error) {
	want := min(d.n, demoScanKeys)
	o := engine.ScanOptions{
		Prefix: []byte(demoScanPrefix),
		End:    demoKey(nil, want), // keys of earlier, larger runs are not ours
		Limit:  demoScanPage,
	}
	var v []byte
	for {
		res, err := db.Scan(o)
		if err != nil {
			return 0, 0, fmt.Errorf("demo: scan: %w", err)
		}
		pages++
		for i := range res.Items {
			if got == want {
				return 0, 0, failuref("demo: scan returned more than %d keys", want)
			}
			v = d.value(v, got)
			if err := d.check("scan", demoKey(nil, got), &res.Items[i], v, d.offs[got]); err != nil {
				return 0, 0, err
			}
			got++
		}
		if res.Next == nil {
			break
		}
		if len(res.Items) != demoScanPage {
			return 0, 0, failuref("demo: scan page %d has %d keys and a next page, want %d", pages, len(res.Items), demoScanPage)
		}
		o.Start = res.Next
	}
	if got != want {
		return 0, 0, failuref("demo: scan returned %d keys, want %d", got, want)
	}
	return got, pages, nil
}

// cas increments demo/counter (which survives runs) and checks that a
// swap with the old offset is then refused.
func (d *demo) cas(db *engine.DB) error {
	key := []byte(demoCounterKey)
	var cur uint64
	count := 0
	it, err := db.Get(key)
	switch {
	case errors.Is(err, engine.ErrNotFound):
	case err != nil:
		return fmt.Errorf("demo: get %s: %w", key, err)
	default:
		cur = it.Offset
		count, _ = strconv.Atoi(string(it.Value)) // not a number: start again from 0
	}
	off, err := db.CompareAndSwap(key, cur, strconv.AppendInt(nil, int64(count+1), 10))
	if err != nil {
		return failuref("demo: compare-and-swap %s at offset %d: %w", key, cur, err)
	}
	_, err = db.CompareAndSwap(key, cur, []byte("stale"))
	var ce *engine.CASError
	if !errors.As(err, &ce) || ce.Current != off {
		return failuref("demo: stale compare-and-swap of %s: got %v, want a mismatch at offset %d", key, err, off)
	}
	d.counter, d.ctrOff = count+1, off
	return nil
}

// checkCounter checks demo/counter after reopening.
func (d *demo) checkCounter(db *engine.DB) error {
	it, err := db.Get([]byte(demoCounterKey))
	if err != nil {
		return failuref("demo: get %s after reopen: %w", demoCounterKey, err)
	}
	if want := strconv.Itoa(d.counter); string(it.Value) != want || it.Offset != d.ctrOff {
		return failuref("demo: %s after reopen is %q at offset %d, want %q at %d", demoCounterKey, it.Value, it.Offset, want, d.ctrOff)
	}
	return nil
}

func (d *demo) message(j int) []byte {
	return fmt.Appendf(nil, "demo message %d of run %s", j, d.nonce)
}

func (d *demo) produce(db *engine.DB) error {
	d.msgs = d.msgs[:0]
	for j := range demoMessages {
		off, err := db.Produce(d.message(j))
		if err != nil {
			return fmt.Errorf("demo: produce: %w", err)
		}
		d.msgs = append(d.msgs, off)
	}
	return nil
}

// consume reads the produced messages back by offset.
func (d *demo) consume(db *engine.DB) error {
	recs, _, err := db.ReadFrom(d.msgs[0], demoMessages)
	if err != nil {
		return failuref("demo: consume from %d: %w", d.msgs[0], err)
	}
	if len(recs) != demoMessages {
		return failuref("demo: consume from %d: got %d records, want %d", d.msgs[0], len(recs), demoMessages)
	}
	for j := range recs {
		r := &recs[j]
		if r.Offset != d.msgs[j] || len(r.Key) != 0 || !bytes.Equal(r.Value, d.message(j)) {
			return failuref("demo: consume: got record %d %q %q, want %d (keyless) %q", r.Offset, r.Key, r.Value, d.msgs[j], d.message(j))
		}
	}
	return nil
}

// ms prints a duration in milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// rate prints n per second over d.
func rate(n int, d time.Duration, unit string) string {
	if d <= 0 {
		return "- " + unit
	}
	return commas(int64(float64(n)/d.Seconds())) + " " + unit
}

// commas prints n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	if neg {
		return "-" + string(b)
	}
	return string(b)
}
