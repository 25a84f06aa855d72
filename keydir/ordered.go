package keydir

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// The ordered view: keys in byte order, as a list of sorted blocks of item
// indices, after Python's SortedList. A search is a binary search over the
// block heads, then one inside a block; an insert or a delete moves at most
// one block's worth of entries, plus the list of blocks on a split or a drop.
//
// Comparing with a stored key costs two cache misses (item, then arena), and
// a binary search over a block of ~700 keys makes ten of them, one after the
// other. So both levels first compare short abbreviations kept in arrays of
// their own and dereference an item only when those tie:
//
//   - heads holds the first 8 bytes of each block's first key;
//   - each block keeps cpl, a length of prefix all its keys share, and for
//     every key the 2 bytes that follow that prefix (its "abbrev"). Within a
//     block, abbrevs order keys as the keys do, and once the block is narrow
//     enough to have a long common prefix they tell most keys apart.
//
// The abbrevs cost 2 bytes per key; they are recomputed (one pass over the
// block's keys, whose misses overlap) when a split or merge changes a block's
// common prefix, or when an insert does not share it. Each key takes part in
// a few such passes over its life; only keys crafted to shrink a block's
// prefix one byte per insert make every insert pay a pass, which bounds an
// insert at O(maxBlock), as the block's memmove already does.
//
// Blocks are sized to their contents (grown by 1/8, shrunk when mostly
// empty) rather than preallocated at the maximum, because the view's bytes
// per key count against the memory budget.
type ordered struct {
	// Invariant: every block holds 1 to maxBlock keys; their concatenation
	// lists every live item once, in strictly ascending key order.
	blocks []block
	// Invariant: len(heads) == len(blocks) and heads[i] == prefix(key of
	// blocks[i].items[0]).
	heads    []uint64
	maxBlock int // Invariant: maxBlock >= 4 (tests shrink it to force splits)
}

type block struct {
	items []uint32 // item indices in ascending key order
	// Invariant: len(abbrevs) == len(items) and abbrevs[j] ==
	// abbrev(key of items[j], cpl).
	abbrevs []uint16
	// Invariant: all keys in the block have the same first cpl bytes.
	// It may be shorter than their longest common prefix (then abbrevs
	// tie more often, which costs time, not correctness).
	cpl int
}

// prefix is the first 8 bytes of key, big-endian, zero-padded. If
// prefix(a) < prefix(b) then a < b; equal prefixes decide nothing.
func prefix(key []byte) uint64 {
	if len(key) >= 8 {
		return binary.BigEndian.Uint64(key)
	}
	var b [8]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:])
}

// abbrev is the 2 bytes of key after its first c, big-endian, zero-padded.
// For keys sharing their first c bytes, abbrev(a, c) < abbrev(b, c) implies
// a < b; equal abbrevs decide nothing.
func abbrev(key []byte, c int) uint16 {
	var v uint16
	if c < len(key) {
		v = uint16(key[c]) << 8
		if c+1 < len(key) {
			v |= uint16(key[c+1])
		}
	}
	return v
}

// lcp is the length of the longest common prefix of a and b.
func lcp(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func (m *Map) keyOf(idx uint32) []byte { return m.arena.bytes(m.slab.at(idx).ref()) }

// seek finds the first position whose key is >= key: block bi and index j
// in it, where j may be len(blocks[bi].items) (the position is then the
// start of block bi+1). shares reports whether key has the block's common
// prefix. It needs at least one block. It writes nothing.
func (m *Map) seek(key []byte) (bi, j int, shares bool) {
	o := &m.ord
	p := prefix(key)
	// bi is the last block whose head is <= key, or 0.
	lo, hi := 0, len(o.heads) // the first block with head > key is in [lo, hi]
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		var greater bool
		if hp := o.heads[mid]; hp != p {
			greater = hp > p
		} else {
			greater = bytes.Compare(m.keyOf(o.blocks[mid].items[0]), key) > 0
		}
		if greater {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	bi = max(lo-1, 0)
	j, shares = m.seekBlock(bi, key)
	return bi, j, shares
}

// seekBlock is seek inside block bi.
func (m *Map) seekBlock(bi int, key []byte) (j int, shares bool) {
	b := &m.ord.blocks[bi]
	c := b.cpl
	if c > 0 {
		var common []byte
		if c <= 8 {
			var hb [8]byte
			binary.BigEndian.PutUint64(hb[:], m.ord.heads[bi])
			common = hb[:c]
		} else {
			common = m.keyOf(b.items[0])[:c]
		}
		switch cmp := bytes.Compare(key[:min(c, len(key))], common); {
		case cmp < 0:
			return 0, false
		case cmp > 0:
			return len(b.items), false
		}
	}
	// Narrow to the run of keys whose abbrev equals key's, then compare
	// whole keys inside that run only.
	a := abbrev(key, c)
	ab := b.abbrevs
	lo, hi := 0, len(ab)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ab[mid] < a {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	end := len(ab)
	for l := lo; l < end; {
		mid := int(uint(l+end) >> 1)
		if ab[mid] <= a {
			l = mid + 1
		} else {
			end = mid
		}
	}
	for lo < end {
		mid := int(uint(lo+end) >> 1)
		if bytes.Compare(m.keyOf(b.items[mid]), key) < 0 {
			lo = mid + 1
		} else {
			end = mid
		}
	}
	return lo, true
}

// reabbrev sets the block's common prefix length to c and recomputes the
// abbrevs.
func (m *Map) reabbrev(b *block, c int) {
	b.cpl = c
	for j, idx := range b.items {
		b.abbrevs[j] = abbrev(m.keyOf(idx), c)
	}
}

// tighten raises the block's common prefix length to the longest its keys
// share, if that is longer, so that its abbrevs tell keys apart again.
func (m *Map) tighten(b *block) {
	if c := lcp(m.keyOf(b.items[0]), m.keyOf(b.items[len(b.items)-1])); c > b.cpl {
		m.reabbrev(b, c)
	}
}

// roomy returns s's contents in a new slice with 1/8 spare room: not
// append's 25% or more, since the slack is memory per key, and copying a
// block of at most 4 KiB is cheap.
func roomy[T uint16 | uint32](s []T) []T {
	return append(make([]T, 0, len(s)+len(s)/8+4), s...)
}

// ordInsert adds idx, whose key is key and is not in the view yet.
func (m *Map) ordInsert(idx uint32, key []byte) {
	o := &m.ord
	if len(o.blocks) == 0 {
		o.blocks = append(o.blocks, block{items: []uint32{idx}, abbrevs: []uint16{abbrev(key, 0)}})
		o.heads = append(o.heads, prefix(key))
		return
	}
	bi, j, shares := m.seek(key)
	if len(o.blocks[bi].items) >= o.maxBlock {
		m.split(bi)
		bi, j, shares = m.seek(key)
	}
	b := &o.blocks[bi]
	if !shares {
		// key lies before or after every key of the block and differs
		// inside the common prefix: shorten the prefix to what they share.
		m.reabbrev(b, lcp(key, m.keyOf(b.items[0])))
	}
	if len(b.items) == cap(b.items) {
		b.items = roomy(b.items)
	}
	if len(b.abbrevs) == cap(b.abbrevs) {
		b.abbrevs = roomy(b.abbrevs)
	}
	b.items = slices.Insert(b.items, j, idx)
	b.abbrevs = slices.Insert(b.abbrevs, j, abbrev(key, b.cpl))
	if j == 0 {
		o.heads[bi] = prefix(key)
	}
}

// split divides the full block bi into two halves, each with room to grow
// and its own, possibly longer, common prefix.
func (m *Map) split(bi int) {
	o := &m.ord
	b := o.blocks[bi]
	half := len(b.items) / 2
	left := block{items: roomy(b.items[:half]), abbrevs: roomy(b.abbrevs[:half]), cpl: b.cpl}
	right := block{items: roomy(b.items[half:]), abbrevs: roomy(b.abbrevs[half:]), cpl: b.cpl}
	m.tighten(&left)
	m.tighten(&right)
	o.blocks[bi] = left
	o.blocks = slices.Insert(o.blocks, bi+1, right)
	o.heads = slices.Insert(o.heads, bi+1, prefix(m.keyOf(right.items[0])))
}

// ordDelete removes idx, whose key is key, from the view.
func (m *Map) ordDelete(idx uint32, key []byte) {
	o := &m.ord
	bi, j, _ := m.seek(key)
	b := &o.blocks[bi]
	if j == len(b.items) || b.items[j] != idx {
		panic("keydir: invariant: ordered view lost a key")
	}
	b.items = slices.Delete(b.items, j, j+1)
	b.abbrevs = slices.Delete(b.abbrevs, j, j+1)
	n := len(b.items)
	switch {
	case n == 0:
		o.blocks = slices.Delete(o.blocks, bi, bi+1)
		o.heads = slices.Delete(o.heads, bi, bi+1)
		o.clip()
		return
	case cap(b.items) > 2*n+8:
		// Give back memory that deletes freed, keeping room to grow.
		b.items = roomy(b.items)
		b.abbrevs = roomy(b.abbrevs)
	}
	if j == 0 {
		o.heads[bi] = prefix(m.keyOf(b.items[0]))
	}
	m.maybeMerge(bi)
}

// maybeMerge joins block bi with a neighbour when it has become small and
// the two fit in half a block, so that deletes cannot leave a long tail of
// tiny blocks (each costs a block header and a head).
func (m *Map) maybeMerge(bi int) {
	o := &m.ord
	if len(o.blocks[bi].items) >= o.maxBlock/4 || len(o.blocks) < 2 {
		return
	}
	left := bi
	if bi == len(o.blocks)-1 {
		left = bi - 1
	} else if bi > 0 && len(o.blocks[bi-1].items) < len(o.blocks[bi+1].items) {
		left = bi - 1
	}
	a, b := &o.blocks[left], &o.blocks[left+1]
	n := len(a.items) + len(b.items)
	if n > o.maxBlock/2 {
		return
	}
	merged := block{
		items:   append(append(make([]uint32, 0, n+n/8+4), a.items...), b.items...),
		abbrevs: append(append(make([]uint16, 0, n+n/8+4), a.abbrevs...), b.abbrevs...),
		cpl:     a.cpl,
	}
	// The halves' abbrevs agree only if they were taken after the same
	// prefix length, and that length must be shared by all the keys.
	if c := lcp(m.keyOf(merged.items[0]), m.keyOf(merged.items[n-1])); c != a.cpl || c != b.cpl {
		m.reabbrev(&merged, c)
	}
	o.blocks[left] = merged
	o.blocks = slices.Delete(o.blocks, left+1, left+2)
	o.heads = slices.Delete(o.heads, left+1, left+2)
	o.clip()
}

// clip gives back the block list's spare capacity once it is mostly unused.
func (o *ordered) clip() {
	if cap(o.blocks) > 2*len(o.blocks)+8 {
		o.blocks = append(make([]block, 0, len(o.blocks)), o.blocks...)
		o.heads = append(make([]uint64, 0, len(o.heads)), o.heads...)
	}
}

// heapBytes is the memory the view holds, including unused capacity.
func (o *ordered) heapBytes() int64 {
	const blockBytes = 56 // two slice headers and an int
	n := int64(cap(o.blocks))*blockBytes + int64(cap(o.heads))*8
	for _, b := range o.blocks {
		n += int64(cap(b.items))*4 + int64(cap(b.abbrevs))*2
	}
	return n
}
