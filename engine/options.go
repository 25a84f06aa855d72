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
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}
