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
