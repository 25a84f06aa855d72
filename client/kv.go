package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// PutOption configures Put.
type PutOption func(*caskadev1.PutRequest)

// WithTTL makes the key read as absent from ttl after the server accepts
// the write (the server fixes the absolute expiry). ttl must be positive.
func WithTTL(ttl time.Duration) PutOption {
	return func(r *caskadev1.PutRequest) { r.Ttl = durationpb.New(ttl) }
}

// ReadOption configures a read (Get, Consume).
type ReadOption func(*readConfig)

// readConfig is what the ReadOptions of one read set.
type readConfig struct {
	consistency Consistency
}

// WithConsistency sets the consistency level of a read.
func WithConsistency(c Consistency) ReadOption {
	return func(r *readConfig) { r.consistency = c }
}

// Stale lets any replica answer from its local state: fastest, and
// possibly behind the leader. Same as WithConsistency(ConsistencyStale).
func Stale() ReadOption { return WithConsistency(ConsistencyStale) }

func readOptions(opts []ReadOption) readConfig {
	var rc readConfig
	for _, o := range opts {
		o(&rc)
	}
	return rc
}

// Put stores value under key and returns the offset of the new record.
// When it returns nil the write is acknowledged: durable as the server's
// sync mode promises.
func (c *Client) Put(ctx context.Context, key, value []byte, opts ...PutOption) (uint64, error) {
	if err := c.check("put"); err != nil {
		return 0, err
	}
	req := &caskadev1.PutRequest{Key: key, Value: value}
	for _, o := range opts {
		o(req)
	}
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.kv.Put(ctx, req)
	if err != nil {
		return 0, c.wrap("put", err)
	}
	return resp.GetOffset(), nil
}

// Get returns key's live value, or an error matching ErrNotFound.
func (c *Client) Get(ctx context.Context, key []byte, opts ...ReadOption) (Item, error) {
	if err := c.check("get"); err != nil {
		return Item{}, err
	}
	rc := readOptions(opts)
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.kv.Get(withConsistency(ctx, rc.consistency), &caskadev1.GetRequest{Key: key, Consistency: rc.consistency.proto()})
	if err != nil {
		return Item{}, c.wrap("get", err)
	}
	if resp.GetItem() == nil {
		return Item{}, fmt.Errorf("get: %w: answer without an item", ErrInternal)
	}
	return itemFromProto(resp.GetItem(), false), nil
}

// Delete writes a tombstone for key and returns its offset. A key with no
// live value gets an error matching ErrNotFound, and nothing is written.
func (c *Client) Delete(ctx context.Context, key []byte) (uint64, error) {
	if err := c.check("delete"); err != nil {
		return 0, err
	}
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.kv.Delete(ctx, &caskadev1.DeleteRequest{Key: key})
	if err != nil {
		return 0, c.wrap("delete", err)
	}
	return resp.GetOffset(), nil
}

// CompareAndSwap stores value under key only if the key's current record
// is at expected (0: the key must be absent), and returns the new offset.
// Otherwise it returns a *CASError (errors.Is ErrCASMismatch) with the
// key's current offset, and writes nothing.
func (c *Client) CompareAndSwap(ctx context.Context, key []byte, expected uint64, value []byte) (uint64, error) {
	if err := c.check("compare-and-swap"); err != nil {
		return 0, err
	}
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.kv.CompareAndSwap(ctx, &caskadev1.CompareAndSwapRequest{Key: key, ExpectedOffset: expected, Value: value})
	if err != nil {
		err = c.wrap("compare-and-swap", err)
		var ce *CASError
		if errors.As(err, &ce) {
			ce.Expected = expected
		}
		return 0, err
	}
	return resp.GetOffset(), nil
}

// ScanOptions select the keys of a Scan. Start is inclusive, End
// exclusive; nil means unbounded. Prefix, when set, restricts the range to
// keys with that prefix (Start and End may narrow it further).
type ScanOptions struct {
	Start, End []byte
	Prefix     []byte
	// Limit caps the items of one page; 0 means the server's default.
	// The server may return fewer (it caps pages by count and size).
	Limit int
	// KeysOnly returns keys and offsets without values (Item.Value nil).
	KeysOnly bool
	// PageToken continues a scan: the NextPageToken of the previous page,
	// with the same Start, End and Prefix.
	PageToken []byte
	// Consistency of the read.
	Consistency Consistency
}

// ScanPage is one page of a scan.
type ScanPage struct {
	Items []Item
	// NextPageToken continues the scan (as ScanOptions.PageToken); nil
	// when the range is exhausted.
	NextPageToken []byte
}

// Scan returns one page of live keys in byte order.
func (c *Client) Scan(ctx context.Context, o ScanOptions) (ScanPage, error) {
	if err := c.check("scan"); err != nil {
		return ScanPage{}, err
	}
	if o.Limit < 0 || int64(o.Limit) > 1<<32-1 {
		return ScanPage{}, fmt.Errorf("scan: %w: limit %d", ErrInvalidArgument, o.Limit)
	}
	ctx, cancel := c.unary(ctx)
	defer cancel()
	resp, err := c.kv.Scan(withConsistency(ctx, o.Consistency), &caskadev1.ScanRequest{
		Start:       o.Start,
		End:         o.End,
		Prefix:      o.Prefix,
		Limit:       uint32(o.Limit),
		KeysOnly:    o.KeysOnly,
		PageToken:   o.PageToken,
		Consistency: o.Consistency.proto(),
	})
	if err != nil {
		return ScanPage{}, c.wrap("scan", err)
	}
	page := ScanPage{Items: make([]Item, len(resp.GetItems()))}
	for i, it := range resp.GetItems() {
		page.Items[i] = itemFromProto(it, o.KeysOnly)
	}
	if len(resp.GetNextPageToken()) > 0 {
		page.NextPageToken = resp.GetNextPageToken()
	}
	return page, nil
}

// ScanAll returns the items of the whole range, page after page (each of
// at most o.Limit items), following the continuation tokens from
// o.PageToken on. Each page is one call bounded by the Client's timeout.
// The sequence ends after the first error, which it yields.
func (c *Client) ScanAll(ctx context.Context, o ScanOptions) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for {
			page, err := c.Scan(ctx, o)
			if err != nil {
				yield(Item{}, err)
				return
			}
			for _, it := range page.Items {
				if !yield(it, nil) {
					return
				}
			}
			if page.NextPageToken == nil {
				return
			}
			if bytes.Equal(page.NextPageToken, o.PageToken) {
				yield(Item{}, fmt.Errorf("scan: %w: the server repeated a page token", ErrInternal))
				return
			}
			o.PageToken = page.NextPageToken
		}
	}
}
