package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/failpoint"
	"github.com/caskade/caskade/replication"
	"github.com/caskade/caskade/rpc"
)

// Store is the rpc.Store of a replicated node: writes go through Raft
// (on the leader; a follower forwards them, see forward.go), reads come
// from the FSM's current store. It also implements rpc.Linearizer (a
// follower asks the leader for a ReadIndex), rpc.ReadIndexer,
// rpc.Cluster, rpc.RaftReporter, rpc.Membership, rpc.ClusterAdmin and
// rpc.Maintainer (compaction and backups act on this node's copy only).
//
// The zero StoreOptions (and a Store literal with only node set) give the
// defaults: forwarding on. Safe for concurrent use.
type Store struct {
	node *replication.Node
	opts StoreOptions // immutable after NewStoreWithOptions
	// conns reach the leader for forwarded writes and ReadIndex calls.
	conns leaderConns
	// bugWrites counts the writes the leader received, for the
	// failpoint.BugDropAckedWrites bug only.
	bugWrites atomic.Uint64
}

var (
	_ rpc.Store        = (*Store)(nil)
	_ rpc.Linearizer   = (*Store)(nil)
	_ rpc.ReadIndexer  = (*Store)(nil)
	_ rpc.Cluster      = (*Store)(nil)
	_ rpc.RaftReporter = (*Store)(nil)
	_ rpc.Membership   = (*Store)(nil)
	_ rpc.ClusterAdmin = (*Store)(nil)
	_ rpc.Maintainer   = (*Store)(nil)
)

// DefaultForwardTimeout bounds a forwarded write, and a follower's
// ReadIndex call plus its wait to apply, when the caller set no deadline.
const DefaultForwardTimeout = 10 * time.Second

// StoreOptions configure a Store. The zero value gives the defaults.
type StoreOptions struct {
	// DisableForwarding makes a follower answer writes with NOT_LEADER
	// and the leader's address instead of forwarding them to the leader.
	DisableForwarding bool
	// ForwardTimeout bounds a forwarded write (the Store's write methods
	// take no context); 0 means DefaultForwardTimeout.
	ForwardTimeout time.Duration
	// Members, when set, lists the membership layer's nodes for
	// Cluster.Members (the agent passes its Serf's Members); nil makes
	// Members answer UNIMPLEMENTED.
	Members func() []replication.Member
	// Healthy, when set, reports the leader's health tracking's view of
	// server id (the agent passes autopilot's); GetServers reports it on
	// the leader only.
	Healthy func(id string) bool
}

// NewStore returns the rpc.Store of node, with the default options.
func NewStore(node *replication.Node) *Store { return &Store{node: node} }

// NewStoreWithOptions returns the rpc.Store of node configured by opts.
func NewStoreWithOptions(node *replication.Node, opts StoreOptions) *Store {
	return &Store{node: node, opts: opts}
}

// Close closes the connections to the leader. Call it after the gRPC
// server stopped, before the node closes; calling it again is harmless.
func (s *Store) Close() error { return s.conns.close() }

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

// Put stores value under key through Raft; a follower forwards it.
func (s *Store) Put(key, value []byte) (uint64, error) {
	if failpoint.Bug(failpoint.BugDropAckedWrites) && s.dropWrite() {
		return s.node.DB().NextOffset(), nil // acknowledged, never proposed
	}
	off, err := s.one(engine.Op{Kind: engine.OpPut, Key: key, Value: value})
	return s.forwardIf(off, err, putForward(key, value, time.Time{}))
}

// PutWithExpiry stores value under key until expiry, through Raft; a
// follower forwards it (then the leader fixes the expiry again from the
// remaining time, later by the forwarding's latency).
func (s *Store) PutWithExpiry(key, value []byte, expiry time.Time) (uint64, error) {
	off, err := s.one(engine.Op{Kind: engine.OpPut, Key: key, Value: value, Expiry: expiry.UnixNano()})
	return s.forwardIf(off, err, putForward(key, value, expiry))
}

// Delete deletes key through Raft; a follower forwards it.
func (s *Store) Delete(key []byte) (uint64, error) {
	off, err := s.one(engine.Op{Kind: engine.OpDelete, Key: key})
	return s.forwardIf(off, err, deleteForward(key))
}

// CompareAndSwap is decided in the FSM, on every replica alike; a
// follower forwards it.
func (s *Store) CompareAndSwap(key []byte, expected uint64, value []byte) (uint64, error) {
	off, err := s.one(engine.Op{Kind: engine.OpCAS, Key: key, Value: value, Expected: expected})
	return s.forwardIf(off, err, casForward(key, expected, value))
}

// Produce appends a keyless record through Raft; a follower forwards it.
func (s *Store) Produce(value []byte) (uint64, error) {
	if failpoint.Bug(failpoint.BugDropAckedWrites) && s.dropWrite() {
		return s.node.DB().NextOffset(), nil // acknowledged, never proposed
	}
	off, err := s.one(engine.Op{Kind: engine.OpProduce, Value: value})
	return s.forwardIf(off, err, produceForward(value))
}

// ProduceBatch appends keyless records as one Raft entry; their offsets
// are contiguous and it returns the first. A follower forwards the batch
// as one ProduceStream request, which the leader appends as one entry.
func (s *Store) ProduceBatch(values [][]byte) (uint64, error) {
	off, err := s.produceBatch(values)
	return s.forwardIf(off, err, produceBatchForward(values))
}

// produceBatch is ProduceBatch on this node.
func (s *Store) produceBatch(values [][]byte) (uint64, error) {
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

// dropWrite is the failpoint.BugDropAckedWrites bug: it reports whether
// the leader drops this write (every failpoint.DropEvery-th it receives).
func (s *Store) dropWrite() bool {
	return s.node.IsLeader() && s.bugWrites.Add(1)%failpoint.DropEvery == 0
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

// LinearizableBarrier implements rpc.Linearizer. The leader confirms its
// leadership and applies up to its commit index (Node.ReadIndex). A
// follower asks the leader it knows for its ReadIndex over gRPC
// (Cluster.ReadIndex) and waits until its own FSM has applied that far,
// all within ctx (bounded by ForwardTimeout when ctx has no deadline).
// A deposed or partitioned leader fails its leadership check, and a
// follower that cannot reach the leader fails the call, so neither ever
// answers from stale state: the read fails with NOT_LEADER or
// UNAVAILABLE instead.
func (s *Store) LinearizableBarrier(ctx context.Context) error {
	if failpoint.Bug(failpoint.BugStaleReads) {
		return nil // local state as it is: no ReadIndex, no leadership check
	}
	err := s.node.LinearizableBarrier(ctx)
	var nl *replication.NotLeaderError
	if !errors.As(err, &nl) || nl.LeaderAddr == "" || nl.LeaderAddr == s.node.Addr() {
		return mapErr(err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.forwardTimeout())
		defer cancel()
	}
	index, err := s.remoteReadIndex(ctx, nl.LeaderAddr)
	if err != nil {
		return err
	}
	if err := s.node.WaitApplied(ctx, index); err != nil {
		return fmt.Errorf("linearizable read: apply up to the leader's index %d: %w", index, mapErr(err))
	}
	return nil
}

// ReadIndex implements rpc.ReadIndexer: on the leader, its confirmed
// commit index and term.
func (s *Store) ReadIndex(ctx context.Context) (index, term uint64, err error) {
	term = s.node.Term()
	index, err = s.node.ReadIndex(ctx)
	if err != nil {
		return 0, 0, mapErr(err)
	}
	return index, term, nil
}

// Servers implements rpc.Cluster.
func (s *Store) Servers() ([]rpc.ServerInfo, error) {
	servers, err := s.node.Servers()
	if err != nil {
		return nil, mapErr(err)
	}
	// Health is tracked by the leader's autopilot only.
	health := s.opts.Healthy
	if !s.node.IsLeader() {
		health = nil
	}
	out := make([]rpc.ServerInfo, len(servers))
	for i, sv := range servers {
		out[i] = rpc.ServerInfo{ID: sv.ID, Addr: sv.Addr, RaftAddr: sv.Addr, Leader: sv.Leader, Voter: sv.Voter}
		if health != nil {
			h := health(sv.ID)
			out[i].Healthy = &h
		}
	}
	return out, nil
}

// RaftStatus implements rpc.RaftReporter.
func (s *Store) RaftStatus() rpc.RaftStatus {
	st := s.node.Stats()
	return rpc.RaftStatus{
		State:        st.State,
		Term:         st.Term,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
		LastIndex:    st.LastIndex,
		LastContact:  st.LastContact,
	}
}

// Members implements rpc.Membership with StoreOptions.Members, or returns
// rpc.ErrNotSupported without it.
func (s *Store) Members() ([]rpc.MemberInfo, error) {
	if s.opts.Members == nil {
		return nil, rpc.ErrNotSupported
	}
	ms := s.opts.Members()
	out := make([]rpc.MemberInfo, len(ms))
	for i, m := range ms {
		out[i] = rpc.MemberInfo{Name: m.Name, RPCAddr: m.RPCAddr, Status: m.Status.String()}
	}
	return out, nil
}

// TransferLeadership implements rpc.ClusterAdmin. It blocks until the
// transfer ends (about an election timeout at most; Raft cannot abandon a
// transfer midway, so ctx does not cut it short), then waits up to a
// second, within ctx, to learn the new leader.
func (s *Store) TransferLeadership(ctx context.Context, targetID string) error {
	if !s.node.IsLeader() {
		return mapErr(s.notLeader())
	}
	if targetID != "" {
		if err := s.checkServer("target_id", targetID, true); err != nil {
			return err
		}
	}
	if err := s.node.TransferLeadershipTo(targetID); err != nil {
		return mapErr(err)
	}
	// The new leader's first heartbeat names it here soon after; wait a
	// little for it so the answer can report it (it may stay unknown).
	deadline := time.Now().Add(transferReportWait)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if addr, _ := s.node.Leader(); addr != "" && addr != s.node.Addr() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// transferReportWait bounds how long TransferLeadership waits to learn
// the new leader after the transfer.
const transferReportWait = time.Second

// RemoveServer implements rpc.ClusterAdmin.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	if !s.node.IsLeader() {
		return mapErr(s.notLeader())
	}
	if err := s.checkServer("id", id, false); err != nil {
		return err
	}
	return mapErr(s.node.RemoveServer(ctx, id))
}

// notLeader is the error of an admin call on a follower.
func (s *Store) notLeader() error {
	addr, id := s.node.Leader()
	return &replication.NotLeaderError{LeaderID: id, LeaderAddr: addr}
}

// checkServer returns an *rpc.ArgumentError (for field) unless id is a
// server of the configuration (another voter, when otherVoter).
func (s *Store) checkServer(field, id string, otherVoter bool) error {
	servers, err := s.node.Servers()
	if err != nil {
		return mapErr(err)
	}
	for _, sv := range servers {
		if sv.ID != id {
			continue
		}
		if otherVoter && (!sv.Voter || sv.ID == s.node.ID()) {
			return &rpc.ArgumentError{Field: field, Desc: "server " + id + " is not another voter"}
		}
		return nil
	}
	return &rpc.ArgumentError{Field: field, Desc: "no server " + id + " in the configuration"}
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
