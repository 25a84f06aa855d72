package bench

import (
	"context"
	"errors"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/caskade/caskade/client"
)

// Latencies are recorded in microseconds, from 1µs up to maxLatency;
// longer ones count as maxLatency.
const (
	maxLatencyMicros = int64(10 * time.Minute / time.Microsecond)
	// sigFigs of the histograms of the whole run: values within 0.1%.
	sigFigs = 3
	// timelineSigFigs of each time bucket's histogram: within 1%, at a
	// seventh of the memory (about 24 KiB each).
	timelineSigFigs = 2
)

// Time buckets of the timeline: they start minBucketWidth wide; when a run
// outlasts maxBuckets of them, neighbours are merged in pairs and the
// width doubles. A run of any length thus has between maxBuckets/2 and
// maxBuckets points (or fewer, one per minBucketWidth, when it is short).
const (
	minBucketWidth = 10 * time.Millisecond
	maxBuckets     = 200
)

// Operation names, as reports show them.
const (
	opPut     = "put"
	opGet     = "get"
	opProduce = "produce"
	opConsume = "consume"
)

// opStats are the counts of one kind of operation.
type opStats struct {
	ok, errors int64
	bytes      int64 // key and value bytes of the successful operations
	latency    *hdr.Histogram
}

// bucket is one time bucket of the timeline.
type bucket struct {
	ok, errors int64
	latency    *hdr.Histogram // nil until an operation succeeds in it
}

// errStat counts one kind of error and keeps the first message seen.
type errStat struct {
	count   int64
	example string
}

// recorder gathers what the workers did. It is safe for concurrent use.
type recorder struct {
	start time.Time // when the measured phase began; immutable

	// mu guards the counts and histograms; workers hold it for one
	// record (a few histogram updates), never across a call to the store.
	mu struct {
		sync.Mutex
		ops       map[string]*opStats
		errs      map[string]*errStat
		abandoned int64
		width     time.Duration // of each bucket; Invariant: minBucketWidth << k
		buckets   []bucket      // bucket i covers [i*width, (i+1)*width) after start; Invariant: len <= maxBuckets
	}
}

func newRecorder(start time.Time) *recorder {
	r := &recorder{start: start}
	r.mu.ops = make(map[string]*opStats)
	r.mu.errs = make(map[string]*errStat)
	r.mu.width = minBucketWidth
	return r
}

// record counts one completed operation of kind op that ended at end after
// taking lat; n is the key and value bytes it moved when it succeeded.
func (r *recorder) record(op string, end time.Time, lat time.Duration, n int, err error) {
	micros := min(max(lat.Microseconds(), 0), maxLatencyMicros)
	at := max(end.Sub(r.start), 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.mu.ops[op]
	if s == nil {
		s = &opStats{latency: hdr.New(1, maxLatencyMicros, sigFigs)}
		r.mu.ops[op] = s
	}
	b := r.bucketLocked(at)
	if err != nil {
		s.errors++
		b.errors++
		kind := ErrorKind(err)
		e := r.mu.errs[kind]
		if e == nil {
			e = &errStat{example: truncate(err.Error(), maxExample)}
			r.mu.errs[kind] = e
		}
		e.count++
		return
	}
	s.ok++
	s.bytes += int64(n)
	b.ok++
	// In range by the clamp above: RecordValue cannot fail.
	_ = s.latency.RecordValue(micros)
	if b.latency == nil {
		b.latency = hdr.New(1, maxLatencyMicros, timelineSigFigs)
	}
	_ = b.latency.RecordValue(micros)
}

// abandon counts an operation cut short because the run's context ended.
func (r *recorder) abandon() {
	r.mu.Lock()
	r.mu.abandoned++
	r.mu.Unlock()
}

// bucketLocked returns the time bucket at offset at from the start,
// coarsening the timeline as needed. r.mu must be held.
func (r *recorder) bucketLocked(at time.Duration) *bucket {
	i := int(at / r.mu.width)
	for i >= maxBuckets {
		r.coarsenLocked()
		i = int(at / r.mu.width)
	}
	for len(r.mu.buckets) <= i {
		r.mu.buckets = append(r.mu.buckets, bucket{})
	}
	return &r.mu.buckets[i]
}

// coarsenLocked merges the buckets in pairs and doubles their width.
// r.mu must be held.
func (r *recorder) coarsenLocked() {
	old := r.mu.buckets
	merged := make([]bucket, (len(old)+1)/2)
	for i := range old {
		m, b := &merged[i/2], &old[i]
		m.ok += b.ok
		m.errors += b.errors
		switch {
		case b.latency == nil:
		case m.latency == nil:
			m.latency = b.latency
		default:
			m.latency.Merge(b.latency)
		}
	}
	r.mu.buckets = merged
	r.mu.width *= 2
}

// maxExample bounds the length of an example error message in a report.
const maxExample = 200

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Error kinds, as reports name them.
const (
	KindCanceled         = "canceled"
	KindWriteUnknown     = "write_unknown"
	KindDeadlineExceeded = "deadline_exceeded"
	KindNotFound         = "not_found"
	KindOutOfRange       = "out_of_range"
	KindNotLeader        = "not_leader"
	KindUnavailable      = "unavailable"
	KindTooLarge         = "too_large"
	KindInvalidArgument  = "invalid_argument"
	KindUnauthenticated  = "unauthenticated"
	KindPermissionDenied = "permission_denied"
	KindUnimplemented    = "unimplemented"
	KindCorrupt          = "corrupt"
	KindInternal         = "internal"
	KindClosed           = "closed"
	KindOther            = "other"
)

// errorKinds is the order ErrorKind tries: a write whose outcome is
// unknown also matches ErrUnavailable or context.DeadlineExceeded, so it
// comes before them.
var errorKinds = []struct {
	target error
	kind   string
}{
	{context.Canceled, KindCanceled},
	{client.ErrWriteUnknown, KindWriteUnknown},
	{context.DeadlineExceeded, KindDeadlineExceeded},
	{client.ErrNotFound, KindNotFound},
	{client.ErrOutOfRange, KindOutOfRange},
	{client.ErrNotLeader, KindNotLeader},
	{client.ErrUnavailable, KindUnavailable},
	{client.ErrTooLarge, KindTooLarge},
	{client.ErrInvalidArgument, KindInvalidArgument},
	{client.ErrUnauthenticated, KindUnauthenticated},
	{client.ErrPermissionDenied, KindPermissionDenied},
	{client.ErrUnimplemented, KindUnimplemented},
	{client.ErrCorrupt, KindCorrupt},
	{client.ErrInternal, KindInternal},
	{client.ErrClosed, KindClosed},
}

// ErrorKind names the kind of an operation's error, for the report's
// error counts: one of the Kind constants.
func ErrorKind(err error) string {
	for _, k := range errorKinds {
		if errors.Is(err, k.target) {
			return k.kind
		}
	}
	return KindOther
}

// fatal reports whether err says the requests themselves are refused, so
// that every further operation would fail the same way: the run stops.
func fatal(err error) bool {
	switch ErrorKind(err) {
	case KindTooLarge, KindInvalidArgument, KindUnauthenticated, KindPermissionDenied, KindUnimplemented, KindClosed:
		return true
	}
	return false
}
