package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caskade/caskade/client"
)

// Target is the store a run drives: the calls of *client.Client the
// workloads make. It must be safe for concurrent use.
type Target interface {
	Put(ctx context.Context, key, value []byte, opts ...client.PutOption) (uint64, error)
	Get(ctx context.Context, key []byte, opts ...client.ReadOption) (client.Item, error)
	Produce(ctx context.Context, value []byte) (uint64, error)
	Consume(ctx context.Context, offset uint64, opts ...client.ReadOption) (*client.Record, uint64, error)
}

var _ Target = (*client.Client)(nil)

// ErrEmptyLog is returned by a consume run without Populate when the log
// holds no record to read.
var ErrEmptyLog = errors.New("bench: the log is empty: nothing to consume")

// FatalError stops a run: the server refused an operation in a way that
// every further one would be refused too (a key or value over its limit,
// an identity it does not accept). The Report returned with it counts the
// operations done until then.
type FatalError struct {
	Op  string // the operation refused: put, get, produce or consume
	Err error
}

// Error says which operation stopped the run.
func (e *FatalError) Error() string {
	return fmt.Sprintf("bench: %s refused, run stopped: %v", e.Op, e.Err)
}

// Unwrap returns the operation's error.
func (e *FatalError) Unwrap() error { return e.Err }

// Run drives t with the workload of opts and reports what it measured. It
// returns when the operations are done (Total), the time is up (Duration),
// an operation failed fatally (a *FatalError, with the Report so far) or
// ctx ended (ctx's error, with the Report so far: Interrupted is set). A
// populate phase that fails returns its error and no Report. Options that
// cannot be run return an error matching ErrInvalidOptions before anything
// is sent.
func Run(ctx context.Context, t Target, opts Options) (*Report, error) {
	o := opts.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	seed := o.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	r := &runner{t: t, o: o, seed: seed, value: makeValue(o.ValueSize, seed)}
	if o.Consistency == client.ConsistencyStale {
		r.readOpts = []client.ReadOption{client.Stale()}
	}
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	return r.measure(ctx)
}

// runner is one Run. Its fields are set before the workers start and only
// read by them, except the atomics.
type runner struct {
	t        Target
	o        Options
	seed     uint64
	value    []byte // the value of every write; read-only, shared by the workers
	readOpts []client.ReadOption

	// The records consume walks: offsets [logStart, logEnd).
	logStart, logEnd uint64
	populated        int64         // keys or records written by prepare
	populateTime     time.Duration // how long prepare took

	issued atomic.Int64  // operations claimed by workers
	cursor atomic.Uint64 // consume: the next record to read, counting from logStart
}

// makeValue returns n lower-case letters: printable, so that a
// benchmark's values read well in `caskade get`. A random block of up to
// valueBlock letters is repeated to fill the rest, so that large values
// cost a copy, not a random draw per byte.
func makeValue(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x76616c7565)) // "value"
	b := make([]byte, n)
	block := b[:min(n, valueBlock)]
	for i := range block {
		block[i] = 'a' + byte(rng.IntN(26))
	}
	for filled := len(block); filled < n; {
		filled += copy(b[filled:], b[:filled])
	}
	return b
}

// valueBlock is the length of the random part of a value.
const valueBlock = 4 << 10

// prepare writes what the measured phase reads: every key for get and
// mixed, records for consume when the log is empty.
func (r *runner) prepare(ctx context.Context) error {
	start := time.Now()
	defer func() { r.populateTime = time.Since(start) }()
	switch {
	case r.o.Workload == Get || r.o.Workload == Mixed:
		if !r.o.Populate {
			return nil
		}
		n, err := r.populate(ctx, int64(r.o.Keys), func(ctx context.Context, i int64) error {
			_, err := r.t.Put(ctx, Key(int(i), r.o.KeySize), r.value)
			return err
		})
		r.populated = n
		if err != nil {
			return fmt.Errorf("bench: populate %d keys: %w", r.o.Keys, err)
		}
	case r.o.Workload == Consume:
		first, hwm, err := r.logRange(ctx)
		if err != nil {
			return err
		}
		if first == 0 && r.o.Populate {
			n, err := r.populate(ctx, int64(r.o.Records), func(ctx context.Context, _ int64) error {
				_, err := r.t.Produce(ctx, r.value)
				return err
			})
			r.populated = n
			if err != nil {
				return fmt.Errorf("bench: populate the log with %d records: %w", r.o.Records, err)
			}
			if first, hwm, err = r.logRange(ctx); err != nil {
				return err
			}
		}
		if first == 0 {
			return ErrEmptyLog
		}
		r.logStart, r.logEnd = first, hwm
	}
	return nil
}

// logRange returns the offset of the log's first record (0 when the log is
// empty) and its high-water mark.
func (r *runner) logRange(ctx context.Context) (first, hwm uint64, err error) {
	rec, hwm, err := r.t.Consume(ctx, 0, r.readOpts...)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: find the log's records: %w", err)
	}
	if rec == nil {
		return 0, hwm, nil
	}
	return rec.Offset, hwm, nil
}

// populate calls write for 0..n-1 from Clients workers and returns how
// many succeeded; it stops at the first error and returns it.
func (r *runner) populate(ctx context.Context, n int64, write func(context.Context, int64) error) (int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	stopProgress := r.progress(PhasePopulate, n, 0, &done, nil)
	var wg sync.WaitGroup
	for range min(int64(r.o.Clients), n) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < n && ctx.Err() == nil; i = next.Add(1) - 1 {
				if err := write(ctx, i); err != nil {
					cancel(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	stopProgress()
	if err := context.Cause(ctx); err != nil {
		return done.Load(), err
	}
	return done.Load(), nil
}

// progress calls Options.Progress about every ProgressInterval from a
// goroutine of its own until the returned function is called; that one
// calls it a last time and returns once the goroutine has ended.
func (r *runner) progress(phase Phase, total int64, d time.Duration, done, errs *atomic.Int64) (stop func()) {
	if r.o.Progress == nil {
		return func() {}
	}
	start := time.Now()
	report := func() {
		p := Progress{Phase: phase, Done: done.Load(), Total: total, Elapsed: time.Since(start), Duration: d}
		if errs != nil {
			p.Errors = errs.Load()
		}
		r.o.Progress(p)
	}
	quit, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		tick := time.NewTicker(ProgressInterval)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				report()
				return
			case <-tick.C:
				report()
			}
		}
	}()
	return func() {
		close(quit)
		<-ended
	}
}

// measure runs the workers and builds the report.
func (r *runner) measure(ctx context.Context) (*Report, error) {
	// stop ends the issuing of operations (time up, or a fatal error); the
	// operations in flight finish under ctx. ctx ending cuts them short.
	stop := make(chan struct{})
	var (
		stopOnce sync.Once
		fatalErr *FatalError // set once, before stop closes
	)
	halt := func(fe *FatalError) {
		stopOnce.Do(func() {
			fatalErr = fe
			close(stop)
		})
	}
	start := time.Now()
	rec := newRecorder(start)
	if r.o.Duration > 0 {
		timer := time.AfterFunc(r.o.Duration, func() { halt(nil) })
		defer timer.Stop()
	}
	var done, errs atomic.Int64
	stopProgress := r.progress(PhaseRun, r.o.Total, r.o.Duration, &done, &errs)
	var wg sync.WaitGroup
	for w := range r.o.Clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(r.seed, uint64(w)+1))
			for r.claim(ctx, stop) {
				op, n, lat, end, err := r.do(ctx, rng)
				if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err())) {
					rec.abandon()
					continue
				}
				rec.record(op, end, lat, n, err)
				done.Add(1)
				if err != nil {
					errs.Add(1)
					if fatal(err) {
						halt(&FatalError{Op: op, Err: err})
					}
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	// The workers may have ended with ctx while the timer's halt runs:
	// halting again waits for it (sync.Once), so fatalErr is safe to read.
	halt(nil)
	stopProgress()

	rep := r.report(rec, elapsed)
	switch {
	case ctx.Err() != nil:
		rep.Interrupted = true
		return rep, ctx.Err()
	case fatalErr != nil:
		rep.Stopped = fatalErr.Error()
		return rep, fatalErr
	}
	return rep, nil
}

// claim reports whether a worker may start another operation, and counts
// it as issued when it may.
func (r *runner) claim(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	default:
	}
	n := r.issued.Add(1)
	if r.o.Total > 0 && n > r.o.Total {
		r.issued.Add(-1)
		return false
	}
	return true
}

// do runs one operation of the workload and returns its name, the key and
// value bytes it moved, its latency, when it ended and its error.
func (r *runner) do(ctx context.Context, rng *rand.Rand) (op string, n int, lat time.Duration, end time.Time, err error) {
	op = r.pick(rng)
	var key []byte
	if op == opPut || op == opGet {
		key = Key(rng.IntN(r.o.Keys), r.o.KeySize)
	}
	var offset uint64
	if op == opConsume {
		span := r.logEnd - r.logStart
		offset = r.logStart + (r.cursor.Add(1)-1)%span
	}
	start := time.Now()
	switch op {
	case opPut:
		_, err = r.t.Put(ctx, key, r.value)
		n = len(key) + len(r.value)
	case opGet:
		var it client.Item
		it, err = r.t.Get(ctx, key, r.readOpts...)
		n = len(key) + len(it.Value)
	case opProduce:
		_, err = r.t.Produce(ctx, r.value)
		n = len(r.value)
	case opConsume:
		var rec *client.Record
		rec, _, err = r.t.Consume(ctx, offset, r.readOpts...)
		if rec != nil {
			n = len(rec.Key) + len(rec.Value)
		}
	}
	end = time.Now()
	return op, n, end.Sub(start), end, err
}

// pick chooses the next operation of the workload.
func (r *runner) pick(rng *rand.Rand) string {
	switch r.o.Workload {
	case Put:
		return opPut
	case Get:
		return opGet
	case Mixed:
		if rng.Float64() < r.o.ReadRatio {
			return opGet
		}
		return opPut
	case Produce:
		return opProduce
	}
	return opConsume
}
