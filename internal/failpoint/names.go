package failpoint

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Crash points, in the order a write meets them. Each names one line
// `failpoint.Hit(name)` in the code; the comment says where it is and what
// a crash there leaves on disk. The names are part of the interface of the
// robustness suite: never rename one.
const (
	// RaftLogAppend is in replication.LogStore.StoreLogs, after a batch of
	// Raft entries was appended to the segment log and before the fsync:
	// Raft has not been told the entries are stored (they may or may not
	// be back after the crash; kill -9 keeps the page cache, so usually
	// they are).
	RaftLogAppend = "raft-log-append"
	// FSMApply is in replication.FSM.ApplyBatch, after the store applied
	// a batch of committed entries and before the results go back to
	// Raft: the entries are committed, the writers got no answer.
	FSMApply = "fsm-apply"
	// CompactionOutputs is in segment.Builder.Finish, after a merge's
	// outputs were written and fsynced under temporary names and before
	// the merge marker: the merge never committed (Open removes the
	// temporaries, the inputs stay).
	CompactionOutputs = "compaction-outputs"
	// CompactionMarker is in segment.Log.Install, after the merge marker
	// is durable and before any input file is removed: the merge
	// committed (Open finishes it).
	CompactionMarker = "compaction-marker"
	// CompactionRename is hit after each file a committed merge removes
	// (an input's) or renames into place (an output's), so name@N crashes
	// with some but not all of them done. Open, finishing an interrupted
	// merge, takes the same steps and hits it too: restart a process that
	// crashed here without the failpoint armed.
	CompactionRename = "compaction-rename"
	// CompactionSwap is in segment.Swap.Finish, after the view switched to
	// the outputs and before the merge marker is removed: every file is
	// in place, the marker still says the merge may need finishing.
	CompactionSwap = "compaction-swap"
	// SnapshotPersist is in the FSM snapshot's Persist, after the whole
	// image was written to Raft's snapshot sink and before the sink is
	// closed: Raft's snapshot store holds an unfinished snapshot.
	SnapshotPersist = "snapshot-persist"
	// SnapshotRestore is in replication.FSM.Restore, after the snapshot
	// was restored into data.restore and the old store moved aside to
	// data.old, before the new one is moved into place: the FSM has no
	// data directory at all.
	SnapshotRestore = "snapshot-restore"
)

// Deliberate bugs, for showing that the robustness suite's checker fails
// a history that is not linearizable. Never rename one.
const (
	// BugStaleReads makes a node answer LINEARIZABLE reads (Get, Consume,
	// Scan) from its local store without a ReadIndex or leadership check,
	// and makes a follower apply each committed entry no sooner than
	// StaleLag after the leader appended it, so its reads trail the
	// leader's writes by about that much.
	BugStaleReads = "stale-linearizable-reads"
	// BugDropAckedWrites makes the leader acknowledge every DropEvery-th
	// Put or unary Produce it receives (directly or forwarded; one count
	// for both) without proposing it to Raft, answering the log's next
	// offset as if it had been written: a later read misses an
	// acknowledged write.
	BugDropAckedWrites = "drop-acked-writes"
)

// StaleLag is how long after the leader appended an entry a follower
// applies it under BugStaleReads.
const StaleLag = 300 * time.Millisecond

// DropEvery is the n of BugDropAckedWrites: the leader drops every n-th
// write it receives.
const DropEvery = 5

// names and bugNames list the constants above, in order.
var (
	names = []string{
		RaftLogAppend, FSMApply,
		CompactionOutputs, CompactionMarker, CompactionRename, CompactionSwap,
		SnapshotPersist, SnapshotRestore,
	}
	bugNames = []string{BugStaleReads, BugDropAckedWrites}
)

// Names returns the names of every crash point.
func Names() []string { return slices.Clone(names) }

// BugNames returns the names of every deliberate bug.
func BugNames() []string { return slices.Clone(bugNames) }

// Environment variables read once when a failpoints build starts.
const (
	// EnvFailpoints arms crash points: a comma-separated list of name
	// (crash at the first hit), name@N (at the N-th hit) or name%P (at
	// each hit with probability P in (0, 1]).
	EnvFailpoints = "CASKADE_FAILPOINTS"
	// EnvSeed seeds the name%P draws (a decimal int64); unset means a
	// seed from the clock, printed when the points are armed.
	EnvSeed = "CASKADE_FAILPOINTS_SEED"
	// EnvBugs enables deliberate bugs: a comma-separated list of bug
	// names.
	EnvBugs = "CASKADE_BUGS"
)

// CrashMarker begins the one line a process writes to stderr just before
// a failpoint kills it:
//
//	FAILPOINT CRASH name=raft-log-append hit=3
const CrashMarker = "FAILPOINT CRASH"

// crashLine is the line written before a crash at the hit-th hit of name.
func crashLine(name string, hit uint64) string {
	return CrashMarker + " name=" + name + " hit=" + strconv.FormatUint(hit, 10) + "\n"
}

// ParseCrash finds a failpoint crash line in a process's stderr output
// and returns the point's name and the hit that crashed it; ok is false
// when there is none (the process died of something else).
func ParseCrash(stderr string) (name string, hit uint64, ok bool) {
	for line := range strings.Lines(stderr) {
		rest, found := strings.CutPrefix(strings.TrimSpace(line), CrashMarker+" name=")
		if !found {
			continue
		}
		n, h, found := strings.Cut(rest, " hit=")
		if !found {
			continue
		}
		hit, err := strconv.ParseUint(h, 10, 64)
		if err != nil {
			continue
		}
		return n, hit, true
	}
	return "", 0, false
}
