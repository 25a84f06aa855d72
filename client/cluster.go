package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// Server is a node clients may talk to.
type Server struct {
	ID       string
	RPCAddr  string // host:port for RPC
	IsLeader bool
}

// GetServers lists the servers of the store and marks the leader.
func (c *Client) GetServers(ctx context.Context) ([]Server, error) {
	if err := c.check("get servers"); err != nil {
		return nil, err
	}
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.clus.GetServers(ctx, &caskadev1.GetServersRequest{})
	if err != nil {
		return nil, c.wrap("get servers", err)
	}
	out := make([]Server, len(resp.GetServers()))
	for i, s := range resp.GetServers() {
		out[i] = Server{ID: s.GetId(), RPCAddr: s.GetRpcAddr(), IsLeader: s.GetIsLeader()}
	}
	return out, nil
}

// Status describes the node that answered.
type Status struct {
	NodeID         string
	RPCAddr        string // the node's advertised RPC address
	IsLeader       bool
	LeaderAddr     string // the leader's RPC address (the node's own on one node)
	NextOffset     uint64 // the high-water mark: the offset the next write gets
	EarliestOffset uint64 // the first offset still in the log
	Keys           uint64 // keys in the index (expired ones until compaction)
	Bytes          int64  // bytes of records in all segments
	LiveBytes      int64  // bytes of keyed records holding live values
	KeydirBytes    int64  // heap held by the index
	Segments       int
	SyncMode       string // always, interval or never
	Syncs          uint64 // fsyncs since the store was opened
	Version        string // the server's version
}

// Status asks the node for its status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	if err := c.check("status"); err != nil {
		return Status{}, err
	}
	ctx, cancel := c.unary(ctx)
	defer cancel()
	r, err := c.clus.Status(ctx, &caskadev1.StatusRequest{})
	if err != nil {
		return Status{}, c.wrap("status", err)
	}
	return Status{
		NodeID:         r.GetNodeId(),
		RPCAddr:        r.GetRpcAddr(),
		IsLeader:       r.GetIsLeader(),
		LeaderAddr:     r.GetLeaderAddr(),
		NextOffset:     r.GetNextOffset(),
		EarliestOffset: r.GetEarliestOffset(),
		Keys:           r.GetKeys(),
		Bytes:          r.GetBytes(),
		LiveBytes:      r.GetLiveBytes(),
		KeydirBytes:    r.GetKeydirBytes(),
		Segments:       int(r.GetSegments()),
		SyncMode:       r.GetSyncMode(),
		Syncs:          r.GetSyncs(),
		Version:        r.GetVersion(),
	}, nil
}

// CompactResult reports what a compaction did.
type CompactResult struct {
	Merges         int // merges run, each of one or more segments
	SegmentsMerged int
	BytesBefore    int64
	BytesAfter     int64
	BytesReclaimed int64
	Duration       time.Duration
}

// Compact asks the server to merge its sealed segments now. A server whose
// store cannot compact answers with an error matching ErrUnimplemented.
func (c *Client) Compact(ctx context.Context) (CompactResult, error) {
	if err := c.check("compact"); err != nil {
		return CompactResult{}, err
	}
	ctx, cancel := c.unary(ctx)
	defer cancel()
	r, err := c.maint.Compact(ctx, &caskadev1.CompactRequest{})
	if err != nil {
		return CompactResult{}, c.wrap("compact", err)
	}
	return CompactResult{
		Merges:         int(r.GetMerges()),
		SegmentsMerged: int(r.GetSegmentsMerged()),
		BytesBefore:    r.GetBytesBefore(),
		BytesAfter:     r.GetBytesAfter(),
		BytesReclaimed: r.GetBytesReclaimed(),
		Duration:       r.GetDuration().AsDuration(),
	}, nil
}

// Snapshot streams a consistent image of the store (a tar archive) into w
// and returns the number of bytes written. It is bounded by ctx only, not
// by the Client's timeout. On error, w holds a partial archive: write to a
// temporary file and rename it on success.
func (c *Client) Snapshot(ctx context.Context, w io.Writer) (int64, error) {
	if err := c.check("snapshot"); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.maint.Snapshot(ctx, &caskadev1.SnapshotRequest{})
	if err != nil {
		return 0, c.wrap("snapshot", err)
	}
	var n int64
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, c.wrap("snapshot", err)
		}
		m, err := w.Write(resp.GetData())
		n += int64(m)
		if err != nil {
			return n, fmt.Errorf("snapshot: write: %w", err)
		}
	}
}
