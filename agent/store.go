package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/replication"
	"github.com/caskade/caskade/rpc"
)

// Store is the rpc.Store of a replicated node: writes go through Raft
// (on the leader), reads come from the FSM's current store. It also
// implements rpc.Linearizer, rpc.Cluster and rpc.Maintainer (compaction
// and backups act on this node's copy only).
//
// Safe for concurrent use.
type Store struct {
	node *replication.Node
}

var (
	_ rpc.Store      = (*Store)(nil)
	_ rpc.Linearizer = (*Store)(nil)
	_ rpc.Cluster    = (*Store)(nil)
	_ rpc.Maintainer = (*Store)(nil)
)

// NewStore returns the rpc.Store of node.
func NewStore(node *replication.Node) *Store { return &Store{node: node} }

// mapErr turns replication's errors into the ones package rpc maps to
// statuses.
func mapErr(err error) error {
	var nl *replication.NotLeaderError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nl):
		return &rpc.NotLeaderError{LeaderAddr: nl.LeaderAddr}
	case errors.Is(err, replication.ErrLeadershipLost):
		return fmt.Errorf("%w: %w", rpc.ErrUnavailable, err)
	case errors.Is(err, replication.ErrClosed):
		return fmt.Errorf("%w: %w", engine.ErrClosed, err)
	}
	return err
}

// propose commits ops with this node's clock as their time and returns
// their results.
func (s *Store) propose(ops []engine.Op) ([]engine.Result, error) {
	now := time.Now().UnixNano()
	for i := range ops {
		ops[i].Timestamp = now
	}
	res, err := s.node.Propose(context.Background(), ops)
	return res, mapErr(err)
}

// one proposes a single op and returns its offset.
func (s *Store) one(op engine.Op) (uint64, error) {
	res, err := s.propose([]engine.Op{op})
	if err != nil {
		return 0, err
	}
	return res[0].Offset, res[0].Err
}

// Put stores value under key through Raft.
func (s *Store) Put(key, value []byte) (uint64, error) {
	return s.one(engine.Op{Kind: engine.OpPut, Key: key, Value: value})
}

// PutWithExpiry stores value under key until expiry, through Raft.
func (s *Store) PutWithExpiry(key, value []byte, expiry time.Time) (uint64, error) {
	return s.one(engine.Op{Kind: engine.OpPut, Key: key, Value: value, Expiry: expiry.UnixNano()})
}

// Delete deletes key through Raft.
func (s *Store) Delete(key []byte) (uint64, error) {
	return s.one(engine.Op{Kind: engine.OpDelete, Key: key})
}

// CompareAndSwap is decided in the FSM, on every replica alike.
func (s *Store) CompareAndSwap(key []byte, expected uint64, value []byte) (uint64, error) {
	return s.one(engine.Op{Kind: engine.OpCAS, Key: key, Value: value, Expected: expected})
}

// Produce appends a keyless record through Raft.
func (s *Store) Produce(value []byte) (uint64, error) {
	return s.one(engine.Op{Kind: engine.OpProduce, Value: value})
}

// ProduceBatch appends keyless records as one Raft entry; their offsets
// are contiguous and it returns the first.
func (s *Store) ProduceBatch(values [][]byte) (uint64, error) {
	if len(values) == 0 {
		return 0, fmt.Errorf("%w: empty batch", engine.ErrBadRange)
	}
	ops := make([]engine.Op, len(values))
	for i, v := range values {
		ops[i] = engine.Op{Kind: engine.OpProduce, Value: v}
	}
	res, err := s.propose(ops)
	if err != nil {
		return 0, err
	}
	for i := range res {
		if res[i].Err != nil {
			return 0, fmt.Errorf("value %d: %w", i, res[i].Err)
		}
	}
	return res[0].Offset, nil
}

// read runs fn on the current store (across a snapshot restore).
func (s *Store) read(fn func(db *engine.DB) error) error { return s.node.FSM().Read(fn) }

// Get reads key from the local store.
func (s *Store) Get(key []byte) (it engine.Item, err error) {
	err = s.read(func(db *engine.DB) error { it, err = db.Get(key); return err })
	return it, err
}

// Scan scans the local store.
func (s *Store) Scan(o engine.ScanOptions) (r engine.ScanResult, err error) {
	err = s.read(func(db *engine.DB) error { r, err = db.Scan(o); return err })
	return r, err
}

// ReadFrom reads the local log.
func (s *Store) ReadFrom(offset uint64, max int) (recs []engine.Record, next uint64, err error) {
	err = s.read(func(db *engine.DB) error { recs, next, err = db.ReadFrom(offset, max); return err })
	return recs, next, err
}

// ReadFromBytes reads the local log within a byte budget.
func (s *Store) ReadFromBytes(offset uint64, max int, maxBytes int64) (recs []engine.Record, next uint64, err error) {
	err = s.read(func(db *engine.DB) error { recs, next, err = db.ReadFromBytes(offset, max, maxBytes); return err })
	return recs, next, err
}

// Wait waits for the local log to pass offset.
func (s *Store) Wait(ctx context.Context, offset uint64) error {
	return s.read(func(db *engine.DB) error { return db.Wait(ctx, offset) })
}

// NextOffset is the local log's high-water mark.
func (s *Store) NextOffset() uint64 { return s.node.DB().NextOffset() }

// Stats describe the local store.
func (s *Store) Stats() engine.Stats { return s.node.DB().Stats() }

// LinearizableBarrier implements rpc.Linearizer.
func (s *Store) LinearizableBarrier(ctx context.Context) error {
	return mapErr(s.node.LinearizableBarrier(ctx))
}

// Servers implements rpc.Cluster.
func (s *Store) Servers() ([]rpc.ServerInfo, error) {
	servers, err := s.node.Servers()
	if err != nil {
		return nil, mapErr(err)
	}
	out := make([]rpc.ServerInfo, len(servers))
	for i, sv := range servers {
		out[i] = rpc.ServerInfo{ID: sv.ID, Addr: sv.Addr, Leader: sv.Leader}
	}
	return out, nil
}

// Leader implements rpc.Cluster.
func (s *Store) Leader() (id, addr string) {
	addr, id = s.node.Leader()
	return id, addr
}

// Compact merges this node's sealed segments.
func (s *Store) Compact(ctx context.Context) (r engine.CompactResult, err error) {
	err = s.read(func(db *engine.DB) error { r, err = db.Compact(ctx); return err })
	return r, err
}

// Backup writes an image of this node's store.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	return s.node.DB().Backup(ctx, w)
}
