package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/caskade/caskade/engine/segment"
)

// SyncMode says when writes reach stable storage.
type SyncMode int

const (
	// SyncAlways fsyncs before a write returns. Concurrent writers share
	// one fsync (group commit). The zero value: safe by default.
	SyncAlways SyncMode = iota
	// SyncInterval fsyncs in the background every SyncInterval; a crash of
	// the machine may lose the writes of the last interval.
	SyncInterval
	// SyncNever leaves writing back to the operating system. A crash of the
	// process loses nothing (records are in the page cache at once); a
	// crash of the machine may lose recent writes.
	SyncNever
)

// String returns the mode's name as flags spell it.
func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncInterval:
		return "interval"
	case SyncNever:
		return "never"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// ParseSyncMode parses "always", "interval" or "never".
func ParseSyncMode(s string) (SyncMode, error) {
	switch strings.ToLower(s) {
	case "always":
		return SyncAlways, nil
	case "interval":
		return SyncInterval, nil
	case "never":
		return SyncNever, nil
	}
	return 0, fmt.Errorf("unknown sync mode %q (want always, interval or never)", s)
}

// Defaults and limits of Options.
const (
	DefaultSegmentBytes = segment.DefaultSegmentBytes
	MinSegmentBytes     = 4 << 10
	MaxSegmentBytes     = segment.MaxSegmentBytes
	MaxKeySizeLimit     = segment.MaxKeyLen   // the largest MaxKeySize allowed
	MaxValueSizeLimit   = segment.MaxValueLen // the largest MaxValueSize allowed
	DefaultMaxKeySize   = 4 << 10
	DefaultMaxValueSize = 8 << 20
	DefaultSyncInterval = 100 * time.Millisecond
)

// Options configure a DB. The zero value gives the defaults.
type Options struct {
	// SegmentBytes seals the active segment at this size; 0 means 64 MiB.
	SegmentBytes int64
	// Sync says when writes become durable; the zero value is SyncAlways.
	Sync SyncMode
	// SyncInterval is the fsync period under SyncInterval; 0 means 100 ms.
	SyncInterval time.Duration
	// MaxKeySize is the largest key accepted; 0 means 4 KiB. At most
	// 65535.
	MaxKeySize int
	// MaxValueSize is the largest value accepted; 0 means 8 MiB. At most
	// 1 GiB.
	MaxValueSize int
	// Logger receives background errors; nil discards them.
	Logger *slog.Logger
	// Clock gives the time of writes and expiry checks; nil means
	// time.Now. A test seam.
	Clock func() time.Time
	// OnSync, when set, is called after each fsync of the log that made
	// new records durable (each one Stats.Syncs counts), with how long it
	// took. It runs on the writer that leads the group commit (or the
	// interval syncer) while others wait for that fsync, so it must be
	// quick: observe a histogram and return. nil costs a comparison.
	OnSync func(time.Duration)

	// TombstoneRetention is how long a delete's tombstone stays in the
	// log (for consumers to see it) before compaction may drop it; 0
	// means 24 h, a negative value drops it at the first merge.
	TombstoneRetention time.Duration
	// Retention drops keyless records (Produce) older than this; 0 keeps
	// them forever. Keyed records are state, never dropped by retention.
	Retention time.Duration
	// RetentionBytes drops the oldest keyless records while the log is
	// larger than this; 0 means no limit.
	RetentionBytes int64
	// Compaction schedules background merges.
	Compaction CompactionOptions
	// Replicated marks a store fed by Apply on every replica of a Raft
	// group: its keyed state changes only through ops, whose expiry checks
	// use each op's own timestamp. Open and merges then keep values whose
	// TTL passed (reads still hide them), so that every replica judges a
	// later CompareAndSwap or Delete the same way, whenever it restarted.
	Replicated bool
}

// CompactionOptions schedule background merges of sealed segments.
// Thresholds follow Bitcask's merge triggers.
type CompactionOptions struct {
	// Disabled stops background merges; Compact still works.
	Disabled bool
	// Interval is how often the background looks for work; 0 means 15 s.
	Interval time.Duration
	// MinDeadFraction merges a segment once this fraction of its bytes is
	// dead; 0 means 0.5. At most 1.
	MinDeadFraction float64
	// MinDeadBytes merges every segment with dead bytes once the dead
	// bytes of all segments reach this; 0 means 4 × SegmentBytes, -1
	// turns the trigger off.
	MinDeadBytes int64
	// SmallSegmentBytes merges adjacent sealed segments smaller than this
	// into one; 0 means SegmentBytes / 4, -1 turns it off.
	SmallSegmentBytes int64
	// MaxMergeBytes bounds the input of one merge; 0 means 16 ×
	// SegmentBytes.
	MaxMergeBytes int64
	// RateBytesPerSec paces a merge's reads; 0 means unlimited.
	RateBytesPerSec int64
	// WindowStart and WindowEnd limit background merges to the hours
	// [WindowStart, WindowEnd) of the day, local time (a window may wrap
	// midnight: 22 to 6). Equal values (the default) mean always.
	WindowStart, WindowEnd int
}

// DefaultTombstoneRetention is the TombstoneRetention used when none is set.
const DefaultTombstoneRetention = 24 * time.Hour

// inWindow reports whether background merges may run at t.
func (c CompactionOptions) inWindow(t time.Time) bool {
	if c.WindowStart == c.WindowEnd {
		return true
	}
	h := t.Hour()
	if c.WindowStart < c.WindowEnd {
		return h >= c.WindowStart && h < c.WindowEnd
	}
	return h >= c.WindowStart || h < c.WindowEnd
}

func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.MaxKeySize == 0 {
		o.MaxKeySize = DefaultMaxKeySize
	}
	if o.MaxValueSize == 0 {
		o.MaxValueSize = DefaultMaxValueSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.TombstoneRetention == 0 {
		o.TombstoneRetention = DefaultTombstoneRetention
	}
	c := &o.Compaction
	if c.Interval == 0 {
		c.Interval = 15 * time.Second
	}
	if c.MinDeadFraction == 0 {
		c.MinDeadFraction = 0.5
	}
	if c.MinDeadBytes == 0 {
		c.MinDeadBytes = 4 * o.SegmentBytes
	}
	if c.SmallSegmentBytes == 0 {
		c.SmallSegmentBytes = o.SegmentBytes / 4
	}
	if c.MaxMergeBytes == 0 {
		c.MaxMergeBytes = 16 * o.SegmentBytes
	}
	return o
}

// validate reports every problem at once.
func (o Options) validate() error {
	var errs []error
	if o.SegmentBytes < MinSegmentBytes || o.SegmentBytes > MaxSegmentBytes {
		errs = append(errs, fmt.Errorf("SegmentBytes %d outside [%d, %d]", o.SegmentBytes, MinSegmentBytes, MaxSegmentBytes))
	}
	if o.Sync < SyncAlways || o.Sync > SyncNever {
		errs = append(errs, fmt.Errorf("unknown Sync mode %d", o.Sync))
	}
	if o.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("SyncInterval %v is negative", o.SyncInterval))
	}
	if o.MaxKeySize < 1 || o.MaxKeySize > segment.MaxKeyLen {
		errs = append(errs, fmt.Errorf("MaxKeySize %d outside [1, %d]", o.MaxKeySize, segment.MaxKeyLen))
	}
	if o.MaxValueSize < 0 || o.MaxValueSize > segment.MaxValueLen {
		errs = append(errs, fmt.Errorf("MaxValueSize %d outside [0, %d]", o.MaxValueSize, segment.MaxValueLen))
	}
	if o.Retention < 0 {
		errs = append(errs, fmt.Errorf("Retention %v is negative", o.Retention))
	}
	if o.RetentionBytes < 0 {
		errs = append(errs, fmt.Errorf("RetentionBytes %d is negative", o.RetentionBytes))
	}
	c := o.Compaction
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("Compaction.Interval %v is negative", c.Interval))
	}
	if c.MinDeadFraction < 0 || c.MinDeadFraction > 1 {
		errs = append(errs, fmt.Errorf("Compaction.MinDeadFraction %v outside [0, 1]", c.MinDeadFraction))
	}
	if c.MinDeadBytes < -1 {
		errs = append(errs, fmt.Errorf("Compaction.MinDeadBytes %d below -1", c.MinDeadBytes))
	}
	if c.SmallSegmentBytes < -1 {
		errs = append(errs, fmt.Errorf("Compaction.SmallSegmentBytes %d below -1", c.SmallSegmentBytes))
	}
	if c.MaxMergeBytes < o.SegmentBytes {
		errs = append(errs, fmt.Errorf("Compaction.MaxMergeBytes %d below SegmentBytes %d", c.MaxMergeBytes, o.SegmentBytes))
	}
	if c.RateBytesPerSec < 0 {
		errs = append(errs, fmt.Errorf("Compaction.RateBytesPerSec %d is negative", c.RateBytesPerSec))
	}
	if c.WindowStart < 0 || c.WindowStart > 23 || c.WindowEnd < 0 || c.WindowEnd > 23 {
		errs = append(errs, fmt.Errorf("Compaction window %d to %d: hours must be in [0, 23]", c.WindowStart, c.WindowEnd))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}
