package engine

import (
	"errors"
	"fmt"

	"github.com/caskade/caskade/engine/segment"
)

var (
	// ErrNotFound is returned by Get, Delete and CompareAndSwap when the
	// key has no live value (never written, deleted, or expired).
	ErrNotFound = errors.New("engine: key not found")
	// ErrEmptyKey is returned for a zero-length key.
	ErrEmptyKey = errors.New("engine: empty key")
	// ErrKeyTooLarge is returned for a key over Options.MaxKeySize.
	ErrKeyTooLarge = errors.New("engine: key too large")
	// ErrValueTooLarge is returned for a value over Options.MaxValueSize.
	ErrValueTooLarge = errors.New("engine: value too large")
	// ErrBadRange is returned by Scan for bounds that cannot be met
	// (End before Start, or Prefix together with Start or End outside it).
	ErrBadRange = errors.New("engine: bad scan range")
	// ErrCASMismatch is inside every *CASError.
	ErrCASMismatch = errors.New("engine: compare-and-swap mismatch")
	// ErrClosed is returned by calls on a closed DB.
	ErrClosed = errors.New("engine: closed")
	// ErrFailed is returned by writes after an fsync failed: the DB no
	// longer knows what reached the disk and refuses to acknowledge more.
	// Reopen it.
	ErrFailed = errors.New("engine: failed, reopen required")
	// ErrInvalidOptions wraps every problem found in Options.
	ErrInvalidOptions = errors.New("engine: invalid options")
	// ErrCorrupt marks any checksum, length or layout mismatch on disk.
	ErrCorrupt = segment.ErrCorrupt
	// ErrLocked is returned by Open when another process (or another DB
	// in this one) has the directory open.
	ErrLocked = segment.ErrLocked
	// ErrOutOfRange is inside every *OffsetError.
	ErrOutOfRange = segment.ErrOutOfRange
)

// OffsetError reports a ReadFrom below the log start or past its end; it
// carries the earliest and next offsets.
type OffsetError = segment.OffsetError

// FileError locates a failure in a file (operation, path, position).
type FileError = segment.FileError

// CASError reports a CompareAndSwap whose expected offset was not the
// key's current one. errors.Is(err, ErrCASMismatch) holds for it.
type CASError struct {
	Expected uint64 // what the caller expected
	Current  uint64 // the key's current offset; 0 when absent
}

// Error describes the failure.
func (e *CASError) Error() string {
	return fmt.Sprintf("engine: compare-and-swap expected offset %d, key is at %d", e.Expected, e.Current)
}

// Unwrap makes errors.Is(err, ErrCASMismatch) true.
func (e *CASError) Unwrap() error { return ErrCASMismatch }
