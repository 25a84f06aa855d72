package keydir

import (
	"bytes"
	"errors"
	"fmt"
)

var (
	// ErrUnsorted is returned by Builder.Add when a key is not strictly
	// greater than the key added before it.
	ErrUnsorted = errors.New("keydir: keys not in strictly ascending order")
	// ErrKeyTooLarge is returned by Builder.Add for a key longer than
	// MaxKeyBytes (the keys come from disk, so this is bad data, not a bug).
	ErrKeyTooLarge = errors.New("keydir: key too large")
)

// Builder bulk-loads a Map from keys given in strictly ascending byte order,
// as the engine reads them from sorted hint files at startup. Each key is
// appended to the ordered view instead of searched for and inserted, and
// the hash table is built once, in Map, segment by segment, so loading n
// keys costs O(n) with few cache misses. A Builder is not safe for
// concurrent use.
type Builder struct {
	m     *Map
	done  bool // set by Map; Add is then a caller bug
	added int
	last  keyRef // key of the latest Add; valid when added > 0

	// buckets[s] lists hash<<32 | item index of every key added whose hash
	// has low bits s, for Map to index: grouped by segment of a directory
	// of depth, chosen from the size hint, so that Map need not sort them.
	// Invariant: len(buckets) == 1<<depth; their lengths sum to added
	// until Map, and buckets is nil after.
	buckets [][]uint64
	depth   uint
}

// buildFillPct is how full the Builder packs ordered blocks: full enough to
// keep the view small, with room for later Puts before a block splits.
const buildFillPct = 75

// maxPrealloc bounds the keys a size hint preallocates for (8 bytes a key,
// freed by Map): the engine's hint is an upper bound, and a wrong one must
// not cost gigabytes.
const maxPrealloc = 1 << 24

// NewBuilder returns a Builder for about sizeHint keys (0 if unknown). The
// hint sizes only scratch space: Map sizes the hash table for the keys
// actually added, so a high hint wastes no memory in the Map.
func NewBuilder(sizeHint int) *Builder { return newBuilder(sizeHint, defaultConfig()) }

func newBuilder(sizeHint int, c config) *Builder {
	n := min(max(sizeHint, 0), maxPrealloc)
	d := depthFor(n, c.maxSeg)
	// Room for a bucket's share and its binomial spread (about the square
	// root of the share, far below 1/16 of it when segments are full); a
	// bucket that overflows grows by append.
	per := n>>d + n>>d/16 + 16
	buf := make([]uint64, per<<d)
	b := &Builder{m: newBare(c), buckets: make([][]uint64, 1<<d), depth: d}
	for s := range b.buckets {
		b.buckets[s] = buf[s*per : s*per : (s+1)*per]
	}
	return b
}

// Add appends key with entry e. It returns ErrUnsorted, and adds nothing, if
// key is not greater than the previous key, and ErrKeyTooLarge if key is
// longer than MaxKeyBytes. The key bytes are copied. Add panics if called
// after Map.
func (b *Builder) Add(key []byte, e Entry) error {
	if b.done {
		panic("keydir: Builder.Add after Builder.Map")
	}
	m := b.m
	if len(key) > MaxKeyBytes {
		return fmt.Errorf("add key #%d of %d bytes: %w", b.added, len(key), ErrKeyTooLarge)
	}
	if b.added > 0 && bytes.Compare(m.arena.bytes(b.last), key) >= 0 {
		return fmt.Errorf("add key #%d: %w", b.added, ErrUnsorted)
	}
	h := m.hash(key)
	idx := m.add(key, e, h)
	b.last = m.slab.at(idx).ref()
	b.added++
	s := h & uint32(len(b.buckets)-1)
	b.buckets[s] = append(b.buckets[s], uint64(h)<<32|uint64(idx))

	o := &m.ord
	fill := max(1, o.maxBlock*buildFillPct/100)
	n := len(o.blocks)
	if n == 0 || len(o.blocks[n-1].items) >= fill {
		if n > 0 {
			m.tighten(&o.blocks[n-1])
		}
		o.blocks = append(o.blocks, block{items: make([]uint32, 0, fill), abbrevs: make([]uint16, 0, fill)})
		o.heads = append(o.heads, prefix(key))
		n++
	}
	last := &o.blocks[n-1]
	last.items = append(last.items, idx)
	last.abbrevs = append(last.abbrevs, abbrev(key, 0)) // cpl 0 until the block is full
	return nil
}

// Map returns the loaded Map and ends the build: later Puts and Deletes work
// on it as on any Map, and Add must not be called again. Calling Map again
// returns the same Map.
func (b *Builder) Map() *Map {
	m := b.m
	if b.done {
		return m
	}
	b.done = true
	d := depthFor(b.added, m.maxSeg)
	switch {
	case b.depth == d || b.depth == d+1:
		// The hint was right, or high by less than a factor of four:
		// segments are at most half the ideal size.
		m.buildTable(b.buckets, b.depth)
	case len(b.buckets) == 1:
		m.buildTable(partition(b.buckets[0], d), d)
	default:
		pairs := make([]uint64, 0, b.added)
		for _, bk := range b.buckets {
			pairs = append(pairs, bk...)
		}
		m.buildTable(partition(pairs, d), d)
	}
	b.buckets = nil
	// The last block was allocated for a full fill; give back what it does
	// not use, and give it its common prefix as Add did for the others.
	if n := len(m.ord.blocks); n > 0 {
		b := &m.ord.blocks[n-1]
		if cap(b.items) > len(b.items)+len(b.items)/8+4 {
			b.items = roomy(b.items)
			b.abbrevs = roomy(b.abbrevs)
		}
		m.tighten(b)
	}
	return m
}
