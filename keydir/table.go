package keydir

// The hash index: a directory of segments (extendible hashing), each
// segment an open-addressing table over []uint32 item indices (0 = empty).
//
// The low bits of a key's hash pick its segment: dir[hash & (len(dir)-1)].
// A segment of local depth ld holds exactly the items whose hashes share
// its low ld bits, and len(dir)>>ld directory entries name it. A segment
// that must grow past maxSegSlots splits in two on its next hash bit
// instead, doubling the directory first if its local depth equals the
// directory's. So no single Put or Delete ever moves more than one
// segment's worth of items: resizing is incremental by construction, and
// no lookup ever needs to consult two tables.
//
// Inside a segment of n slots, a key's home slot is fastrange(hash, n) =
// hash*n>>32, which maps hashes to slots in order and lets a segment have
// any length, so it grows by 4/3 instead of doubling (memory per key is a
// product figure). The home uses the whole hash: the low bits that all of a
// segment's items share change it by less than one slot. Collisions probe
// linearly to the right, wrapping at the end, in Robin Hood order: a key
// never sits further from its home than the key before it plus one. That
// bounds the variance of probe lengths, lets a miss stop early, and lets
// Delete shift the rest of a cluster back instead of leaving tombstones.
// Every probe needs the resident's hash, which the item keeps, so resizing
// and splitting never rehash a key.
//
// Segments never merge: when deletes empty them they shrink to minSlots
// each, and the directory keeps its depth. A store that once held n keys
// keeps about n/4000 segment headers and directory entries, a few bytes per
// thousand keys (as the slab keeps its peak items).

// Load factor bounds, as fractions of a segment's length. A probe that
// passes a resident costs a cache miss on its item, so a segment stays well
// below full; and it grows to the middle of the band, not to the bottom, to
// keep its bytes per key small.
const (
	maxLoadPct    = 80 // grow when count would exceed this
	targetLoadPct = 60 // load right after a resize or a split
	minLoadPct    = 20 // shrink when count falls below this
	hintLoadPct   = (targetLoadPct + maxLoadPct) / 2
	minSlots      = 8

	// maxSegSlots bounds the work of one resize or split, and with it the
	// longest pause of a Put or Delete: moving a segment's items costs one
	// random read of each item's hash, at most about 6500 reads at 8192
	// slots, about a millisecond. The directory and the segment headers
	// come to about 0.01 bytes per key.
	maxSegSlots = 1 << 13
	// maxDepth bounds the directory (1M entries, 4 MiB). Uniform 32-bit
	// hashes never get near it (it takes about 2^20 full segments, more
	// keys than a slab can index); it only stops hashes that agree on
	// their low bits (tests' hash masks) from doubling the directory for
	// nothing.
	maxDepth = 20
)

// table is the hash index.
type table struct {
	// Invariant: len(dir) == 1<<depth, and dir[i] is the index in segs of
	// the segment holding the items whose hashes have low depth bits i.
	// A segment of local depth ld appears at every i with the same low ld
	// bits, that is at 1<<(depth-ld) entries, and nowhere else.
	dir   []uint32
	depth uint // Invariant: depth <= maxDepth
	segs  []segment
}

// segment is one Robin Hood table of the directory.
type segment struct {
	// Invariant: slots holds each item of the segment exactly once, in
	// Robin Hood order; count*100 <= len(slots)*maxLoadPct and
	// count < len(slots), so a probe always meets an empty slot.
	slots []uint32
	count int  // Invariant: count == non-zero entries of slots
	depth uint // local depth: its items' hashes share their low depth bits
}

// home is the slot of a segment of n slots where a probe for h starts.
func home(h uint32, n int) int { return int(uint64(h) * uint64(n) >> 32) }

// dist is how far slot s is from home, to the right, wrapping at n.
func dist(s, home, n int) int {
	d := s - home
	if d < 0 {
		d += n
	}
	return d
}

// slotsFor is the segment length that puts count keys at the target load.
func slotsFor(count int) int {
	return max(minSlots, (count*100+targetLoadPct-1)/targetLoadPct)
}

// hintSlots is the segment length for count keys known in advance: between
// the target and the maximum load, so that loading them neither grows the
// segment nor leaves a third of it empty.
func hintSlots(count int) int {
	return max(minSlots, count*100/hintLoadPct+1)
}

// depthFor is the directory depth at which count keys, spread evenly, fill
// segments of hintSlots to at most 3/4 of maxSegSlots: enough room that
// the binomial spread of keys over segments never reaches the maximum.
func depthFor(count, maxSeg int) uint {
	d := uint(0)
	for d < maxDepth && count>>(d+1) > 0 && hintSlots(count>>d) > maxSeg*3/4 {
		d++
	}
	return d
}

// newTable returns a table sized for count keys, every segment at
// hintSlots of its share.
func newTable(count, maxSeg int) table {
	d := depthFor(count, maxSeg)
	t := table{dir: make([]uint32, 1<<d), depth: d, segs: make([]segment, 1<<d)}
	n := hintSlots(count >> d)
	for i := range t.segs {
		t.dir[i] = uint32(i)
		t.segs[i] = segment{slots: make([]uint32, n), depth: d}
	}
	return t
}

// seg is the index in segs of the segment that holds hash h.
func (t *table) seg(h uint32) int {
	return int(t.dir[h&uint32(len(t.dir)-1)])
}

// slots is the number of slots of all segments.
func (t *table) slots() int {
	n := 0
	for _, sg := range t.segs {
		n += len(sg.slots)
	}
	return n
}

func (t *table) heapBytes() int64 {
	const segBytes = 40 // a slice header and two words
	return int64(cap(t.dir))*4 + int64(cap(t.segs))*segBytes + int64(t.slots())*4
}

// find returns the segment, slot and item index of key, or (0, -1, 0) when
// absent. It writes nothing.
func (m *Map) find(key []byte, h uint32) (si, slot int, idx uint32) {
	si = m.tab.seg(h)
	slots := m.tab.segs[si].slots
	n := len(slots)
	s := home(h, n)
	for d := 0; ; d++ {
		idx := slots[s]
		if idx == 0 {
			return 0, -1, 0
		}
		it := m.slab.at(idx)
		if it.hash == h {
			if string(m.arena.bytes(it.ref())) == string(key) {
				return si, s, idx
			}
		} else if dist(s, home(it.hash, n), n) < d {
			// Robin Hood order: key would have displaced this resident.
			return 0, -1, 0
		}
		if s++; s == n {
			s = 0
		}
	}
}

// tableInsert adds idx, whose item hash is h and whose key is absent, to
// its segment, growing or splitting the segment first if it is full.
func (m *Map) tableInsert(idx uint32, h uint32) {
	si := m.tab.seg(h)
	if sg := &m.tab.segs[si]; (sg.count+1)*100 > len(sg.slots)*maxLoadPct {
		m.grow(si, h)
		si = m.tab.seg(h)
	}
	sg := &m.tab.segs[si]
	sg.count++
	slots := sg.slots
	n := len(slots)
	s := home(h, n)
	for d := 0; ; d++ {
		cur := slots[s]
		if cur == 0 {
			slots[s] = idx
			return
		}
		if dist(s, home(m.slab.at(cur).hash, n), n) < d {
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
		carry, slots[s] = slots[s], carry
		if s++; s == n {
			s = 0
		}
	}
}

// tableDelete empties slot s of segment si and shifts the following keys
// back until one sits at its home or a slot is empty; then it shrinks the
// segment if deletes left it mostly empty.
func (m *Map) tableDelete(si, s int) {
	sg := &m.tab.segs[si]
	slots := sg.slots
	n := len(slots)
	for {
		next := s + 1
		if next == n {
			next = 0
		}
		cur := slots[next]
		if cur == 0 || dist(next, home(m.slab.at(cur).hash, n), n) == 0 {
			slots[s] = 0
			break
		}
		slots[s] = cur
		s = next
	}
	sg.count--
	if n > minSlots && sg.count*100 < n*minLoadPct {
		m.resizeSeg(si, slotsFor(sg.count))
	}
}

// grow makes room for one more item in segment si, which holds hash h: it
// splits the segment if the grown segment would exceed maxSeg slots, else
// (or if the split would leave one half empty) it resizes it.
func (m *Map) grow(si int, h uint32) {
	sg := &m.tab.segs[si]
	n := slotsFor(sg.count + 1)
	if n > m.maxSeg && sg.depth < maxDepth && m.splitSeg(si, h) {
		return
	}
	m.resizeSeg(si, n)
}

// scratchFor returns n words of scratch space, reused by every resize and
// split so that they allocate only the slots they keep. Its contents are
// garbage to a new user (hashesOf and insertHashed read only what they
// wrote), but survive a call that grows it.
func (m *Map) scratchFor(n int) []uint32 {
	if cap(m.scratch) < n {
		grown := make([]uint32, n)
		copy(grown, m.scratch[:cap(m.scratch)])
		m.scratch = grown
	}
	return m.scratch[:n]
}

// hashesOf reads the hash of every item of slots into hs, parallel to
// slots (hs[s] is left as is where slots[s] is empty). This is the one
// random read per item that a resize or a split costs; the inserts that
// follow then touch only the segments.
func (m *Map) hashesOf(slots, hs []uint32) {
	for s, idx := range slots {
		if idx != 0 {
			hs[s] = m.slab.at(idx).hash
		}
	}
}

// resizeSeg rebuilds segment si with n slots.
func (m *Map) resizeSeg(si, n int) {
	sg := &m.tab.segs[si]
	old := sg.slots
	scratch := m.scratchFor(len(old) + n)
	hs, hashes := scratch[:len(old)], scratch[len(old):]
	m.hashesOf(old, hs)
	slots := make([]uint32, n)
	for s, idx := range old {
		if idx != 0 {
			insertHashed(slots, hashes, idx, hs[s])
		}
	}
	sg.slots = slots
}

// splitSeg divides segment si, which holds hash h, into two segments on the
// next bit of their hashes and reports true; or, if all its items would
// land in one half, changes nothing and reports false.
func (m *Map) splitSeg(si int, h uint32) bool {
	t := &m.tab
	sg := &t.segs[si]
	ld := sg.depth
	bit := uint32(1) << ld
	hs := m.scratchFor(len(sg.slots))
	m.hashesOf(sg.slots, hs)
	high := 0
	for s, idx := range sg.slots {
		if idx != 0 && hs[s]&bit != 0 {
			high++
		}
	}
	low := sg.count - high
	if low == 0 || high == 0 {
		return false
	}
	lo := segment{slots: make([]uint32, slotsFor(low)), count: low, depth: ld + 1}
	hi := segment{slots: make([]uint32, slotsFor(high)), count: high, depth: ld + 1}
	// The old segment's hashes, then the two halves', side by side.
	scratch := m.scratchFor(len(hs) + len(lo.slots) + len(hi.slots))
	hs = scratch[:len(hs)]
	loHashes := scratch[len(hs) : len(hs)+len(lo.slots)]
	hiHashes := scratch[len(hs)+len(lo.slots):]
	for s, idx := range sg.slots {
		switch {
		case idx == 0:
		case hs[s]&bit == 0:
			insertHashed(lo.slots, loHashes, idx, hs[s])
		default:
			insertHashed(hi.slots, hiHashes, idx, hs[s])
		}
	}

	if ld == t.depth {
		// Double the directory: entry i and entry i+len(dir) share their
		// low depth bits, so both name the segment i named.
		n := len(t.dir)
		t.dir = append(t.dir[:n:n], t.dir...)
		t.depth++
	}
	t.segs[si] = lo
	hiIdx := uint32(len(t.segs))
	t.segs = append(t.segs, hi)
	// The entries that named si are those with its low ld bits: prefix,
	// prefix + 1<<ld, prefix + 2<<ld, ...; those with bit ld set now name
	// the high half.
	prefix := int(h & (bit - 1))
	for i := prefix | int(bit); i < len(t.dir); i += 2 * int(bit) {
		t.dir[i] = hiIdx
	}
	return true
}

// insertHashed adds idx, whose hash is h, to a segment being built, where
// hashes[s] is the hash of the item in slots[s] (for occupied slots) and is
// kept up to date, so that the Robin Hood probe never reads the slab.
func insertHashed(slots, hashes []uint32, idx, h uint32) {
	n := len(slots)
	s := home(h, n)
	for d := 0; ; d++ {
		if slots[s] == 0 {
			slots[s], hashes[s] = idx, h
			return
		}
		if dist(s, home(hashes[s], n), n) < d {
			break
		}
		if s++; s == n {
			s = 0
		}
	}
	for idx != 0 {
		idx, slots[s] = slots[s], idx
		h, hashes[s] = hashes[s], h
		if s++; s == n {
			s = 0
		}
	}
}

// partition sorts pairs (hash<<32 | item index) by segment at directory
// depth d, in place (American flag sort), and returns each segment's run.
func partition(pairs []uint64, d uint) [][]uint64 {
	nseg := 1 << d
	mask := uint64(nseg - 1)
	// start[s] is where segment s's pairs begin, next[s] the first of its
	// places not yet holding one of its pairs.
	start := make([]int, nseg+1)
	for _, p := range pairs {
		start[(p>>32)&mask+1]++
	}
	for s := range nseg {
		start[s+1] += start[s]
	}
	next := append([]int(nil), start[:nseg]...)
	for s := range nseg {
		for next[s] < start[s+1] {
			// Carry the pair found at s's next place to its own segment's
			// next place, displacing the pair there, until one belongs to s.
			p := pairs[next[s]]
			for ps := int((p >> 32) & mask); ps != s; ps = int((p >> 32) & mask) {
				pairs[next[ps]], p = p, pairs[next[ps]]
				next[ps]++
			}
			pairs[next[s]] = p
			next[s]++
		}
	}
	groups := make([][]uint64, nseg)
	for s := range groups {
		groups[s] = pairs[start[s]:start[s+1]]
	}
	return groups
}

// buildTable replaces the table with one of depth d whose segment s holds
// the items listed in groups[s] (as hash<<32 | item index, in any order),
// each segment sized for exactly its items. It fills one segment at a time,
// so that segment's slots and the scratch it is built with stay in cache,
// and it reads no item of the slab. This is what makes Builder.Map linear
// in practice, not just in theory: inserting into one big table, in key
// order, costs a cache miss or two per key.
func (m *Map) buildTable(groups [][]uint64, d uint) {
	t := table{dir: make([]uint32, len(groups)), depth: d, segs: make([]segment, len(groups))}
	var b segmentBuilder
	for s, ps := range groups {
		t.dir[s] = uint32(s)
		t.segs[s] = segment{slots: b.build(ps), count: len(ps), depth: d}
	}
	m.tab = t
}

// segmentBuilder makes segments from (hash, item index) pairs without a
// probe: it sorts a segment's pairs by home slot (counting sort, in cache)
// and lays them out left to right, each at its home or just after the
// previous one. Keys in home order, each as close to home as the keys
// before it allow, is exactly a Robin Hood layout. Only the few keys pushed
// past the last slot need a probe, which wraps them to the front.
type segmentBuilder struct {
	count  []int32  // scratch: keys per home slot, then where each home's keys go
	sorted []uint64 // scratch: the pairs by home slot
	hashes []uint32 // scratch: hashes[s] is the hash of the key in slot s
}

// build returns the slots of a segment holding pairs (hash<<32 | index),
// sized by hintSlots.
func (b *segmentBuilder) build(pairs []uint64) []uint32 {
	n := hintSlots(len(pairs))
	slots := make([]uint32, n)
	if cap(b.count) < n+1 {
		b.count = make([]int32, n+1)
		b.hashes = make([]uint32, n)
	}
	if cap(b.sorted) < len(pairs) {
		b.sorted = make([]uint64, len(pairs))
	}
	count, sorted, hashes := b.count[:n+1], b.sorted[:len(pairs)], b.hashes[:n]
	clear(count)
	for _, p := range pairs {
		count[home(uint32(p>>32), n)+1]++
	}
	for i := range n {
		count[i+1] += count[i]
	}
	for _, p := range pairs {
		hm := home(uint32(p>>32), n)
		sorted[count[hm]] = p
		count[hm]++
	}
	next := 0 // the first slot right of every key placed so far
	for i, p := range sorted {
		h := uint32(p >> 32)
		s := max(home(h, n), next)
		if s == n {
			// The rest wrap around. hashes is only read where slots is
			// set, and every slot set so far had its hash written.
			for _, p := range sorted[i:] {
				insertHashed(slots, hashes, uint32(p), uint32(p>>32))
			}
			break
		}
		slots[s], hashes[s] = uint32(p), h
		next = s + 1
	}
	return slots
}
