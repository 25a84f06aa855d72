package replication

import (
	"errors"
	"fmt"
)

var (
	// ErrNotLeader is returned (inside a *NotLeaderError) by writes and
	// linearizable reads on a node that is not the leader.
	ErrNotLeader = errors.New("replication: not the leader")
	// ErrLeadershipLost is returned by Propose when the node lost its
	// leadership while the write was in flight: it may or may not have
	// been committed.
	ErrLeadershipLost = errors.New("replication: leadership lost; the write may or may not have been applied")
	// ErrClosed is returned by a Node after Close.
	ErrClosed = errors.New("replication: node closed")
	// ErrInvalidConfig is returned by Open for a Config it cannot use.
	ErrInvalidConfig = errors.New("replication: invalid config")
)

// NotLeaderError says that the node is not the leader and which node is,
// when it knows (empty fields when it does not). It unwraps to
// ErrNotLeader.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string // the leader's advertised address (Raft and RPC share it)
}

func (e *NotLeaderError) Error() string {
	if e.LeaderAddr == "" {
		return "replication: not the leader; no leader known"
	}
	return fmt.Sprintf("replication: not the leader; the leader is %s at %s", e.LeaderID, e.LeaderAddr)
}

// Unwrap returns ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }
