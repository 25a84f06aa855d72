package compaction

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// mergeNice is the nice value a merge's thread runs at: the merge uses
// idle CPU freely but yields it to the store's readers and writers, as
// RocksDB's LowerThreadPoolCPUPriority does for its compaction threads.
const mergeNice = 10

// lowerPriority pins the calling goroutine to its OS thread and lowers
// that thread's CPU priority. The goroutine must exit without unlocking,
// so that the runtime discards the thread instead of reusing it at the
// lower priority.
func lowerPriority() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), mergeNice) // best effort
}
