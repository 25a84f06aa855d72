package engine

import (
	"bytes"
	"container/heap"
	"fmt"

	"github.com/caskade/caskade/engine/segment"
	"github.com/caskade/caskade/keydir"
)

// loadKeydir builds the keydir at startup. Hint files are sorted by key,
// so the longest run of segments (from the oldest) that have valid hints
// is k-way merged into one sorted stream and bulk-loaded with no sorting
// and no per-key tree insert; only the segments after that run (normally
// just the newest, after a crash) are scanned record by record.
func loadKeydir(l *segment.Log, now int64) (*loaded, error) {
	segs := l.Segments()
	defer func() {
		for _, s := range segs {
			s.Release()
		}
	}()
	// total bounds the number of keys (hint files may share keys), so the
	// keydir's tables are sized once.
	run := 0
	total := 0
	for run < len(segs) && segs[run].Hints() != nil {
		total += segs[run].Hints().Len()
		run++
	}
	ld := &loaded{acct: make(map[uint32]*segAcct)}
	m, err := mergeHints(segs[:run], now, total, ld)
	if err != nil {
		return nil, err
	}
	ld.m = m
	for _, s := range segs {
		s.DropHints() // the scanned ones may have loaded hints too
	}
	for _, s := range segs[run:] {
		err := s.Scan(0, func(r *segment.Record, pos int64) error {
			if len(r.Key) == 0 {
				return nil
			}
			ld.note(s.ID(), r.Flags, int64(r.Size()), r.Expiry)
			if r.Tombstone() || r.Expired(now) {
				m.Delete(r.Key)
				return nil
			}
			m.Put(r.Key, keydir.Entry{Offset: r.Offset, Seg: s.ID(), Pos: uint32(pos), Size: uint32(r.Size()), Flags: uint8(r.Flags)})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan segment %d: %w", s.Base(), err)
		}
	}
	return ld, nil
}

// loaded is what loadKeydir builds: the keydir, and per segment the
// tombstone bytes and earliest expiry it saw (live bytes are counted from
// the keydir afterwards).
type loaded struct {
	m    *keydir.Map
	acct map[uint32]*segAcct
}

// note accounts for one keyed record (or hint entry) of segment seg.
func (ld *loaded) note(seg uint32, flags segment.Flags, size, expiry int64) {
	a := ld.acct[seg]
	if a == nil {
		a = &segAcct{}
		ld.acct[seg] = a
	}
	if flags&segment.FlagTombstone != 0 {
		a.tomb += size
	}
	if flags&segment.FlagExpiry != 0 {
		a.expiring(expiry)
	}
}

// hintCursor is one segment's position in the merge.
type hintCursor struct {
	it  *segment.HintIter
	seg *segment.Segment
	age int // index of the segment: higher is newer
}

// hintHeap orders cursors by key, newest segment first among equal keys.
type hintHeap []*hintCursor

func (h hintHeap) Len() int { return len(h) }
func (h hintHeap) Less(i, j int) bool {
	if c := bytes.Compare(h[i].it.Entry().Key, h[j].it.Entry().Key); c != 0 {
		return c < 0
	}
	return h[i].age > h[j].age
}
func (h hintHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *hintHeap) Push(x any)   { *h = append(*h, x.(*hintCursor)) }
func (h *hintHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// mergeHints merges the sorted hint files of segs; for each key the
// newest segment's entry wins, and a winning tombstone or expired record
// leaves the key out.
func mergeHints(segs []*segment.Segment, now int64, sizeHint int, ld *loaded) (*keydir.Map, error) {
	b := keydir.NewBuilder(sizeHint)
	h := make(hintHeap, 0, len(segs))
	for i, s := range segs {
		it := s.Hints().Iter()
		if it.Next() {
			h = append(h, &hintCursor{it: it, seg: s, age: i})
		}
	}
	heap.Init(&h)
	var last []byte
	for len(h) > 0 {
		c := h[0]
		e := c.it.Entry()
		ld.note(c.seg.ID(), e.Flags, int64(e.Size), e.Expiry)
		if last == nil || !bytes.Equal(e.Key, last) {
			last = append(last[:0], e.Key...)
			if e.Flags&segment.FlagTombstone == 0 && !(e.Flags&segment.FlagExpiry != 0 && e.Expiry <= now) {
				err := b.Add(e.Key, keydir.Entry{Offset: e.Offset, Seg: c.seg.ID(), Pos: e.Position, Size: e.Size, Flags: uint8(e.Flags)})
				if err != nil {
					return nil, fmt.Errorf("%w: hints of segment %d: %w", ErrCorrupt, c.seg.Base(), err)
				}
			}
		}
		if c.it.Next() {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return b.Map(), nil
}
