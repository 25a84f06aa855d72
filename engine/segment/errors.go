package segment

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt marks any checksum, length or layout mismatch on disk.
	ErrCorrupt = errors.New("segment: corrupt data")
	// ErrClosed is returned by calls on a closed log or segment.
	ErrClosed = errors.New("segment: closed")
	// ErrNotFound is returned when no record has the requested offset.
	ErrNotFound = errors.New("segment: offset not found")
	// ErrLocked is returned by Open when another Log (in this or another
	// process) has the directory open.
	ErrLocked = errors.New("segment: directory in use by another process")
	// ErrOutOfRange is the sentinel inside an *OffsetError.
	ErrOutOfRange = errors.New("segment: offset out of range")
)

// OffsetError reports a read below the start or past the end of the log.
// errors.Is(err, ErrOutOfRange) holds for it.
type OffsetError struct {
	Requested uint64 // the offset asked for
	Earliest  uint64 // first offset still in the log (0 if the log is empty)
	Next      uint64 // the offset the next append will get (high-water mark)
}

// Error describes the failure.
func (e *OffsetError) Error() string {
	return fmt.Sprintf("segment: offset %d out of range [%d, %d)", e.Requested, e.Earliest, e.Next)
}

// Unwrap makes errors.Is(err, ErrOutOfRange) true.
func (e *OffsetError) Unwrap() error { return ErrOutOfRange }

// FileError locates a failure inside a file: which operation, which file,
// at which byte position.
type FileError struct {
	Op       string // what was being done, e.g. "read record"
	Path     string
	Position int64 // byte position in the file; -1 when not known
	Err      error
}

// Error describes the failure.
func (e *FileError) Error() string {
	if e.Position >= 0 {
		return fmt.Sprintf("%s %s at position %d: %v", e.Op, e.Path, e.Position, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }
