package robustness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/tests/robustness/history"
)

// Bounds of the traffic's calls.
const (
	// opTimeout bounds one call of a client (the Client's timeout).
	opTimeout = 3 * time.Second
	// failoverTimeout bounds how long a call waits for a new leader.
	failoverTimeout = 3 * time.Second
	// errorPause is how long a client waits after a failed call, so that
	// a cluster without a leader is not hammered.
	errorPause = 20 * time.Millisecond
)

// TrafficConfig configures Traffic.
type TrafficConfig struct {
	Clients int // concurrent clients; half cluster-aware, half pinned to a node
	Keys    int // the key space: k0 .. k(Keys-1)
	// Rate caps the operations per second of all clients together; 0
	// means as fast as the cluster answers.
	Rate int
}

// Traffic is the clients of a run: each goroutine issues one call at a
// time and records it in History.
type Traffic struct {
	cfg     TrafficConfig
	cluster *Cluster
	start   time.Time // the run's time origin (history.Op.Call)
	hist    *history.History

	procs  atomic.Int64 // the last logical process id given out
	values atomic.Int64 // the last unique value given out
	// maxOffset is the highest offset any client has seen, for picking
	// Consume offsets.
	maxOffset atomic.Uint64

	stop chan struct{}  // closed by Stop
	wg   sync.WaitGroup // the clients' goroutines
	errs []error        // dial errors; set before the goroutines start
}

// StartTraffic dials the clients and starts them. Client i is pinned to
// node i/2 mod len(nodes) when i is odd, and cluster-aware when i is
// even. Each draws its operations from its own generator, seeded with
// seed and i.
func StartTraffic(ctx context.Context, c *Cluster, cfg TrafficConfig, seed uint64, start time.Time, h *history.History) (*Traffic, error) {
	t := &Traffic{cfg: cfg, cluster: c, start: start, hist: h, stop: make(chan struct{})}
	var clients []*worker
	for i := range cfg.Clients {
		var pinned *Node
		if i%2 == 1 {
			pinned = c.Nodes[(i/2)%len(c.Nodes)]
		}
		cl, err := c.Dial(ctx, pinned, client.WithTimeout(opTimeout), client.WithFailoverTimeout(failoverTimeout))
		if err != nil {
			for _, w := range clients {
				w.cl.Close()
			}
			return nil, fmt.Errorf("client %d: %w", i, err)
		}
		w := &worker{
			t:     t,
			cl:    cl,
			rng:   rand.New(rand.NewPCG(seed, uint64(i)+1)),
			proc:  int(t.procs.Add(1)),
			known: make(map[string]uint64),
		}
		if pinned != nil {
			w.node = pinned.ID
		}
		clients = append(clients, w)
	}
	for _, w := range clients {
		t.wg.Go(w.run)
	}
	return t, nil
}

// Stop tells the clients to stop after their current call and waits for
// them (each call is bounded by opTimeout).
func (t *Traffic) Stop() {
	select {
	case <-t.stop:
	default:
		close(t.stop)
	}
	t.wg.Wait()
}

// stopped reports whether Stop was called.
func (t *Traffic) stopped() bool {
	select {
	case <-t.stop:
		return true
	default:
		return false
	}
}

// worker is one client goroutine.
type worker struct {
	t    *Traffic
	cl   *client.Client
	rng  *rand.Rand
	node string // the pinned node's ID; "" for a cluster-aware client
	proc int    // the logical process id (history.Op.Client)
	// known is the last offset this client saw for each key, which its
	// CompareAndSwaps expect.
	known map[string]uint64
}

// run issues calls until Stop.
func (w *worker) run() {
	defer w.cl.Close()
	var gap time.Duration
	if w.t.cfg.Rate > 0 {
		gap = time.Duration(float64(time.Second) * float64(w.t.cfg.Clients) / float64(w.t.cfg.Rate))
	}
	for !w.t.stopped() {
		op := w.next()
		w.do(&op)
		w.t.hist.Add(op)
		if op.Outcome == history.Ambiguous {
			// The Jepsen convention: a process whose call may still be
			// in flight is never reused.
			w.proc = int(w.t.procs.Add(1))
		}
		pause := time.Duration(0)
		if gap > 0 {
			pause = time.Duration(w.rng.Int64N(int64(2 * gap)))
		}
		if op.Outcome != history.OK && op.Kind != history.CAS {
			pause = max(pause, errorPause)
		}
		if pause > 0 {
			select {
			case <-w.t.stop:
			case <-time.After(pause):
			}
		}
	}
}

// next draws the next operation: 40% reads (half of them stale), 20%
// puts, 15% compare-and-swaps, 10% deletes, 15% consumes (half stale).
func (w *worker) next() history.Op {
	op := history.Op{Client: w.proc, Node: w.node}
	key := "k" + strconv.Itoa(w.rng.IntN(w.t.cfg.Keys))
	stale := w.rng.IntN(2) == 0
	if stale {
		op.Consistency = history.Stale
	}
	switch r := w.rng.IntN(100); {
	case r < 40:
		op.Kind, op.Key = history.Get, key
	case r < 60:
		op.Kind, op.Key, op.Value = history.Put, key, w.value()
		op.Consistency = history.Linearizable
	case r < 75:
		op.Kind, op.Key, op.Value = history.CAS, key, w.value()
		op.Consistency = history.Linearizable
		if w.rng.IntN(5) > 0 {
			op.Expected = w.known[key] // mostly what this client saw last
		}
	case r < 85:
		op.Kind, op.Key = history.Delete, key
		op.Consistency = history.Linearizable
	default:
		op.Kind = history.Consume
		// Mostly near the end of the log, where writes land.
		hi := w.t.maxOffset.Load()
		back := uint64(w.rng.IntN(64))
		if back < hi {
			op.From = hi - back
		}
		if w.rng.IntN(10) == 0 {
			op.From = 0 // the log start
		}
	}
	return op
}

// value returns a value no other write of the run uses.
func (w *worker) value() string {
	return "v" + strconv.FormatInt(w.t.values.Add(1), 10)
}

// do issues op and fills in its times and results.
func (w *worker) do(op *history.Op) {
	ctx := context.Background()
	var readOpts []client.ReadOption
	if op.Consistency == history.Stale {
		readOpts = append(readOpts, client.Stale())
	}
	op.Call = time.Since(w.t.start)
	var (
		off uint64
		err error
	)
	switch op.Kind {
	case history.Put:
		off, err = w.cl.Put(ctx, []byte(op.Key), []byte(op.Value))
	case history.CAS:
		off, err = w.cl.CompareAndSwap(ctx, []byte(op.Key), op.Expected, []byte(op.Value))
	case history.Delete:
		off, err = w.cl.Delete(ctx, []byte(op.Key))
	case history.Get:
		var it client.Item
		it, err = w.cl.Get(ctx, []byte(op.Key), readOpts...)
		if err == nil {
			op.Found, op.Got, off = true, string(it.Value), it.Offset
		} else if errors.Is(err, client.ErrNotFound) {
			err = nil // found nothing: a result like any other
		}
	case history.Consume:
		var (
			rec *client.Record
			hwm uint64
		)
		rec, hwm, err = w.cl.Consume(ctx, op.From, readOpts...)
		switch {
		case err == nil && rec != nil:
			off = rec.Offset
			op.GotKey, op.Got = string(rec.Key), string(rec.Value)
			op.Tombstone = rec.Type == client.RecordTombstone
		case err == nil:
			// No record at or after From: the history has no way to
			// say so, so the read is recorded as one that constrains
			// nothing.
			err = fmt.Errorf("consume: no record at or after offset %d (high-water mark %d)", op.From, hwm)
		}
	}
	op.Return = time.Since(w.t.start)
	if err == nil {
		op.Outcome, op.Offset = history.OK, off
		w.saw(op.Key, off, op.Kind)
		return
	}
	op.Err = err.Error()
	op.Outcome = outcomeOf(op.Kind, err)
	var ce *client.CASError
	if errors.As(err, &ce) {
		op.Current = ce.Current
		w.known[op.Key] = ce.Current
	}
}

// saw notes an offset a call returned: the key's current one for a
// keyed call, and the highest offset seen for Consume's picks.
func (w *worker) saw(key string, off uint64, kind history.Kind) {
	if kind != history.Consume {
		if kind == history.Delete {
			off = 0 // a deleted key is absent: CAS expects 0
		}
		w.known[key] = off
	}
	for {
		cur := w.t.maxOffset.Load()
		if off <= cur || w.t.maxOffset.CompareAndSwap(cur, off) {
			return
		}
	}
}

// outcomeOf classifies a failed call. A read that failed constrains
// nothing. A write failed only when the error says nothing was written:
// refused by the store (CAS mismatch, deleting an absent key, bad input,
// not the leader, not allowed) or never sent (UNAVAILABLE without
// ErrWriteUnknown: the client found no node to send it to). Anything
// else may have been applied.
func outcomeOf(kind history.Kind, err error) history.Outcome {
	if !kind.IsWrite() {
		return history.Failed
	}
	if errors.Is(err, client.ErrWriteUnknown) {
		return history.Ambiguous
	}
	for _, definite := range []error{
		client.ErrCASMismatch, client.ErrNotFound, client.ErrInvalidArgument, client.ErrNotLeader,
		client.ErrPermissionDenied, client.ErrUnauthenticated, client.ErrTooLarge, client.ErrUnimplemented,
		client.ErrUnavailable,
	} {
		if errors.Is(err, definite) {
			return history.Failed
		}
	}
	return history.Ambiguous
}
