package rpc

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/casbin/casbin/v2/util"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// TestMethodAccess_CoversAPI walks every service of api/v1: each of its
// methods must be in the table (a new RPC without a rule fails here), each
// rule must name a method that exists, and a key object only fits a unary
// method, whose request the interceptor sees.
func TestMethodAccess_CoversAPI(t *testing.T) {
	services := caskadev1.File_api_v1_caskade_proto.Services()
	if services.Len() == 0 {
		t.Fatal("no services in api/v1")
	}
	seen := map[string]bool{}
	for i := range services.Len() {
		sd := services.Get(i)
		for j := range sd.Methods().Len() {
			md := sd.Methods().Get(j)
			name := fmt.Sprintf("/%s/%s", sd.FullName(), md.Name())
			seen[name] = true
			acc, ok := methodAccess[name]
			if !ok {
				t.Errorf("%s has no rule in methodAccess", name)
				continue
			}
			stream := md.IsStreamingClient() || md.IsStreamingServer()
			if stream && (acc.kind == objectKey || acc.kind == objectKeyRange) {
				t.Errorf("%s is a stream but its object comes from the request", name)
			}
			if isOpen(name) {
				t.Errorf("%s is in an open service", name)
			}
		}
	}
	for name := range methodAccess {
		if !seen[name] {
			t.Errorf("methodAccess has %s, which api/v1 does not define", name)
		}
	}
}

func TestMethodAccess_Table(t *testing.T) {
	tests := []struct {
		method string
		req    any
		object string
		action string
	}{
		{caskadev1.KV_Put_FullMethodName, &caskadev1.PutRequest{Key: []byte("app/1")}, "kv:app/1", ActionWrite},
		{caskadev1.KV_Get_FullMethodName, &caskadev1.GetRequest{Key: []byte("app/1")}, "kv:app/1", ActionRead},
		{caskadev1.KV_Delete_FullMethodName, &caskadev1.DeleteRequest{Key: []byte("x")}, "kv:x", ActionWrite},
		{caskadev1.KV_CompareAndSwap_FullMethodName, &caskadev1.CompareAndSwapRequest{Key: []byte("x")}, "kv:x", ActionWrite},
		{caskadev1.KV_Scan_FullMethodName, &caskadev1.ScanRequest{Prefix: []byte("app/")}, "kv:app/*", ActionRead},
		{caskadev1.KV_Scan_FullMethodName, &caskadev1.ScanRequest{}, "kv:*", ActionRead},
		{caskadev1.Log_Produce_FullMethodName, &caskadev1.ProduceRequest{}, ObjectLog, ActionWrite},
		{caskadev1.Log_Consume_FullMethodName, &caskadev1.ConsumeRequest{}, ObjectLog, ActionRead},
		{caskadev1.Log_ConsumeStream_FullMethodName, nil, ObjectLog, ActionRead},
		{caskadev1.Log_ProduceStream_FullMethodName, nil, ObjectLog, ActionWrite},
		{caskadev1.Cluster_GetServers_FullMethodName, &caskadev1.GetServersRequest{}, ObjectCluster, ActionRead},
		{caskadev1.Cluster_Status_FullMethodName, &caskadev1.StatusRequest{}, ObjectCluster, ActionRead},
		{caskadev1.Maintenance_Compact_FullMethodName, &caskadev1.CompactRequest{}, ObjectCluster, ActionAdmin},
		{caskadev1.Maintenance_Snapshot_FullMethodName, nil, ObjectCluster, ActionAdmin},
		{caskadev1.Cluster_Members_FullMethodName, &caskadev1.MembersRequest{}, ObjectCluster, ActionRead},
		{caskadev1.Cluster_ReadIndex_FullMethodName, &caskadev1.ReadIndexRequest{}, ObjectCluster, ActionRead},
		{caskadev1.Maintenance_TransferLeadership_FullMethodName, &caskadev1.TransferLeadershipRequest{}, ObjectCluster, ActionAdmin},
		{caskadev1.Maintenance_RemoveServer_FullMethodName, &caskadev1.RemoveServerRequest{Id: "n2"}, ObjectCluster, ActionAdmin},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			acc, ok := methodAccess[tt.method]
			if !ok {
				t.Fatal("no rule")
			}
			obj, err := acc.object(tt.req)
			if err != nil || obj != tt.object || acc.action != tt.action {
				t.Fatalf("(%q, %q, %v), want (%q, %q)", obj, acc.action, err, tt.object, tt.action)
			}
		})
	}
	// A key object without a request (as on a stream) is refused.
	if _, err := methodAccess[caskadev1.KV_Put_FullMethodName].object(nil); err == nil {
		t.Fatal("key object from a nil request")
	}
	for _, m := range []string{"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"} {
		if !isOpen(m) {
			t.Errorf("%s is not open", m)
		}
	}
	if isOpen("/grpc.health.v1.HealthX/Check") || isOpen(caskadev1.KV_Get_FullMethodName) {
		t.Error("isOpen too wide")
	}
}

func TestScanPrefix(t *testing.T) {
	tests := []struct {
		start, end, prefix string
		want               string
	}{
		{"", "", "", ""},
		{"", "", "app/", "app/"},
		{"app/a", "app/z", "", "app/"},
		{"app/", "app0", "", "app/"},                 // exactly the keys under app/
		{"app/\xff\xff", "app0", "", "app/\xff\xff"}, // under app/\xff\xff: end is where they end too
		{"app/x", "app0", "", "app/"},
		{"app/", "app1", "", "app"},
		{"app/", "app0x", "", "app"},
		{"app", "app0", "", "app"},
		{"a", "b", "", "a"},
		{"a", "c", "", ""},
		{"app/m", "", "", ""},
		{"", "app/m", "", ""},
		{"\xff\xffq", "", "", "\xff\xff"},
		{"a", "z", "app/", "app/"},           // the prefix narrows more than the bounds
		{"app/a", "app/b", "app/", "app/a"},  // the bounds narrow more than the prefix
		{"app/a", "app/b", "ap", "app/a"},    // ... and agree with it
		{"b1", "b2", "app/", "app/"},         // disagree: an empty range
		{"app/b", "app/a", "", "app/"},       // end before start: refused later
		{"\xfe", "\xff", "", "\xfe"},         // prefix end of \xfe
		{"\xfe\xff", "\xff", "", "\xfe\xff"}, // and of \xfe\xff
	}
	for _, tt := range tests {
		got := scanPrefix([]byte(tt.start), []byte(tt.end), []byte(tt.prefix))
		if string(got) != tt.want {
			t.Errorf("scanPrefix(%q, %q, %q) = %q, want %q", tt.start, tt.end, tt.prefix, got, tt.want)
		}
	}
}

// TestScanPrefix_Sound checks, over every small range and key of a small
// alphabet, that a keyMatch pattern allows a Scan's object only if it
// allows every key the Scan can return.
func TestScanPrefix_Sound(t *testing.T) {
	alphabet := []string{"a", "b", "\xff"}
	words := func(maxLen int) []string {
		out := []string{""}
		last := []string{""}
		for range maxLen {
			var next []string
			for _, w := range last {
				for _, c := range alphabet {
					next = append(next, w+c)
				}
			}
			out = append(out, next...)
			last = next
		}
		return out
	}
	bounds, keys := words(2), words(3)[1:] // keys are never empty
	var patterns []string
	for _, w := range bounds {
		patterns = append(patterns, KeyObjectPrefix+w+"*")
	}
	patterns = append(patterns, "*", "kv:*", "k*")
	checks := 0
	for _, start := range bounds {
		for _, end := range bounds {
			for _, prefix := range bounds {
				obj := KeyObjectPrefix + string(scanPrefix([]byte(start), []byte(end), []byte(prefix))) + "*"
				for _, p := range patterns {
					if !util.KeyMatch(obj, p) {
						continue
					}
					for _, k := range keys {
						inRange := (start == "" || k >= start) && (end == "" || k < end) && strings.HasPrefix(k, prefix)
						checks++
						if inRange && !util.KeyMatch(KeyObjectPrefix+k, p) {
							t.Fatalf("scan start %q end %q prefix %q: object %q allowed by %q, but key %q in range is not",
								start, end, prefix, obj, p, k)
						}
					}
				}
			}
		}
	}
	if checks == 0 {
		t.Fatal("nothing checked")
	}
	// The shipped prefix pattern allows what a prefix-limited identity
	// needs.
	if !util.KeyMatch(KeyObjectPrefix+string(scanPrefix(nil, nil, []byte("app/")))+"*", "kv:app/*") {
		t.Fatal("kv:app/* does not allow a scan of prefix app/")
	}
	if !bytes.Equal(scanPrefix([]byte("app/"), []byte("app0"), nil), []byte("app/")) {
		t.Fatal("start app/ end app0 is not the prefix app/")
	}
}
