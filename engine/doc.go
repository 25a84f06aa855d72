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
// # Concurrency
//
// A DB is safe for concurrent use. DB.writeMu serializes writes so the
// keydir changes in log order; DB.kd (a RWMutex) guards the keydir and is
// held for lookups and updates only, never across I/O or an fsync. Readers
// take kd's read lock just long enough to find an entry and take a
// reference on its segment, then copy the value out of the mapping with no
// lock held. Lock order: DB.writeMu, DB.kd, DB.gc.mu, then the segment
// log's locks.
package engine
