// Package engine is caskade's single-node store: a Bitcask-style DB whose
// storage is an ordered log (package segment) with an in-memory hash index
// over it (package keydir).
//
// Every write (put, delete, compare-and-swap, produce) appends one record
// to the log and gets the next offset. The keydir maps each key to its
// latest record, so a Get is one hash lookup and one copy out of a
// memory-mapped segment; Scan walks the keydir's ordered view; ReadFrom
// reads the log by offset like a Kafka partition.
//
// # Durability
//
// Options.Sync chooses: SyncAlways (the default) fsyncs before a write
// returns, concurrent writers sharing one fsync (group commit);
// SyncInterval fsyncs in the background; SyncNever leaves it to the OS.
// Records reach the page cache as they are appended, so a crash of the
// process loses nothing under any mode. After an fsync error the DB refuses
// further writes (ErrFailed) and must be reopened.
//
// # Startup
//
// Open rebuilds the keydir by merging the sealed segments' key-sorted hint
// files (no sorting, no per-key tree insert) and scans only segments
// without a valid hint: normally none after a clean Close, the newest one
// after a crash.
//
// # Compaction
//
// Sealed segments collect dead records: values a later write superseded,
// tombstones past TombstoneRetention, keyless records past Retention or
// RetentionBytes, expired TTL values. A background goroutine (every
// Compaction.Interval, inside the merge window) asks compaction.Policy for
// a run of adjacent sealed segments worth merging (dead fraction, total
// dead bytes, small segments), merges it with compaction.Merge into new
// segments that keep the surviving records at their offsets, installs them
// crash-safely (segment.Log.Install), then moves the keydir entries that
// still point at a merged record to its new place, a few hundred per hold
// of DB.kd, and swaps the view. A write since the merge read a key wins
// (its entry no longer matches). Compact does the same on demand.
//
// Only a merge that starts at the log's first segment may drop a key's last
// record (a tombstone, or a value that expired): elsewhere an older record
// of the key could outlive it on disk and come back at the next Open. Such
// a merge keeps the tombstone, and turns an expired value into a tombstone
// at the same offset.
//
// # Concurrency
//
// A DB is safe for concurrent use. DB.writeMu serializes writes so the
// keydir changes in log order; DB.kd (a RWMutex) guards the keydir and is
// held for lookups and updates only, never across I/O or an fsync. Readers
// take kd's read lock just long enough to find an entry and take a
// reference on its segment, then copy the value out of the mapping with no
// lock held. DB.compactMu serializes merges; a merge never holds
// DB.writeMu. Lock order: DB.compactMu, DB.writeMu, DB.kd, DB.gc.mu, then
// the segment log's locks (Log.maint first).
package engine
