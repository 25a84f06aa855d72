//go:build failpoints

package replication

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/failpoint"
	"github.com/caskade/caskade/internal/failpoint/fptest"
)

// fpBatches and fpBatchLen shape the child's Raft log: fpBatches calls of
// StoreLogs, fpBatchLen entries each, the term rising every 10 batches.
const (
	fpBatches  = 40
	fpBatchLen = 5
)

// fpTerm is the term of entry index in the child's log.
func fpTerm(index uint64) uint64 { return 1 + (index-1)/(10*fpBatchLen) }

// TestLogStore_FailpointChild stores fpBatches batches, printing "ack
// <last index>" after each StoreLogs returns.
func TestLogStore_FailpointChild(t *testing.T) {
	dir := fptest.Child(t)
	s, err := OpenLogStore(dir, &LogStoreOptions{SegmentBytes: testSegmentBytes})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for b := range uint64(fpBatches) {
		from := b*fpBatchLen + 1
		var logs []*raft.Log
		for i := from; i < from+fpBatchLen; i++ {
			logs = append(logs, testEntry(i, fpTerm(i), 100))
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("ack %d\n", from+fpBatchLen-1)
	}
}

// TestLogStore_RaftLogAppend_Failpoint kills a process between a Raft
// log append and its fsync, at several batches, and reopens the log:
// every batch StoreLogs returned from is there, entry by entry; entries
// of the batch the crash cut short may be there too, but only as stored;
// and the log takes appends again.
func TestLogStore_RaftLogAppend_Failpoint(t *testing.T) {
	for _, hit := range []int{1, 7, fpBatches} {
		t.Run(strconv.Itoa(hit), func(t *testing.T) {
			dir := t.TempDir()
			spec := fmt.Sprintf("%s@%d", failpoint.RaftLogAppend, hit)
			r := fptest.Crash(t, "TestLogStore_FailpointChild", dir, failpoint.RaftLogAppend, failpoint.EnvFailpoints+"="+spec)
			var acked uint64
			for _, l := range r.Lines("ack ") {
				if acked, _ = strconv.ParseUint(l, 10, 64); acked == 0 {
					t.Fatalf("bad child line %q", l)
				}
			}
			if want := uint64((hit - 1) * fpBatchLen); acked != want {
				t.Fatalf("child acknowledged up to %d, want %d", acked, want)
			}
			s := openTestLogStore(t, dir)
			first, _ := s.FirstIndex()
			last, _ := s.LastIndex()
			if last < acked || last > acked+fpBatchLen || acked > 0 && first != 1 {
				t.Fatalf("reopened with entries %d..%d; %d acknowledged, %d more in flight", first, last, acked, fpBatchLen)
			}
			for i := first; i <= last && i > 0; i++ {
				var got raft.Log
				if err := s.GetLog(i, &got); err != nil {
					t.Fatalf("entry %d (acknowledged up to %d): %v", i, acked, err)
				}
				if want := testEntry(i, fpTerm(i), 100); !sameLog(&got, want) {
					t.Fatalf("entry %d = %+v, want %+v", i, got, *want)
				}
			}
			if err := s.StoreLogs([]*raft.Log{testEntry(last+1, fpTerm(last+1), 100)}); err != nil {
				t.Fatalf("append after recovery: %v", err)
			}
		})
	}
}

// fpNodeConfig is the configuration of the one-node cluster in dir, on
// a fresh loopback port (a lone voter elects itself whatever its
// address was before). Snapshots happen only when the test asks, and
// keep few entries behind them, so a restart really restores one.
func fpNodeConfig(t *testing.T, dir string) Config {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		NodeID:             "n1",
		Dir:                dir,
		Listener:           ln,
		Bootstrap:          true,
		Engine:             engine.Options{Compaction: engine.CompactionOptions{Disabled: true}},
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		SnapshotInterval:   time.Hour,
		SnapshotThreshold:  1 << 40,
		TrailingLogs:       2,
		ApplyTimeout:       10 * time.Second,
	}
}

// openFPNode opens the one-node cluster in dir and waits until it leads.
func openFPNode(t *testing.T, dir string) *Node {
	t.Helper()
	n, err := Open(fpNodeConfig(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to lead", n.IsLeader)
	return n
}

// envNodeSteps tells TestNode_FailpointChild what to do: a comma-separated
// list of "put:<prefix>:<n>" (n puts of keys <prefix>000…, one proposal
// each), "snapshot" and "close", run in order after opening the node.
const envNodeSteps = "FPTEST_NODE_STEPS"

// TestNode_FailpointChild opens the one-node cluster in its directory and
// runs the steps of envNodeSteps, printing "ack <key> <offset> <value>"
// for each put once Propose returns.
func TestNode_FailpointChild(t *testing.T) {
	dir := fptest.Child(t)
	n := openFPNode(t, dir)
	defer n.Close()
	for _, step := range strings.Split(os.Getenv(envNodeSteps), ",") {
		f := strings.Split(step, ":")
		switch {
		case f[0] == "put" && len(f) == 3:
			count, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatalf("bad step %q", step)
			}
			for i := range count {
				k, v := fmt.Sprintf("%s%03d", f[1], i), fmt.Sprintf("value-%s%03d", f[1], i)
				op := engine.Op{Kind: engine.OpPut, Key: []byte(k), Value: []byte(v), Timestamp: time.Now().UnixNano()}
				res, err := n.Propose(context.Background(), []engine.Op{op})
				if err != nil {
					t.Fatalf("put %s: %v", k, err)
				}
				if res[0].Err != nil {
					t.Fatalf("put %s: %v", k, res[0].Err)
				}
				fmt.Printf("ack %s %d %s\n", k, res[0].Offset, v)
			}
		case step == "snapshot":
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
		case step == "close":
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			return
		default:
			t.Fatalf("bad step %q", step)
		}
	}
}

// nodeAck is a put a child's node acknowledged.
type nodeAck struct {
	key, value string
	offset     uint64
}

// nodeAcks reads the "ack" lines of child runs.
func nodeAcks(t *testing.T, runs ...fptest.Result) []nodeAck {
	t.Helper()
	var out []nodeAck
	for _, r := range runs {
		for _, l := range r.Lines("ack ") {
			f := strings.Fields(l)
			if len(f) != 3 {
				t.Fatalf("bad child line %q", l)
			}
			off, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("bad child line %q", l)
			}
			out = append(out, nodeAck{f[0], f[2], off})
		}
	}
	return out
}

// checkNodeAcks reopens the node in dir and requires that, once it has
// applied its log, its store holds every acknowledged put, at its
// offset; then that it takes a write.
func checkNodeAcks(t *testing.T, dir string, acks []nodeAck) {
	t.Helper()
	n := openFPNode(t, dir)
	t.Cleanup(func() { _ = n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.LinearizableBarrier(ctx); err != nil {
		t.Fatalf("barrier after recovery: %v", err)
	}
	for _, a := range acks {
		it, err := n.DB().Get([]byte(a.key))
		if err != nil || string(it.Value) != a.value || it.Offset != a.offset {
			t.Fatalf("acknowledged %s=%s at %d; after recovery: %+v, %v", a.key, a.value, a.offset, it, err)
		}
	}
	op := engine.Op{Kind: engine.OpPut, Key: []byte("after"), Value: []byte("recovery"), Timestamp: time.Now().UnixNano()}
	if _, err := n.Propose(ctx, []engine.Op{op}); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
}

// TestNode_Failpoints kills a one-node cluster's process at the Raft
// log append, the FSM apply and snapshot persist and restore, restarts
// it, and checks that every acknowledged write survived.
func TestNode_Failpoints(t *testing.T) {
	tests := []struct {
		name  string
		spec  string // armed in the crashing run
		point string
		setup string // steps of an unarmed run before, if any
		steps string // steps of the crashing run
		// minAcks is how many puts the crashing run must have
		// acknowledged, so the crash came in the middle of the work.
		minAcks int
	}{
		{name: "raft log append", spec: failpoint.RaftLogAppend + "@25", point: failpoint.RaftLogAppend,
			steps: "put:a:60", minAcks: 10},
		{name: "fsm apply", spec: failpoint.FSMApply + "@25", point: failpoint.FSMApply,
			steps: "put:a:60", minAcks: 10},
		{name: "snapshot persist", spec: failpoint.SnapshotPersist, point: failpoint.SnapshotPersist,
			steps: "put:a:40,snapshot,put:b:5", minAcks: 40},
		{name: "snapshot restore", spec: failpoint.SnapshotRestore, point: failpoint.SnapshotRestore,
			setup: "put:a:40,snapshot,put:b:10,close", steps: "put:c:5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var runs []fptest.Result
			if tt.setup != "" {
				runs = append(runs, fptest.Run(t, "TestNode_FailpointChild", dir, envNodeSteps+"="+tt.setup))
			}
			r := fptest.Crash(t, "TestNode_FailpointChild", dir, tt.point,
				failpoint.EnvFailpoints+"="+tt.spec, envNodeSteps+"="+tt.steps)
			if got := len(nodeAcks(t, r)); got < tt.minAcks {
				t.Fatalf("the crashing run acknowledged %d puts, want %d or more", got, tt.minAcks)
			}
			runs = append(runs, r)
			acks := nodeAcks(t, runs...)
			if len(acks) == 0 {
				t.Fatal("no write was acknowledged")
			}
			checkNodeAcks(t, dir, acks)
		})
	}
}
