package replication

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// benchStores are the log stores the benchmarks compare: LogStore and
// raft-boltdb, the usual hashicorp/raft log store, both fsyncing each
// batch.
var benchStores = []struct {
	name string
	open func(b *testing.B) raft.LogStore
}{
	{"caskade", func(b *testing.B) raft.LogStore {
		s, err := OpenLogStore(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"raftboltdb", func(b *testing.B) raft.LogStore {
		return openBolt(b, filepath.Join(b.TempDir(), "raft.db"))
	}},
}

const (
	benchBatch     = 64  // entries per StoreLogs, as the issue asks
	benchDataBytes = 128 // bytes of data per entry
)

// benchEntries returns n entries from index from on, each with
// benchDataBytes of data.
func benchEntries(from uint64, n int) []*raft.Log {
	logs := make([]*raft.Log, n)
	now := time.Now()
	for i := range logs {
		data := make([]byte, benchDataBytes)
		for j := range data {
			data[j] = byte(i + j)
		}
		logs[i] = &raft.Log{Index: from + uint64(i), Term: 1, Type: raft.LogCommand, Data: data, AppendedAt: now}
	}
	return logs
}

// BenchmarkLogStore_StoreLogs stores batches of 64 entries of 128 bytes,
// each batch durable (fsync) before the next starts, as Raft's leader and
// followers do.
func BenchmarkLogStore_StoreLogs(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			batch := benchEntries(1, benchBatch)
			b.SetBytes(benchBatch * benchDataBytes)
			b.ReportAllocs()
			next := uint64(1)
			for b.Loop() {
				for i, l := range batch {
					l.Index = next + uint64(i)
				}
				if err := s.StoreLogs(batch); err != nil {
					b.Fatal(err)
				}
				next += benchBatch
			}
			b.ReportMetric(float64(next-1)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkLogStore_GetLog reads entries of 128 bytes at random indexes of
// a log of 100,000 entries.
func BenchmarkLogStore_GetLog(b *testing.B) {
	const entriesInLog = 100_000
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b)
			for from := uint64(1); from <= entriesInLog; from += 1000 {
				if err := s.StoreLogs(benchEntries(from, 1000)); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(benchDataBytes)
			b.ReportAllocs()
			var l raft.Log
			// A fixed stride visits the whole log in an order no cache
			// line prefetcher follows.
			i := uint64(0)
			for b.Loop() {
				i = (i + 7919) % entriesInLog
				if err := s.GetLog(i+1, &l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
