package keydir

// The hash index: open addressing over []uint32 item indices (0 = empty).
//
// A key's home slot is fastrange(hash, len(slots)) = hash*len(slots)>>32,
// which maps hashes to slots in order and lets the table have any length, so
// it can grow by 4/3 instead of doubling (memory per key is a product
// figure). Collisions probe linearly to the right, wrapping at the end, in
// Robin Hood order: a key never sits further from its home than the key
// before it plus one. That bounds the variance of probe lengths, lets a miss
// stop early, and lets Delete shift the rest of a cluster back instead of
// leaving tombstones. Every probe needs the resident's hash, which the item
// keeps, so resizing never rehashes a key.

// Load factor bounds, as fractions of the table length. A probe that passes
// a resident costs a cache miss on its item, so the table stays well below
// full; and it grows to the middle of the band, not to the bottom, to keep
// its bytes per key small.
const (
	maxLoadPct    = 80 // grow when count would exceed this
	targetLoadPct = 60 // load right after a resize
	minLoadPct    = 20 // shrink when count falls below this
	minSlots      = 8
)

func (m *Map) home(h uint32) int {
	return int(uint64(h) * uint64(len(m.slots)) >> 32)
}

// dist is how far slot s is from home, to the right, wrapping.
func (m *Map) dist(s, home int) int {
	d := s - home
	if d < 0 {
		d += len(m.slots)
	}
	return d
}

// find returns the slot and item index of key, or (-1, 0) when absent.
func (m *Map) find(key []byte, h uint32) (slot int, idx uint32) {
	n := len(m.slots)
	if n == 0 {
		return -1, 0
	}
	s := m.home(h)
	for d := 0; ; d++ {
		idx := m.slots[s]
		if idx == 0 {
			return -1, 0
		}
		it := m.slab.at(idx)
		if it.hash == h {
			if string(m.arena.bytes(it.ref())) == string(key) {
				return s, idx
			}
		} else if m.dist(s, m.home(it.hash)) < d {
			// Robin Hood order: key would have displaced this resident.
			return -1, 0
		}
		if s++; s == n {
			s = 0
		}
	}
}

// tableInsert adds idx, whose item hash is h, to the table. The caller
// makes sure the key is absent and that there is an empty slot.
func (m *Map) tableInsert(idx uint32, h uint32) {
	n := len(m.slots)
	s := m.home(h)
	for d := 0; ; d++ {
		cur := m.slots[s]
		if cur == 0 {
			m.slots[s] = idx
			return
		}
		if m.dist(s, m.home(m.slab.at(cur).hash)) < d {
			break
		}
		if s++; s == n {
			s = 0
		}
	}
	// Take the resident's place and shift the rest of the cluster one slot
	// right: each moved key gets one further from home, as does the key
	// before it, so the Robin Hood order holds without looking at them.
	for carry := idx; carry != 0; {
		carry, m.slots[s] = m.slots[s], carry
		if s++; s == n {
			s = 0
		}
	}
}

// tableDelete empties slot s and shifts the following keys back until one
// sits at its home or a slot is empty.
func (m *Map) tableDelete(s int) {
	n := len(m.slots)
	for {
		next := s + 1
		if next == n {
			next = 0
		}
		cur := m.slots[next]
		if cur == 0 || m.dist(next, m.home(m.slab.at(cur).hash)) == 0 {
			m.slots[s] = 0
			return
		}
		m.slots[s] = cur
		s = next
	}
}

// slotsFor is the table length that puts count keys at the target load.
func slotsFor(count int) int {
	return max(minSlots, (count*100+targetLoadPct-1)/targetLoadPct)
}

// growFor resizes the table if count keys would exceed the maximum load.
func (m *Map) growFor(count int) {
	if count*100 > len(m.slots)*maxLoadPct {
		m.resize(slotsFor(count))
	}
}

// maybeShrink resizes the table when deletes left it mostly empty.
func (m *Map) maybeShrink() {
	if len(m.slots) > minSlots && m.count*100 < len(m.slots)*minLoadPct {
		m.resize(slotsFor(m.count))
	}
}

// resize rebuilds the table with n slots from the hashes kept in the items.
// It costs one random read per key: walking the old table in slot order
// visits hashes in ascending order (apart from one wrapped cluster), so each
// insert lands at or next to the previous one, whose item is still cached.
// It runs inside the Put or Delete that crosses a load bound, which then
// takes tens of milliseconds for a million keys; sizeHint avoids it at
// startup.
func (m *Map) resize(n int) {
	old := m.slots
	m.slots = make([]uint32, n)
	for _, idx := range old {
		if idx != 0 {
			m.tableInsert(idx, m.slab.at(idx).hash)
		}
	}
}
