package engine_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
)

var overwriteKeys = flag.Int("overwrite-keys", 1_000_000, "keys in BenchmarkDB_CompactOverwrite")

// fillOverwritten writes keys keys with 100-byte values, then overwrites
// each twice (two thirds of the log dead), under SyncNever, and closes the
// store.
func fillOverwritten(b *testing.B, dir string, keys int, opts engine.Options) {
	b.Helper()
	opts.Sync = engine.SyncNever
	db, err := engine.Open(dir, &opts)
	if err != nil {
		b.Fatal(err)
	}
	val := benchValue(100)
	key := make([]byte, 16)
	for round := range 3 {
		for i := range keys {
			val[0] = byte(round)
			if _, err := db.Put(benchKey(key, uint64(i)), val); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDB_Compaction measures merge throughput: MB/s of segments read
// (two thirds of them dead) while writing the live third.
func BenchmarkDB_Compaction(b *testing.B) {
	const keys = 200_000
	opts := engine.Options{SegmentBytes: 8 << 20, Compaction: engine.CompactionOptions{Disabled: true}}
	var in int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := benchDir(b)
		fillOverwritten(b, dir, keys, opts)
		db, err := engine.Open(dir, &opts)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := db.Compact(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		in += res.BytesBefore
		b.StopTimer()
		db.Close()
	}
	b.SetBytes(in / int64(b.N))
}

// BenchmarkDB_CompactOverwrite is the overwrite run: fill
// -overwrite-keys keys, overwrite each twice, then merge while one writer
// goes on putting under SyncAlways. It reports space amplification after
// the merge (bytes on disk / live bytes), the longest and p99 Put during
// the merge, and the merge rate.
func BenchmarkDB_CompactOverwrite(b *testing.B) {
	keys := *overwriteKeys
	opts := engine.Options{SegmentBytes: 64 << 20, Compaction: engine.CompactionOptions{Disabled: true}}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := benchDir(b)
		fillOverwritten(b, dir, keys, opts)
		opts.Sync = engine.SyncAlways
		db, err := engine.Open(dir, &opts)
		if err != nil {
			b.Fatal(err)
		}
		stop := make(chan struct{})
		var lat []time.Duration
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(1, 2))
			key, val := make([]byte, 16), benchValue(100)
			for {
				select {
				case <-stop:
					return
				default:
				}
				t := time.Now()
				if _, err := db.Put(benchKey(key, rng.Uint64N(uint64(keys))), val); err != nil {
					b.Error(err)
					return
				}
				lat = append(lat, time.Since(t))
			}
		}()
		b.StartTimer()
		res, err := db.Compact(context.Background())
		b.StopTimer()
		close(stop)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		// Amplification of the merged state: the writer's own overwrites
		// since are in the active segment, which no merge takes.
		st := db.Stats()
		var sealed, live int64
		for _, s := range st.Segments {
			if s.Sealed {
				sealed += s.Bytes
				live += s.LiveBytes + s.KeylessBytes + s.TombstoneBytes
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(st.Bytes)/float64(st.LiveBytes), "amplification")
		b.ReportMetric(float64(sealed)/float64(max(live, 1)), "sealed-amplification")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-put-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-put-ms")
		b.ReportMetric(float64(len(lat)), "puts-during-merge")
		b.ReportMetric(float64(res.BytesBefore)/1e6/res.Duration.Seconds(), "merge-MB/s")
		if testing.Verbose() {
			fmt.Printf("compact: %+v\n", res)
		}
		db.Close()
	}
}
