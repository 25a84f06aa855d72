package rpc

import (
	"context"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

// Compactor is a store that compacts on demand. *engine.DB satisfies it.
type Compactor interface {
	// Compact merges sealed segments now and reports what it reclaimed.
	Compact(ctx context.Context) (engine.CompactResult, error)
}

// Backuper is a store that writes a consistent image of itself.
type Backuper interface {
	// Backup writes a tar archive of a consistent image of the store to w
	// and returns the bytes written.
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// Maintainer is what the Maintenance service needs of a store. Both parts
// are optional: NewServer finds each by a type assertion on the Store, and
// the call a store lacks answers UNIMPLEMENTED.
type Maintainer interface {
	Compactor
	Backuper
}

// maintenance holds the optional parts of a store.
type maintenance struct {
	compactor Compactor // nil when the store cannot compact
	backuper  Backuper  // nil when the store cannot back up
	// linearizer and cluster are the replicated store's parts
	// (replicated.go); nil on one node.
	linearizer Linearizer
	cluster    Cluster
	// readIndexer, raft, members and admin are further optional parts of
	// a replicated store; nil when it lacks them.
	readIndexer ReadIndexer
	raft        RaftReporter
	members     Membership
	admin       ClusterAdmin
}

// maintenanceOf finds the optional parts of store.
func maintenanceOf(store Store) maintenance {
	var m maintenance
	m.compactor, _ = store.(Compactor)
	m.backuper, _ = store.(Backuper)
	m.linearizer, _ = store.(Linearizer)
	m.cluster, _ = store.(Cluster)
	m.readIndexer, _ = store.(ReadIndexer)
	m.raft, _ = store.(RaftReporter)
	m.members, _ = store.(Membership)
	m.admin, _ = store.(ClusterAdmin)
	return m
}

// maintenanceServer serves the Maintenance service.
type maintenanceServer struct {
	caskadev1.UnimplementedMaintenanceServer
	s *Server
}

// Compact merges sealed segments now.
func (m *maintenanceServer) Compact(ctx context.Context, _ *caskadev1.CompactRequest) (*caskadev1.CompactResponse, error) {
	const method = "Compact"
	s := m.s
	if s.maint.compactor == nil {
		return nil, s.toStatus(method, errNoMaintenance)
	}
	res, err := s.maint.compactor.Compact(ctx)
	if err != nil {
		return nil, s.toStatus(method, err)
	}
	return &caskadev1.CompactResponse{
		SegmentsMerged: uint32(res.Segments),
		BytesBefore:    res.BytesBefore,
		BytesAfter:     res.BytesAfter,
		BytesReclaimed: res.Reclaimed,
		Duration:       durationpb.New(res.Duration),
		Merges:         uint32(res.Merges),
	}, nil
}

// TransferLeadership makes the leader hand leadership over and reports the
// leader known afterwards.
func (m *maintenanceServer) TransferLeadership(ctx context.Context, req *caskadev1.TransferLeadershipRequest) (*caskadev1.TransferLeadershipResponse, error) {
	const method = "TransferLeadership"
	s := m.s
	if s.maint.admin == nil {
		return nil, s.toStatus(method, ErrNotSupported)
	}
	if err := s.maint.admin.TransferLeadership(ctx, req.GetTargetId()); err != nil {
		return nil, s.toStatus(method, err)
	}
	resp := &caskadev1.TransferLeadershipResponse{}
	if s.maint.cluster != nil {
		resp.LeaderId, resp.LeaderAddr = s.maint.cluster.Leader()
	}
	return resp, nil
}

// RemoveServer removes a server from the cluster's configuration.
func (m *maintenanceServer) RemoveServer(ctx context.Context, req *caskadev1.RemoveServerRequest) (*caskadev1.RemoveServerResponse, error) {
	const method = "RemoveServer"
	s := m.s
	if s.maint.admin == nil {
		return nil, s.toStatus(method, ErrNotSupported)
	}
	if req.GetId() == "" {
		return nil, s.toStatus(method, &fieldError{Field: "id", Reason: caskadev1.ReasonInvalidArgument, Desc: "id is required"})
	}
	if err := s.maint.admin.RemoveServer(ctx, req.GetId()); err != nil {
		return nil, s.toStatus(method, err)
	}
	return &caskadev1.RemoveServerResponse{}, nil
}

// snapshotChunk is the size of the data of one SnapshotResponse.
const snapshotChunk = 1 << 20

// Snapshot streams a tar archive of a consistent image of the store.
func (m *maintenanceServer) Snapshot(_ *caskadev1.SnapshotRequest, stream grpc.ServerStreamingServer[caskadev1.SnapshotResponse]) error {
	const method = "Snapshot"
	s := m.s
	if s.maint.backuper == nil {
		return s.toStatus(method, errNoMaintenance)
	}
	w := &chunkWriter{send: stream.Send, buf: make([]byte, 0, snapshotChunk)}
	if _, err := s.maint.backuper.Backup(stream.Context(), w); err != nil {
		return s.toStatus(method, err)
	}
	return s.toStatus(method, w.Flush())
}

// chunkWriter sends what is written to it in messages of snapshotChunk
// bytes. Safe for concurrent use (a Backup may write from any goroutine).
type chunkWriter struct {
	send func(*caskadev1.SnapshotResponse) error

	mu  sync.Mutex // guards buf and err
	buf []byte
	err error // the first send error; every later write returns it
}

// Write buffers p, sending each full chunk.
func (w *chunkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for len(p) > 0 {
		if w.err != nil {
			return n, w.err
		}
		k := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
		if len(w.buf) == cap(w.buf) {
			w.flushLocked()
		}
	}
	return n, w.err
}

// Flush sends what is buffered.
func (w *chunkWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil && len(w.buf) > 0 {
		w.flushLocked()
	}
	return w.err
}

// flushLocked sends buf and empties it. Caller holds mu.
func (w *chunkWriter) flushLocked() {
	// gRPC may keep a sent message (stats handlers read it lazily), so
	// each chunk gets a buffer of its own.
	w.err = w.send(&caskadev1.SnapshotResponse{Data: w.buf})
	w.buf = make([]byte, 0, cap(w.buf))
}
