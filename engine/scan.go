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

// scanPage is how many keys a scan collects under one hold of the keydir
// lock when no limit bounds it.
const scanPage = 1024

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
		want := scanPage
		if o.Limit > 0 {
			want = o.Limit - len(res.Items)
		}
		// One more than wanted tells whether the range goes on.
		p := db.collect(start, end, want+1)
		if p.gone {
			p.release()
			if db.closed.Load() {
				return ScanResult{}, ErrClosed
			}
			return ScanResult{}, fmt.Errorf("%w: a segment of the keydir is gone", ErrCorrupt)
		}
		items, err := p.read(o.KeysOnly, now, min(want, len(p.entries)))
		p.release()
		if err != nil {
			return ScanResult{}, err
		}
		res.Items = append(res.Items, items...)
		if len(p.entries) <= want {
			return res, nil // the range is exhausted
		}
		last := p.entries[want-1].key
		if o.Limit > 0 && len(res.Items) == o.Limit {
			res.Next = p.entries[want].key
			return res, nil
		}
		// Expired keys were skipped: go on right after the last key read.
		start = append(bytes.Clone(last), 0)
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

// page is what one hold of the keydir lock collected: entries in key
// order and a reference on each distinct segment they point into.
type page struct {
	entries []scanned
	held    []*segment.Segment
	sink    byte // keeps the compiler from dropping the touch loads
	gone    bool // a segment could not be referenced (the DB was closed)
}

// collect copies up to n entries from [start, end) under the keydir read
// lock and takes a reference on each segment they use.
func (db *DB) collect(start, end []byte, n int) *page {
	p := &page{entries: make([]scanned, 0, min(n, scanPage+1))}
	var keys []byte
	db.kd.RLock()
	db.kd.m.Ascend(start, end, func(k []byte, e keydir.Entry) bool {
		if len(p.entries) == n {
			return false
		}
		s := p.segment(db.log, e.Seg)
		if s == nil {
			// Only after Close: under the lock no compaction retires a
			// segment the keydir points into.
			p.gone = true
			return false
		}
		keys = append(keys, k...)
		p.entries = append(p.entries, scanned{key: k, e: e, seg: s})
		return true
	})
	db.kd.RUnlock()
	// Point each key at its copy (keys may have moved while growing).
	pos := 0
	for i := range p.entries {
		l := len(p.entries[i].key)
		p.entries[i].key = keys[pos : pos+l : pos+l]
		pos += l
	}
	return p
}

// segment returns the page's reference on segment id, taking it on first
// use. A scan touches few segments, so a linear search is cheapest.
func (p *page) segment(l *segment.Log, id uint32) *segment.Segment {
	for _, s := range p.held {
		if s.ID() == id {
			return s
		}
	}
	s, ok := l.Acquire(id)
	if !ok {
		return nil
	}
	p.held = append(p.held, s)
	return s
}

func (p *page) release() {
	for _, s := range p.held {
		s.Release()
	}
	p.held = nil
}

// read turns the first n collected entries into items, skipping those
// expired at now. Values share one allocation.
func (p *page) read(keysOnly bool, now int64, n int) ([]Item, error) {
	ents := p.entries[:n]
	items := make([]Item, 0, n)
	if keysOnly {
		for i := range ents {
			it := Item{Key: ents[i].key, Offset: ents[i].e.Offset}
			if ents[i].e.Flags&uint8(segment.FlagExpiry) != 0 {
				h, err := ents[i].seg.ReadHeader(int64(ents[i].e.Pos))
				if err != nil {
					return nil, err
				}
				if h.Expiry <= now {
					continue
				}
				it.Timestamp, it.Expiry = h.Timestamp, h.Expiry
			}
			items = append(items, it)
		}
		return items, nil
	}
	// Touch every record first: the loads are independent, so their
	// misses overlap instead of being paid one after another.
	var sink byte
	total := 0
	for i := range ents {
		sink ^= ents[i].seg.Touch(int64(ents[i].e.Pos))
		total += int(ents[i].e.Size)
	}
	p.sink = sink
	// Records are copied whole (then verified) into one buffer; values
	// are slices of it.
	buf := make([]byte, 0, total)
	for i := range ents {
		r, out, err := ents[i].seg.ReadValue(int64(ents[i].e.Pos), buf)
		if err != nil {
			return nil, err
		}
		buf = out
		if r.Expired(now) {
			continue
		}
		items = append(items, Item{
			Key: ents[i].key, Value: r.Value[:len(r.Value):len(r.Value)],
			Offset: r.Offset, Timestamp: r.Timestamp, Expiry: r.Expiry,
		})
	}
	return items, nil
}
