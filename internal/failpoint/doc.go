// Package failpoint holds caskade's crash points and deliberate bugs, for
// the robustness suite (tests/robustness) and for recovery tests. They
// exist only in a binary built with the failpoints build tag:
//
//	go build -tags failpoints -o bin/caskade-fp ./cmd/caskade
//	make test-failpoints   # go test -race -tags failpoints on the packages that have them
//
// In a normal build Hit is an empty function that inlines to nothing and
// Bug is the constant false, so the code they guard compiles away (the
// assembly of BenchmarkHit's loop is an empty loop). A normal build that
// finds CASKADE_FAILPOINTS or CASKADE_BUGS set refuses to start (exit
// status 2): the faults asked for would silently not happen.
//
// # Crash points
//
// Each crash point is one line failpoint.Hit(name) in the code; Names
// lists them, and each name's constant says where it is and what a crash
// there leaves on disk:
//
//	raft-log-append     LogStore.StoreLogs: entries appended, not yet fsynced
//	fsm-apply           FSM.ApplyBatch: committed entries applied, results not yet returned
//	compaction-outputs  merge outputs written and fsynced, marker not yet written
//	compaction-marker   merge marker durable, no input removed yet
//	compaction-rename   after each input file removed and each output renamed into place
//	compaction-swap     all merge files in place, marker not yet removed
//	snapshot-persist    snapshot image written to Raft's sink, sink not closed
//	snapshot-restore    restore: old store moved aside, new one not yet in place
//
// The environment arms them, read once when the process starts:
//
//	CASKADE_FAILPOINTS=name[,name...]   crash at the first hit of name
//	                   name@N           crash at the N-th hit (N >= 1)
//	                   name%P           crash at each hit with probability P in (0, 1]
//	CASKADE_FAILPOINTS_SEED=S           seed of the %P draws (decimal int64); unset: from
//	                                    the clock, printed at start
//
// Counts are per process: a restarted node starts from zero. The %P draw
// of a hit depends only on the seed, the point and the hit's number, so
// a run with the same seed crashes at the same hit of each point. An
// unknown name, a repeated one, a count below 1, a probability outside
// (0, 1] or an empty entry stops the process at start with exit status 2
// and a message naming the mistake. A process with anything armed says
// so on stderr at start ("caskade: failpoints armed: ...").
//
// When an armed point fires, the process writes one line to stderr,
//
//	FAILPOINT CRASH name=<name> hit=<n>
//
// (CrashMarker; ParseCrash finds it) and kills itself with SIGKILL, as
// kill -9 would: no deferred function, no flush, no fsync runs. A harness
// tells a failpoint crash from another death by that line.
// compaction-rename is hit also when Open finishes a merge a crash
// interrupted: restart a crashed process without the point armed, or it
// may crash again during recovery.
//
// A cluster node rebuilds its store (data/) from Raft's snapshot and log
// at every start, so after a crash at a compaction point the node's merge
// recovery is not what brings it back; engine's recovery tests cover that
// (engine/failpoint_test.go), and a node crashing there checks that the
// rebuild holds every acknowledged write.
//
// # Deliberate bugs
//
// Bugs make a node break its guarantees on purpose, so that a
// linearizability checker can be shown to catch it. CASKADE_BUGS is a
// comma-separated list of:
//
//	stale-linearizable-reads  LINEARIZABLE reads answered from local state, with no
//	                          ReadIndex or leadership check; followers apply each
//	                          entry StaleLag (300 ms) after the leader appended it
//	drop-acked-writes         the leader acknowledges every DropEvery-th (5th) Put or
//	                          unary Produce it receives without proposing it to Raft
//
// Each bug is a few lines where it acts, behind
// `if failpoint.Bug(failpoint.BugX)`.
//
// # Tests
//
// Recovery tests run their crashing half in a subprocess (package fptest)
// and check the directory it left. Tests that need a bug in their own
// process call Configure (failpoints build only), which replaces the
// environment's configuration until the returned restore runs.
//
// # Concurrency
//
// Hit, Hits and Bug are safe for concurrent use. The configuration is
// process-wide state, swapped whole (atomically) by init and Configure.
package failpoint
