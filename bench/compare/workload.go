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
)

// config sizes a run.
type config struct {
	keys    int    // keys preloaded for get, scan and reopen
	puts    int    // puts per run of the no-fsync put workload (main only)
	writers int    // concurrent writers of the second durable-put workload
	root    string // stores get temp dirs under it
}

var errNotFound = errors.New("key not found")

// workload is one row of the report and one BenchmarkCompare/<name>.
type workload struct {
	name    string // sub-benchmark name
	title   string // row label
	preload bool   // reads the shared dataset; else each run gets a new empty store
	fixed   bool   // main runs exactly config.puts ops, not for -benchtime
	rate    bool   // report ops/s rather than time per op
	run     func(b *testing.B, x *subject) error
}

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
