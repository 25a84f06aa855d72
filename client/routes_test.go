package client

import (
	"testing"

	"google.golang.org/grpc"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// TestRoutes_EveryMethod fails when a method of a caskade service has no
// route, so that a new RPC cannot be sent to a follower (or a write be
// retried) by accident, and pins the route of each.
func TestRoutes_EveryMethod(t *testing.T) {
	want := map[string]route{
		"/caskade.v1.KV/Put":                         routeWrite,
		"/caskade.v1.KV/Get":                         routeRead,
		"/caskade.v1.KV/Delete":                      routeWrite,
		"/caskade.v1.KV/Scan":                        routeRead,
		"/caskade.v1.KV/CompareAndSwap":              routeWrite,
		"/caskade.v1.Log/Produce":                    routeWrite,
		"/caskade.v1.Log/Consume":                    routeRead,
		"/caskade.v1.Log/ConsumeStream":              routeRead,
		"/caskade.v1.Log/ProduceStream":              routeWrite,
		"/caskade.v1.Cluster/GetServers":             routeAny,
		"/caskade.v1.Cluster/Status":                 routeLeaderPreferred,
		"/caskade.v1.Maintenance/Compact":            routeLeaderPreferred,
		"/caskade.v1.Maintenance/Snapshot":           routeLeaderPreferred,
		"/caskade.v1.Cluster/Members":                routeAny,
		"/caskade.v1.Cluster/ReadIndex":              routeRead,
		"/caskade.v1.Maintenance/TransferLeadership": routeWrite,
		"/caskade.v1.Maintenance/RemoveServer":       routeWrite,
	}
	seen := 0
	for _, sd := range []grpc.ServiceDesc{caskadev1.KV_ServiceDesc, caskadev1.Log_ServiceDesc, caskadev1.Cluster_ServiceDesc, caskadev1.Maintenance_ServiceDesc} {
		var names []string
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, s := range sd.Streams {
			names = append(names, s.StreamName)
		}
		for _, n := range names {
			full := "/" + sd.ServiceName + "/" + n
			t.Run(full, func(t *testing.T) {
				r, ok := methodRoutes[full]
				if !ok {
					t.Fatalf("%s has no route in methodRoutes", full)
				}
				if w, ok := want[full]; !ok || w != r {
					t.Fatalf("%s: route %v, want %v", full, r, w)
				}
				if r.idempotent() == (r == routeWrite) {
					t.Fatalf("%s: idempotent %v for route %v", full, r.idempotent(), r)
				}
			})
			seen++
		}
	}
	if seen != len(methodRoutes) {
		t.Fatalf("methodRoutes has %d entries, the services %d methods", len(methodRoutes), seen)
	}
	if routeOf("/grpc.health.v1.Health/Check") != routeAny {
		t.Fatal("a method outside the table is not routeAny")
	}
}
