package rpc

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

func TestCluster_GetServersStatus(t *testing.T) {
	ts := startServer(t, nil)
	c := ctx(t)
	putKeys(t, ts, "k", 5)
	gs, err := ts.clu.GetServers(c, &caskadev1.GetServersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(gs.Servers) != 1 || gs.Servers[0].RpcAddr != ts.addr || !gs.Servers[0].IsLeader || gs.Servers[0].Id != "n1" {
		t.Fatalf("GetServers = %v", gs)
	}
	st, err := ts.clu.Status(c, &caskadev1.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.NodeId != "n1" || st.RpcAddr != ts.addr || st.LeaderAddr != ts.addr || !st.IsLeader ||
		st.NextOffset != 6 || st.EarliestOffset != 1 || st.Keys != 5 || st.Bytes <= 0 || st.LiveBytes <= 0 ||
		st.Segments < 1 || st.SyncMode != "never" || st.Version != "dev" {
		t.Fatalf("Status = %v", st)
	}
}

func TestMaintenance_Compact(t *testing.T) {
	ts := startServer(t, &engine.Options{Sync: engine.SyncNever, SegmentBytes: 4 << 10})
	if _, ok := Store(ts.db).(Compactor); !ok {
		_, err := ts.maint.Compact(ctx(t), &caskadev1.CompactRequest{})
		checkErr(t, err, wantErr{code: codes.Unimplemented})
		t.Skip("*engine.DB cannot compact yet")
	}
	// Overwrite a few keys many times: sealed segments full of dead bytes.
	val := bytes.Repeat([]byte("v"), 200)
	for i := range 200 {
		if _, err := ts.kv.Put(ctx(t), &caskadev1.PutRequest{Key: fmt.Appendf(nil, "k%d", i%4), Value: val}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := ts.maint.Compact(ctx(t), &caskadev1.CompactRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if res.SegmentsMerged == 0 || res.BytesReclaimed <= 0 || res.BytesBefore-res.BytesAfter != res.BytesReclaimed || res.Duration == nil {
		t.Fatalf("Compact = %v", res)
	}
	for i := range 4 {
		if _, err := ts.kv.Get(ctx(t), &caskadev1.GetRequest{Key: fmt.Appendf(nil, "k%d", i)}); err != nil {
			t.Fatalf("k%d after compaction: %v", i, err)
		}
	}
}

// A snapshot is a tar archive that restores to a store holding every key.
func TestMaintenance_Snapshot(t *testing.T) {
	ts := startServer(t, nil)
	putKeys(t, ts, "k", 10)
	st, err := ts.maint.Snapshot(ctx(t), &caskadev1.SnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	for range 100000 {
		resp, err := st.Recv()
		if err == io.EOF {
			break
		}
		if _, ok := Store(ts.db).(Backuper); !ok {
			checkErr(t, err, wantErr{code: codes.Unimplemented})
			t.Skip("*engine.DB cannot back up")
		}
		if err != nil {
			t.Fatal(err)
		}
		archive.Write(resp.Data)
	}
	tr := tar.NewReader(bytes.NewReader(archive.Bytes()))
	files := 0
	for range 10000 {
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the snapshot is not a tar archive: %v", err)
		}
		files++
	}
	if files == 0 {
		t.Fatal("empty snapshot")
	}
	dir := filepath.Join(t.TempDir(), "restored")
	if err := engine.Restore(ctx(t), dir, &archive, nil); err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 10 {
		k := fmt.Sprintf("k%03d", i)
		if it, err := db.Get([]byte(k)); err != nil || string(it.Value) != "v"+k {
			t.Fatalf("restored %s = %v, %v", k, it, err)
		}
	}
}

// A store that can back up: the chunks concatenate to what it wrote.
type backupStore struct {
	Store
	data []byte
}

func (b backupStore) Backup(_ context.Context, w io.Writer) (int64, error) {
	// Odd-sized writes, to cross chunk boundaries.
	var n int64
	for p := b.data; len(p) > 0; {
		k := min(len(p), 333333)
		m, err := w.Write(p[:k])
		n += int64(m)
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

func TestMaintenance_Snapshot_Chunks(t *testing.T) {
	ts := startServer(t, nil)
	data := make([]byte, 3*snapshotChunk+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	fake := serveStore(t, backupStore{Store: ts.db, data: data}, Options{})
	defer fake.stop(t)
	st, err := fake.maint.Snapshot(ctx(t), &caskadev1.SnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	chunks := 0
	for range 1000 {
		resp, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		chunks++
		got = append(got, resp.Data...)
	}
	if !bytes.Equal(got, data) || chunks != 4 {
		t.Fatalf("got %d bytes in %d chunks, want %d in 4", len(got), chunks, len(data))
	}
	// Without Compact, Compact is unimplemented.
	_, err = fake.maint.Compact(ctx(t), &caskadev1.CompactRequest{})
	if _, ok := Store(backupStore{}).(Compactor); !ok {
		checkErr(t, err, wantErr{code: codes.Unimplemented})
	}
}

func TestServer_HealthAndReflection(t *testing.T) {
	ts := startServer(t, nil)
	h := healthpb.NewHealthClient(ts.conn)
	for _, svc := range []string{"", "caskade.v1.KV", "caskade.v1.Log", "caskade.v1.Cluster", "caskade.v1.Maintenance"} {
		r, err := h.Check(ctx(t), &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health of %q = %v, %v", svc, r, err)
		}
	}
	rc, err := reflectionpb.NewServerReflectionClient(ts.conn).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	want := "[caskade.v1.Cluster caskade.v1.KV caskade.v1.Log caskade.v1.Maintenance grpc.health.v1.Health grpc.reflection.v1.ServerReflection grpc.reflection.v1alpha.ServerReflection]"
	if fmt.Sprint(names) != want {
		t.Fatalf("reflection lists %v, want %v", names, want)
	}
	rc.CloseSend()
	ts.srv.Close()
	r, err := h.Check(ctx(t), &healthpb.HealthCheckRequest{})
	if err != nil || r.Status != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health after Close = %v, %v", r, err)
	}
}

// A shutdown under load (Close, GracefulStop, store Close) loses no
// acknowledged write: each one reads back after reopening the store.
func TestServer_GracefulShutdown_WritesInFlight(t *testing.T) {
	eo := engine.Options{Sync: engine.SyncAlways, SegmentBytes: 64 << 10, MaxKeySize: testMaxKey, MaxValueSize: testMaxValue}
	ts := startServer(t, &eo)
	const writers = 8
	var (
		mu    sync.Mutex // guards acked
		acked = map[string]uint64{}
		count atomic.Int64
		wg    sync.WaitGroup
	)
	c := ctx(t)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100000 {
				key := fmt.Sprintf("w%d/%06d", w, i)
				r, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte(key), Value: []byte(key)})
				if err != nil {
					if c := status.Code(err); c != codes.Unavailable && c != codes.Canceled {
						t.Errorf("put %s: %v", key, err)
					}
					return
				}
				mu.Lock()
				acked[key] = r.Offset
				mu.Unlock()
				count.Add(1)
			}
		}()
	}
	waitFor(t, "writes to be acknowledged", func() bool { return count.Load() >= 200 })
	ts.stop(t) // Close, GracefulStop, Stop after 5 s, store Close
	wg.Wait()
	db, err := engine.Open(ts.dir, &eo)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mu.Lock()
	defer mu.Unlock()
	for k, off := range acked {
		it, err := db.Get([]byte(k))
		if err != nil || it.Offset != off {
			t.Fatalf("acknowledged %s at %d; after reopen: %v, %v", k, off, it, err)
		}
	}
	if len(acked) < 200 {
		t.Fatalf("only %d writes acknowledged", len(acked))
	}
}
