//go:build !linux

package segment

import "os"

// preallocate makes f size bytes long (sparse where fallocate is not
// available).
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

// fdatasync flushes f's data and metadata.
func fdatasync(f *os.File) error { return f.Sync() }
