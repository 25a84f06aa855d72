package compaction

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/time/rate"

	"github.com/caskade/caskade/engine/segment"
)

// Decision says what a merge does with one record.
type Decision int

const (
	// Drop leaves the record out.
	Drop Decision = iota
	// Keep copies the record as it is.
	Keep
	// Tombstone keeps the record's place (offset, key, timestamp) as a
	// tombstone: for a key's last record that expired, when older
	// records of the key stay on disk outside the merge.
	Tombstone
)

// Stats reports what a merge read and wrote.
type Stats struct {
	Segments    int   // input segments
	Records     int64 // records read
	Kept        int64 // records written (tombstones made from expired values included)
	BytesIn     int64 // bytes of the inputs
	BytesOut    int64 // bytes of the outputs
	Duration    time.Duration
	Throttled   time.Duration // time spent waiting for the rate limiter
	OutputCount int           // output segments
}

// Reclaimed returns the bytes the merge freed.
func (s Stats) Reclaimed() int64 { return s.BytesIn - s.BytesOut }

// Merge reads inputs (adjacent sealed segments, oldest first, with
// references held by the caller) in offset order, asks decide about each
// record and adds the records it keeps to b. Records passed to decide
// alias the segment's mapping and are valid only during the call. limit,
// if not nil, paces the bytes read. Merge stops with ctx's error when ctx
// ends. It does not install the result: the caller finishes b and calls
// segment.Log.Install (or b.Abort).
//
// The merge yields its P every 32 KiB read, so that a writer back from
// its fsync runs at once instead of waiting for the merge's preemption.
// (A lower OS priority for the merge thread was tried and dropped: the
// garbage collector's stop-the-world then waited for that thread, and the
// longest pauses grew from 5 to 40-75 ms.)
func Merge(ctx context.Context, inputs []*segment.Segment, b *segment.Builder, decide func(*segment.Record) Decision, limit *rate.Limiter) (Stats, error) {
	start := time.Now()
	st := Stats{Segments: len(inputs)}
	var pending int // bytes read since the last limiter or ctx check
	const checkEvery = 256 << 10
	var yielded int // bytes read since the merge last yielded its P
	const yieldEvery = 32 << 10
	for _, s := range inputs {
		st.BytesIn += s.Size()
		err := s.Scan(0, func(r *segment.Record, _ int64) error {
			st.Records++
			pending += r.Size()
			if yielded += r.Size(); yielded >= yieldEvery {
				// The merge goroutine holds one of the few Ps while it
				// runs: a writer back from its fsync would otherwise wait
				// for the scheduler to preempt it (up to 10 ms).
				runtime.Gosched()
				yielded = 0
			}
			if pending >= checkEvery {
				if err := wait(ctx, limit, pending, &st); err != nil {
					return err
				}
				pending = 0
			}
			switch decide(r) {
			case Drop:
				return nil
			case Tombstone:
				t := segment.Record{Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Flags: segment.FlagTombstone}
				r = &t
			}
			if _, err := b.Add(r); err != nil {
				return err
			}
			st.Kept++
			return nil
		})
		if err != nil {
			return st, fmt.Errorf("merge segment %d: %w", s.Base(), err)
		}
	}
	if err := wait(ctx, limit, pending, &st); err != nil {
		return st, err
	}
	st.BytesOut = b.Bytes()
	st.OutputCount = b.Len()
	st.Duration = time.Since(start)
	return st, nil
}

// wait checks ctx and takes n bytes from the limiter.
func wait(ctx context.Context, limit *rate.Limiter, n int, st *Stats) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if limit == nil || n == 0 {
		return nil
	}
	t := time.Now()
	// WaitN refuses more than the burst at once: take it in pieces.
	for n > 0 {
		k := min(n, limit.Burst())
		if err := limit.WaitN(ctx, k); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errors.Join(errors.New("compaction: rate limiter"), err)
		}
		n -= k
	}
	st.Throttled += time.Since(t)
	return nil
}

// NewLimiter returns a limiter of bytesPerSec (nil for 0: unlimited) with
// a burst of a quarter second's worth (at least 256 KiB).
func NewLimiter(bytesPerSec int64) *rate.Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSec), int(max(bytesPerSec/4, 256<<10)))
}
