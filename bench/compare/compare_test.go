package main

import (
	"flag"
	"os"
	"testing"
)

var (
	testKeys    = flag.Int("keys", 100_000, "keys preloaded for get, scan and reopen")
	testWriters = flag.Int("writers", 16, "concurrent writers of the second durable-put workload")
	testCompact = flag.Int("compact-keys", 0, "keys of the compact workload, each written 3 times (default: -keys)")
	testDir     = flag.String("dir", "", "parent of the stores' temp dirs (default os.TempDir())")
)

// BenchmarkCompare runs every workload on every store, named
// BenchmarkCompare/<workload>/<store>. Here every workload, put included,
// runs for -benchtime (or -benchtime=Nx); `go run .` runs the same
// functions interleaved across stores and prints the comparison table.
func BenchmarkCompare(b *testing.B) {
	root, err := os.MkdirTemp(*testDir, "caskade-compare-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(root)
	cfg := config{keys: *testKeys, writers: *testWriters, compactKeys: *testKeys, root: root}
	if *testCompact > 0 {
		cfg.compactKeys = *testCompact
	}
	data := map[string]*dataset{} // loaded on first use, shared by the read workloads
	defer func() {
		for _, d := range data {
			d.close()
		}
	}()
	for _, w := range workloads(cfg) {
		b.Run(w.name, func(b *testing.B) {
			for _, be := range backends {
				b.Run(be.name, func(b *testing.B) {
					x := &subject{be: be, cfg: cfg}
					if w.preload {
						if data[be.name] == nil {
							b.StopTimer()
							d, err := loadDataset(be, root, cfg.keys)
							if err != nil {
								b.Fatal(err)
							}
							data[be.name] = d
							b.StartTimer()
						}
						x.data = data[be.name]
						if x.data.s == nil {
							b.Fatal("dataset lost by an earlier failure")
						}
					}
					if err := w.run(b, x); err != nil {
						b.Fatal(err)
					}
				})
			}
		})
	}
}

// TestOverwriteCompact runs one small op of the compact workload on every
// store: the overwrites, the compaction, the check and the measurements.
func TestOverwriteCompact(t *testing.T) {
	const n = 5000
	cfg := config{compactKeys: n, root: t.TempDir()}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			sp, err := compactOnce(&subject{be: be, cfg: cfg}, n)
			if err != nil {
				t.Fatal(err)
			}
			if sp.disk <= 0 || sp.closed <= 0 || sp.apparent <= 0 {
				t.Errorf("bytes on disk: %+v, want all > 0", sp)
			}
		})
	}
}
