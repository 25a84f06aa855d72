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
// rehash, no caching, no reordering, and they never advance an arena
// rewrite that is under way), which is what makes that contract race-free.
// The key slice Ascend hands to its callback aliases the arena and is valid
// only during the callback, since a later Put or Delete may move the key
// while rewriting the arena.
//
// # Pauses
//
// The writer holds the engine's write lock during every Put and Delete, so
// no single call may do work proportional to the size of the map. Work that
// a plain hash table does at once is bounded or spread out:
//
//   - the hash table is a directory of segments (extendible hashing, see
//     table.go): a Put that fills a segment resizes or splits that segment
//     only, at most maxSegSlots = 8192 slots, about a millisecond;
//   - the arena is rewritten incrementally: each Put and Delete copies at
//     most 64 keys of it, in key order, and stops early once it has copied
//     16 KiB (see Map.evacuate);
//   - the slab and arena grow by chunks of 256 KiB, and a chunk that
//     starts small grows by copying at most a quarter of one;
//   - an ordered block holds at most 1024 keys.
//
// At a million keys the longest Put or Delete is then about a millisecond
// of work (BenchmarkMap_PutMaxPause, BenchmarkMap_DeleteMaxPause), where a
// whole-table resize or arena rewrite used to take 50-150 ms. The ordered
// view's list of blocks (56 bytes per ~700 keys) and the directory are still
// copied whole when they grow; both stay under 200 KiB at a million keys.
//
// # Memory layout
//
// Memory per key is a product figure (DESIGN.md §4), so a Map holds no
// per-key pointers: the garbage collector never scans its bulk, and every
// structure is a flat array of integers or bytes.
//
//	keys     arena: chunks of 256 KiB of key bytes, each key stored once;
//	         a key never straddles two chunks, chunks never move once full.
//	entries  slab: chunks of 32-byte items addressed by a uint32 index
//	         (index 0 is reserved so that 0 can mean "empty"); freed items
//	         are chained into a free list and reused.
//	hash     table: a directory of segments picked by the low bits of the
//	         hash; each segment is open addressing over []uint32 item
//	         indices, Robin Hood linear probing from a "fastrange" home
//	         slot, deletion by backward shift (no tombstones).
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
//	hash   = 32-bit hash of the key under the Map's random seed: the tag
//	         that skips most key compares, the source of the segment (low
//	         bits) and of the home slot (all bits), so the table can be
//	         resized, split and probed without rehashing keys.
//
// For 1M keys of 16 bytes this comes to 61–63 bytes per key: 16 of key,
// 32 of item, 5–7 of hash table (each segment's load kept in [0.6, 0.8]),
// about 6.5 of ordered view, and chunk slack; see BenchmarkMap_Memory.
//
// # Startup
//
// Builder loads keys in ascending order: each Add appends the key to the
// arena, its item to the slab and its index to the last ordered block, all
// sequential writes, and files (hash, index) under the segment its hash
// picks, with the directory depth derived from the size hint. Map then
// builds each segment in turn from its own list, in cache: a counting sort
// by home slot and a left-to-right layout, no probing and no reads of the
// slab. Inserting into one big table in key order instead costs a cache
// miss or two per key, which made that most of the time of a startup.
//
// # Arena rewrites
//
// Deleting a key leaves its bytes dead in the arena (replacing an entry
// reuses the stored key). When dead bytes exceed both live bytes and 1 MiB,
// the arena is rewritten compactly, in key order: every chunk in use is
// marked to be emptied, new keys go to fresh chunks, each Put and Delete
// then copies the next few live keys (in the ordered view, after a cursor)
// out of the marked chunks, and the last step frees them. A rewrite costs
// O(live) in all and is paid at most once per that many deleted bytes; a
// map of at most 4096 keys (256 KiB) is rewritten in one go. The slab and
// the arena never shrink otherwise: freed items are reused by later Puts,
// as a Go map reuses its buckets, and segments emptied by deletes shrink
// but never merge.
package keydir
