package rpc

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

func TestKV_PutGetDelete(t *testing.T) {
	ts := startServer(t, nil)
	c := ctx(t)
	put, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte("a"), Value: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	if put.Offset != 1 || put.ExpiryUnixNano != 0 {
		t.Fatalf("Put = %v, want offset 1, no expiry", put)
	}
	for _, cons := range []caskadev1.Consistency{caskadev1.Consistency_CONSISTENCY_UNSPECIFIED, caskadev1.Consistency_LINEARIZABLE, caskadev1.Consistency_STALE} {
		got, err := ts.kv.Get(c, &caskadev1.GetRequest{Key: []byte("a"), Consistency: cons})
		if err != nil {
			t.Fatal(err)
		}
		if it := got.Item; string(it.Key) != "a" || string(it.Value) != "1" || it.Offset != 1 || it.TimestampUnixNano == 0 {
			t.Fatalf("Get(%v) = %v", cons, it)
		}
	}
	// An empty value is a value.
	if _, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte("e")}); err != nil {
		t.Fatal(err)
	}
	if got, err := ts.kv.Get(c, &caskadev1.GetRequest{Key: []byte("e")}); err != nil || len(got.Item.Value) != 0 {
		t.Fatalf("Get(e) = %v, %v", got, err)
	}
	del, err := ts.kv.Delete(c, &caskadev1.DeleteRequest{Key: []byte("a")})
	if err != nil || del.Offset != 3 {
		t.Fatalf("Delete = %v, %v; want offset 3", del, err)
	}
	_, err = ts.kv.Get(c, &caskadev1.GetRequest{Key: []byte("a")})
	checkErr(t, err, wantErr{code: codes.NotFound, reason: caskadev1.ReasonKeyNotFound})
	before := ts.db.NextOffset()
	_, err = ts.kv.Delete(c, &caskadev1.DeleteRequest{Key: []byte("a")})
	checkErr(t, err, wantErr{code: codes.NotFound, reason: caskadev1.ReasonKeyNotFound})
	if ts.db.NextOffset() != before {
		t.Error("a Delete of an absent key wrote a record")
	}
}

func TestKV_Put_TTL(t *testing.T) {
	ts := startServer(t, nil)
	c := ctx(t)
	before := time.Now()
	put, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v"), Ttl: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(0, put.ExpiryUnixNano)
	if exp.Before(before.Add(time.Hour)) || exp.After(time.Now().Add(time.Hour)) {
		t.Fatalf("expiry %v, want about now+1h", exp)
	}
	got, err := ts.kv.Get(c, &caskadev1.GetRequest{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	if got.Item.ExpiryUnixNano != put.ExpiryUnixNano {
		t.Fatalf("Get expiry %d, Put said %d", got.Item.ExpiryUnixNano, put.ExpiryUnixNano)
	}
	// A TTL of zero means none.
	put, err = ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte("k"), Value: []byte("v"), Ttl: durationpb.New(0)})
	if err != nil || put.ExpiryUnixNano != 0 {
		t.Fatalf("Put with zero TTL = %v, %v", put, err)
	}
	// A TTL that has passed by the time it is read hides the key.
	if _, err := ts.kv.Put(c, &caskadev1.PutRequest{Key: []byte("short"), Value: []byte("v"), Ttl: durationpb.New(time.Nanosecond)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the key to expire", func() bool {
		_, err := ts.kv.Get(c, &caskadev1.GetRequest{Key: []byte("short")})
		return err != nil
	})
	_, err = ts.kv.Get(c, &caskadev1.GetRequest{Key: []byte("short")})
	checkErr(t, err, wantErr{code: codes.NotFound, reason: caskadev1.ReasonKeyNotFound})
}

func TestKV_CompareAndSwap(t *testing.T) {
	ts := startServer(t, nil)
	c := ctx(t)
	r, err := ts.kv.CompareAndSwap(c, &caskadev1.CompareAndSwapRequest{Key: []byte("lock"), ExpectedOffset: 0, Value: []byte("me")})
	if err != nil || r.Offset != 1 {
		t.Fatalf("CAS on absent key = %v, %v", r, err)
	}
	before := ts.db.NextOffset()
	_, err = ts.kv.CompareAndSwap(c, &caskadev1.CompareAndSwapRequest{Key: []byte("lock"), ExpectedOffset: 0, Value: []byte("you")})
	checkErr(t, err, wantErr{code: codes.FailedPrecondition, reason: caskadev1.ReasonCASMismatch,
		meta: map[string]string{caskadev1.MetaCurrentOffset: "1", caskadev1.MetaExpectedOffset: "0"}})
	_, err = ts.kv.CompareAndSwap(c, &caskadev1.CompareAndSwapRequest{Key: []byte("free"), ExpectedOffset: 7, Value: []byte("x")})
	checkErr(t, err, wantErr{code: codes.FailedPrecondition, reason: caskadev1.ReasonCASMismatch,
		meta: map[string]string{caskadev1.MetaCurrentOffset: "0"}})
	if ts.db.NextOffset() != before {
		t.Fatal("a refused CAS wrote a record")
	}
	r, err = ts.kv.CompareAndSwap(c, &caskadev1.CompareAndSwapRequest{Key: []byte("lock"), ExpectedOffset: 1, Value: []byte("next")})
	if err != nil || r.Offset != 2 {
		t.Fatalf("CAS at the current offset = %v, %v", r, err)
	}
}

// putKeys stores key i = prefix+%03d with value "v"+i for i in [0, n).
func putKeys(t *testing.T, ts *testServer, prefix string, n int) {
	t.Helper()
	for i := range n {
		k := fmt.Sprintf("%s%03d", prefix, i)
		if _, err := ts.kv.Put(ctx(t), &caskadev1.PutRequest{Key: []byte(k), Value: []byte("v" + k)}); err != nil {
			t.Fatal(err)
		}
	}
}

// scanAll follows page tokens to the end and returns the keys seen.
func scanAll(t *testing.T, ts *testServer, req *caskadev1.ScanRequest) (keys []string, pages int) {
	t.Helper()
	for pages = 1; pages < 1000; pages++ {
		resp, err := ts.kv.Scan(ctx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range resp.Items {
			keys = append(keys, string(it.Key))
			if !req.KeysOnly && string(it.Value) != "v"+string(it.Key) && len(it.Value) < 100 {
				t.Fatalf("value of %q is %q", it.Key, it.Value)
			}
			if req.KeysOnly && len(it.Value) != 0 {
				t.Fatalf("keys-only scan returned a value for %q", it.Key)
			}
			if it.Offset == 0 {
				t.Fatalf("item %q without offset", it.Key)
			}
		}
		if len(resp.NextPageToken) == 0 {
			return keys, pages
		}
		req.PageToken = resp.NextPageToken
	}
	t.Fatal("scan did not end in 1000 pages")
	return nil, 0
}

func TestKV_Scan(t *testing.T) {
	ts := startServer(t, nil)
	putKeys(t, ts, "a/", 25)
	putKeys(t, ts, "b/", 10)
	if _, err := ts.kv.Delete(ctx(t), &caskadev1.DeleteRequest{Key: []byte("a/003")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		req      *caskadev1.ScanRequest
		n        int
		pages    int
		first    string
		keysOnly bool
	}{
		{"all", &caskadev1.ScanRequest{}, 34, 1, "a/000", false},
		{"prefix", &caskadev1.ScanRequest{Prefix: []byte("b/")}, 10, 1, "b/000", false},
		{"range", &caskadev1.ScanRequest{Start: []byte("a/010"), End: []byte("a/020")}, 10, 1, "a/010", false},
		{"prefix and start", &caskadev1.ScanRequest{Prefix: []byte("a/"), Start: []byte("a/020")}, 5, 1, "a/020", false},
		{"pages", &caskadev1.ScanRequest{Limit: 7}, 34, 5, "a/000", false},
		{"pages of a prefix", &caskadev1.ScanRequest{Prefix: []byte("a/"), Limit: 6, KeysOnly: true}, 24, 4, "a/000", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, pages := scanAll(t, ts, tt.req)
			if len(keys) != tt.n || pages != tt.pages || keys[0] != tt.first {
				t.Fatalf("%d keys in %d pages from %q, want %d in %d from %q", len(keys), pages, keys[0], tt.n, tt.pages, tt.first)
			}
			for i := 1; i < len(keys); i++ {
				if keys[i-1] >= keys[i] {
					t.Fatalf("keys out of order: %q then %q", keys[i-1], keys[i])
				}
			}
		})
	}
}

// A page of large values is cut under the message size limit, and the
// next page goes on where it stopped.
func TestKV_Scan_PageUnderMessageLimit(t *testing.T) {
	const valueSize = 512 << 10
	ts := startServer(t, &engine.Options{Sync: engine.SyncNever, SegmentBytes: 16 << 20, MaxValueSize: valueSize})
	const n = 20 // 10 MiB in all, more than a 4 MiB message
	big := bytes.Repeat([]byte("x"), valueSize)
	for i := range n {
		if _, err := ts.kv.Put(ctx(t), &caskadev1.PutRequest{Key: fmt.Appendf(nil, "k%02d", i), Value: big}); err != nil {
			t.Fatal(err)
		}
	}
	keys, pages := scanAll(t, ts, &caskadev1.ScanRequest{})
	if len(keys) != n || pages < 3 {
		t.Fatalf("%d keys in %d pages, want %d in 3 or more", len(keys), pages, n)
	}
}

func TestKV_Scan_BadRequests(t *testing.T) {
	ts := startServer(t, nil)
	putKeys(t, ts, "a/", 3)
	tests := []struct {
		name   string
		req    *caskadev1.ScanRequest
		field  string
		reason string
	}{
		{"end before start", &caskadev1.ScanRequest{Start: []byte("b"), End: []byte("a")}, "end", caskadev1.ReasonBadRange},
		{"start after prefix", &caskadev1.ScanRequest{Prefix: []byte("a/"), Start: []byte("b")}, "start", caskadev1.ReasonBadRange},
		{"end before prefix", &caskadev1.ScanRequest{Prefix: []byte("b/"), End: []byte("a")}, "end", caskadev1.ReasonBadRange},
		{"garbage token", &caskadev1.ScanRequest{PageToken: []byte{0xee, 'a'}}, "page_token", caskadev1.ReasonInvalidArgument},
		{"token outside prefix", &caskadev1.ScanRequest{Prefix: []byte("a/"), PageToken: []byte{pageTokenVersion, 'z'}}, "page_token", caskadev1.ReasonBadRange},
		{"unknown consistency", &caskadev1.ScanRequest{Consistency: 9}, "consistency", caskadev1.ReasonInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ts.kv.Scan(ctx(t), tt.req)
			checkErr(t, err, wantErr{code: codes.InvalidArgument, reason: tt.reason, field: tt.field})
		})
	}
}

// Every refused write answers INVALID_ARGUMENT naming the field, and
// writes nothing.
func TestKV_BadInput_WritesNothing(t *testing.T) {
	ts := startServer(t, nil)
	putKeys(t, ts, "k", 1)
	longKey := []byte(strings.Repeat("k", testMaxKey+1))
	bigValue := bytes.Repeat([]byte("v"), testMaxValue+1)
	tooLarge := func(limit, size int) map[string]string {
		return map[string]string{caskadev1.MetaLimit: fmt.Sprint(limit), caskadev1.MetaSize: fmt.Sprint(size)}
	}
	tests := []struct {
		name string
		call func() error
		want wantErr
	}{
		{"put empty key", func() error {
			_, err := ts.kv.Put(ctx(t), &caskadev1.PutRequest{Value: []byte("v")})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonEmptyKey, "key", nil}},
		{"put long key", func() error {
			_, err := ts.kv.Put(ctx(t), &caskadev1.PutRequest{Key: longKey, Value: []byte("v")})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonKeyTooLarge, "key", tooLarge(testMaxKey, testMaxKey+1)}},
		{"put big value", func() error {
			_, err := ts.kv.Put(ctx(t), &caskadev1.PutRequest{Key: []byte("k"), Value: bigValue})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonValueTooLarge, "value", tooLarge(testMaxValue, testMaxValue+1)}},
		{"put negative ttl", func() error {
			_, err := ts.kv.Put(ctx(t), &caskadev1.PutRequest{Key: []byte("k"), Ttl: durationpb.New(-time.Second)})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonInvalidArgument, "ttl", nil}},
		{"put malformed ttl", func() error {
			_, err := ts.kv.Put(ctx(t), &caskadev1.PutRequest{Key: []byte("k"), Ttl: &durationpb.Duration{Seconds: 1, Nanos: -1}})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonInvalidArgument, "ttl", nil}},
		{"get empty key", func() error {
			_, err := ts.kv.Get(ctx(t), &caskadev1.GetRequest{})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonEmptyKey, "key", nil}},
		{"get unknown consistency", func() error {
			_, err := ts.kv.Get(ctx(t), &caskadev1.GetRequest{Key: []byte("k000"), Consistency: 3})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonInvalidArgument, "consistency", nil}},
		{"delete long key", func() error {
			_, err := ts.kv.Delete(ctx(t), &caskadev1.DeleteRequest{Key: longKey})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonKeyTooLarge, "key", nil}},
		{"cas empty key", func() error {
			_, err := ts.kv.CompareAndSwap(ctx(t), &caskadev1.CompareAndSwapRequest{Value: []byte("v")})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonEmptyKey, "key", nil}},
		{"cas big value", func() error {
			_, err := ts.kv.CompareAndSwap(ctx(t), &caskadev1.CompareAndSwapRequest{Key: []byte("k000"), ExpectedOffset: 1, Value: bigValue})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonValueTooLarge, "value", nil}},
		{"produce big value", func() error {
			_, err := ts.log.Produce(ctx(t), &caskadev1.ProduceRequest{Value: bigValue})
			return err
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonValueTooLarge, "value", nil}},
		{"produce stream empty request", func() error {
			return produceStreamErr(t, ts, nil)
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonInvalidArgument, "values", nil}},
		{"produce stream big value", func() error {
			return produceStreamErr(t, ts, [][]byte{[]byte("ok"), bigValue})
		}, wantErr{codes.InvalidArgument, caskadev1.ReasonValueTooLarge, "values[1]", nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.db.NextOffset()
			checkErr(t, tt.call(), tt.want)
			if after := ts.db.NextOffset(); after != before {
				t.Fatalf("NextOffset went from %d to %d: a refused request wrote", before, after)
			}
		})
	}
}

// produceStreamErr sends one ProduceStream request and returns the error
// the stream ends with.
func produceStreamErr(t *testing.T, ts *testServer, values [][]byte) error {
	t.Helper()
	st, err := ts.log.ProduceStream(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&caskadev1.ProduceStreamRequest{Values: values}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err == nil {
		t.Fatalf("ProduceStream answered %v, want an error", resp)
	}
	return err
}
