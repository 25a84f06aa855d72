package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// config sizes a run.
type config struct {
	keys        int    // keys preloaded for get, scan and reopen
	puts        int    // puts per run of the no-fsync put workload (main only)
	writers     int    // concurrent writers of the second durable-put workload
	compactKeys int    // keys of the compact workload (each written 3 times)
	root        string // stores get temp dirs under it
}

var errNotFound = errors.New("key not found")

// workload is one row of the report and one BenchmarkCompare/<name>.
type workload struct {
	name    string // sub-benchmark name
	title   string // row label
	preload bool   // reads the shared dataset; else each run gets a new empty store
	fixed   bool   // main runs exactly config.puts ops, not for -benchtime
	once    bool   // main runs exactly one op per round, not for -benchtime
	rate    bool   // report ops/s rather than time per op
	// metric, when set, is the b.ReportMetric unit main takes the cell's
	// time per op from, instead of the benchmark's own ns/op.
	metric string
	run    func(b *testing.B, x *subject) error
}

// Metrics of the compact workload (b.ReportMetric units), read back by
// main through testing.BenchmarkResult.Extra.
const (
	metricCompactNs  = "compact-ns/op" // the compaction alone
	metricDisk       = "disk-B"        // allocated under the store's dir after compaction, store open
	metricDiskClosed = "closed-disk-B" // the same after closing the store
	metricApparent   = "apparent-B"    // apparent sizes (ls), store open
	metricAmp        = "disk/live"     // metricDisk ÷ live bytes (for go test's output)
)

// subject is one store's side of a workload.
type subject struct {
	be   backend
	cfg  config
	data *dataset // the preloaded store, for preload workloads
}

func workloads(c config) []workload {
	return []workload{
		{name: "put", title: "put, no fsync", fixed: true, run: fresh(false, putSerial)},
		{name: "get", title: "get, random key of " + count(c.keys), preload: true, run: getRandom},
		{name: "scan100", title: "scan 100 keys + values", preload: true, run: scanRandom},
		{name: "reopen", title: "reopen " + count(c.keys) + " (open+1 get)", preload: true, run: reopen},
		{name: "put-durable-1", title: "durable put, 1 writer", rate: true, run: fresh(true, putSerial)},
		{name: fmt.Sprintf("put-durable-%d", c.writers), title: fmt.Sprintf("durable put, %d writers", c.writers), rate: true, run: fresh(true, putParallel)},
		{name: "compact", title: "overwrite ×2 + compact " + count(c.compactKeys), once: true, metric: metricCompactNs, run: overwriteCompact},
	}
}

// count writes a key count shortly: 100k, 1M.
func count(n int) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return fmt.Sprintf("%dM", n/1e6)
	case n >= 1e3 && n%1e3 == 0:
		return fmt.Sprintf("%dk", n/1e3)
	}
	return fmt.Sprint(n)
}

// fresh runs body on a new empty store in its own temp dir, opened with
// the given durability; opening, closing and removing it are not timed.
func fresh(durable bool, body func(b *testing.B, s store, x *subject) error) func(*testing.B, *subject) error {
	return func(b *testing.B, x *subject) (err error) {
		b.StopTimer()
		dir, err := os.MkdirTemp(x.cfg.root, x.be.name+"-")
		if err != nil {
			return err
		}
		defer func() {
			if rerr := os.RemoveAll(dir); err == nil {
				err = rerr
			}
		}()
		s, err := x.be.open(dir, durable)
		if err != nil {
			return fmt.Errorf("%s: open: %w", x.be.name, err)
		}
		defer func() {
			b.StopTimer()
			if cerr := s.close(); err == nil {
				err = cerr
			}
		}()
		b.ReportAllocs()
		b.SetBytes(keySize + valueSize)
		b.ResetTimer()
		b.StartTimer()
		return body(b, s, x)
	}
}

// putSerial writes keys 0..b.N-1 from one goroutine.
func putSerial(b *testing.B, s store, _ *subject) error {
	kb := make([]byte, keySize)
	for i := range b.N {
		if err := s.put(key(kb, i), value(i)); err != nil {
			return fmt.Errorf("put key %d: %w", i, err)
		}
	}
	return nil
}

// putParallel writes keys 0..b.N-1 from cfg.writers goroutines, each taking
// the next key; time per op is wall time over all of them.
func putParallel(b *testing.B, s store, x *subject) error {
	var next atomic.Int64
	errs := make(chan error, x.cfg.writers)
	var wg sync.WaitGroup
	for range x.cfg.writers {
		wg.Go(func() {
			kb := make([]byte, keySize)
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				if err := s.put(key(kb, i), value(i)); err != nil {
					errs <- fmt.Errorf("put key %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when no writer failed
}

// getRandom reads random preloaded keys (the same sequence for every store)
// and checks each value.
func getRandom(b *testing.B, x *subject) error {
	s := x.data.s
	rng := rand.New(rand.NewPCG(7, 7))
	kb, buf := make([]byte, keySize), make([]byte, 0, valueSize)
	b.ReportAllocs()
	b.SetBytes(valueSize)
	b.ResetTimer()
	for range b.N {
		i := rng.IntN(x.cfg.keys)
		v, err := s.get(key(kb, i), buf)
		if err != nil {
			return fmt.Errorf("get key %d: %w", i, err)
		}
		if !bytes.Equal(v, value(i)) {
			return fmt.Errorf("get key %d: wrong value", i)
		}
	}
	return nil
}

// scanRandom reads scanLen consecutive keys with their values from a random
// preloaded key (the same sequence for every store).
func scanRandom(b *testing.B, x *subject) error {
	s := x.data.s
	rng := rand.New(rand.NewPCG(9, 9))
	kb, buf := make([]byte, keySize), make([]byte, 0, valueSize)
	total := 0
	b.ReportAllocs()
	b.SetBytes(scanLen * (keySize + valueSize))
	b.ResetTimer()
	for range b.N {
		i := rng.IntN(x.cfg.keys)
		n, err := s.scan(key(kb, i), scanLen, buf)
		if err != nil {
			return fmt.Errorf("scan from key %d: %w", i, err)
		}
		if n == 0 {
			return fmt.Errorf("scan from key %d: no keys", i)
		}
		total += n
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/float64(b.N), "keys/scan")
	return nil
}

// reopen closes the dataset's store (not timed), opens it again and reads
// one key (timed): the time until a restarted store serves reads.
func reopen(b *testing.B, x *subject) error {
	d := x.data
	kb, buf := make([]byte, keySize), make([]byte, 0, valueSize)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		err := d.s.close()
		d.s = nil
		if err != nil {
			return fmt.Errorf("%s: close: %w", d.be.name, err)
		}
		b.StartTimer()
		if d.s, err = d.be.open(d.dir, false); err != nil {
			return fmt.Errorf("%s: open: %w", d.be.name, err)
		}
		if _, err := d.s.get(key(kb, 0), buf); err != nil {
			return fmt.Errorf("%s: get after open: %w", d.be.name, err)
		}
	}
	b.StopTimer()
	return nil
}

// overwriteCompact runs b.N times: in a new store, write keys 0..n-1 and
// overwrite every key twice (not timed), run the store's full compaction
// (timed), check a sample of keys, and measure the bytes allocated under
// the store's dir, with the store open (once the dir's size is steady)
// and after closing it. The compaction's own time is the compact-ns/op
// metric; the benchmark's timer runs throughout, so that under go test b.N
// stays small (with bbolt's no-op compaction, a timer stopped outside the
// compaction would grow b.N, and the loads with it, without bound). The
// space metrics are the last op's.
func overwriteCompact(b *testing.B, x *subject) error {
	n := x.cfg.compactKeys
	var total time.Duration
	var sp spaceUse
	for range b.N {
		var err error
		if sp, err = compactOnce(x, n); err != nil {
			return err
		}
		total += sp.took
	}
	live := float64(n) * (keySize + valueSize)
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), metricCompactNs)
	b.ReportMetric(float64(sp.disk), metricDisk)
	b.ReportMetric(float64(sp.closed), metricDiskClosed)
	b.ReportMetric(float64(sp.apparent), metricApparent)
	b.ReportMetric(float64(sp.disk)/live, metricAmp)
	return nil
}

// spaceUse is one compaction's time and the bytes on disk after it.
type spaceUse struct {
	took     time.Duration
	disk     int64 // allocated, store open
	apparent int64 // apparent sizes, store open
	closed   int64 // allocated, after closing the store
}

// compactOnce is one op of the compact workload, in a temp dir of its own
// that it removes.
func compactOnce(x *subject, n int) (sp spaceUse, err error) {
	dir, err := os.MkdirTemp(x.cfg.root, x.be.name+"-compact-")
	if err != nil {
		return sp, err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); err == nil {
			err = rerr
		}
	}()
	open := x.be.openCompact
	if open == nil {
		open = func(dir string) (store, error) { return x.be.open(dir, false) }
	}
	s, err := open(dir)
	if err != nil {
		return sp, fmt.Errorf("%s: open: %w", x.be.name, err)
	}
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	for gen := range 3 {
		if err := s.load(n, gen); err != nil {
			return sp, fmt.Errorf("%s: write pass %d: %w", x.be.name, gen+1, err)
		}
	}
	start := time.Now()
	if err := s.compact(); err != nil {
		return sp, fmt.Errorf("%s: compact: %w", x.be.name, err)
	}
	sp.took = time.Since(start)
	if err := checkSample(s, n, 2); err != nil {
		return sp, fmt.Errorf("%s: after compact: %w", x.be.name, err)
	}
	if sp.disk, sp.apparent, err = quietDirBytes(dir); err != nil {
		return sp, err
	}
	err = s.close()
	s = nil
	if err != nil {
		return sp, fmt.Errorf("%s: close: %w", x.be.name, err)
	}
	sp.closed, _, err = dirBytes(dir)
	return sp, err
}

// checkSample reads about 1,000 of keys 0..n-1, spread evenly, and checks
// that each has the value of write pass gen (value(i+gen)).
func checkSample(s store, n, gen int) error {
	kb, buf := make([]byte, keySize), make([]byte, 0, valueSize)
	for i := 0; i < n; i += max(1, n/1000) {
		v, err := s.get(key(kb, i), buf)
		if err != nil {
			return fmt.Errorf("get key %d: %w", i, err)
		}
		if !bytes.Equal(v, value(i+gen)) {
			return fmt.Errorf("get key %d: not the last value written", i)
		}
	}
	return nil
}
