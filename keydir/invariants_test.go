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

	// Hash table: directory.
	t := &m.tab
	if t.depth > maxDepth || len(t.dir) != 1<<t.depth {
		return fmt.Errorf("directory of %d entries at depth %d", len(t.dir), t.depth)
	}
	refs := make([]int, len(t.segs))
	for i, si := range t.dir {
		if int(si) >= len(t.segs) {
			return fmt.Errorf("dir[%d] = %d, only %d segments", i, si, len(t.segs))
		}
		refs[si]++
		sg := &t.segs[si]
		if sg.depth > t.depth {
			return fmt.Errorf("segment %d: local depth %d > depth %d", si, sg.depth, t.depth)
		}
		if first := i & (1<<sg.depth - 1); t.dir[first] != si {
			return fmt.Errorf("dir[%d] and dir[%d] share %d low bits but name segments %d, %d", i, first, sg.depth, si, t.dir[first])
		}
	}
	for si, sg := range t.segs {
		if want := 1 << (t.depth - sg.depth); refs[si] != want {
			return fmt.Errorf("segment %d (depth %d) named by %d entries, want %d", si, sg.depth, refs[si], want)
		}
	}

	// Hash table: segments.
	var liveBytes int64
	for si := range t.segs {
		sg := &t.segs[si]
		n := len(sg.slots)
		if n < minSlots || sg.count*100 > n*maxLoadPct || sg.count >= n {
			return fmt.Errorf("segment %d: %d keys in %d slots", si, sg.count, n)
		}
		inSeg := 0
		for s, idx := range sg.slots {
			if idx == 0 {
				continue
			}
			inSeg++
			if free[idx] || live[idx] {
				return fmt.Errorf("segment %d slot %d holds free or duplicate item %d", si, s, idx)
			}
			live[idx] = true
			it := m.slab.at(idx)
			key := m.arena.bytes(it.ref())
			liveBytes += int64(len(key))
			if h := m.hash(key); h != it.hash {
				return fmt.Errorf("item %d: stored hash %#x, key hashes to %#x", idx, it.hash, h)
			}
			if t.seg(it.hash) != si {
				return fmt.Errorf("item %d (hash %#x) in segment %d, directory says %d", idx, it.hash, si, t.seg(it.hash))
			}
			d := dist(s, home(it.hash, n), n)
			p := (s - 1 + n) % n
			if prev := sg.slots[p]; prev == 0 {
				if d != 0 {
					return fmt.Errorf("segment %d slot %d: distance %d after an empty slot", si, s, d)
				}
			} else if pd := dist(p, home(m.slab.at(prev).hash, n), n); d > pd+1 {
				return fmt.Errorf("segment %d slot %d: distance %d after distance %d (Robin Hood order)", si, s, d, pd)
			}
			if fsi, fs, fidx := m.find(key, it.hash); fsi != si || fs != s || fidx != idx {
				return fmt.Errorf("find(%q) = (%d, %d, %d), want (%d, %d, %d)", key, fsi, fs, fidx, si, s, idx)
			}
		}
		if inSeg != sg.count {
			return fmt.Errorf("segment %d holds %d items, count = %d", si, inSeg, sg.count)
		}
	}
	if len(live) != m.count {
		return fmt.Errorf("table holds %d items, count = %d", len(live), m.count)
	}

	// Arena.
	a := &m.arena
	var used int64
	for i, c := range a.chunks {
		if len(c) > 1<<a.shift {
			return fmt.Errorf("arena chunk %d holds %d bytes", i, len(c))
		}
		used += int64(len(c))
	}
	if liveBytes != a.live || used != a.live+a.dead {
		return fmt.Errorf("arena: live %d (counted %d), dead %d, used %d", a.live, liveBytes, a.dead, used)
	}
	if n := len(a.chunks); n > 0 && a.chunks[n-1] == nil && a.from == nil {
		return fmt.Errorf("arena: trailing free chunk %d", n-1)
	}
	if a.cur != -1 && (a.cur >= len(a.chunks) || a.chunks[a.cur] == nil || (a.from != nil && a.from[a.cur])) {
		return fmt.Errorf("arena: current chunk %d is missing or being emptied", a.cur)
	}
	if a.from != nil && len(a.from) != len(a.chunks) {
		return fmt.Errorf("arena: %d evacuation marks for %d chunks", len(a.from), len(a.chunks))
	}
	for idx := range live {
		r := m.slab.at(idx).ref()
		if r.len() == 0 {
			continue
		}
		if c := r.pos() >> a.shift; c >= uint64(len(a.chunks)) || a.chunks[c] == nil {
			return fmt.Errorf("item %d refers to free chunk %d", idx, c)
		}
		// Keys before the evacuation cursor have left the marked chunks.
		if a.evacuating(r) && bytes.Compare(m.keyOf(idx), m.evac.key) < 0 {
			return fmt.Errorf("item %d: key %q before the evacuation cursor %q is still in a chunk being emptied", idx, m.keyOf(idx), m.evac.key)
		}
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
