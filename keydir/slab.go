package keydir

// Entry is where a key's latest record lives.
type Entry struct {
	Offset uint64 // the record's offset in the log (unique, never 0 for a stored entry)
	Seg    uint32 // id of the segment holding the record (assigned by the engine; not persisted)
	Pos    uint32 // byte position of the record inside that segment's .log file
	Size   uint32 // encoded size of the record in bytes
	Flags  uint8  // the record's flags byte (e.g. bit 1 = has an expiry time)
}

// item is one slot of the slab: an Entry, the key's arena reference and the
// key's hash, packed into 32 bytes with no pointers (see doc.go for the
// layout). A test pins its size.
type item struct {
	offset   uint64
	keyFlags uint64 // keyRef<<8 | flags
	seg      uint32 // for a free item: index of the next free item (0 ends the list)
	pos      uint32
	size     uint32
	hash     uint32 // Invariant: hash == Map.hash(key) for a live item
}

func (it *item) ref() keyRef { return keyRef(it.keyFlags >> 8) }

func (it *item) setRef(r keyRef) { it.keyFlags = uint64(r)<<8 | it.keyFlags&0xff }

func (it *item) entry() Entry {
	return Entry{Offset: it.offset, Seg: it.seg, Pos: it.pos, Size: it.size, Flags: uint8(it.keyFlags)}
}

// setEntry overwrites the entry fields and keeps the key and the hash.
func (it *item) setEntry(e Entry) {
	it.offset = e.Offset
	it.keyFlags = it.keyFlags&^0xff | uint64(e.Flags)
	it.seg = e.Seg
	it.pos = e.Pos
	it.size = e.Size
}

// slab holds items in chunks of 1<<shift, addressed by a uint32 index:
// chunk<<shift | position in chunk. Full chunks never move; only the last
// one grows by copying while it is below full size. Index 0 is reserved so
// that the hash table can use 0 for an empty slot.
//
// Freed items are reused but the slab never shrinks: a store whose key
// count falls for good keeps its peak item memory (as a Go map does).
type slab struct {
	// Invariant: len(chunks[i]) == 1<<shift for every i but the last,
	// and chunks[0][0] is never handed out.
	chunks [][]item
	shift  uint

	free  uint32 // head of the free list, chained through item.seg; 0 = empty
	nfree int    // Invariant: nfree == length of the free list
}

// firstSlabItems is the first chunk's starting size, grown by growCap up to
// a full chunk, so a small Map does not pay for a whole chunk.
const firstSlabItems = 64

func (s *slab) at(idx uint32) *item {
	return &s.chunks[idx>>s.shift][idx&(1<<s.shift-1)]
}

// alloc returns the index of an unused item. Pointers from at() are
// invalidated by alloc, which may move the last chunk.
func (s *slab) alloc() uint32 {
	if s.free != 0 {
		idx := s.free
		it := s.at(idx)
		s.free = it.seg
		s.nfree--
		*it = item{}
		return idx
	}
	size := 1 << s.shift
	last := len(s.chunks) - 1
	if last < 0 || len(s.chunks[last]) == size {
		if uint64(last+1)<<s.shift >= 1<<32 {
			panic("keydir: more than 2^32-1 keys")
		}
		c := size
		if last < 0 {
			c = min(size, firstSlabItems)
		}
		s.chunks = append(s.chunks, make([]item, 0, c))
		last++
		if last == 0 {
			s.chunks[0] = s.chunks[0][:1] // reserve index 0
		}
	}
	if c := s.chunks[last]; len(c) == cap(c) {
		grown := make([]item, len(c), growCap(cap(c), len(c)+1, size))
		copy(grown, c)
		s.chunks[last] = grown
	}
	idx := uint32(last)<<s.shift | uint32(len(s.chunks[last]))
	// Appending in place lets the compiler store only the length: no
	// write barrier per item while the GC runs.
	s.chunks[last] = append(s.chunks[last], item{})
	return idx
}

// release puts idx on the free list.
func (s *slab) release(idx uint32) {
	it := s.at(idx)
	*it = item{seg: s.free}
	s.free = idx
	s.nfree++
}

// heapBytes is the memory the slab holds, including unused capacity.
func (s *slab) heapBytes() int64 {
	n := int64(cap(s.chunks)) * 24
	for _, c := range s.chunks {
		n += int64(cap(c)) * 32
	}
	return n
}
