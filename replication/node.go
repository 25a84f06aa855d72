package replication

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/failpoint"
)

// Server is one member of the Raft configuration.
type Server struct {
	ID    string
	Addr  string // advertised address: Raft and RPC share the node's port
	Voter bool
	// Leader is set in the answers of Node.Servers for the current leader.
	Leader bool
}

// Config configures a Node.
type Config struct {
	// NodeID names the node in the Raft configuration; required.
	NodeID string
	// RaftAddr is the address peers reach this node's Raft at (host:port);
	// "" means Listener's address. With one port per node it is also the
	// RPC address, which is how NOT_LEADER answers name the leader.
	RaftAddr string
	// Dir holds raft/log (LogStore), raft/stable.db (raft-boltdb),
	// raft/snapshots and data (the FSM's store); required.
	Dir string
	// Listener accepts the Raft connections of peers (each starting with
	// RaftByte); required. The node closes it on Close.
	Listener net.Listener
	// TLS, when set, secures Raft connections both ways (see
	// NewStreamLayer); nil speaks plaintext.
	TLS *tls.Config
	// Bootstrap makes a node without Raft state bootstrap a cluster of
	// Peers (only itself when Peers is empty). Give every initial member
	// the same Peers; a node with state ignores it.
	Bootstrap bool
	// Peers is the initial configuration for Bootstrap.
	Peers []Server
	// Engine configures the FSM's store. Its Sync is ignored: the store
	// runs with engine.SyncNever, since the Raft log is the durable copy.
	Engine engine.Options

	// Raft tuning; zeros mean DefaultHeartbeatTimeout,
	// DefaultElectionTimeout and DefaultLeaderLeaseTimeout, and
	// hashicorp/raft's CommitTimeout (tests lower them).
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SnapshotInterval and SnapshotThreshold: how often Raft checks, and
	// how many new entries make it take a snapshot; 0 means the defaults.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	// TrailingLogs is how many entries stay in the log after a snapshot;
	// 0 means the default (10240).
	TrailingLogs uint64
	// ApplyTimeout bounds a Propose or a barrier whose context has no
	// deadline; 0 means 10 s.
	ApplyTimeout time.Duration
	// Logger receives Raft's log lines; nil discards them.
	Logger *slog.Logger
}

// Raft's timeouts when Config leaves them zero: half of hashicorp/raft's
// (1 s, 1 s, 500 ms). A follower
// starts an election after a random wait between one and two
// HeartbeatTimeouts without hearing from the leader (the leader sends
// heartbeats every tenth of it), so these halve the time to a new leader
// after a crash, to about 0.5 to 1 s plus the election, while a LAN
// round trip or an fsync stays far below them.
const (
	DefaultHeartbeatTimeout   = 500 * time.Millisecond
	DefaultElectionTimeout    = 500 * time.Millisecond
	DefaultLeaderLeaseTimeout = 250 * time.Millisecond
)

// Node is one Raft node: the FSM over its store, the log and stable
// stores, the snapshot store and the network transport.
//
// Safe for concurrent use.
type Node struct {
	cfg    Config // immutable after Open
	raft   *raft.Raft
	fsm    *FSM
	logs   *LogStore
	stable *raftboltdb.BoltStore
	trans  *raft.NetworkTransport

	closeOnce sync.Once
	closeErr  error // set by closeOnce
}

// Open starts a node. It does not wait for a leader.
func Open(cfg Config) (*Node, error) {
	if cfg.NodeID == "" || cfg.Dir == "" || cfg.Listener == nil {
		return nil, fmt.Errorf("%w: NodeID, Dir and Listener are required", ErrInvalidConfig)
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = 10 * time.Second
	}
	hl := hclogFor(cfg.Logger)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = hl
	rc.BatchApplyCh = true
	setDur := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	rc.HeartbeatTimeout = DefaultHeartbeatTimeout
	rc.ElectionTimeout = DefaultElectionTimeout
	rc.LeaderLeaseTimeout = DefaultLeaderLeaseTimeout
	setDur(&rc.HeartbeatTimeout, cfg.HeartbeatTimeout)
	setDur(&rc.ElectionTimeout, cfg.ElectionTimeout)
	setDur(&rc.LeaderLeaseTimeout, cfg.LeaderLeaseTimeout)
	if cfg.LeaderLeaseTimeout <= 0 && rc.LeaderLeaseTimeout > rc.HeartbeatTimeout {
		// Raft wants the lease within the heartbeat timeout.
		rc.LeaderLeaseTimeout = rc.HeartbeatTimeout
	}
	setDur(&rc.CommitTimeout, cfg.CommitTimeout)
	setDur(&rc.SnapshotInterval, cfg.SnapshotInterval)
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}

	raftDir := filepath.Join(cfg.Dir, "raft")
	if err := os.MkdirAll(raftDir, 0o755); err != nil {
		return nil, fmt.Errorf("open node: %w", err)
	}
	n := &Node{cfg: cfg}
	var err error
	cleanup := func() {
		if n.trans != nil {
			n.trans.Close()
		} else {
			cfg.Listener.Close()
		}
		if n.stable != nil {
			n.stable.Close()
		}
		if n.logs != nil {
			n.logs.Close()
		}
		if n.fsm != nil {
			n.fsm.Close()
		}
	}
	eo := cfg.Engine
	eo.Sync = engine.SyncNever
	if eo.Logger == nil {
		eo.Logger = cfg.Logger
	}
	if n.fsm, err = OpenFSM(cfg.Dir, &eo); err != nil {
		cleanup()
		return nil, fmt.Errorf("open node: %w", err)
	}
	failLog := cfg.Logger
	if failLog == nil {
		failLog = slog.New(slog.DiscardHandler)
	}
	n.fsm.onFail = func(err error) {
		// Called on Raft's FSM goroutine: shut down from another one.
		failLog.Error("the store failed to apply committed entries; stopping Raft on this node (restart it to rebuild the store from the log)", "err", err)
		go func() { _ = n.raft.Shutdown().Error() }()
	}
	if n.logs, err = OpenLogStore(filepath.Join(raftDir, "log"), &LogStoreOptions{Logger: cfg.Logger}); err != nil {
		cleanup()
		return nil, fmt.Errorf("open node: %w", err)
	}
	if n.stable, err = raftboltdb.NewBoltStore(filepath.Join(raftDir, "stable.db")); err != nil {
		cleanup()
		return nil, fmt.Errorf("open node: stable store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(raftDir, "snapshots"), 2, hl)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("open node: snapshot store: %w", err)
	}
	stream, err := NewStreamLayer(cfg.Listener, cfg.RaftAddr, cfg.TLS)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("open node: %w", err)
	}
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hl,
		// No pipelining: with hashicorp/raft v1.7.3's pipeline, a follower
		// answering Success=false ends the leader's response decoder while
		// its sender may still queue one more request, and both block for
		// good on unbuffered channels: that follower never gets another
		// entry and Raft's Shutdown hangs (seen in our cluster tests under
		// load; grafana/pyroscope#5518 describes the same deadlock). With
		// batching, synchronous AppendEntries lose little (raft#541).
		MaxRPCsInFlight: 1,
	})
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(n.logs, n.stable, snaps)
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("open node: %w", err)
		}
		if !has {
			conf := raft.Configuration{}
			peers := cfg.Peers
			if len(peers) == 0 {
				peers = []Server{{ID: cfg.NodeID, Addr: string(n.trans.LocalAddr()), Voter: true}}
			}
			for _, p := range peers {
				sf := raft.Voter
				if !p.Voter {
					sf = raft.Nonvoter
				}
				conf.Servers = append(conf.Servers, raft.Server{Suffrage: sf, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
			}
			if err := raft.BootstrapCluster(rc, n.logs, n.stable, snaps, n.trans, conf); err != nil {
				cleanup()
				return nil, fmt.Errorf("open node: bootstrap: %w", err)
			}
		}
	}
	if n.raft, err = raft.NewRaft(rc, n.fsm, n.logs, n.stable, snaps, n.trans); err != nil {
		cleanup()
		return nil, fmt.Errorf("open node: %w", err)
	}
	if failpoint.Bug(failpoint.BugStaleReads) {
		n.fsm.lagRaft.Store(n.raft)
	}
	return n, nil
}

// hclogFor adapts l for hashicorp/raft; nil discards.
func hclogFor(l *slog.Logger) hclog.Logger {
	if l == nil {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: slogWriter{l}})
}

// slogWriter logs each line written to it as one slog message.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		w.l.Info(sc.Text(), slog.String("component", "raft"))
	}
	return len(p), nil
}

// ID returns the node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// Addr returns the node's advertised address.
func (n *Node) Addr() string { return string(n.trans.LocalAddr()) }

// FSM returns the node's state machine; read through FSM().Read or DB().
func (n *Node) FSM() *FSM { return n.fsm }

// DB returns the FSM's current store, for local (stale) reads. A snapshot
// restore may replace it; FSM().Read retries across one.
func (n *Node) DB() *engine.DB { return n.fsm.DB() }

// IsLeader reports whether the node is the leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the leader's address and ID as far as this node knows
// ("" when none).
func (n *Node) Leader() (addr, id string) {
	a, i := n.raft.LeaderWithID()
	return string(a), string(i)
}

// notLeader is the error for a call that needs the leader.
func (n *Node) notLeader() error {
	addr, id := n.Leader()
	return &NotLeaderError{LeaderID: id, LeaderAddr: addr}
}

// timeout is how long a call under ctx may wait on Raft.
func (n *Node) timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return n.cfg.ApplyTimeout
}

// raftErr maps an error of a Raft future.
func (n *Node) raftErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// Both are refusals before anything was appended: safe to retry
		// (on the next leader).
		return n.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost):
		return ErrLeadershipLost
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("raft: %w: %w", context.DeadlineExceeded, err)
	}
	return fmt.Errorf("raft: %w", err)
}

// Propose commits ops as one batch through Raft and returns each op's
// result once the leader's FSM has applied them. Only the leader
// accepts: elsewhere it returns a *NotLeaderError. The ops' Timestamp and
// Expiry must be set (by the caller, the leader's clock), so that every
// replica writes the same records. ErrLeadershipLost means the outcome is
// unknown.
func (n *Node) Propose(ctx context.Context, ops []engine.Op) ([]engine.Result, error) {
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: empty batch", engine.ErrBadRange)
	}
	if n.raft.State() != raft.Leader {
		return nil, n.notLeader()
	}
	f := n.raft.Apply(EncodeCommand(nil, ops), n.timeout(ctx))
	if err := n.raftErr(f.Error()); err != nil {
		return nil, err
	}
	switch r := f.Response().(type) {
	case []engine.Result:
		return r, nil
	case error:
		return nil, r
	default:
		return nil, fmt.Errorf("propose: unexpected FSM response %T", r)
	}
}

// LinearizableBarrier returns once a read of this node's store sees every
// write committed before it was called: on the leader it takes a
// ReadIndex and waits until its FSM has applied up to it.
//
// On a follower it returns a *NotLeaderError: a follower gets the read
// index from the leader over RPC (agent) and then calls WaitApplied.
func (n *Node) LinearizableBarrier(ctx context.Context) error {
	index, err := n.ReadIndex(ctx)
	if err != nil {
		return err
	}
	return n.waitApplied(ctx, index)
}

// ReadIndex returns an index such that a read of any replica's store,
// once that replica has applied up to the index (WaitApplied), sees every
// write committed before ReadIndex was called. Leader only: elsewhere it
// returns a *NotLeaderError.
//
// It reads the commit index, then confirms its leadership with a round of
// heartbeats (VerifyLeader; a deposed or partitioned leader fails here,
// within about the leader lease, and never answers a stale index). Right
// after an election, when the commit index may not yet cover the previous
// leader's writes, it first commits a barrier entry of its own term.
// ErrLeadershipLost means the term changed under it; retrying may
// succeed.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, n.notLeader()
	}
	var term, commit uint64
	for attempt := 0; ; attempt++ {
		term = n.raft.CurrentTerm()
		commit = n.raft.CommitIndex()
		var l raft.Log
		if commit > 0 && n.logs.GetLog(commit, &l) == nil && l.Term == term {
			break // an entry of this term is committed
		}
		if attempt == 2 {
			return 0, fmt.Errorf("read index: %w", ErrLeadershipLost)
		}
		if err := n.raftErr(n.raft.Barrier(n.timeout(ctx)).Error()); err != nil {
			return 0, fmt.Errorf("read index: %w", err)
		}
	}
	if err := n.raftErr(n.raft.VerifyLeader().Error()); err != nil {
		return 0, fmt.Errorf("read index: %w", err)
	}
	// Leadership lost and won back between reading the commit index and
	// the heartbeats: another leader may have committed past it.
	if n.raft.CurrentTerm() != term {
		return 0, fmt.Errorf("read index: %w", ErrLeadershipLost)
	}
	return commit, nil
}

// WaitApplied waits until this node's FSM has applied every entry up to
// index (a ReadIndex of the leader), or with ctx's error. Any replica may
// call it.
func (n *Node) WaitApplied(ctx context.Context, index uint64) error {
	return n.waitApplied(ctx, index)
}

// waitApplied waits until the FSM has applied every entry up to index
// that it is given. Raft does not give it every entry (not its no-ops
// and barriers), so once the FSM's own applied index stops short of
// index, the entries between are looked up: if none of them is for the
// FSM, it is done. An entry no longer in the log was compacted after a
// snapshot, so it was applied.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	for {
		a := n.fsm.AppliedIndex()
		if a >= index {
			return nil
		}
		if n.raft.AppliedIndex() >= index && !n.fsmEntryIn(a+1, index) {
			return nil
		}
		// The FSM wakes us when it applies; the short timeout covers
		// Raft's own applied index passing entries the FSM never sees.
		wctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		_ = n.fsm.WaitApplied(wctx, a+1) // woken or timed out: look again
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// fsmEntryIn reports whether the log holds, in [lo, hi], an entry Raft
// gives the FSM (a command or a configuration change).
func (n *Node) fsmEntryIn(lo, hi uint64) bool {
	for i := hi; i >= lo && i > 0; i-- {
		var l raft.Log
		if err := n.logs.GetLog(i, &l); err != nil {
			if first, ferr := n.logs.FirstIndex(); errors.Is(err, raft.ErrLogNotFound) && ferr == nil && i < first {
				return false // compacted: applied before the snapshot
			}
			return true // unreadable: assume the FSM must see it, so the read waits
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return true
		}
	}
	return false
}

// Servers returns the Raft configuration, with the leader marked.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := n.raftErr(f.Error()); err != nil {
		return nil, fmt.Errorf("servers: %w", err)
	}
	_, leader := n.raft.LeaderWithID()
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{
			ID:     string(s.ID),
			Addr:   string(s.Address),
			Voter:  s.Suffrage == raft.Voter,
			Leader: s.ID == leader,
		})
	}
	return out, nil
}

// AddVoter adds (or promotes) a voting member; leader only.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	f := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, n.timeout(ctx))
	if err := n.raftErr(f.Error()); err != nil {
		return fmt.Errorf("add voter %s: %w", id, err)
	}
	return nil
}

// AddNonvoter adds a member that replicates but does not vote; leader
// only.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	f := n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, n.timeout(ctx))
	if err := n.raftErr(f.Error()); err != nil {
		return fmt.Errorf("add nonvoter %s: %w", id, err)
	}
	return nil
}

// RemoveServer removes a member; leader only.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	f := n.raft.RemoveServer(raft.ServerID(id), 0, n.timeout(ctx))
	if err := n.raftErr(f.Error()); err != nil {
		return fmt.Errorf("remove server %s: %w", id, err)
	}
	return nil
}

// TransferLeadership hands leadership to another voter (Raft picks the
// most up to date one); leader only.
func (n *Node) TransferLeadership() error {
	if err := n.raftErr(n.raft.LeadershipTransfer().Error()); err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	return nil
}

// TransferLeadershipTo hands leadership to the voter with ID id, or, when
// id is "", to the one Raft picks (TransferLeadership); leader only. It
// blocks until the transfer ends (about an election timeout at most). An
// id that is not a voter of the configuration is ErrInvalidConfig.
func (n *Node) TransferLeadershipTo(id string) error {
	if id == "" {
		return n.TransferLeadership()
	}
	servers, err := n.Servers()
	if err != nil {
		return fmt.Errorf("transfer leadership to %s: %w", id, err)
	}
	for _, s := range servers {
		if s.ID != id {
			continue
		}
		if !s.Voter || s.ID == n.cfg.NodeID {
			break
		}
		f := n.raft.LeadershipTransferToServer(raft.ServerID(s.ID), raft.ServerAddress(s.Addr))
		if err := n.raftErr(f.Error()); err != nil {
			return fmt.Errorf("transfer leadership to %s: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("transfer leadership to %s: %w: not another voter of the configuration", id, ErrInvalidConfig)
}

// Term returns the node's current Raft term.
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// TLS returns the node's TLS configuration (Config.TLS; nil for
// plaintext). Callers must not modify it; clone it first.
func (n *Node) TLS() *tls.Config { return n.cfg.TLS }

// Snapshot makes Raft take a snapshot now (and compact its log).
func (n *Node) Snapshot() error {
	if err := n.raftErr(n.raft.Snapshot().Error()); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// Stats describe a node's Raft state.
type Stats struct {
	State        string // Leader, Follower, Candidate, Shutdown
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64 // Raft's: entries handed to the FSM
	LastIndex    uint64
	LastContact  time.Time // with the leader; zero on the leader or never
	LeaderID     string
	LeaderAddr   string
}

// Stats returns the node's Raft state.
func (n *Node) Stats() Stats {
	addr, id := n.Leader()
	return Stats{
		State:        n.raft.State().String(),
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		LastIndex:    n.raft.LastIndex(),
		LastContact:  n.raft.LastContact(),
		LeaderID:     id,
		LeaderAddr:   addr,
	}
}

// LeaderCh is Raft's leadership notification channel (see
// raft.Raft.LeaderCh): true when this node becomes leader, false when it
// stops being one.
func (n *Node) LeaderCh() <-chan bool { return n.raft.LeaderCh() }

// Raft returns the underlying raft.Raft, for membership management
// (autopilot). Its lifetime is the node's.
func (n *Node) Raft() *raft.Raft { return n.raft }

// Close stops the node: a leader with peers first hands leadership over,
// then Raft shuts down, and the transport, the stores and the FSM's
// store close. Calling it again (or Kill) returns the first result.
func (n *Node) Close() error { return n.shutdown(true) }

// Kill stops the node as abruptly as a process can stop itself, to stand
// in for a crash in tests: Raft shuts down at once, with no leadership
// transfer, so the others must notice the silence and hold an election;
// then the transport (dropping every peer connection), the stores and the
// FSM's store close. What Raft has fsynced to the log store is all a
// restart recovers, exactly as after kill -9; the FSM's store is rebuilt
// from it. Calling it again (or Close) returns the first result.
func (n *Node) Kill() error { return n.shutdown(false) }

// shutdown is Close (transfer true) and Kill (false).
func (n *Node) shutdown(transfer bool) error {
	n.closeOnce.Do(func() {
		var errs []error
		if transfer && n.raft.State() == raft.Leader {
			if srv, err := n.Servers(); err == nil && len(srv) > 1 {
				// Best effort: a failed transfer only means the others
				// elect a leader after a timeout.
				if err := n.raft.LeadershipTransfer().Error(); err != nil && n.cfg.Logger != nil {
					n.cfg.Logger.Warn("leadership transfer before shutdown failed", slog.Any("err", err))
				}
			}
		}
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
		}
		if err := n.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("transport: %w", err))
		}
		if err := n.stable.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stable store: %w", err))
		}
		if err := n.logs.Close(); err != nil {
			errs = append(errs, fmt.Errorf("log store: %w", err))
		}
		if err := n.fsm.Close(); err != nil {
			errs = append(errs, fmt.Errorf("fsm: %w", err))
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}
