// Package agent wires one caskade node: the engine under a Raft FSM
// (package replication), the gRPC services (package rpc) and, on one TCP
// port, a cmux that hands Raft connections (first byte
// replication.RaftByte) to the Raft transport and everything else to gRPC.
//
// Writes that reach the gRPC services go through Raft (Node.Propose) with
// the timestamps and expiries of the node that accepts them — the leader;
// a follower answers NOT_LEADER with the leader's address. Reads come
// from the local store: LINEARIZABLE (the default) after the node's
// linearizable barrier (on the leader; a follower answers NOT_LEADER),
// STALE at once.
//
// Start starts the parts in order (listener, Raft node, gRPC server, mux);
// Close stops them in reverse: the gRPC server (gracefully), the Raft node
// (a leader hands leadership over first), then the listener. An Agent is
// safe for concurrent use.
package agent
