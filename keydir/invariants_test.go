package keydir

import (
	"bytes"
	"fmt"
)

// checkInvariants verifies every `Invariant:` of a Map, walking all of it.
// It returns the first violation found, or nil.
func checkInvariants(m *Map) error {
	live := map[uint32]bool{}

	// Slab and free list.
	total := 0
	for i, c := range m.slab.chunks {
		if i < len(m.slab.chunks)-1 && len(c) != 1<<m.slab.shift {
			return fmt.Errorf("slab chunk %d has %d items, want %d", i, len(c), 1<<m.slab.shift)
		}
		total += len(c)
	}
	if total > 0 {
		total-- // index 0 is reserved
	}
	free := map[uint32]bool{}
	for idx := m.slab.free; idx != 0; idx = m.slab.at(idx).seg {
		if free[idx] || idx == 0 {
			return fmt.Errorf("free list loops at %d", idx)
		}
		free[idx] = true
	}
	if len(free) != m.slab.nfree {
		return fmt.Errorf("free list has %d items, nfree = %d", len(free), m.slab.nfree)
	}
	if total-len(free) != m.count {
		return fmt.Errorf("slab has %d items in use, count = %d", total-len(free), m.count)
	}

	// Hash table.
	n := len(m.slots)
	if m.count > 0 && m.count*100 > n*maxLoadPct {
		return fmt.Errorf("load %d/%d above %d%%", m.count, n, maxLoadPct)
	}
	var liveBytes int64
	for s, idx := range m.slots {
		if idx == 0 {
			continue
		}
		if free[idx] || live[idx] {
			return fmt.Errorf("slot %d holds free or duplicate item %d", s, idx)
		}
		live[idx] = true
		it := m.slab.at(idx)
		key := m.arena.bytes(it.ref())
		liveBytes += int64(len(key))
		if h := m.hash(key); h != it.hash {
			return fmt.Errorf("item %d: stored hash %#x, key hashes to %#x", idx, it.hash, h)
		}
		d := m.dist(s, m.home(it.hash))
		p := (s - 1 + n) % n
		if prev := m.slots[p]; prev == 0 {
			if d != 0 {
				return fmt.Errorf("slot %d: distance %d after an empty slot", s, d)
			}
		} else if pd := m.dist(p, m.home(m.slab.at(prev).hash)); d > pd+1 {
			return fmt.Errorf("slot %d: distance %d after distance %d (Robin Hood order)", s, d, pd)
		}
		if fs, fidx := m.find(key, it.hash); fs != s || fidx != idx {
			return fmt.Errorf("find(%q) = (%d, %d), want (%d, %d)", key, fs, fidx, s, idx)
		}
	}
	if len(live) != m.count {
		return fmt.Errorf("table holds %d items, count = %d", len(live), m.count)
	}
	if m.count > 0 && m.count >= n {
		return fmt.Errorf("table full: %d keys in %d slots", m.count, n)
	}

	// Arena.
	var used int64
	for i, c := range m.arena.chunks {
		if len(c) > 1<<m.arena.shift {
			return fmt.Errorf("arena chunk %d holds %d bytes", i, len(c))
		}
		used += int64(len(c))
	}
	if liveBytes != m.arena.live || used != m.arena.live+m.arena.dead {
		return fmt.Errorf("arena: live %d (counted %d), dead %d, used %d", m.arena.live, liveBytes, m.arena.dead, used)
	}

	// Ordered view.
	o := &m.ord
	if len(o.heads) != len(o.blocks) {
		return fmt.Errorf("%d heads for %d blocks", len(o.heads), len(o.blocks))
	}
	seen := 0
	var prev []byte
	for bi, b := range o.blocks {
		if len(b.items) == 0 || len(b.items) > o.maxBlock {
			return fmt.Errorf("block %d has %d keys", bi, len(b.items))
		}
		if len(b.abbrevs) != len(b.items) {
			return fmt.Errorf("block %d: %d abbrevs for %d keys", bi, len(b.abbrevs), len(b.items))
		}
		if o.heads[bi] != prefix(m.keyOf(b.items[0])) {
			return fmt.Errorf("block %d: stale head prefix", bi)
		}
		if c := lcp(m.keyOf(b.items[0]), m.keyOf(b.items[len(b.items)-1])); b.cpl > c {
			return fmt.Errorf("block %d: cpl %d but its keys share only %d bytes", bi, b.cpl, c)
		}
		for j, idx := range b.items {
			if !live[idx] {
				return fmt.Errorf("block %d lists item %d, not in the table", bi, idx)
			}
			k := m.keyOf(idx)
			if seen > 0 && bytes.Compare(prev, k) >= 0 {
				return fmt.Errorf("block %d: %q after %q", bi, k, prev)
			}
			if a := abbrev(k, b.cpl); b.abbrevs[j] != a {
				return fmt.Errorf("block %d: key %q has abbrev %#x, want %#x (cpl %d)", bi, k, b.abbrevs[j], a, b.cpl)
			}
			prev = k
			seen++
		}
	}
	if seen != m.count {
		return fmt.Errorf("ordered view lists %d keys, count = %d", seen, m.count)
	}
	return nil
}
