package keydir

import (
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"
)

const benchKeys = 1_000_000 // "1M keys" in every benchmark that needs a full map

// mix is splitmix64's finalizer: a bijection, so distinct inputs give
// distinct, well-spread outputs.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// randomKey writes the i-th key of a random-order sequence of distinct
// 16-byte keys into buf.
func randomKey(buf *[16]byte, i uint64) []byte {
	binary.BigEndian.PutUint64(buf[:8], mix(i))
	binary.BigEndian.PutUint64(buf[8:], i)
	return buf[:]
}

// sortedKey writes the i-th of an ascending sequence of distinct 16-byte
// keys into buf.
func sortedKey(buf *[16]byte, i uint64) []byte {
	binary.BigEndian.PutUint64(buf[:8], i)
	binary.BigEndian.PutUint64(buf[8:], mix(i))
	return buf[:]
}

func buildSorted(tb testing.TB, n int) *Map {
	var buf [16]byte
	b := NewBuilder(n)
	for i := range uint64(n) {
		if err := b.Add(sortedKey(&buf, i), Entry{Offset: i + 1}); err != nil {
			tb.Fatal(err)
		}
	}
	return b.Map()
}

// BenchmarkMap_Put inserts new keys in random order into a map that starts
// empty, so the time includes table growth and block splits.
func BenchmarkMap_Put(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(16)
	m := New(0)
	var buf [16]byte
	for i := uint64(0); b.Loop(); i++ {
		m.Put(randomKey(&buf, i), Entry{Offset: i + 1})
	}
}

// BenchmarkMap_Get looks up random present keys among 1M.
func BenchmarkMap_Get(b *testing.B) {
	b.ReportAllocs()
	m := buildSorted(b, benchKeys)
	var buf [16]byte
	for i := uint64(0); b.Loop(); i++ {
		if _, ok := m.Get(sortedKey(&buf, mix(i)%benchKeys)); !ok {
			b.Fatal("miss")
		}
	}
}

// BenchmarkMap_Ascend100 scans 100 keys from a random start among 1M.
func BenchmarkMap_Ascend100(b *testing.B) {
	b.ReportAllocs()
	m := buildSorted(b, benchKeys)
	var buf [16]byte
	for i := uint64(0); b.Loop(); i++ {
		n := 0
		start := sortedKey(&buf, mix(i)%(benchKeys-100))
		start[15]++ // usually not a stored key: exercise the search
		m.Ascend(start, nil, func([]byte, Entry) bool { n++; return n < 100 })
		if n != 100 {
			b.Fatalf("scanned %d keys", n)
		}
	}
}

// BenchmarkMap_Memory loads 1M 16-byte keys and reports the heap they take
// per key (HeapAlloc after GC, less the baseline): the product figure of
// DESIGN.md §4. "heap-B/key" is HeapBytes' estimate of the same thing. Run
// it with -benchtime=1x: each iteration loads the whole map.
func BenchmarkMap_Memory(b *testing.B) {
	load := map[string]func() *Map{
		// Random-order Puts into New(0): the worst case, growth and splits included.
		"Put": func() *Map {
			m := New(0)
			var buf [16]byte
			for i := range uint64(benchKeys) {
				m.Put(randomKey(&buf, i), Entry{Offset: i + 1})
			}
			return m
		},
		// Random-order Puts into a map sized by its hint.
		"PutHint": func() *Map {
			m := New(benchKeys)
			var buf [16]byte
			for i := range uint64(benchKeys) {
				m.Put(randomKey(&buf, i), Entry{Offset: i + 1})
			}
			return m
		},
		// Startup from sorted hint files.
		"Builder": func() *Map { return buildSorted(b, benchKeys) },
	}
	for _, name := range []string{"Put", "PutHint", "Builder"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var perKey, estimate float64
			for b.Loop() {
				before := heapAlloc()
				m := load[name]()
				after := heapAlloc()
				perKey = float64(after-before) / float64(m.Len())
				estimate = float64(m.HeapBytes()) / float64(m.Len())
				runtime.KeepAlive(m)
			}
			b.ReportMetric(perKey, "B/key")
			b.ReportMetric(estimate, "heap-B/key")
		})
	}
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkBuilder loads 1M sorted keys per operation.
func BenchmarkBuilder(b *testing.B) {
	b.ReportAllocs()
	var buf [16]byte
	for b.Loop() {
		bld := NewBuilder(benchKeys)
		for i := range uint64(benchKeys) {
			if err := bld.Add(sortedKey(&buf, i), Entry{Offset: i + 1}); err != nil {
				b.Fatal(err)
			}
		}
		_ = bld.Map()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchKeys, "ns/key")
}

// BenchmarkMap_PutMaxPause makes 1M random-key Puts into New(0) per
// operation and reports the longest single Put ("max-ns"), the 99.99th
// percentile, and how many Puts took over a millisecond ("puts>1ms"): no
// table growth or arena work may pause the writer, who holds the engine's
// write lock. Times are wall clock, so on a busy machine the maximum also
// catches the thread being descheduled; compare runs with -count=3. Run it
// with -benchtime=1x: each iteration makes a million Puts.
func BenchmarkMap_PutMaxPause(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(16 * benchKeys)
	var buf [16]byte
	lat := make([]time.Duration, benchKeys)
	var p pauses
	for b.Loop() {
		m := New(0)
		for i := range uint64(benchKeys) {
			k := randomKey(&buf, i)
			t0 := time.Now()
			m.Put(k, Entry{Offset: i + 1})
			lat[i] = time.Since(t0)
		}
		p.add(lat)
	}
	p.report(b, "puts>1ms")
}

// BenchmarkMap_DeleteMaxPause deletes 1M keys in random order from a map
// loaded by the Builder and reports the longest single Delete as
// BenchmarkMap_PutMaxPause does: segment shrinking and the arena rewrites
// that half the deletes trigger must not pause the writer either. Run it
// with -benchtime=1x.
func BenchmarkMap_DeleteMaxPause(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(16 * benchKeys)
	var buf [16]byte
	lat := make([]time.Duration, benchKeys)
	// A random order: a fixed stride through the keys would walk the slab
	// and the arena at a fixed stride too, and measure cache aliasing.
	order := rand.New(rand.NewPCG(1, 2)).Perm(benchKeys)
	var p pauses
	for b.Loop() {
		b.StopTimer()
		m := buildSorted(b, benchKeys)
		b.StartTimer()
		for i, o := range order {
			k := sortedKey(&buf, uint64(o))
			t0 := time.Now()
			_, ok := m.Delete(k)
			lat[i] = time.Since(t0)
			if !ok {
				b.Fatalf("Delete(%x) missed", k)
			}
		}
		p.add(lat)
	}
	p.report(b, "deletes>1ms")
}

// pauses keeps the worst latencies seen over a benchmark's iterations.
type pauses struct {
	max, p9999 time.Duration
	slow       int // most operations over 1ms in one iteration
}

// add takes one iteration's latencies, and sorts them.
func (p *pauses) add(lat []time.Duration) {
	slices.Sort(lat)
	p.max = max(p.max, lat[len(lat)-1])
	p.p9999 = max(p.p9999, lat[len(lat)-1-len(lat)/10000])
	slow := len(lat) - sort.Search(len(lat), func(i int) bool { return lat[i] > time.Millisecond })
	p.slow = max(p.slow, slow)
}

func (p *pauses) report(b *testing.B, slowUnit string) {
	b.ReportMetric(float64(p.max.Nanoseconds()), "max-ns")
	b.ReportMetric(float64(p.p9999.Nanoseconds()), "p99.99-ns")
	b.ReportMetric(float64(p.slow), slowUnit)
}
