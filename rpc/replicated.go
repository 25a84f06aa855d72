package rpc

import (
	"context"
	"errors"
	"time"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// The optional parts of a Store that a replicated store implements. The
// server finds them with type assertions, so a plain *engine.DB (one node,
// its own leader) needs none of them.

// Linearizer is a Store whose reads may be behind the cluster. For a
// LINEARIZABLE read (the default) the server calls LinearizableBarrier
// first and reads only once it returns nil; STALE reads skip it.
type Linearizer interface {
	// LinearizableBarrier returns once a read of the local store sees
	// every write committed before the call, or with an error (a
	// *NotLeaderError when this node cannot serve it).
	LinearizableBarrier(ctx context.Context) error
}

// Cluster is a Store that belongs to a cluster: GetServers and Status
// report its members and leader instead of this node alone.
type Cluster interface {
	// Servers lists the members, the leader marked.
	Servers() ([]ServerInfo, error)
	// Leader returns the leader's ID and RPC address ("" when unknown).
	Leader() (id, addr string)
}

// ServerInfo is one member of a cluster.
type ServerInfo struct {
	ID       string
	Addr     string // RPC address
	Leader   bool
	Voter    bool   // votes in elections; a non-voter only replicates
	RaftAddr string // Raft address; "" means Addr (one port serves both)
	// Healthy is the leader's health tracking's view of the server; nil
	// when unknown (no tracking, or this node is not the leader).
	Healthy *bool
}

// ReadIndexer is a Store whose leader can serve ReadIndex to its
// followers (the Cluster.ReadIndex RPC): a follower applies up to the
// index before it serves a linearizable read.
type ReadIndexer interface {
	// ReadIndex confirms this node's leadership and returns its commit
	// index and term, or a *NotLeaderError, or an error wrapping
	// ErrUnavailable.
	ReadIndex(ctx context.Context) (index, term uint64, err error)
}

// RaftReporter is a Store that reports its Raft state in Status.
type RaftReporter interface {
	// RaftStatus returns the node's Raft state now.
	RaftStatus() RaftStatus
}

// RaftStatus is a node's Raft state.
type RaftStatus struct {
	State        string // "Leader", "Follower", "Candidate" or "Shutdown"
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	LastIndex    uint64
	// LastContact is when the node last heard from the leader; zero when
	// it never has (and on the leader, which reports no contact age).
	LastContact time.Time
}

// Membership is a Store whose node runs a membership layer (Serf):
// Cluster.Members lists what it knows. Without it, Members answers
// UNIMPLEMENTED; so does a Members that returns ErrNotSupported.
type Membership interface {
	// Members lists the nodes the membership layer knows.
	Members() ([]MemberInfo, error)
}

// MemberInfo is a node as the membership layer sees it.
type MemberInfo struct {
	Name    string
	RPCAddr string
	Status  string // "alive", "leaving", "left", "failed" or "none"
}

// ClusterAdmin is a Store whose cluster configuration can be changed
// through the Maintenance service. Both methods act on the leader only:
// elsewhere they return a *NotLeaderError.
type ClusterAdmin interface {
	// TransferLeadership hands leadership to the voter targetID, or to
	// the one Raft picks when targetID is "", and returns once the
	// transfer has ended.
	TransferLeadership(ctx context.Context, targetID string) error
	// RemoveServer removes the server id from the configuration.
	RemoveServer(ctx context.Context, id string) error
}

// ArgumentError is what a replicated Store returns for an argument it
// refuses (an unknown server ID). Clients get INVALID_ARGUMENT with a
// BadRequest naming Field and reason INVALID_ARGUMENT.
type ArgumentError struct {
	Field string // as the request spells it: "id", "target_id"
	Desc  string // what is wrong, for the client
}

func (e *ArgumentError) Error() string { return e.Field + ": " + e.Desc }

// ErrNotSupported is what an optional part of a Store returns when this
// node cannot serve the call (for example Members without a membership
// layer). Clients get UNIMPLEMENTED.
var ErrNotSupported = errors.New("this node does not support this call")

// NotLeaderError is the error a replicated Store returns for a write or a
// linearizable read on a node that is not the leader. Clients get
// FAILED_PRECONDITION with reason NOT_LEADER and the leader's address in
// the metadata (when known).
type NotLeaderError struct {
	LeaderAddr string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "not the leader; no leader is known"
	}
	return "not the leader; the leader is at " + e.LeaderAddr
}

// ErrUnavailable is what a replicated Store returns when the cluster
// cannot serve a call now (no quorum, leadership lost mid-write: a write
// that gets it may or may not have been applied). Clients get
// UNAVAILABLE.
var ErrUnavailable = errors.New("the cluster cannot serve this call now")

// readBarrier makes a read at level c linearizable when the store needs
// it: see Linearizer.
func (s *Server) readBarrier(ctx context.Context, c caskadev1.Consistency) error {
	if s.maint.linearizer == nil || c == caskadev1.Consistency_STALE {
		return nil
	}
	return s.maint.linearizer.LinearizableBarrier(ctx)
}
