package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
	"github.com/caskade/caskade/internal/failpoint"
)

// Names inside an FSM's directory.
const (
	dataDir    = "data"         // the store
	restoreDir = "data.restore" // a snapshot being restored
	oldDir     = "data.old"     // the store a restore replaced, being removed
)

// FSM is the Raft state machine: an engine store in <dir>/data to which
// it applies commands (EncodeCommand batches of engine.Op). It implements
// raft.FSM and raft.BatchingFSM. Offsets are assigned as the ops are
// applied, so every replica applying the same log holds the same records
// at the same offsets.
//
// The store is rebuilt from Raft's state when the FSM opens: OpenFSM
// empties <dir>/data, and Raft restores its last snapshot and replays its
// log after it. The store can therefore run with engine.SyncNever: the
// Raft log is the durable copy.
//
// Concurrency: Apply, ApplyBatch, Snapshot and Restore are called by Raft
// from one goroutine at a time. DB, Read and the read methods are safe for
// concurrent use with them and with each other.
type FSM struct {
	dir  string
	opts engine.Options // immutable after OpenFSM

	// dbMu guards db, the current store. Restore holds it (write) while it
	// swaps stores; readers hold it (read) only to load db, never across
	// a read, so a read of the old store that races a swap fails with
	// engine.ErrClosed and is retried on the new one (see Read).
	dbMu sync.RWMutex
	db   *engine.DB

	// applied is the index of the last Raft entry applied; appliedCh is
	// closed (and replaced) when it rises, waking WaitApplied.
	appliedMu sync.Mutex // guards appliedCh
	appliedCh chan struct{}
	applied   atomic.Uint64

	// failed is set when the store could not apply a batch: from then on
	// the applied index stays where it was (reads waiting for later
	// entries wait, then time out) and onFail has been told.
	failed atomic.Pointer[error]
	// onFail, set by the Node before Raft starts, stops the node.
	onFail func(error)

	// lagRaft is the node's Raft, set once it runs, only under the
	// failpoint.BugStaleReads bug: ApplyBatch asks it whether this node
	// follows (see lagBehindLeader).
	lagRaft atomic.Pointer[raft.Raft]
}

// Failed returns why the FSM stopped applying, or nil.
func (f *FSM) Failed() error {
	if e := f.failed.Load(); e != nil {
		return *e
	}
	return nil
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// OpenFSM empties <dir>/data and opens an empty store there with opts
// (nil means the defaults; Sync is usually engine.SyncNever).
func OpenFSM(dir string, opts *engine.Options) (*FSM, error) {
	var o engine.Options
	if opts != nil {
		o = *opts
	}
	// Expiry must change keys only through ops, judged at each op's own
	// time, on every replica alike (see engine.Options.Replicated).
	o.Replicated = true
	for _, d := range []string{dataDir, restoreDir, oldDir} {
		if err := os.RemoveAll(filepath.Join(dir, d)); err != nil {
			return nil, fmt.Errorf("open fsm: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open fsm: %w", err)
	}
	db, err := engine.Open(filepath.Join(dir, dataDir), &o)
	if err != nil {
		return nil, fmt.Errorf("open fsm: %w", err)
	}
	return &FSM{dir: dir, opts: o, db: db, appliedCh: make(chan struct{})}, nil
}

// DB returns the current store. A Restore may close it at any time; use
// Read for reads that should survive one.
func (f *FSM) DB() *engine.DB {
	f.dbMu.RLock()
	defer f.dbMu.RUnlock()
	return f.db
}

// Read calls fn with the current store. When fn fails with
// engine.ErrClosed because a Restore replaced the store meanwhile, it
// calls fn again with the new one (waiting for the swap to end).
func (f *FSM) Read(fn func(db *engine.DB) error) error {
	db := f.DB()
	for {
		err := fn(db)
		if !errors.Is(err, engine.ErrClosed) {
			return err
		}
		next := f.DB() // waits for a swap in progress
		if next == db {
			return err
		}
		db = next
	}
}

// Apply applies one Raft entry; see ApplyBatch.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies Raft entries in order. Consecutive commands are
// applied as one engine.Apply (one append, one keydir update). The
// response of a command is its []engine.Result, or an error when it does
// not decode or the store failed; other entries get nil.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	if failpoint.Bug(failpoint.BugStaleReads) {
		f.lagBehindLeader(logs)
	}
	resp := make([]any, len(logs))
	db := f.DB()
	var (
		ops   []engine.Op
		group []int // indexes into logs of the commands in ops
		ends  []int // ends[k] is where group[k]'s ops end in ops
	)
	flush := func() {
		if len(group) == 0 {
			return
		}
		res, err := db.Apply(ops)
		if err != nil && f.failed.Load() == nil {
			// The store could not write (a disk error, a full disk): the
			// entries are not applied, and this replica must not go on
			// as if they were. Stop advancing the applied index; the
			// node shuts Raft down and a restart rebuilds the store from
			// the snapshot and the log.
			ferr := fmt.Errorf("apply entries %d-%d: %w", logs[group[0]].Index, logs[group[len(group)-1]].Index, err)
			f.failed.Store(&ferr)
			if f.onFail != nil {
				f.onFail(ferr)
			}
		}
		start := 0
		for k, i := range group {
			if err != nil {
				resp[i] = fmt.Errorf("apply entry %d: %w", logs[i].Index, err)
			} else {
				resp[i] = res[start:ends[k]:ends[k]]
			}
			start = ends[k]
		}
		ops, group, ends = ops[:0], group[:0], ends[:0]
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		cmd, err := DecodeCommand(l.Data)
		if err != nil {
			resp[i] = fmt.Errorf("decode entry %d: %w", l.Index, err)
			continue
		}
		ops = append(ops, cmd...)
		group = append(group, i)
		ends = append(ends, len(ops))
	}
	flush()
	failpoint.Hit(failpoint.FSMApply)
	if n := len(logs); n > 0 && f.failed.Load() == nil {
		f.setApplied(logs[n-1].Index)
	}
	return resp
}

// lagBehindLeader is the failpoint.BugStaleReads bug: on a follower it
// waits until failpoint.StaleLag has passed since the leader appended the
// last of logs, so this replica's store trails the leader's by that much.
func (f *FSM) lagBehindLeader(logs []*raft.Log) {
	r := f.lagRaft.Load()
	if r == nil || len(logs) == 0 || r.State() == raft.Leader {
		return
	}
	if at := logs[len(logs)-1].AppendedAt; !at.IsZero() {
		time.Sleep(time.Until(at.Add(failpoint.StaleLag)))
	}
}

// setApplied records that the entries up to index are applied.
func (f *FSM) setApplied(index uint64) {
	if index <= f.applied.Load() {
		return
	}
	f.applied.Store(index)
	f.appliedMu.Lock()
	close(f.appliedCh)
	f.appliedCh = make(chan struct{})
	f.appliedMu.Unlock()
}

// AppliedIndex returns the index of the last Raft entry the FSM applied
// (commands and configuration changes; Raft applies other entries
// without calling the FSM, so this may trail raft.Raft.AppliedIndex).
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// WaitApplied returns once the FSM has applied the entries up to index,
// or with ctx's error.
func (f *FSM) WaitApplied(ctx context.Context, index uint64) error {
	for {
		f.appliedMu.Lock()
		ch := f.appliedCh
		f.appliedMu.Unlock()
		if f.applied.Load() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Snapshot pins the store as it is now (quickly, nothing is copied); the
// returned snapshot's Persist writes it out while applies go on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	cp, err := f.DB().Checkpoint()
	if err != nil {
		return nil, fmt.Errorf("fsm snapshot: %w", err)
	}
	return &fsmSnapshot{cp: cp, applied: f.applied.Load()}, nil
}

// Restore replaces the store with the snapshot read from rc: it restores
// it into a fresh directory beside the store, then swaps (closes the old
// store, moves its directory aside, moves the new one into place, opens
// it, removes the old one). Reads meanwhile wait for the swap (see Read).
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := filepath.Join(f.dir, restoreDir)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("fsm restore: %w", err)
	}
	var hdr [snapshotHeaderBytes]byte
	if _, err := io.ReadFull(rc, hdr[:]); err != nil {
		return fmt.Errorf("fsm restore: read header: %w", err)
	}
	if string(hdr[:8]) != snapshotMagic {
		return fmt.Errorf("fsm restore: %w: not a caskade FSM snapshot", segment.ErrCorrupt)
	}
	applied := binary.LittleEndian.Uint64(hdr[8:])
	if err := engine.Restore(context.Background(), tmp, rc, &f.opts); err != nil {
		return fmt.Errorf("fsm restore: %w", err)
	}
	f.dbMu.Lock()
	defer f.dbMu.Unlock()
	if err := f.db.Close(); err != nil && !errors.Is(err, engine.ErrClosed) {
		return fmt.Errorf("fsm restore: close the old store: %w", err)
	}
	data, old := filepath.Join(f.dir, dataDir), filepath.Join(f.dir, oldDir)
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("fsm restore: %w", err)
	}
	// data is missing if an earlier Restore failed after moving it.
	if err := os.Rename(data, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fsm restore: %w", err)
	}
	failpoint.Hit(failpoint.SnapshotRestore)
	if err := os.Rename(tmp, data); err != nil {
		return fmt.Errorf("fsm restore: %w", err)
	}
	db, err := engine.Open(data, &f.opts)
	if err != nil {
		return fmt.Errorf("fsm restore: open the restored store: %w", err)
	}
	f.db = db
	f.applied.Store(0)
	f.setApplied(applied)
	// The swap is done: failing to remove the old copy must not make Raft
	// think the restore failed (OpenFSM removes it at the next start).
	_ = os.RemoveAll(old)
	return nil
}

// Close closes the store.
func (f *FSM) Close() error {
	err := f.DB().Close()
	if errors.Is(err, engine.ErrClosed) {
		return nil
	}
	return err
}

// An FSM snapshot is a header, then the checkpoint in engine.Backup's
// format. Header, little endian; must never change:
//
//	0        8        16
//	+--------+--------+
//	| magic  |applied |   magic "CSKFSM01"; applied: the index of the
//	+--------+--------+   last entry the FSM had applied
const (
	snapshotMagic       = "CSKFSM01"
	snapshotHeaderBytes = 16
)

// fsmSnapshot is a pinned checkpoint of the store.
type fsmSnapshot struct {
	cp      *engine.Checkpoint
	applied uint64 // the FSM's applied index when cp was taken
}

// Persist streams the header and the checkpoint into sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	hdr := binary.LittleEndian.AppendUint64([]byte(snapshotMagic), s.applied)
	if _, err := sink.Write(hdr); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	if _, err := s.cp.WriteTo(context.Background(), sink); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	failpoint.Hit(failpoint.SnapshotPersist)
	if err := sink.Close(); err != nil {
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return nil
}

// Release lets go of the checkpoint.
func (s *fsmSnapshot) Release() { s.cp.Release() }
