package keydir

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math"
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

	// Invariant: tab holds each live item index exactly once (see
	// table.go), except inside a Builder before Map, when it is empty.
	tab     table
	scratch []uint32 // reused by segment resizes and splits; contents are garbage
	count   int      // Invariant: count == live items == indices in ord

	slab  slab
	arena arena
	ord   ordered
	evac  evacuation

	maxSeg     int   // most slots a segment grows to before it splits
	minGarbage int64 // dead arena bytes below which no rewrite happens

	// An arena rewrite of at most evacSync keys and evacSyncBytes runs at
	// once; a bigger one visits evacStep keys per Put or Delete, or fewer
	// once it has moved evacStepBytes.
	evacSync, evacStep           int
	evacSyncBytes, evacStepBytes int64
}

// evacuation is where an incremental arena rewrite resumes in the ordered
// view: the position and a copy of the next key to visit. Between two
// steps, Puts and Deletes may shift the position; the step then finds the
// key again by searching for it.
type evacuation struct {
	// Invariant: while arena.from != nil, every live key that sorts before
	// key lies outside the chunks being emptied.
	bi, j int    // ordered-view position that held key after the last step
	key   []byte // the next key to visit; empty before the first step
}

// config holds the sizes tests shrink to reach edge cases with few keys.
type config struct {
	arenaShift uint  // arena chunk = 1<<arenaShift bytes
	slabShift  uint  // slab chunk = 1<<slabShift items
	maxBlock   int   // most item indices in one ordered block
	maxSeg     int   // most slots in one hash table segment
	minGarbage int64 // dead arena bytes needed before a rewrite

	evacSync      int   // rewrite maps of at most this many keys at once...
	evacSyncBytes int64 // ...and this many bytes of live keys
	evacStep      int   // else visit this many keys per Put or Delete...
	evacStepBytes int64 // ...or fewer once this many bytes moved (at least one key)

	hashMask uint32
}

func defaultConfig() config {
	return config{
		// Chunks are allocated whole by the Put that needs one, so their
		// size bounds that Put's pause: zeroing memory the runtime has
		// returned to the OS faults every page back in, which takes 3-5 ms
		// per MiB on some virtual machines. 256 KiB is still four times
		// the longest key, so a key skipping a chunk end wastes little.
		arenaShift: 18, // 256 KiB
		slabShift:  13, // 8192 items = 256 KiB
		maxBlock:   1024,
		maxSeg:     maxSegSlots,
		minGarbage: 1 << 20,
		// Rewriting 4096 keys at once takes about half a millisecond, and
		// 256 KiB of them fill one new chunk.
		evacSync:      4096,
		evacSyncBytes: 256 << 10,
		// A step costs two cache misses per key visited (item, key), about
		// 10 µs at 64; a rewrite of a million keys then spreads over 16k
		// Puts and Deletes. Long keys stop it at 16 KiB copied, so that a
		// step starts at most one new chunk.
		evacStep:      64,
		evacStepBytes: 16 << 10,
		hashMask:      ^uint32(0),
	}
}

// New returns an empty Map sized for about sizeHint keys (0 if unknown).
func New(sizeHint int) *Map { return newMap(sizeHint, defaultConfig()) }

func newMap(sizeHint int, c config) *Map {
	m := newBare(c)
	m.tab = newTable(max(sizeHint, 0), c.maxSeg)
	return m
}

// newBare returns an empty Map with no table yet: Builder.Map makes one
// for the keys it was given.
func newBare(c config) *Map {
	return &Map{
		seed:          maphash.MakeSeed(),
		hashMask:      c.hashMask,
		slab:          slab{shift: c.slabShift},
		arena:         newArena(c.arenaShift),
		ord:           ordered{maxBlock: c.maxBlock},
		maxSeg:        c.maxSeg,
		minGarbage:    c.minGarbage,
		evacSync:      c.evacSync,
		evacSyncBytes: c.evacSyncBytes,
		evacStep:      max(c.evacStep, 1),
		evacStepBytes: max(c.evacStepBytes, 1),
	}
}

func (m *Map) hash(key []byte) uint32 {
	return uint32(maphash.Bytes(m.seed, key)) & m.hashMask
}

// Len returns the number of keys in the map.
func (m *Map) Len() int { return m.count }

// Get returns the entry of key and whether the key is present.
func (m *Map) Get(key []byte) (Entry, bool) {
	_, _, idx := m.find(key, m.hash(key))
	if idx == 0 {
		return Entry{}, false
	}
	return m.slab.at(idx).entry(), true
}

// Put inserts or replaces the entry of key and returns the previous entry,
// if any. The key bytes are copied; the caller may reuse key. Replacing an
// entry keeps the stored key and costs no memory. Put panics if key is
// longer than MaxKeyBytes: the engine refuses such keys before they get here.
//
// Besides the insert, a Put may resize or split one hash table segment and
// advances an arena rewrite under way by one bounded step; no Put does work
// proportional to the size of the map (see doc.go, Pauses).
func (m *Map) Put(key []byte, e Entry) (old Entry, replaced bool) {
	if len(key) > MaxKeyBytes {
		panic(fmt.Sprintf("keydir: Put of a %d-byte key; keys are at most %d bytes", len(key), MaxKeyBytes))
	}
	h := m.hash(key)
	if _, _, idx := m.find(key, h); idx != 0 {
		it := m.slab.at(idx)
		old = it.entry()
		it.setEntry(e)
		replaced = true
	} else {
		idx := m.add(key, e, h)
		m.tableInsert(idx, h)
		m.ordInsert(idx, key)
	}
	if m.arena.from != nil {
		m.evacuateStep()
	}
	return old, replaced
}

// add stores a key known to be absent in the arena and the slab (not in
// the hash table nor in the ordered view) and returns its item index.
func (m *Map) add(key []byte, e Entry, h uint32) uint32 {
	idx := m.slab.alloc()
	it := m.slab.at(idx)
	*it = item{hash: h, keyFlags: uint64(m.arena.add(key)) << 8}
	it.setEntry(e)
	m.count++
	return idx
}

// Delete removes key and returns its entry, if it was present. Like Put, it
// may resize one hash table segment, and it starts an arena rewrite when
// deleted keys outweigh live ones, or advances one under way by one bounded
// step.
func (m *Map) Delete(key []byte) (old Entry, deleted bool) {
	si, s, idx := m.find(key, m.hash(key))
	if idx != 0 {
		it := m.slab.at(idx)
		old, deleted = it.entry(), true
		m.arena.release(it.ref())
		m.ordDelete(idx, key)
		m.tableDelete(si, s)
		m.slab.release(idx)
		m.count--
		if m.arena.from == nil && m.arena.needsRewrite(m.minGarbage) {
			m.beginRewrite()
		}
	}
	if m.arena.from != nil {
		m.evacuateStep()
	}
	return old, deleted
}

// Relocate points key at newE, but only if the key's current entry has
// Offset == offset. The compactor calls it to swap in a record's new
// location: if the key was overwritten or deleted since the compactor read
// it, the newer write wins and Relocate returns false.
func (m *Map) Relocate(key []byte, offset uint64, newE Entry) bool {
	_, _, idx := m.find(key, m.hash(key))
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
		m.tab.heapBytes() +
		int64(cap(m.scratch))*4 +
		m.ord.heapBytes() +
		int64(cap(m.evac.key))
}

// beginRewrite starts rewriting the arena compactly. A small map (at most
// evacSync keys, evacSyncBytes of them) is rewritten at once, which costs
// little more than a step; a bigger one a step at a time, by each Put and
// Delete, with the map fully usable in between.
func (m *Map) beginRewrite() {
	m.arena.beginEvacuation()
	m.evac = evacuation{key: m.evac.key[:0]}
	if m.count <= m.evacSync && m.arena.live <= m.evacSyncBytes {
		m.evacuate(m.count+1, math.MaxInt64)
	}
}

// evacuateStep advances the arena rewrite by evacStep keys or, for long
// keys, until it has moved evacStepBytes (at least one key): that bounds
// both the work of a step and the new chunks it allocates.
func (m *Map) evacuateStep() {
	m.evacuate(m.evacStep, m.evacStepBytes)
}

// evacuate advances the arena rewrite in key order, by up to keys keys or
// until it has moved at least maxBytes, and ends it when it passes the last
// key. Each key still in a chunk being emptied is copied to the chunk that
// takes new keys (so the rewritten arena holds keys in key order, where
// scans and searches touch neighbouring bytes); at the end the emptied
// chunks are freed. Keys added meanwhile go to fresh chunks already, and a
// deleted key needs no move, so one pass over the ordered view is enough.
// Only Put and Delete call it: reads never advance a rewrite.
func (m *Map) evacuate(keys int, maxBytes int64) {
	a, o, ev := &m.arena, &m.ord, &m.evac
	if len(o.blocks) == 0 {
		a.endEvacuation()
		return
	}
	bi, j := ev.bi, ev.j
	if bi >= len(o.blocks) || j >= len(o.blocks[bi].items) || !bytes.Equal(m.keyOf(o.blocks[bi].items[j]), ev.key) {
		// Puts and Deletes moved the key, or deleted it: search again. Keys
		// are unique, so finding the same key means the same place.
		bi, j, _ = m.seek(ev.key)
	}
	for {
		if j == len(o.blocks[bi].items) {
			bi, j = bi+1, 0
		}
		if bi == len(o.blocks) {
			a.endEvacuation()
			return
		}
		if keys == 0 || maxBytes <= 0 {
			break
		}
		it := m.slab.at(o.blocks[bi].items[j])
		if r := it.ref(); a.evacuating(r) {
			it.setRef(a.move(r))
			maxBytes -= int64(r.len())
		}
		j++
		keys--
	}
	ev.bi, ev.j = bi, j
	ev.key = append(ev.key[:0], m.keyOf(o.blocks[bi].items[j])...)
}
