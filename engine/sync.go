package engine

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// groupCommit lets concurrent writers share fsyncs: the first writer that
// needs one runs it for everything appended so far, the others wait for
// it, and whoever is still not covered when it ends runs the next.
//
// Before it syncs, the leader lets writers that are already on their way
// (counted in arriving) append, for at most gatherMax: writers woken by
// the previous fsync come back within microseconds, and an fsync started
// without them would leave them for the next one, halving the batch.
type groupCommit struct {
	// arriving counts writers between entering a write call and having
	// appended their record.
	arriving atomic.Int64
	// lastBatch is how many records the latest fsync made durable.
	lastBatch atomic.Uint64

	mu   sync.Mutex // guards the fields below
	cond *sync.Cond // signalled when durable changes or a sync ends
	// durable is the highest offset known to be on stable storage.
	durable uint64
	// syncing is true while one waiter runs an fsync for all.
	syncing bool
}

func (g *groupCommit) init() { g.cond = sync.NewCond(&g.mu) }

// waitDurable returns once offset off is durable, under SyncAlways; under
// the other modes it returns at once.
func (db *DB) waitDurable(off uint64) error {
	if db.opts.Sync != SyncAlways {
		return nil
	}
	return db.syncTo(off)
}

// syncTo returns once every record up to offset off is durable.
func (db *DB) syncTo(off uint64) error {
	g := &db.gc
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.durable < off {
		if f := db.failure.Load(); f != nil {
			return *f
		}
		if g.syncing {
			g.cond.Wait()
			continue
		}
		g.syncing = true
		g.mu.Unlock()
		db.gather()
		upto, err := db.log.Sync()
		g.mu.Lock()
		g.syncing = false
		if err != nil {
			db.fail(err)
		} else if upto > g.durable {
			g.lastBatch.Store(upto - g.durable)
			g.durable = upto
		}
		g.cond.Broadcast()
	}
	return nil
}

// gatherMax bounds how long a sync leader waits for other writers: a
// fraction of an fsync (a few hundred microseconds here).
const gatherMax = 100 * time.Microsecond

// gather yields to other writers before an fsync, as long as they keep
// appending (or are on their way to) and gatherMax has not passed. A lone
// writer (nobody arriving, and the last fsync covered one record) does not
// wait at all.
func (db *DB) gather() {
	if db.gc.arriving.Load() == 0 && db.gc.lastBatch.Load() <= 1 {
		return
	}
	deadline := time.Now().Add(gatherMax)
	prev := db.log.Next()
	idle := 0
	for time.Now().Before(deadline) {
		runtime.Gosched()
		cur := db.log.Next()
		if cur != prev || db.gc.arriving.Load() > 0 {
			idle = 0
		} else if idle++; idle == 2 {
			return // two quiet rounds: everyone else is waiting
		}
		prev = cur
	}
}

// syncEvery fsyncs every interval until ctx ends (SyncInterval mode).
func (db *DB) syncEvery(ctx context.Context, interval time.Duration) {
	defer db.bg.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := db.syncTo(db.log.Next() - 1); err != nil {
				return // db.fail recorded and logged it
			}
		}
	}
}
