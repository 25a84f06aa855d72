// Package agent wires one caskade node: the engine under a Raft FSM
// (package replication), the gRPC services (package rpc) and, on one TCP
// port, a cmux that hands Raft connections (first byte
// replication.RaftByte) to the Raft transport and everything else to gRPC.
//
// Writes that reach the gRPC services go through Raft (Node.Propose) with
// the timestamps and expiries of the node that accepts them — the leader;
// a follower forwards them to the leader over gRPC with its own
// certificate (forward.go gives the trust model), or, with
// StoreOptions.DisableForwarding, answers NOT_LEADER with the leader's
// address. Reads come from the local store: LINEARIZABLE (the default)
// after the node's linearizable barrier (the leader confirms its
// leadership; a follower asks the leader for its ReadIndex and applies up
// to it), STALE at once.
//
// With Config.SerfAddr the node also runs Serf membership (tags carry its
// RPC and Raft addresses, the same one port) and autopilot, which on the
// leader adds joiners as non-voters, promotes them and removes leavers;
// with BootstrapExpect a new node bootstraps Raft once it sees that many
// members none of which has Raft state (cluster.go).
//
// Start starts the parts in order (listener, Raft node, membership and
// autopilot, gRPC server, mux); Close stops them in reverse: the gRPC
// server (gracefully), then a leader hands leadership over, autopilot
// stops and the node leaves Serf, then the Raft node and the listener.
// An Agent is safe for concurrent use.
package agent
