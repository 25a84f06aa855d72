package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/caskade/caskade/engine/segment"
)

// Backup writes a consistent image of the store to w (a tar archive of
// its segment files, the active one cut at its last record) and returns
// the bytes written. Reads and writes go on meanwhile; a merge waits until
// the backup ends. Records appended while it runs may or may not be in it.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if db.closed.Load() {
		return 0, ErrClosed
	}
	n, err := db.log.WriteSnapshot(ctx, w)
	if errors.Is(err, segment.ErrClosed) {
		return n, ErrClosed
	}
	return n, err
}

// Checkpoint is a pinned, point-in-time image of the store (see
// DB.Checkpoint).
type Checkpoint struct{ sn *segment.Snapshot }

// Checkpoint pins the store as it is now, quickly (nothing is copied), for
// writing out later with WriteTo while writes go on; a Raft FSM snapshot
// takes one under its apply lock. Merges wait until Release.
func (db *DB) Checkpoint() (*Checkpoint, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	sn, err := db.log.Snapshot()
	if errors.Is(err, segment.ErrClosed) {
		return nil, ErrClosed
	}
	if err != nil {
		return nil, err
	}
	return &Checkpoint{sn: sn}, nil
}

// NextOffset returns the offset the next write had when the checkpoint was
// taken: the checkpoint holds every record below it.
func (c *Checkpoint) NextOffset() uint64 { return c.sn.Next() }

// WriteTo writes the checkpoint to w in Backup's format.
func (c *Checkpoint) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	return c.sn.WriteTo(ctx, w)
}

// Release lets go of the checkpoint.
func (c *Checkpoint) Release() { c.sn.Release() }

// Restore creates a store in dir (which must not exist or be empty) from
// a backup read from r, and checks that it opens. dir holds the whole
// backup or nothing.
func Restore(ctx context.Context, dir string, r io.Reader, opts *Options) error {
	if err := segment.RestoreSnapshot(ctx, dir, r); err != nil {
		return fmt.Errorf("restore %s: %w", dir, err)
	}
	db, err := Open(dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("restore %s: the backup does not open: %w", dir, err)
	}
	return db.Close()
}
