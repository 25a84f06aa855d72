package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/rpctest"
	"github.com/caskade/caskade/rpc"
)

// backupStore serves a DB with a Backup that writes snapshotData: enough
// for several chunks of the Snapshot stream.
type backupStore struct{ *engine.DB }

var snapshotData = bytes.Repeat([]byte("0123456789abcdef"), 160<<10) // 2.5 MiB

func (backupStore) Backup(ctx context.Context, w io.Writer) (int64, error) {
	n, err := w.Write(snapshotData)
	return int64(n), err
}

// plainStore hides every optional ability of the DB (Compact, Backup).
type plainStore struct{ rpc.Store }

func TestClient_StatusAndServers(t *testing.T) {
	t.Parallel()
	s, c := start(t, nil)
	ctx := testCtx(t)
	must(c.Put(ctx, []byte("k"), []byte("v")))(t)
	must(c.Produce(ctx, []byte("m")))(t)

	st := must(c.Status(ctx))(t)
	if st.NodeID != "test" || st.RPCAddr != s.Addr || !st.IsLeader || st.LeaderAddr != s.Addr ||
		st.NextOffset != 3 || st.EarliestOffset != 1 || st.Keys != 1 || st.Bytes == 0 || st.Segments != 1 ||
		st.SyncMode != "never" || st.Version == "" {
		t.Fatalf("status: %+v", st)
	}
	servers := must(c.GetServers(ctx))(t)
	if len(servers) != 1 || servers[0] != (client.Server{ID: "test", RPCAddr: s.Addr, IsLeader: true}) {
		t.Fatalf("servers: %+v", servers)
	}
}

func TestClient_Compact(t *testing.T) {
	t.Parallel()
	_, c := start(t, &rpctest.Options{Engine: &engine.Options{Sync: engine.SyncNever, SegmentBytes: 4 << 10}})
	ctx := testCtx(t)
	// Overwrite a few keys across several small segments.
	val := bytes.Repeat([]byte("v"), 200)
	for i := range 100 {
		must(c.Put(ctx, []byte{'k', byte('0' + i%4)}, val))(t)
	}
	before := must(c.Status(ctx))(t)
	res := must(c.Compact(ctx))(t)
	if res.SegmentsMerged == 0 || res.BytesReclaimed <= 0 || res.BytesBefore-res.BytesAfter != res.BytesReclaimed {
		t.Fatalf("compact: %+v", res)
	}
	after := must(c.Status(ctx))(t)
	if after.Bytes >= before.Bytes || after.NextOffset != before.NextOffset {
		t.Fatalf("status before %+v, after %+v", before, after)
	}
	for i := range 4 {
		if it := must(c.Get(ctx, []byte{'k', byte('0' + i)}))(t); !bytes.Equal(it.Value, val) {
			t.Fatalf("k%d after compaction: %q", i, it.Value)
		}
	}
}

func TestClient_Snapshot(t *testing.T) {
	t.Parallel()
	_, c := start(t, &rpctest.Options{Wrap: func(db *engine.DB) rpc.Store { return backupStore{db} }})
	var buf bytes.Buffer
	n, err := c.Snapshot(testCtx(t), &buf)
	if err != nil || n != int64(len(snapshotData)) || !bytes.Equal(buf.Bytes(), snapshotData) {
		t.Fatalf("snapshot: %d bytes (%d received), %v", n, buf.Len(), err)
	}

	// A writer that fails stops the download with its error.
	errDisk := errors.New("disk full")
	if _, err := c.Snapshot(testCtx(t), failWriter{errDisk}); !errors.Is(err, errDisk) {
		t.Fatalf("snapshot to a failing writer: %v", err)
	}
	// A cancelled context ends it.
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	if _, err := c.Snapshot(ctx, io.Discard); !errors.Is(err, context.Canceled) {
		t.Fatalf("snapshot with a cancelled context: %v", err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestClient_Unimplemented(t *testing.T) {
	t.Parallel()
	_, c := start(t, &rpctest.Options{Wrap: func(db *engine.DB) rpc.Store { return plainStore{db} }})
	ctx := testCtx(t)
	if _, err := c.Compact(ctx); !errors.Is(err, client.ErrUnimplemented) {
		t.Fatalf("compact: %v", err)
	}
	if _, err := c.Snapshot(ctx, io.Discard); !errors.Is(err, client.ErrUnimplemented) {
		t.Fatalf("snapshot: %v", err)
	}
}
