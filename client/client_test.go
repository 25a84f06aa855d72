package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/internal/rpctest"
)

func TestClient_PutGetDelete(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	ctx := testCtx(t)

	before := time.Now()
	off := must(c.Put(ctx, []byte("a"), []byte("alpha")))(t)
	if off != 1 {
		t.Fatalf("first put at offset %d, want 1", off)
	}
	it := must(c.Get(ctx, []byte("a")))(t)
	if string(it.Key) != "a" || string(it.Value) != "alpha" || it.Offset != 1 || !it.Expiry.IsZero() {
		t.Fatalf("get: %+v", it)
	}
	if it.Timestamp.Before(before.Add(-time.Minute)) || it.Timestamp.After(time.Now().Add(time.Minute)) {
		t.Fatalf("get: timestamp %v", it.Timestamp)
	}
	// Stale reads are local reads on one node.
	if it := must(c.Get(ctx, []byte("a"), client.Stale()))(t); string(it.Value) != "alpha" {
		t.Fatalf("stale get: %+v", it)
	}
	// An empty value is a value, not an absent one.
	must(c.Put(ctx, []byte("empty"), nil))(t)
	if it := must(c.Get(ctx, []byte("empty")))(t); it.Value == nil || len(it.Value) != 0 {
		t.Fatalf("get of an empty value: %#v", it.Value)
	}

	// TTL: the server fixes the expiry.
	must(c.Put(ctx, []byte("tmp"), []byte("x"), client.WithTTL(time.Hour)))(t)
	it = must(c.Get(ctx, []byte("tmp")))(t)
	if d := time.Until(it.Expiry); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expiry %v is %v away, want about an hour", it.Expiry, d)
	}

	off = must(c.Delete(ctx, []byte("a")))(t)
	if off != 4 {
		t.Fatalf("delete at offset %d, want 4", off)
	}
	if _, err := c.Get(ctx, []byte("a")); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := c.Delete(ctx, []byte("a")); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestClient_CompareAndSwap(t *testing.T) {
	t.Parallel()
	s, c := start(t, nil)
	ctx := testCtx(t)

	off := must(c.CompareAndSwap(ctx, []byte("lock"), 0, []byte("mine")))(t)
	_, err := c.CompareAndSwap(ctx, []byte("lock"), 0, []byte("yours"))
	var ce *client.CASError
	if !errors.As(err, &ce) || !errors.Is(err, client.ErrCASMismatch) || ce.Expected != 0 || ce.Current != off {
		t.Fatalf("cas on a held lock: %v (%#v)", err, ce)
	}
	if _, err := c.CompareAndSwap(ctx, []byte("nolock"), 5, []byte("v")); !errors.As(err, &ce) || ce.Current != 0 || ce.Expected != 5 {
		t.Fatalf("cas on an absent key: %v (%#v)", err, ce)
	}
	next := must(c.CompareAndSwap(ctx, []byte("lock"), off, []byte("released")))(t)
	if it := must(c.Get(ctx, []byte("lock")))(t); string(it.Value) != "released" || it.Offset != next {
		t.Fatalf("after cas: %+v", it)
	}
	// Refused compare-and-swaps wrote nothing.
	if got := s.DB.NextOffset(); got != next+1 {
		t.Fatalf("next offset %d, want %d", got, next+1)
	}
}

func TestClient_Scan(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	ctx := testCtx(t)
	for i := range 25 {
		must(c.Put(ctx, fmt.Appendf(nil, "k/%02d", i), fmt.Appendf(nil, "v%d", i)))(t)
	}
	must(c.Put(ctx, []byte("other"), []byte("o")))(t)

	// Page by page.
	var keys []string
	o := client.ScanOptions{Prefix: []byte("k/"), Limit: 10}
	pages := 0
	for {
		page := must(c.Scan(ctx, o))(t)
		pages++
		for _, it := range page.Items {
			keys = append(keys, string(it.Key))
			var i int
			if _, err := fmt.Sscanf(string(it.Key), "k/%d", &i); err != nil || string(it.Value) != fmt.Sprintf("v%d", i) {
				t.Fatalf("value of %s: %q", it.Key, it.Value)
			}
		}
		if page.NextPageToken == nil {
			break
		}
		if pages > 10 {
			t.Fatal("scan does not end")
		}
		o.PageToken = page.NextPageToken
	}
	if len(keys) != 25 || keys[0] != "k/00" || keys[24] != "k/24" || pages != 3 {
		t.Fatalf("%d pages, keys %v", pages, keys)
	}

	// ScanAll follows the tokens; keys only; a range.
	var all []string
	for it, err := range c.ScanAll(ctx, client.ScanOptions{Start: []byte("k/05"), End: []byte("p"), Limit: 4, KeysOnly: true}) {
		if err != nil {
			t.Fatal(err)
		}
		if it.Value != nil || it.Offset == 0 {
			t.Fatalf("keys-only item %+v", it)
		}
		all = append(all, string(it.Key))
	}
	if len(all) != 21 || all[0] != "k/05" || all[20] != "other" {
		t.Fatalf("scan all: %v", all)
	}
	// Breaking out of ScanAll early is fine.
	for range c.ScanAll(ctx, client.ScanOptions{Limit: 1}) {
		break
	}
	for _, err := range c.ScanAll(ctx, client.ScanOptions{Start: []byte("b"), End: []byte("a")}) {
		if !errors.Is(err, client.ErrBadRange) {
			t.Fatalf("scan all of a bad range: %v", err)
		}
	}
}

// TestClient_Errors checks that the server's refusals arrive as the
// client's errors, with their details, and that nothing was written.
func TestClient_Errors(t *testing.T) {
	t.Parallel()
	s, c := start(t, nil)
	ctx := testCtx(t)
	must(c.Put(ctx, []byte("k"), []byte("v")))(t)
	big := bytes.Repeat([]byte("x"), rpctest.MaxValueSize+1)
	bigKey := bytes.Repeat([]byte("k"), rpctest.MaxKeySize+1)

	tests := []struct {
		name  string
		call  func() error
		is    []error
		field string // a BadRequest violation of this field
	}{
		{name: "get missing", call: func() error { _, err := c.Get(ctx, []byte("nope")); return err }, is: []error{client.ErrNotFound}},
		{name: "put empty key", call: func() error { _, err := c.Put(ctx, nil, []byte("v")); return err }, is: []error{client.ErrInvalidArgument, client.ErrEmptyKey}, field: "key"},
		{name: "put key too large", call: func() error { _, err := c.Put(ctx, bigKey, []byte("v")); return err }, is: []error{client.ErrInvalidArgument, client.ErrKeyTooLarge}, field: "key"},
		{name: "put value too large", call: func() error { _, err := c.Put(ctx, []byte("k"), big); return err }, is: []error{client.ErrInvalidArgument, client.ErrValueTooLarge}, field: "value"},
		{name: "put negative ttl", call: func() error { _, err := c.Put(ctx, []byte("k"), nil, client.WithTTL(-time.Second)); return err }, is: []error{client.ErrInvalidArgument}, field: "ttl"},
		{name: "cas value too large", call: func() error { _, err := c.CompareAndSwap(ctx, []byte("k"), 1, big); return err }, is: []error{client.ErrInvalidArgument, client.ErrValueTooLarge}, field: "value"},
		{name: "get empty key", call: func() error { _, err := c.Get(ctx, nil); return err }, is: []error{client.ErrInvalidArgument, client.ErrEmptyKey}, field: "key"},
		{name: "delete empty key", call: func() error { _, err := c.Delete(ctx, nil); return err }, is: []error{client.ErrInvalidArgument, client.ErrEmptyKey}, field: "key"},
		{name: "scan bad range", call: func() error {
			_, err := c.Scan(ctx, client.ScanOptions{Start: []byte("b"), End: []byte("a")})
			return err
		}, is: []error{client.ErrInvalidArgument, client.ErrBadRange}},
		{name: "scan bad token", call: func() error {
			_, err := c.Scan(ctx, client.ScanOptions{Prefix: []byte("a"), PageToken: []byte("zzz")})
			return err
		}, is: []error{client.ErrInvalidArgument}},
		{name: "produce value too large", call: func() error { _, err := c.Produce(ctx, big); return err }, is: []error{client.ErrInvalidArgument, client.ErrValueTooLarge}, field: "value"},
		{name: "consume past the end", call: func() error { _, _, err := c.Consume(ctx, 5); return err }, is: []error{client.ErrOutOfRange}},
		{name: "deadline", call: func() error {
			ctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
			defer cancel()
			<-ctx.Done()
			_, err := c.Get(ctx, []byte("k"))
			return err
		}, is: []error{context.DeadlineExceeded}},
		{name: "canceled", call: func() error {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := c.Put(ctx, []byte("k"), []byte("w"))
			return err
		}, is: []error{context.Canceled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.is {
				if !errors.Is(err, want) {
					t.Errorf("errors.Is(%v, %v) = false", err, want)
				}
			}
			for _, other := range []error{client.ErrNotFound, client.ErrUnavailable, client.ErrInternal, client.ErrCASMismatch} {
				if !containsErr(tt.is, other) && errors.Is(err, other) {
					t.Errorf("errors.Is(%v, %v) = true", err, other)
				}
			}
			if tt.field != "" {
				var e *client.Error
				if !errors.As(err, &e) || len(e.Violations) == 0 || e.Violations[0].Field != tt.field {
					t.Errorf("violations of %v: %+v, want field %q", err, e, tt.field)
				}
			}
		})
	}
	// Nothing was written by any refused request.
	if got := s.DB.NextOffset(); got != 2 {
		t.Fatalf("next offset %d after refused requests, want 2", got)
	}

	// Consume's OffsetError carries the offsets.
	_, _, err := c.Consume(ctx, 7)
	var oe *client.OffsetError
	if !errors.As(err, &oe) || oe.Requested != 7 || oe.Next != 2 || oe.Earliest != 1 {
		t.Fatalf("consume past the end: %v (%#v)", err, oe)
	}
	// status.Code still sees the gRPC code through the wrapping.
	if code := status.Code(err); code != codes.OutOfRange {
		t.Fatalf("status.Code = %v", code)
	}
}

func containsErr(errs []error, e error) bool {
	for _, x := range errs {
		if x == e {
			return true
		}
	}
	return false
}

func TestClient_Unavailable(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nobody listens there now
	c := dial(t, addr)
	ctx := testCtx(t)
	if _, err := c.Get(ctx, []byte("k")); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("get from no server: %v", err)
	}
	if _, err := c.Status(ctx); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("status from no server: %v", err)
	}
}

func TestClient_StopRestart(t *testing.T) {
	t.Parallel()
	s, c := start(t, nil)
	ctx := testCtx(t)
	must(c.Put(ctx, []byte("k"), []byte("v")))(t)
	s.Stop(t)
	if _, err := c.Get(ctx, []byte("k")); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("get from a stopped server: %v", err)
	}
	s.Restart(t)
	// The connection comes back by itself; poll until it has.
	deadline := time.Now().Add(5 * time.Second)
	for {
		it, err := c.Get(ctx, []byte("k"))
		if err == nil {
			if string(it.Value) != "v" {
				t.Fatalf("after restart: %+v", it)
			}
			break
		}
		if !errors.Is(err, client.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("get after restart: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDial(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	for _, eps := range [][]string{nil, {""}, {"localhost"}, {":7070"}, {"a:1,b:2"}} {
		if _, err := client.Dial(ctx, eps, client.WithInsecure()); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("Dial(%q): %v, want ErrInvalidArgument", eps, err)
		}
	}
	if _, err := client.Dial(ctx, []string{"127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "WithInsecure") {
		t.Errorf("Dial without credentials: %v", err)
	}
	if _, err := client.Dial(ctx, []string{"127.0.0.1:1"}, client.WithInsecure(), client.WithTimeout(-1)); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("Dial with a negative timeout: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := client.Dial(cctx, []string{"127.0.0.1:1"}, client.WithInsecure()); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context: %v", err)
	}
}

// TestDial_SeveralEndpoints spreads calls over the endpoints that answer.
func TestDial_SeveralEndpoints(t *testing.T) {
	t.Parallel()
	s := rpctest.Start(t, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	c := dial(t, dead, s.Addr)
	ctx := testCtx(t)
	for i := range 10 {
		if _, err := c.Put(ctx, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatalf("put %d with one endpoint down: %v", i, err)
		}
	}
}

func TestClient_Closed(t *testing.T) {
	t.Parallel()
	_, c := start(t, nil)
	ctx := testCtx(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Put(ctx, []byte("k"), []byte("v")); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("put after Close: %v", err)
	}
	if _, err := c.NewProducer(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("NewProducer after Close: %v", err)
	}
	cons := client.NewConsumer(c, 0, nil)
	if _, err := cons.Next(ctx); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("consumer of a closed client: %v", err)
	}
}
