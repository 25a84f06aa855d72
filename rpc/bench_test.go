package rpc

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

// benchValueSize is the value size of every benchmark: 100 B, as in the
// issue's comparison with etcd.
const benchValueSize = 100

// benchServer starts a server over a store with sync mode mode and dials
// conns client connections to it.
func benchServer(b *testing.B, mode engine.SyncMode, conns int) (*testServer, []*grpc.ClientConn) {
	b.Helper()
	ts := startServer(b, &engine.Options{Sync: mode})
	cs := make([]*grpc.ClientConn, conns)
	for i := range cs {
		c, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		cs[i] = c
	}
	return ts, cs
}

// runClients runs op from clients goroutines until b.N calls are made in
// all, client i using connection i % len(conns), and reports ops/s and
// the 50th and 99th percentile latency.
func runClients(b *testing.B, conns []*grpc.ClientConn, clients int, op func(ctx context.Context, conn *grpc.ClientConn, i int) error) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// Warm every connection up, so that dialing is not measured.
	for _, c := range conns {
		if err := op(ctx, c, -1); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := conns[w%len(conns)]
			l := make([]time.Duration, 0, b.N/clients+1)
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					break
				}
				t0 := time.Now()
				if err := op(ctx, conn, i); err != nil {
					errs <- err
					return
				}
				l = append(l, time.Since(t0))
			}
			lat[w] = l
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	if len(all) > 0 {
		b.ReportMetric(float64(all[len(all)*50/100].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkRPC_Put: durable (Sync=always) puts of 100 B values from
// concurrent clients over one or several connections.
func BenchmarkRPC_Put(b *testing.B) {
	value := make([]byte, benchValueSize)
	for _, clients := range []int{16, 64} {
		for _, conns := range []int{1, 4} {
			b.Run(fmt.Sprintf("clients=%d/conns=%d", clients, conns), func(b *testing.B) {
				ts, cs := benchServer(b, engine.SyncAlways, conns)
				kvs := make(map[*grpc.ClientConn]caskadev1.KVClient)
				for _, c := range cs {
					kvs[c] = caskadev1.NewKVClient(c)
				}
				b.ReportAllocs()
				b.SetBytes(benchValueSize)
				before := ts.db.Stats()
				runClients(b, cs, clients, func(ctx context.Context, c *grpc.ClientConn, i int) error {
					_, err := kvs[c].Put(ctx, &caskadev1.PutRequest{Key: fmt.Appendf(nil, "key-%010d", i), Value: value})
					return err
				})
				after := ts.db.Stats()
				b.ReportMetric(float64(after.NextOffset-before.NextOffset)/float64(max(after.Syncs-before.Syncs, 1)), "puts/fsync")
			})
		}
	}
}

// BenchmarkRPC_Get: gets of 100 B values (of 10,000 keys) from concurrent
// clients over one connection.
func BenchmarkRPC_Get(b *testing.B) {
	const keys = 10000
	value := make([]byte, benchValueSize)
	for _, clients := range []int{16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			ts, cs := benchServer(b, engine.SyncNever, 1)
			for i := range keys {
				if _, err := ts.db.Put(fmt.Appendf(nil, "key-%010d", i), value); err != nil {
					b.Fatal(err)
				}
			}
			kv := caskadev1.NewKVClient(cs[0])
			b.ReportAllocs()
			b.SetBytes(benchValueSize)
			runClients(b, cs, clients, func(ctx context.Context, _ *grpc.ClientConn, i int) error {
				_, err := kv.Get(ctx, &caskadev1.GetRequest{Key: fmt.Appendf(nil, "key-%010d", max(i, 0)%keys)})
				return err
			})
		})
	}
}

// BenchmarkRPC_ProduceStream: durable (Sync=always) 100 B records over
// ProduceStream, batch records per request, requests pipelined (the
// client does not wait for an answer before sending the next).
func BenchmarkRPC_ProduceStream(b *testing.B) {
	value := make([]byte, benchValueSize)
	for _, batch := range []int{1, 64} {
		for _, streams := range []int{1, 4} {
			b.Run(fmt.Sprintf("batch=%d/streams=%d", batch, streams), func(b *testing.B) {
				_, cs := benchServer(b, engine.SyncAlways, 1)
				lc := caskadev1.NewLogClient(cs[0])
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
				defer cancel()
				vals := make([][]byte, batch)
				for i := range vals {
					vals[i] = value
				}
				// Requests per stream, rounded up: at least b.N records.
				perStream := (b.N + batch*streams - 1) / (batch * streams)
				b.ReportAllocs()
				b.SetBytes(benchValueSize)
				b.ResetTimer()
				start := time.Now()
				var wg sync.WaitGroup
				errs := make(chan error, 2*streams)
				for range streams {
					st, err := lc.ProduceStream(ctx)
					if err != nil {
						b.Fatal(err)
					}
					wg.Add(2)
					go func() {
						defer wg.Done()
						for range perStream {
							if err := st.Send(&caskadev1.ProduceStreamRequest{Values: vals}); err != nil {
								errs <- err
								return
							}
						}
						errs <- st.CloseSend()
					}()
					go func() {
						defer wg.Done()
						for n := 0; ; n++ {
							_, err := st.Recv()
							if err == io.EOF {
								if n != perStream {
									errs <- fmt.Errorf("%d answers for %d requests", n, perStream)
								}
								return
							}
							if err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(perStream*batch*streams)/elapsed.Seconds(), "records/s")
			})
		}
	}
}
