package engine

import (
	"bytes"
	"fmt"

	"github.com/caskade/caskade/engine/segment"
	"github.com/caskade/caskade/keydir"
)

// ScanOptions select a key range. Start is inclusive, End exclusive; nil
// means unbounded. Prefix, when set, restricts the range to keys with that
// prefix (Start and End may narrow it further).
type ScanOptions struct {
	Start, End []byte
	Prefix     []byte
	// Limit caps the number of items; 0 means no limit.
	Limit int
	// KeysOnly skips reading values (Item.Value is nil).
	KeysOnly bool
}

// ScanResult is one page of a scan.
type ScanResult struct {
	Items []Item
	// Next is where the following page starts (pass it as Start with the
	// same other options), or nil when the range is exhausted.
	Next []byte
}

// Scan returns live keys in byte order within the range, with their values
// unless KeysOnly. Its cost grows with the number of keys returned, not
// with the number stored. Expired keys are skipped.
func (db *DB) Scan(o ScanOptions) (ScanResult, error) {
	if db.closed.Load() {
		return ScanResult{}, ErrClosed
	}
	start, end, err := scanBounds(o)
	if err != nil {
		return ScanResult{}, err
	}
	if o.Limit < 0 {
		return ScanResult{}, fmt.Errorf("%w: negative limit %d", ErrBadRange, o.Limit)
	}
	var res ScanResult
	now := db.now()
	for {
		want := o.Limit - len(res.Items)
		if o.Limit == 0 {
			want = 1024
		}
		page, more := db.collect(start, end, want+1)
		for i := range page {
			if len(res.Items) == o.Limit && o.Limit > 0 {
				res.Next = page[i].key
				releaseAll(page[i:])
				return res, nil
			}
			it, live, err := db.materialize(&page[i], o.KeysOnly, now)
			if err != nil {
				releaseAll(page[i+1:])
				return ScanResult{}, err
			}
			if live {
				res.Items = append(res.Items, it)
			}
		}
		if !more {
			return res, nil
		}
		// Continue right after the last key collected.
		start = append(bytes.Clone(page[len(page)-1].key), 0)
	}
}

// scanBounds turns options into one [start, end) range.
func scanBounds(o ScanOptions) (start, end []byte, err error) {
	start, end = o.Start, o.End
	if len(o.Prefix) > 0 {
		if o.Start != nil && bytes.Compare(o.Start, o.Prefix) > 0 && !bytes.HasPrefix(o.Start, o.Prefix) {
			return nil, nil, fmt.Errorf("%w: start %q outside prefix %q", ErrBadRange, o.Start, o.Prefix)
		}
		if o.End != nil && bytes.Compare(o.End, o.Prefix) <= 0 {
			return nil, nil, fmt.Errorf("%w: end %q outside prefix %q", ErrBadRange, o.End, o.Prefix)
		}
		pe := prefixEnd(o.Prefix)
		if start == nil || bytes.Compare(start, o.Prefix) < 0 {
			start = o.Prefix
		}
		if end == nil || (pe != nil && bytes.Compare(end, pe) > 0) {
			end = pe
		}
	}
	if end != nil && start != nil && bytes.Compare(end, start) < 0 {
		if len(o.Prefix) > 0 {
			return nil, nil, fmt.Errorf("%w: start/end outside prefix %q", ErrBadRange, o.Prefix)
		}
		return nil, nil, fmt.Errorf("%w: end %q before start %q", ErrBadRange, o.End, o.Start)
	}
	return start, end, nil
}

// scanned is a keydir entry collected under the read lock, with its key
// copied and its segment referenced.
type scanned struct {
	key []byte
	e   keydir.Entry
	seg *segment.Segment
}

// collect copies up to n entries from [start, end) under the keydir read
// lock and acquires their segments. more reports that the range may hold
// further keys.
func (db *DB) collect(start, end []byte, n int) (page []scanned, more bool) {
	page = make([]scanned, 0, min(n, 1024))
	var keys []byte
	db.kd.RLock()
	db.kd.m.Ascend(start, end, func(k []byte, e keydir.Entry) bool {
		if len(page) == n {
			more = true
			return false
		}
		s, ok := db.log.Acquire(e.Seg)
		if !ok {
			return true // cannot happen under the lock; skip rather than crash
		}
		keys = append(keys, k...)
		page = append(page, scanned{key: keys[len(keys)-len(k):], e: e, seg: s})
		return true
	})
	db.kd.RUnlock()
	// keys may have moved while growing: point each key at its final copy.
	pos := 0
	for i := range page {
		l := len(page[i].key)
		page[i].key = keys[pos : pos+l : pos+l]
		pos += l
	}
	return page, more
}

// materialize reads one collected entry (its value unless keysOnly),
// releases its segment, and reports whether it is live at now.
func (db *DB) materialize(p *scanned, keysOnly bool, now int64) (Item, bool, error) {
	defer p.seg.Release()
	it := Item{Key: p.key, Offset: p.e.Offset}
	if keysOnly {
		if p.e.Flags&uint8(segment.FlagExpiry) != 0 {
			h, err := p.seg.ReadHeader(int64(p.e.Pos))
			if err != nil {
				return Item{}, false, err
			}
			if h.Expiry <= now {
				return Item{}, false, nil
			}
			it.Timestamp, it.Expiry = h.Timestamp, h.Expiry
		}
		return it, true, nil
	}
	r, val, err := p.seg.ReadValue(int64(p.e.Pos), nil)
	if err != nil {
		return Item{}, false, err
	}
	if r.Expired(now) {
		return Item{}, false, nil
	}
	if val == nil {
		val = []byte{}
	}
	it.Value, it.Timestamp, it.Expiry = val, r.Timestamp, r.Expiry
	return it, true, nil
}

func releaseAll(page []scanned) {
	for i := range page {
		page[i].seg.Release()
	}
}
