package engine_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
)

// benchKey writes the 16-byte key number i into dst: i scrambled (so keys
// arrive in random order), as hex.
func benchKey(dst []byte, i uint64) []byte {
	const hex = "0123456789abcdef"
	x := i * 0x9E3779B97F4A7C15 // a bijection on uint64
	dst = dst[:16]
	for j := 15; j >= 0; j-- {
		dst[j] = hex[x&0xf]
		x >>= 4
	}
	return dst
}

func benchValue(n int) []byte {
	v := make([]byte, n)
	for i := range v {
		v[i] = byte(i*7 + 1)
	}
	return v
}

// benchDir makes a directory under the system temp dir for one benchmark.
func benchDir(b *testing.B) string {
	b.Helper()
	d, err := os.MkdirTemp("", "caskade-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func openBench(b *testing.B, dir string, sync engine.SyncMode) *engine.DB {
	b.Helper()
	db, err := engine.Open(dir, &engine.Options{Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

func BenchmarkDB_Put(b *testing.B) {
	for _, size := range []int{100, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			db := openBench(b, benchDir(b), engine.SyncNever)
			defer db.Close()
			v := benchValue(size)
			var k [16]byte
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := db.Put(benchKey(k[:], uint64(i)), v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDB_PutSync measures durable puts (fsync before each returns)
// with 1 and 16 concurrent writers; group commit lets the 16 share fsyncs.
// ops/s is the total rate of all writers.
func BenchmarkDB_PutSync(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			db := openBench(b, benchDir(b), engine.SyncAlways)
			defer db.Close()
			v := benchValue(100)
			b.SetBytes(100)
			b.ReportAllocs()
			var wg sync.WaitGroup
			start := time.Now()
			b.ResetTimer()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var k [16]byte
					for i := w; i < b.N; i += writers {
						if _, err := db.Put(benchKey(k[:], uint64(i)), v); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			syncs := db.Stats().Syncs
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
			b.ReportMetric(float64(b.N)/float64(db.Stats().Syncs-syncs), "puts/fsync")
		})
	}
}

// loaded is one store of benchKeys keys with 100-byte values, shared by the
// read benchmarks (loading it is not part of any measurement).
var loaded struct {
	once sync.Once
	dir  string
	db   *engine.DB
	err  error
}

const benchKeys = 1_000_000

func loadedDB(b *testing.B) *engine.DB { return loadedDBT(b) }

func loadedDBT(b testing.TB) *engine.DB {
	b.Helper()
	loaded.once.Do(func() {
		loaded.dir, loaded.err = os.MkdirTemp("", "caskade-bench-1m-")
		if loaded.err != nil {
			return
		}
		loaded.db, loaded.err = engine.Open(loaded.dir, &engine.Options{Sync: engine.SyncNever})
		if loaded.err != nil {
			return
		}
		v := benchValue(100)
		var k [16]byte
		for i := range uint64(benchKeys) {
			if _, loaded.err = loaded.db.Put(benchKey(k[:], i), v); loaded.err != nil {
				return
			}
		}
		loaded.err = loaded.db.Sync()
	})
	if loaded.err != nil {
		b.Fatal(loaded.err)
	}
	return loaded.db
}

func closeLoaded() {
	if loaded.db != nil {
		loaded.db.Close()
		os.RemoveAll(loaded.dir)
	}
}

func BenchmarkDB_Get(b *testing.B) {
	db := loadedDB(b)
	rng := rand.New(rand.NewPCG(1, 2))
	var k [16]byte
	b.SetBytes(100)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		it, err := db.Get(benchKey(k[:], rng.Uint64N(benchKeys)))
		if err != nil || len(it.Value) != 100 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDB_Scan100(b *testing.B) {
	db := loadedDB(b)
	rng := rand.New(rand.NewPCG(3, 4))
	var k [16]byte
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		// Start below the last 100 keys so that each scan returns 100.
		start := benchKey(k[:], rng.Uint64N(benchKeys))
		if start[0] == 'f' {
			start[0] = 'e'
		}
		res, err := db.Scan(engine.ScanOptions{Start: start, Limit: 100})
		if err != nil || len(res.Items) != 100 {
			b.Fatalf("scan: %d items, %v", len(res.Items), err)
		}
	}
}

// BenchmarkDB_ReadFrom consumes 100 records from a random offset.
func BenchmarkDB_ReadFrom(b *testing.B) {
	db := loadedDB(b)
	rng := rand.New(rand.NewPCG(5, 6))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		recs, _, err := db.ReadFrom(1+rng.Uint64N(benchKeys-100), 100)
		if err != nil || len(recs) != 100 {
			b.Fatalf("readfrom: %d records, %v", len(recs), err)
		}
	}
}

// BenchmarkDB_Open reopens a store of 1M keys after a clean Close, and
// reports the heap the open store holds per key (keydir + ordered view +
// everything else Open keeps).
func BenchmarkDB_Open(b *testing.B) {
	db := loadedDB(b)
	dir := db.Dir()
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	loaded.db = nil
	defer func() {
		loaded.db, loaded.err = engine.Open(dir, &engine.Options{Sync: engine.SyncNever})
	}()
	var ms runtime.MemStats
	var heapPerKey, keydirPerKey float64
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.HeapAlloc
		db, err := engine.Open(dir, &engine.Options{Sync: engine.SyncNever})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		n := float64(db.Len())
		heapPerKey = float64(ms.HeapAlloc-before) / n
		keydirPerKey = float64(db.Stats().KeydirBytes) / n
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(heapPerKey, "heap-B/key")
	b.ReportMetric(keydirPerKey, "keydir-B/key")
}
