// Package compaction decides which sealed segments of a store to merge
// (Policy.Pick, pure and table-tested) and merges them (Merge): it reads
// the chosen segments in offset order, asks the store which records are
// still needed, and writes those into new segments through a
// segment.Builder, at their original offsets.
//
// The package knows nothing of keys' current values: the store passes a
// Decide function (DESIGN §1: compaction learns liveness through a function
// it is given, not by importing engine). Installing the result (the
// crash-safe swap) is the segment log's job (segment.Log.Install), and
// moving the store's index to the new segments is the store's.
//
// Concurrency: Pick is a pure function. Merge runs in the caller's
// goroutine; it holds references on the input segments it reads and takes
// no lock of its own, so reads and writes of the store go on meanwhile.
package compaction
