// Package keydir is the in-memory index of a caskade store: for every live
// key it records where the key's latest record lives (Entry), answers point
// lookups in O(1) and walks keys in byte order for range scans at a cost of
// O(log n + keys returned). It is pure data: no I/O, no goroutines, no clock.
//
// # Concurrency
//
// A Map (and a Builder) is not safe for concurrent use by itself. The engine
// guards it with a sync.RWMutex: Put, Delete and Relocate need the write
// lock; Get, Ascend, Len and HeapBytes only read and may run concurrently
// with each other under the read lock. Reads never mutate anything (no lazy
// rehash, no caching, no reordering), which is what makes that contract
// race-free. The key slice Ascend hands to its callback aliases the arena and
// is valid only during the callback, since a later Delete may trigger an
// arena rewrite.
//
// # Memory layout
//
// Memory per key is a product figure (DESIGN.md §4), so a Map holds no
// per-key pointers: the garbage collector never scans its bulk, and every
// structure is a flat array of integers or bytes.
//
//	keys     arena: chunks of 1 MiB of key bytes, each key stored once;
//	         a key never straddles two chunks, chunks never move once full.
//	entries  slab: chunks of 32-byte items addressed by a uint32 index
//	         (index 0 is reserved so that 0 can mean "empty"); freed items
//	         are chained into a free list and reused.
//	hash     table: open addressing over []uint32 item indices, Robin Hood
//	         linear probing from a "fastrange" home slot, deletion by
//	         backward shift (no tombstones).
//	order    a SortedList-like list of sorted blocks of item indices (at
//	         most 1024 per block); beside each block's indices, 2-byte
//	         abbreviations of its keys (the bytes after the prefix all keys
//	         of the block share), and for each block the first 8 bytes of
//	         its first key, so that searches compare small arrays and
//	         dereference an item only to break ties (see ordered.go).
//
// One item of the slab (32 bytes, little-endian in memory, no padding):
//
//	 0        8                   16       20       24       28       32
//	 +--------+-------------------+--------+--------+--------+--------+
//	 | offset | keyRef<<8 | flags |  seg   |  pos   |  size  |  hash  |
//	 +--------+-------------------+--------+--------+--------+--------+
//
//	keyRef (56 bits) = arena position (40 bits) << 16 | key length (16 bits)
//	hash   = 32-bit hash of the key under the Map's random seed: both the tag
//	         that skips most key compares and the source of the home slot,
//	         so the table can be resized and probed without rehashing keys.
//
// For 1M keys of 16 bytes this comes to 61–63 bytes per key: 16 of key,
// 32 of item, 5–7 of hash table (load factor kept in [0.6, 0.8]), about 6.5
// of ordered view, and chunk slack; see BenchmarkMap_Memory.
//
// Deleting a key leaves its bytes dead in the arena (replacing an entry
// reuses the stored key). When dead bytes exceed both live bytes and 1 MiB
// the arena is rewritten compactly, in key order; the cost is linear in the
// live bytes and is paid at most once per that many deleted bytes, but it is
// paid inside one Delete (tens of milliseconds for a million keys). The slab
// and the arena never shrink otherwise: freed items are reused by later
// Puts, as a Go map reuses its buckets.
package keydir
