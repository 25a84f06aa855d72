//go:build !linux

package segment

import "os"

// preallocate makes f size bytes long (sparse where fallocate is not
// available).
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

// fdatasync flushes f's data and metadata.
func fdatasync(f *os.File) error { return f.Sync() }

// writeBehind is a no-op where sync_file_range does not exist.
func writeBehind(f *os.File, off, n int64) {}
