package keydir

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"unsafe"
)

// Map is the keydir: a hash index from key to Entry plus an ordered view of
// the keys. The zero value is not usable; call New or NewBuilder.
//
// A Map is not safe for concurrent use: callers serialize Put, Delete and
// Relocate against everything else; Get, Ascend, Len and HeapBytes never
// write and may run concurrently with one another (see doc.go).
type Map struct {
	// seed is drawn at random per Map so that clients choosing keys cannot
	// aim them at one home slot (hash flooding); hashes are never persisted.
	seed     maphash.Seed
	hashMask uint32 // all ones; tests clear bits to force collisions

	// Invariant: slots holds each live item index exactly once, in Robin
	// Hood order (see table.go), and count*100 <= len(slots)*maxLoadPct
	// with at least one empty slot.
	slots []uint32
	count int // Invariant: count == live items == indices in ord

	slab  slab
	arena arena
	ord   ordered

	minGarbage int64 // dead arena bytes below which no rewrite happens
}

// config holds the sizes tests shrink to reach edge cases with few keys.
type config struct {
	arenaShift uint  // arena chunk = 1<<arenaShift bytes
	slabShift  uint  // slab chunk = 1<<slabShift items
	maxBlock   int   // most item indices in one ordered block
	minGarbage int64 // dead arena bytes needed before a rewrite
	hashMask   uint32
}

func defaultConfig() config {
	return config{
		arenaShift: 20, // 1 MiB: big enough that a 64 KiB key wastes little at a chunk end
		slabShift:  15, // 32768 items = 1 MiB
		maxBlock:   1024,
		minGarbage: 1 << 20,
		hashMask:   ^uint32(0),
	}
}

// New returns an empty Map sized for about sizeHint keys (0 if unknown).
func New(sizeHint int) *Map { return newMap(sizeHint, defaultConfig()) }

func newMap(sizeHint int, c config) *Map {
	m := &Map{
		seed:       maphash.MakeSeed(),
		hashMask:   c.hashMask,
		slab:       slab{shift: c.slabShift},
		arena:      arena{shift: c.arenaShift},
		ord:        ordered{maxBlock: c.maxBlock},
		minGarbage: c.minGarbage,
	}
	if sizeHint > 0 {
		// Size for the hint at a load between target and maximum, so that
		// loading exactly sizeHint keys neither resizes nor sits at the
		// target load with a third of the table empty.
		m.slots = make([]uint32, max(minSlots, sizeHint*100/((targetLoadPct+maxLoadPct)/2)))
	}
	return m
}

func (m *Map) hash(key []byte) uint32 {
	return uint32(maphash.Bytes(m.seed, key)) & m.hashMask
}

// Len returns the number of keys in the map.
func (m *Map) Len() int { return m.count }

// Get returns the entry of key and whether the key is present.
func (m *Map) Get(key []byte) (Entry, bool) {
	_, idx := m.find(key, m.hash(key))
	if idx == 0 {
		return Entry{}, false
	}
	return m.slab.at(idx).entry(), true
}

// Put inserts or replaces the entry of key and returns the previous entry,
// if any. The key bytes are copied; the caller may reuse key. Replacing an
// entry keeps the stored key and costs no memory. Put panics if key is
// longer than MaxKeyBytes: the engine refuses such keys before they get here.
func (m *Map) Put(key []byte, e Entry) (old Entry, replaced bool) {
	if len(key) > MaxKeyBytes {
		panic(fmt.Sprintf("keydir: Put of a %d-byte key; keys are at most %d bytes", len(key), MaxKeyBytes))
	}
	h := m.hash(key)
	if _, idx := m.find(key, h); idx != 0 {
		it := m.slab.at(idx)
		old = it.entry()
		it.setEntry(e)
		return old, true
	}
	m.ordInsert(m.add(key, e, h), key)
	return Entry{}, false
}

// add stores a key known to be absent in the arena, slab and hash table
// (not in the ordered view) and returns its item index.
func (m *Map) add(key []byte, e Entry, h uint32) uint32 {
	m.growFor(m.count + 1)
	idx := m.slab.alloc()
	it := m.slab.at(idx)
	*it = item{hash: h, keyFlags: uint64(m.arena.add(key)) << 8}
	it.setEntry(e)
	m.tableInsert(idx, h)
	m.count++
	return idx
}

// Delete removes key and returns its entry, if it was present.
func (m *Map) Delete(key []byte) (old Entry, deleted bool) {
	s, idx := m.find(key, m.hash(key))
	if idx == 0 {
		return Entry{}, false
	}
	it := m.slab.at(idx)
	old = it.entry()
	m.arena.release(it.ref())
	m.ordDelete(idx, key)
	m.tableDelete(s)
	m.slab.release(idx)
	m.count--
	m.maybeShrink()
	if m.arena.needsRewrite(m.minGarbage) {
		m.rewriteArena()
	}
	return old, true
}

// Relocate points key at newE, but only if the key's current entry has
// Offset == offset. The compactor calls it to swap in a record's new
// location: if the key was overwritten or deleted since the compactor read
// it, the newer write wins and Relocate returns false.
func (m *Map) Relocate(key []byte, offset uint64, newE Entry) bool {
	_, idx := m.find(key, m.hash(key))
	if idx == 0 {
		return false
	}
	it := m.slab.at(idx)
	if it.offset != offset {
		return false
	}
	it.setEntry(newE)
	return true
}

// Ascend calls fn for the keys k with start <= k < end, in byte order, until
// fn returns false. A nil (or empty) start means from the first key; a nil
// (or empty) end means no upper bound. The key passed to fn aliases the
// map's memory and is valid only during the call: copy it to keep it. fn
// must not modify the map. The cost is O(log n) plus O(1) per key visited.
func (m *Map) Ascend(start, end []byte, fn func(key []byte, e Entry) bool) {
	blocks := m.ord.blocks
	if len(blocks) == 0 || (len(end) > 0 && bytes.Compare(start, end) >= 0) {
		return
	}
	bi, i := 0, 0
	if len(start) > 0 {
		bi, i, _ = m.seek(start)
	}
	for ; bi < len(blocks); bi, i = bi+1, 0 {
		b := blocks[bi].items
		for ; i < len(b); i++ {
			it := m.slab.at(b[i])
			k := m.arena.bytes(it.ref())
			if len(end) > 0 && bytes.Compare(k, end) >= 0 {
				return
			}
			if !fn(k, it.entry()) {
				return
			}
		}
	}
}

// HeapBytes estimates the bytes of heap the map holds: arena, slab, hash
// table and ordered view, including their unused capacity.
func (m *Map) HeapBytes() int64 {
	return int64(unsafe.Sizeof(*m)) +
		m.arena.heapBytes() +
		m.slab.heapBytes() +
		int64(cap(m.slots))*4 +
		m.ord.heapBytes()
}

// rewriteArena copies the live keys into a fresh arena, in key order (so
// that scans and searches touch neighbouring bytes), and points the items
// at their new copies. The old arena becomes garbage.
func (m *Map) rewriteArena() {
	fresh := arena{shift: m.arena.shift}
	for _, b := range m.ord.blocks {
		for _, idx := range b.items {
			it := m.slab.at(idx)
			it.setRef(fresh.add(m.arena.bytes(it.ref())))
		}
	}
	m.arena = fresh
}
