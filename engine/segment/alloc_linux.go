package segment

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// preallocate makes f size bytes long with its blocks reserved, so that
// writes through a shared mapping cannot fault for lack of space later.
// Filesystems without fallocate get a sparse file instead.
func preallocate(f *os.File, size int64) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, size)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return f.Truncate(size)
	}
	return err
}

// fdatasync flushes f's data (and the metadata needed to read it back).
func fdatasync(f *os.File) error {
	return unix.Fdatasync(int(f.Fd()))
}

// writeBehind starts writing back f's bytes [off, off+n) without waiting,
// after waiting for the write-back of earlier ranges started the same way:
// a merge that writes hundreds of megabytes keeps little dirty data, so
// the final fsync (and the fsyncs of writers meanwhile) do not queue
// behind it.
func writeBehind(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE)
}
