package rpc

import (
	"bytes"
	"errors"
	"strings"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// Actions a policy grants. A policy rule may also say "*" for all of them.
const (
	ActionRead  = "read"
	ActionWrite = "write"
	ActionAdmin = "admin"
)

// Objects a policy grants actions on. A key's object is KeyObjectPrefix
// followed by the key's bytes; the shipped model matches objects with
// Casbin's keyMatch, so "kv:app/*" covers every key that starts with
// "app/", and "*" covers every object.
const (
	// KeyObjectPrefix starts the object of every key, so that no key can
	// stand for the log or the cluster.
	KeyObjectPrefix = "kv:"
	// ObjectLog is the log view: Produce and Consume. Reading the log
	// reads every record, keyed ones included, so grant it only to an
	// identity that may read every key.
	ObjectLog = "log"
	// ObjectCluster is the node and the cluster: GetServers, Status,
	// Members and ReadIndex (read), Compact, Snapshot, TransferLeadership
	// and RemoveServer (admin; a snapshot holds every record).
	ObjectCluster = "cluster"
)

// objectKind says where the object of a call comes from.
type objectKind int

const (
	objectKey      objectKind = iota + 1 // the request's key
	objectKeyRange                       // the request's key range (Scan)
	objectLog                            // ObjectLog
	objectCluster                        // ObjectCluster
)

// access is what a method needs: an action on an object.
type access struct {
	kind   objectKind
	action string
}

// methodAccess maps every method of the caskade services to the access it
// needs. It is the one table of authorization; a test fails when a method
// of api/v1 is missing from it. A method missing here (or a key object on
// a stream, whose request the interceptor cannot see) is refused.
var methodAccess = map[string]access{
	caskadev1.KV_Put_FullMethodName:            {objectKey, ActionWrite},
	caskadev1.KV_Get_FullMethodName:            {objectKey, ActionRead},
	caskadev1.KV_Delete_FullMethodName:         {objectKey, ActionWrite},
	caskadev1.KV_Scan_FullMethodName:           {objectKeyRange, ActionRead},
	caskadev1.KV_CompareAndSwap_FullMethodName: {objectKey, ActionWrite},

	caskadev1.Log_Produce_FullMethodName:       {objectLog, ActionWrite},
	caskadev1.Log_Consume_FullMethodName:       {objectLog, ActionRead},
	caskadev1.Log_ConsumeStream_FullMethodName: {objectLog, ActionRead},
	caskadev1.Log_ProduceStream_FullMethodName: {objectLog, ActionWrite},

	caskadev1.Cluster_GetServers_FullMethodName: {objectCluster, ActionRead},
	caskadev1.Cluster_Status_FullMethodName:     {objectCluster, ActionRead},
	caskadev1.Cluster_Members_FullMethodName:    {objectCluster, ActionRead},
	// Internal, between nodes: it reveals nothing but the commit index.
	caskadev1.Cluster_ReadIndex_FullMethodName: {objectCluster, ActionRead},

	caskadev1.Maintenance_Compact_FullMethodName:  {objectCluster, ActionAdmin},
	caskadev1.Maintenance_Snapshot_FullMethodName: {objectCluster, ActionAdmin},

	caskadev1.Maintenance_TransferLeadership_FullMethodName: {objectCluster, ActionAdmin},
	caskadev1.Maintenance_RemoveServer_FullMethodName:       {objectCluster, ActionAdmin},
}

// openServices are the services any caller with a verified certificate
// may use, without a policy rule: health checks (load balancers, probes)
// and server reflection (the API's schema, no data).
var openServices = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// isOpen reports whether method belongs to an open service.
func isOpen(method string) bool {
	for _, s := range openServices {
		if strings.HasPrefix(method, s) {
			return true
		}
	}
	return false
}

// errNoObject is returned for a key object without a request to take it
// from (a stream).
var errNoObject = errors.New("the call's object cannot be known before it runs")

// object returns the Casbin object of a call with request req (nil for a
// stream).
func (a access) object(req any) (string, error) {
	switch a.kind {
	case objectLog:
		return ObjectLog, nil
	case objectCluster:
		return ObjectCluster, nil
	case objectKey:
		if r, ok := req.(interface{ GetKey() []byte }); ok {
			return KeyObjectPrefix + string(r.GetKey()), nil
		}
	case objectKeyRange:
		if r, ok := req.(*caskadev1.ScanRequest); ok {
			return KeyObjectPrefix + string(scanPrefix(r.GetStart(), r.GetEnd(), r.GetPrefix())) + "*", nil
		}
	}
	return "", errNoObject
}

// scanPrefix returns the longest prefix that every key of a scan shares:
// keys k with start <= k < end (empty: unbounded) that start with prefix.
// A Scan is authorized as a read of "kv:" + that prefix + "*": under
// keyMatch a policy pattern allows that object exactly when it allows
// every key with that prefix, so a scan is allowed only when the identity
// may read its whole range. An identity limited to app/ scans with prefix
// app/, or with start and end inside app/ (end app0, where app/ ends,
// included).
//
// Of the bounds: every key in [start, end) starts with the common prefix
// L of start and end. One longer prefix also fits when end is exactly
// where the keys under a prefix Q of start end (Q's last byte plus one,
// after dropping trailing 0xff bytes); and when only start is set, the
// keys after it share the run of 0xff bytes start begins with. When the
// prefix field and the bounds disagree the range is empty, and the prefix
// field is used.
func scanPrefix(start, end, prefix []byte) []byte {
	var fromBounds []byte
	switch {
	case len(start) > 0 && len(end) > 0:
		l := commonPrefixLen(start, end)
		fromBounds = start[:l]
		// end == start[:l] + (start[l]+1): the keys run to the end of the
		// prefix start[:n], where start[l+1:n] are 0xff bytes.
		if len(start) > l && len(end) == l+1 && start[l] != 0xff && end[l] == start[l]+1 {
			n := l + 1
			for n < len(start) && start[n] == 0xff {
				n++
			}
			fromBounds = start[:n]
		}
	case len(start) > 0:
		n := 0
		for n < len(start) && start[n] == 0xff {
			n++
		}
		fromBounds = start[:n]
	}
	switch {
	case len(fromBounds) > len(prefix) && bytes.HasPrefix(fromBounds, prefix):
		return fromBounds
	default:
		return prefix
	}
}

// commonPrefixLen is the length of the longest common prefix of a and b.
func commonPrefixLen(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
