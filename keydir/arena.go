package keydir

import (
	"fmt"
	"slices"
)

// MaxKeyBytes is the longest key a Map can hold. The engine refuses longer
// keys long before they reach the keydir (MaxKeySize defaults to 4 KiB), so
// Put panics on a longer key: it is a caller bug, not bad input.
const MaxKeyBytes = 1<<keyLenBits - 1

const (
	keyLenBits = 16 // width of the length field of a keyRef
	keyPosBits = 40 // width of the arena position field: 1 TiB of keys
)

// keyRef locates a key in the arena: position<<16 | length. It fits in 56
// bits so that an item can pack it with the flags byte into one word.
type keyRef uint64

func makeKeyRef(pos uint64, n int) keyRef { return keyRef(pos<<keyLenBits | uint64(n)) }

func (r keyRef) pos() uint64 { return uint64(r) >> keyLenBits }
func (r keyRef) len() int    { return int(uint64(r) & (1<<keyLenBits - 1)) }

// arena stores the bytes of every key once, in chunks of 1<<shift bytes.
// Positions are global: chunk number<<shift + position in the chunk. Only
// the chunk that takes new keys grows (by copying, while it is small); full
// chunks never move, so growth never copies old keys.
//
// Deleted keys leave dead bytes behind. When they outweigh the live ones
// the Map evacuates the arena (see Map.evacuate): it marks every chunk in
// use as one to empty, steers new keys to fresh chunks, copies the live
// keys of the marked chunks out a few at a time, and frees the marked
// chunks once none is referred to. A freed chunk's number is reused by a
// later chunk, so positions stay below twice the arena's peak size.
type arena struct {
	// Invariant: len(chunks[i]) <= 1<<shift for every i, and a key lies
	// wholly inside one chunk, so a position never straddles two chunks.
	// A nil chunk is free: no key refers to it.
	chunks [][]byte
	shift  uint // log2 of the chunk size; MaxKeyBytes must fit a chunk (tests shrink it)
	// Invariant: cur == -1 or chunks[cur] != nil, and cur is never a
	// chunk being evacuated.
	cur int // the chunk new keys are appended to; -1: start one at the next add

	// Invariant: live + dead == sum of len(chunks[i]) (bytes skipped at the
	// end of a chunk are beyond its len and counted in neither).
	live int64 // bytes of keys that items refer to
	dead int64 // bytes of deleted keys not yet reclaimed by a rewrite

	// Invariant: from == nil when no evacuation runs; during one,
	// len(from) == len(chunks), from[i] marks the chunks that were in use
	// when it began, and every live key in a marked chunk lies at or after
	// the Map's evacuation cursor in key order.
	from []bool
}

// firstChunkBytes is where a small arena's chunk starts before growing, so
// that a small Map (tests, a near-empty store) does not pay for a whole
// chunk.
const firstChunkBytes = 4 << 10

// growCap is the capacity a chunk that started small grows to when it needs
// room for need: double, but straight to full size once past a quarter of
// it. A growth copies the chunk into new memory, whose first touch costs a
// page fault per 4 KiB (milliseconds per MiB on some virtual machines);
// capping the copy at a quarter chunk keeps that pause small, at the price
// of a whole chunk for small maps a bit sooner.
func growCap(cur, need, size int) int {
	if c := max(2*cur, need); c <= size/4 {
		return c
	}
	return size
}

func newArena(shift uint) arena { return arena{shift: shift, cur: -1} }

// add copies key into the arena and returns its reference.
func (a *arena) add(key []byte) keyRef {
	n := len(key)
	if n == 0 {
		// The empty key owns no bytes; position 0 could name a chunk
		// that does not exist yet, so bytes() never looks it up.
		return 0
	}
	size := 1 << a.shift
	if n > size {
		panic(fmt.Sprintf("keydir: key of %d bytes exceeds the arena chunk of %d bytes", n, size))
	}
	if a.cur < 0 || len(a.chunks[a.cur])+n > size {
		// Start a new chunk; the tail of the previous one stays unused.
		a.startChunk(n)
	}
	cur := a.cur
	if c := a.chunks[cur]; len(c)+n > cap(c) {
		// Only reachable for a chunk that started small.
		grown := make([]byte, len(c), growCap(cap(c), len(c)+n, size))
		copy(grown, c)
		a.chunks[cur] = grown
	}
	pos := uint64(cur)<<a.shift + uint64(len(a.chunks[cur]))
	if pos+uint64(n) > 1<<keyPosBits {
		panic("keydir: key arena exceeds 1 TiB")
	}
	// Appending in place lets the compiler store only the length: no
	// write barrier per key while the GC runs.
	a.chunks[cur] = append(a.chunks[cur], key...)
	a.live += int64(n)
	return makeKeyRef(pos, n)
}

// startChunk makes a new chunk, under the lowest free chunk number, the one
// new keys go to. Only an arena holding less than a chunk of live keys
// starts it small: a bigger store can pay for whole chunks.
func (a *arena) startChunk(n int) {
	size := 1 << a.shift
	c := size
	if a.live < int64(size) {
		c = min(size, max(firstChunkBytes, n))
	}
	i := slices.IndexFunc(a.chunks, func(c []byte) bool { return c == nil })
	if i < 0 {
		i = len(a.chunks)
		a.chunks = append(a.chunks, nil)
		if a.from != nil {
			a.from = append(a.from, false)
		}
	}
	a.chunks[i] = make([]byte, 0, c)
	a.cur = i
}

// bytes returns the key r refers to. The slice aliases the arena; its
// capacity is clipped so that an append by the caller cannot overwrite the
// next key.
func (a *arena) bytes(r keyRef) []byte {
	if r.len() == 0 {
		return []byte{}
	}
	p := r.pos()
	c := a.chunks[p>>a.shift]
	start := int(p & (1<<a.shift - 1))
	end := start + r.len()
	return c[start:end:end]
}

// release marks the key r refers to as dead.
func (a *arena) release(r keyRef) {
	a.live -= int64(r.len())
	a.dead += int64(r.len())
}

// needsRewrite reports whether dead bytes have grown past both the live
// bytes and minGarbage, the point at which rewriting pays for itself: the
// rewrite costs O(live) and at least that many bytes were deleted since the
// previous one.
func (a *arena) needsRewrite(minGarbage int64) bool {
	return a.dead > a.live && a.dead >= minGarbage
}

// beginEvacuation marks every chunk in use as one to empty, and makes the
// next add start a fresh chunk.
func (a *arena) beginEvacuation() {
	a.from = make([]bool, len(a.chunks))
	for i, c := range a.chunks {
		a.from[i] = c != nil
	}
	a.cur = -1
}

// evacuating reports whether the key r refers to lies in a chunk being
// emptied.
func (a *arena) evacuating(r keyRef) bool {
	return a.from != nil && r.len() > 0 && a.from[r.pos()>>a.shift]
}

// move copies the key r refers to out of a chunk being emptied, and returns
// the new reference.
func (a *arena) move(r keyRef) keyRef {
	// The source stays valid while add runs: add writes only to a chunk
	// that is not being emptied, and never moves a marked one.
	nr := a.add(a.bytes(r))
	a.release(r)
	return nr
}

// endEvacuation frees the chunks that were being emptied; the caller has
// moved every live key out of them, so all their bytes are dead.
func (a *arena) endEvacuation() {
	for i, f := range a.from {
		if f {
			a.dead -= int64(len(a.chunks[i]))
			a.chunks[i] = nil
		}
	}
	a.from = nil
	for n := len(a.chunks); n > 0 && a.chunks[n-1] == nil; n-- {
		a.chunks = a.chunks[:n-1]
	}
}

// chunksInUse is the number of chunks holding bytes.
func (a *arena) chunksInUse() int {
	n := 0
	for _, c := range a.chunks {
		if c != nil {
			n++
		}
	}
	return n
}

// heapBytes is the memory the arena holds, including unused capacity.
func (a *arena) heapBytes() int64 {
	n := int64(cap(a.chunks))*24 + int64(cap(a.from)) // slice headers, marks
	for _, c := range a.chunks {
		n += int64(cap(c))
	}
	return n
}
