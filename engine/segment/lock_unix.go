//go:build unix

package segment

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive advisory lock on the directory itself (no
// file is added to it), so that two processes, or two Logs in one process,
// never append to the same segments. Closing the returned file releases
// it.
func lockDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, &FileError{Op: "lock directory", Path: dir, Position: -1, Err: err}
	}
	return f, nil
}
