package rpc

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// FuzzAuthorize feeds the identity and policy path odd common names, keys
// and ranges: it must never panic, never allow an identity the policy
// does not name, and always give a status that can be sent (valid UTF-8
// in every detail).
func FuzzAuthorize(f *testing.F) {
	dir := f.TempDir()
	pp := filepath.Join(dir, "policy.csv")
	writeFile(f, dir, "policy.csv", testPolicy)
	a, err := OpenAuthorizer("", pp)
	if err != nil {
		f.Fatal(err)
	}
	named := []string{"root", "reader", "app", "ops", "admins"}
	methods := make([]string, 0, len(methodAccess))
	for m := range methodAccess {
		methods = append(methods, m)
	}
	slices.Sort(methods)

	long := strings.Repeat("r", 70000)
	for _, id := range []string{"", "root", "reader", "app", "ops", long, "rööt", "根", "*", "/", "..", "../root",
		"root\x00", "root ", " root", "ROOT", "r*", "kv:*", "\xff\xfe", "p, root, *, *", "root\nroot", "g"} {
		for _, key := range []string{"app/1", "", "*", "app/*", "\xff", "kv:x", "../app/1"} {
			f.Add(id, []byte(key), []byte(""), uint8(0))
			f.Add(id, []byte(key), []byte("app0"), uint8(3))
		}
	}
	f.Fuzz(func(t *testing.T, identity string, key, end []byte, m uint8) {
		method := methods[int(m)%len(methods)]
		var req any
		switch method {
		case caskadev1.KV_Scan_FullMethodName:
			req = &caskadev1.ScanRequest{Start: key, End: end, Prefix: key[:len(key)/2]}
		case caskadev1.KV_Put_FullMethodName:
			req = &caskadev1.PutRequest{Key: key}
		case caskadev1.KV_Get_FullMethodName:
			req = &caskadev1.GetRequest{Key: key}
		case caskadev1.KV_Delete_FullMethodName:
			req = &caskadev1.DeleteRequest{Key: key}
		case caskadev1.KV_CompareAndSwap_FullMethodName:
			req = &caskadev1.CompareAndSwapRequest{Key: key}
		}
		err := a.authorize(identity, method, req)
		isNamed := slices.Contains(named, identity)
		if err == nil && !isNamed {
			t.Fatalf("%q, not in the policy, may call %s", identity, method)
		}
		var ue *unknownIdentityError
		if !isNamed && !errors.As(err, &ue) {
			t.Fatalf("%q, not in the policy: %v, want unauthenticated", identity, err)
		}
		if err == nil {
			return
		}
		st, internal := statusOf(err)
		if internal {
			t.Fatalf("authorize failed inside: %v", err)
		}
		if c := st.Code(); c != codes.Unauthenticated && c != codes.PermissionDenied {
			t.Fatalf("code %v for %v", c, err)
		}
		if _, err := proto.Marshal(st.Proto()); err != nil {
			t.Fatalf("status cannot be sent: %v", err)
		}
		if len(st.Message()) > 3*maxShown+100 {
			t.Fatalf("message of %d bytes", len(st.Message()))
		}
	})
}
