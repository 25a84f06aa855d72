package client

import (
	"context"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// route says where the picker sends a method and whether the retry
// interceptor may send it again.
type route int

const (
	// routeWrite: the leader only. Not idempotent: once sent, a call whose
	// answer is lost is never sent again (ErrWriteUnknown).
	routeWrite route = iota + 1
	// routeRead: idempotent. The leader for a LINEARIZABLE read (the
	// default), the followers in turn for a STALE one (the leader when
	// there are none). The consistency comes from the call (callInfo).
	routeRead
	// routeLeaderPreferred: idempotent, about the node or the cluster
	// (Status, Compact, Snapshot): the leader when one is known and ready,
	// else any node in turn.
	routeLeaderPreferred
	// routeAny: idempotent, any node in turn (GetServers: every node knows
	// the members and the leader). Also the route of methods outside the
	// table (health checks, reflection).
	routeAny
)

// String names the route, for test failures and error messages.
func (r route) String() string {
	switch r {
	case routeWrite:
		return "write"
	case routeRead:
		return "read"
	case routeLeaderPreferred:
		return "leader-preferred"
	case routeAny:
		return "any"
	}
	return "unknown"
}

// idempotent reports whether a call may be sent again after its first
// attempt reached a server.
func (r route) idempotent() bool { return r != routeWrite }

// methodRoutes is the one table of which RPC is a write: every method of
// the caskade services, by full method name. A test fails when a method
// of api/v1 is missing here, so a new RPC cannot be routed by accident.
var methodRoutes = map[string]route{
	caskadev1.KV_Put_FullMethodName:            routeWrite,
	caskadev1.KV_Get_FullMethodName:            routeRead,
	caskadev1.KV_Delete_FullMethodName:         routeWrite,
	caskadev1.KV_Scan_FullMethodName:           routeRead,
	caskadev1.KV_CompareAndSwap_FullMethodName: routeWrite,

	caskadev1.Log_Produce_FullMethodName:       routeWrite,
	caskadev1.Log_Consume_FullMethodName:       routeRead,
	caskadev1.Log_ConsumeStream_FullMethodName: routeRead,
	caskadev1.Log_ProduceStream_FullMethodName: routeWrite,

	caskadev1.Cluster_GetServers_FullMethodName: routeAny,
	caskadev1.Cluster_Status_FullMethodName:     routeLeaderPreferred,
	caskadev1.Cluster_Members_FullMethodName:    routeAny,
	// ReadIndex is what a follower asks the leader before a
	// LINEARIZABLE read; a client asking it wants the leader's.
	caskadev1.Cluster_ReadIndex_FullMethodName: routeRead,

	caskadev1.Maintenance_Compact_FullMethodName:  routeLeaderPreferred,
	caskadev1.Maintenance_Snapshot_FullMethodName: routeLeaderPreferred,
	// Changes of leadership and membership are writes: done by the
	// leader, never sent twice by the Client.
	caskadev1.Maintenance_TransferLeadership_FullMethodName: routeWrite,
	caskadev1.Maintenance_RemoveServer_FullMethodName:       routeWrite,
}

// routeOf returns the route of a full method name; routeAny for methods
// outside the caskade services.
func routeOf(method string) route {
	if r, ok := methodRoutes[method]; ok {
		return r
	}
	return routeAny
}

// consistencyKey is the context key under which the typed methods of a
// Client put the consistency of a read, for the picker.
type consistencyKey struct{}

// withConsistency returns ctx carrying the consistency of the read about
// to be made with it.
func withConsistency(ctx context.Context, c Consistency) context.Context {
	if c == ConsistencyLinearizable {
		return ctx // the default: nothing to carry
	}
	return context.WithValue(ctx, consistencyKey{}, c)
}

// consistencyOf returns the consistency ctx carries; linearizable when
// none.
func consistencyOf(ctx context.Context) Consistency {
	if c, ok := ctx.Value(consistencyKey{}).(Consistency); ok {
		return c
	}
	return ConsistencyLinearizable
}
