package replication

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	"pgregory.net/rapid"
)

// logStoreMachine runs a LogStore against a map from index to entry, with
// the operations Raft uses: appends (past a gap after a snapshot, or at any
// index on an empty store), head deletes after snapshots, tail deletes on
// conflicts (followed by a new term), deleting everything, reopening and
// crashing.
type logStoreMachine struct {
	base  string // holds this run's directories
	s     *LogStore
	model map[uint64]*raft.Log
	term  uint64 // the term new entries get
}

func newLogStoreMachine(t *rapid.T, base string) *logStoreMachine {
	dir, err := os.MkdirTemp(base, "run")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	m := &logStoreMachine{base: dir, model: make(map[uint64]*raft.Log), term: 1}
	m.s = m.open(t, filepath.Join(dir, "raft"))
	t.Cleanup(func() {
		_ = m.s.Close()
		_ = os.RemoveAll(dir)
	})
	return m
}

func (m *logStoreMachine) open(t *rapid.T, dir string) *LogStore {
	s, err := OpenLogStore(dir, &LogStoreOptions{SegmentBytes: 4 << 10})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return s
}

// bounds returns the model's first and last index (0, 0 when empty).
func (m *logStoreMachine) bounds() (first, last uint64) {
	for i := range m.model {
		if first == 0 || i < first {
			first = i
		}
		last = max(last, i)
	}
	return first, last
}

func (m *logStoreMachine) Store(t *rapid.T) {
	_, last := m.bounds()
	var from uint64
	if last == 0 {
		from = rapid.Uint64Range(1, 3000).Draw(t, "from")
	} else {
		// Mostly contiguous; sometimes past a gap, as after a restore.
		gap := rapid.SampledFrom([]uint64{0, 0, 0, 0, 0, 1, 37}).Draw(t, "gap")
		from = last + 1 + gap
	}
	n := rapid.Uint64Range(1, 20).Draw(t, "n")
	size := rapid.IntRange(0, 600).Draw(t, "size")
	logs := entries(from, from+n-1, m.term, size)
	store(t, m.s, logs...)
	for _, l := range logs {
		m.model[l.Index] = l
	}
}

func (m *logStoreMachine) DeleteHead(t *rapid.T) {
	first, last := m.bounds()
	if first == last {
		t.Skip("needs two entries")
	}
	lo := rapid.Uint64Range(max(first, 3)-3, first).Draw(t, "lo")
	hi := rapid.Uint64Range(first, last-1).Draw(t, "hi")
	deleteRange(t, m.s, lo, hi)
	for i := range m.model {
		if i <= hi {
			delete(m.model, i)
		}
	}
}

func (m *logStoreMachine) DeleteTail(t *rapid.T) {
	first, last := m.bounds()
	if first == last {
		t.Skip("needs two entries")
	}
	lo := rapid.Uint64Range(first+1, last).Draw(t, "lo")
	hi := rapid.Uint64Range(last, last+50).Draw(t, "hi")
	deleteRange(t, m.s, lo, hi)
	for i := range m.model {
		if i >= lo {
			delete(m.model, i)
		}
	}
	m.term++ // a conflict: a new leader's entries follow
}

func (m *logStoreMachine) DeleteAll(t *rapid.T) {
	first, last := m.bounds()
	if first == 0 {
		t.Skip("empty")
	}
	lo := rapid.Uint64Range(max(first, 3)-3, first).Draw(t, "lo")
	hi := rapid.Uint64Range(last, last+50).Draw(t, "hi")
	deleteRange(t, m.s, lo, hi)
	clear(m.model)
}

func (m *logStoreMachine) Reopen(t *rapid.T) {
	if err := m.s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	m.s = m.open(t, m.s.dir)
}

func (m *logStoreMachine) Crash(t *rapid.T) {
	dir, err := os.MkdirTemp(m.base, "crash")
	if err != nil {
		t.Fatalf("temp dir: %v", err)
	}
	crashCopy(t, m.s, dir)
	old := m.s
	m.s = m.open(t, dir)
	_ = old.Close()
	_ = os.RemoveAll(old.dir)
}

// Check compares the store with the model after every action.
func (m *logStoreMachine) Check(t *rapid.T) {
	first, last := m.bounds()
	checkRange(t, m.s, first, last)
	for _, l := range m.model {
		checkEntries(t, m.s, l)
	}
	// Indexes around and inside the range that hold no entry.
	lo := max(first, 10) - 10
	for i := lo; i <= last+10; i++ {
		if _, ok := m.model[i]; !ok {
			checkNotFound(t, m.s, i)
		}
	}
}

func TestLogStore_Model(t *testing.T) {
	base := t.TempDir()
	rapid.Check(t, func(t *rapid.T) {
		t.Repeat(rapid.StateMachineActions(newLogStoreMachine(t, base)))
	})
}
