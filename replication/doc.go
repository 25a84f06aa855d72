// Package replication replicates a caskade store with Raft
// (hashicorp/raft). LogStore is the Raft log, kept on a segment log of its
// own; FSM applies commands (EncodeCommand batches of engine.Op, with
// times fixed by the leader) to an engine store, so every replica holds
// the same records at the same offsets; Node runs Raft over them, with a
// StreamLayer (RaftByte, then TLS) on a listener the caller shares with
// gRPC.
//
// The FSM's store runs with engine.SyncNever and is rebuilt at every
// start: OpenFSM empties it, and Raft restores the last snapshot (an
// engine checkpoint behind a 16-byte header) and replays its log.
// Linearizable reads use Node.LinearizableBarrier on the leader; a
// follower gets the leader's Node.ReadIndex over RPC (agent) and calls
// Node.WaitApplied.
//
// # The Raft log
//
// LogStore implements raft.LogStore on the segment log of package
// engine/segment, in a directory of its own, apart from user data: Raft
// truncates its log after snapshots and on conflicts, and that must never
// touch user records. Each Raft entry is one segment record whose offset is
// the entry's index, so reading an entry is a lower-bound lookup in a
// segment index and a copy out of a memory map, and StoreLogs writes a
// whole batch with one append and one fsync.
//
// # Entry (segment record Key and Value), little endian; must never change
//
//	Key, 32 bytes:
//	 0  1  2  3  4        12       20   24     28     32
//	+--+--+--+--+--------+--------+----+------+------+
//	|v |ty|fl|0 |  term  |  sec   |nsec|extlen|datlen|
//	+--+--+--+--+--------+--------+----+------+------+
//	Value: extensions (extlen bytes), then data (datlen bytes)
//
//	v       entry format version, 1
//	ty      raft.LogType
//	fl      flags: bit 0 AppendedAt is set; other bits corrupt
//	0       reserved, must be zero
//	term    uint64, raft.Log.Term
//	sec     int64 unix seconds of AppendedAt; 0 unless fl bit 0
//	nsec    uint32 nanoseconds of AppendedAt, < 1e9; 0 unless fl bit 0
//	extlen  uint32 length of raft.Log.Extensions
//	datlen  uint32 length of raft.Log.Data; 32+extlen+datlen is the whole
//	        entry, exactly
//
// The record's own offset is the entry's index (raft.Log.Index); the
// record's timestamp and expiry are 0 and its flags empty. The header sits
// in the record key so that Data is handed to the segment log as it is,
// without being copied into a scratch buffer first.
//
// # First index (file raft-first-index), little endian; must never change
//
//	 0        8        16       24
//	+--------+--------+--------+
//	| magic  | floor  |checksum|   magic "CSKRFST1", checksum xxhash64
//	+--------+--------+--------+   of bytes 0..16
//
// The segment log can only drop whole segments from its head, so after a
// DeleteRange of the head the entries below the new first index may still
// be on disk. floor says where the live entries start: records below it
// are deleted. The file is written under a temporary name, fsynced and
// renamed into place (and the directory fsynced) before any segment is
// removed, so a crash leaves either the old floor or the new one, and
// entries, once deleted, never come back. A missing file means floor 0.
//
// The live entries are the records with offsets >= floor: FirstIndex is the
// offset of the first of them and LastIndex that of the last one (0 and 0
// when there is none). Deleting everything raises floor above every record
// first, then empties the segment log; the first StoreLogs after that
// lowers it again if its index is below it (once no record at or above
// that index is left). Offsets may have gaps
// (Raft stores the first entry after a snapshot restore at the snapshot's
// index plus one, whatever the log held before): GetLog of an index in a
// gap returns raft.ErrLogNotFound, so LogStore does not implement
// raft.MonotonicLogStore.
//
// # Concurrency
//
// A LogStore is safe for concurrent use: Raft calls it from its main
// loop, its replication goroutines and its snapshot goroutine. Changes
// (StoreLogs, DeleteRange, Close) are serialized by LogStore.wmu, which is
// held across appends, fsyncs and truncations. Readers (GetLog,
// FirstIndex, LastIndex) do not take it: they read the live range under
// LogStore.mu, held only to read or update a few integers, and then read
// the segment log, which takes no lock for reads. (A GetLog whose read
// raced a tail cut, which Raft never makes happen, waits on LogStore.wmu
// for the cut to end and reads again.) Lock order: LogStore.wmu,
// then LogStore.mu; nothing calls into the segment log while holding mu.
package replication
