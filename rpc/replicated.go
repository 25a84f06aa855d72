package rpc

import (
	"context"
	"errors"

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
	ID     string
	Addr   string // RPC address
	Leader bool
}

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
