package rpc

import (
	"bytes"
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/engine"
)

// kvServer serves the KV service: the keyed view of the store.
type kvServer struct {
	caskadev1.UnimplementedKVServer
	s *Server
}

// Put stores a value, with an absolute expiry of now + ttl when a TTL is
// given.
func (k *kvServer) Put(_ context.Context, req *caskadev1.PutRequest) (*caskadev1.PutResponse, error) {
	const method = "Put"
	s := k.s
	if err := s.checkKey("key", req.GetKey()); err != nil {
		return nil, s.toStatus(method, err)
	}
	if err := s.checkValue("value", req.GetValue()); err != nil {
		return nil, s.toStatus(method, err)
	}
	ttl, err := checkTTL(req.GetTtl())
	if err != nil {
		return nil, s.toStatus(method, err)
	}
	var off uint64
	var expiry int64
	if ttl > 0 {
		at := time.Now().Add(ttl)
		expiry = at.UnixNano()
		off, err = s.store.PutWithExpiry(req.GetKey(), req.GetValue(), at)
	} else {
		off, err = s.store.Put(req.GetKey(), req.GetValue())
	}
	if err != nil {
		return nil, s.toStatus(method, err)
	}
	return &caskadev1.PutResponse{Offset: off, ExpiryUnixNano: expiry}, nil
}

// checkTTL returns the TTL of a Put: 0 when unset or zero, an error when
// negative or malformed.
func checkTTL(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, invalidf("ttl", "%v", err)
	}
	ttl := d.AsDuration()
	if ttl < 0 {
		return 0, invalidf("ttl", "ttl %v is negative", ttl)
	}
	return ttl, nil
}

// Get returns a key's live value. On one node every consistency level
// reads the local store; a replicated store makes LINEARIZABLE reads wait
// for its barrier (Linearizer).
func (k *kvServer) Get(ctx context.Context, req *caskadev1.GetRequest) (*caskadev1.GetResponse, error) {
	const method = "Get"
	s := k.s
	if err := s.checkKey("key", req.GetKey()); err != nil {
		return nil, s.toStatus(method, err)
	}
	if err := checkConsistency(req.GetConsistency()); err != nil {
		return nil, s.toStatus(method, err)
	}
	if err := s.readBarrier(ctx, req.GetConsistency()); err != nil {
		return nil, s.toStatus(method, err)
	}
	it, err := s.store.Get(req.GetKey())
	if err != nil {
		return nil, s.toStatus(method, err)
	}
	return &caskadev1.GetResponse{Item: itemProto(&it)}, nil
}

// Delete writes a tombstone for a key with a live value.
func (k *kvServer) Delete(_ context.Context, req *caskadev1.DeleteRequest) (*caskadev1.DeleteResponse, error) {
	const method = "Delete"
	s := k.s
	if err := s.checkKey("key", req.GetKey()); err != nil {
		return nil, s.toStatus(method, err)
	}
	off, err := s.store.Delete(req.GetKey())
	if err != nil {
		return nil, s.toStatus(method, err)
	}
	return &caskadev1.DeleteResponse{Offset: off}, nil
}

// CompareAndSwap writes only if the key is at the expected offset.
func (k *kvServer) CompareAndSwap(_ context.Context, req *caskadev1.CompareAndSwapRequest) (*caskadev1.CompareAndSwapResponse, error) {
	const method = "CompareAndSwap"
	s := k.s
	if err := s.checkKey("key", req.GetKey()); err != nil {
		return nil, s.toStatus(method, err)
	}
	if err := s.checkValue("value", req.GetValue()); err != nil {
		return nil, s.toStatus(method, err)
	}
	off, err := s.store.CompareAndSwap(req.GetKey(), req.GetExpectedOffset(), req.GetValue())
	if err != nil {
		return nil, s.toStatus(method, err)
	}
	return &caskadev1.CompareAndSwapResponse{Offset: off}, nil
}

// pageTokenVersion starts every page token, so that its format can change.
const pageTokenVersion = 1

// Scan returns one page of live keys in byte order. A page holds at most
// limit items and stays under the message size limit; next_page_token is
// the key the next page starts at.
func (k *kvServer) Scan(ctx context.Context, req *caskadev1.ScanRequest) (*caskadev1.ScanResponse, error) {
	const method = "Scan"
	s := k.s
	if err := checkConsistency(req.GetConsistency()); err != nil {
		return nil, s.toStatus(method, err)
	}
	if err := s.readBarrier(ctx, req.GetConsistency()); err != nil {
		return nil, s.toStatus(method, err)
	}
	start, end, prefix := req.GetStart(), req.GetEnd(), req.GetPrefix()
	if err := checkScanRange(start, end, prefix); err != nil {
		return nil, s.toStatus(method, err)
	}
	if tok := req.GetPageToken(); len(tok) > 0 {
		next, err := parsePageToken(tok, start, end, prefix)
		if err != nil {
			return nil, s.toStatus(method, err)
		}
		start = next
	}
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = DefaultScanLimit
	case limit > MaxScanLimit:
		limit = MaxScanLimit
	}
	items, next, err := s.scanPage(ctx, engine.ScanOptions{
		Start: nilIfEmpty(start), End: nilIfEmpty(end), Prefix: nilIfEmpty(prefix),
		KeysOnly: req.GetKeysOnly(),
	}, limit)
	if err != nil {
		return nil, s.toStatus(method, err)
	}
	resp := &caskadev1.ScanResponse{Items: make([]*caskadev1.Item, len(items))}
	for i := range items {
		resp.Items[i] = itemProto(&items[i])
	}
	if next != nil {
		resp.NextPageToken = append([]byte{pageTokenVersion}, next...)
	}
	return resp, nil
}

// scanPage collects up to limit items whose encoded size stays under the
// message budget (at least one item, which always fits), in chunks sized
// from the items seen so far so that a range of large values is not read
// whole. It returns the key the following page starts at, or nil.
func (s *Server) scanPage(ctx context.Context, o engine.ScanOptions, limit int) ([]engine.Item, []byte, error) {
	budget := s.maxMsg - messageOverhead
	var items []engine.Item
	size := 0
	chunk := min(limit, 64)
	for {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		o.Limit = chunk
		res, err := s.store.Scan(o)
		if err != nil {
			return nil, nil, err
		}
		for i := range res.Items {
			n := itemBytes(&res.Items[i])
			if len(items) > 0 && size+n > budget {
				return items, res.Items[i].Key, nil
			}
			size += n
			items = append(items, res.Items[i])
		}
		if res.Next == nil || len(items) >= limit {
			return items, res.Next, nil
		}
		o.Start = res.Next
		// Size the next chunk from the average item so far.
		avg := max(size/max(len(items), 1), 1)
		chunk = max(min(limit-len(items), (budget-size)/avg), 1)
	}
}

// parsePageToken checks a page token against the request's bounds and
// returns the key the page starts at.
func parsePageToken(tok, start, end, prefix []byte) ([]byte, error) {
	if tok[0] != pageTokenVersion || len(tok) < 2 {
		return nil, invalidf("page_token", "not a page token of this server")
	}
	next := tok[1:]
	switch {
	case len(start) > 0 && bytes.Compare(next, start) < 0,
		len(end) > 0 && bytes.Compare(next, end) >= 0,
		len(prefix) > 0 && !bytes.HasPrefix(next, prefix):
		return nil, badRangef("page_token", "page token is outside the requested range; send the same start, end and prefix as for the first page")
	}
	return next, nil
}

// nilIfEmpty maps an empty bound (proto3 cannot tell unset from empty) to
// nil, which engine.ScanOptions reads as unbounded.
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
