package keydir

import "fmt"

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
// Positions are global: chunk index<<shift + position in the chunk. Only the
// last chunk grows (by copying, while it is small); full chunks never move,
// so growth never copies old keys.
type arena struct {
	// Invariant: len(chunks[i]) <= 1<<shift for every i, and a key lies
	// wholly inside one chunk, so a position never straddles two chunks.
	chunks [][]byte
	shift  uint // log2 of the chunk size; MaxKeyBytes must fit a chunk (tests shrink it)

	// Invariant: live + dead == sum of len(chunks[i]) (bytes skipped at the
	// end of a chunk are beyond its len and counted in neither).
	live int64 // bytes of keys that items refer to
	dead int64 // bytes of deleted keys not yet reclaimed by a rewrite
}

// firstChunkBytes is where the first chunk starts before doubling, so that a
// small Map (tests, a near-empty store) does not pay for a whole chunk.
const firstChunkBytes = 4 << 10

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
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+n > size {
		// Start a new chunk; the tail of the previous one stays unused.
		// Only the very first chunk starts small: once the arena holds a
		// full chunk, the store is big enough to pay for whole chunks.
		c := size
		if last < 0 {
			c = min(size, max(firstChunkBytes, n))
		}
		a.chunks = append(a.chunks, make([]byte, 0, c))
		last++
	}
	c := a.chunks[last]
	if len(c)+n > cap(c) {
		// Only reachable for the first chunk while it is below full size.
		grown := make([]byte, len(c), min(size, max(2*cap(c), len(c)+n)))
		copy(grown, c)
		c = grown
	}
	pos := uint64(last)<<a.shift + uint64(len(c))
	if pos+uint64(n) > 1<<keyPosBits {
		panic("keydir: key arena exceeds 1 TiB")
	}
	a.chunks[last] = append(c, key...)
	a.live += int64(n)
	return makeKeyRef(pos, n)
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

// heapBytes is the memory the arena holds, including unused capacity.
func (a *arena) heapBytes() int64 {
	n := int64(cap(a.chunks)) * 24 // slice headers
	for _, c := range a.chunks {
		n += int64(cap(c))
	}
	return n
}
