// Package segment is caskade's on-disk format: the record codec, the
// segment files (.log, .idx, .hint) and the segment log built from them.
// It is usable and testable without a DB: the engine stores user data in
// one Log, and the Raft log store keeps its own Log in its own directory.
//
// # Files
//
// A log is a directory of segments named by their base offset, zero-padded
// to 20 digits: 00000000000000000001.log, .idx and (once sealed) .hint.
// An offset is a record's place in the log; a position is a byte position
// inside a .log file. The two are never mixed.
//
// # Record (.log), little endian; the layout must never change
//
//	 0        8        16       24       32 33     37     41
//	+--------+--------+--------+--------+--+------+------+-----+-------+
//	|checksum| offset |  time  | expiry |fl|keylen|vallen| key | value |
//	+--------+--------+--------+--------+--+------+------+-----+-------+
//	checksum  xxhash64 of every byte after it (offset .. value)
//	offset    uint64, never 0 (a zero-filled region never decodes)
//	time      int64 unix ns when the write was accepted
//	expiry    int64 unix ns after which the key reads as absent; 0 unless
//	          flag bit 1 is set
//	fl        flags: bit 0 tombstone, bit 1 has expiry; other bits corrupt
//	keylen    uint32 <= MaxKeyLen (65535); 0 for keyless records
//	vallen    uint32 <= MaxValueLen (1 GiB)
//
// # Index entry (.idx), little endian; must never change
//
//	 0        8        16
//	+--------+--------+
//	| offset |position|     16 bytes, sorted by offset, absolute offsets
//	+--------+--------+
//
// Offsets are strictly increasing but may have gaps (compaction drops
// records and keeps offsets), so lookups are lower-bound binary searches:
// the first entry with offset >= the one asked for. The active segment's
// index is preallocated; an all-zero entry marks its end.
//
// # Hint entry (.hint), little endian; must never change
//
//	 0  1     3        11   15   19       27       35
//	+--+-----+--------+----+----+--------+--------+-----+
//	|fl|klen | offset |pos |size|  time  | expiry | key |
//	+--+-----+--------+----+----+--------+--------+-----+
//
// One entry per key the segment touches (its latest record there,
// tombstones included), sorted by key, then a 56-byte trailer: entry count,
// size of the .log the hints describe, number of .idx entries and xxhash64
// of the .idx bytes written with them, bytes of keyless records in the
// .log, xxhash64 of everything before it, magic "CSKHINT2". A hint whose trailer does not match its .log is
// ignored; an .idx that does not match the hint's checksum is rebuilt.
//
// # Writing and durability
//
// The active segment's .log is preallocated to SegmentBytes and written
// through a shared memory map: an append is a copy into memory and the
// data is in the page cache at once, so a crash of the process loses
// nothing. Sync (fdatasync) makes it durable against a crash of the
// machine. A log synced after nearly every append (Options.ZeroFill: the
// Raft log, a store with Sync=always) writes with pwrite instead, into
// blocks a background goroutine zeroed ahead of it, so that its fdatasyncs
// flush data without a journal commit (zerofill.go). When the active segment fills up, a new one starts at once and
// a background goroutine finishes the old one: cut the files to their
// contents, fsync them, write the hint file, fsync the directory.
//
// # Recovery
//
// Open trusts a segment whose hint file matches its .log and whose index
// matches the checksum in the hint (a sequential read of the index, and of
// the last record only); any other segment is scanned record by record,
// rebuilding its index. In the newest segment the scan stops at the first
// record that does not verify and the rest is zeroed (a torn tail). In an
// older segment a zero tail may follow the records; a torn tail is accepted
// only if the segment's seal never finished (no hint, file still at its
// preallocated size) and no valid record follows the tear: such a segment
// was never synced whole, so (Sync flushes older segments first) no record
// after it was acknowledged, and Open cuts the log there, dropping the newer
// segments. Anything else is corruption, reported as a *FileError with the
// file and position, and is never served as data.
//
// # Merges
//
// A merge (merge.go) replaces adjacent sealed segments by new ones holding
// a subset of their records at the same offsets, so an .idx may have gaps
// and ReadFrom finds a record by lower bound. The outputs are written under
// temporary names (.merge) and fsynced; the MERGE marker, listing input
// and output bases, is the commit point; then the inputs are removed and
// the outputs renamed into place. Open finishes a merge whose marker it
// finds and removes the temporaries of one that never committed, so a
// crash leaves the old segments or the new ones, never a mix. A snapshot
// (snapshot.go) is a tar of the segment files as of one moment, ending
// with a manifest of their sizes and xxhash64s (snapshot_manifest.go).
//
// # Concurrency
//
// A Log is safe for concurrent use. Appends and truncations are serialized
// by Log.mu; readers take no lock: they load an immutable view of the
// segments, hold a reference on each segment they read, and see only
// records published (index length, then size) after their bytes were
// written. Log.maint serializes merges, truncations and snapshots. Lock
// order: Log.maint, Log.syncMu, Log.mu, Segment.fileMu. No fsync runs
// under Log.mu on the append path; truncations (rare: retention, Raft
// conflicts and snapshots) hold it while they make the cut durable, since
// they must not return before it is.
package segment
