package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/caskade/caskade/engine/segment"
)

// Manifest describes a backup: format version, creation time, the store's
// earliest and next offsets and key count when it was taken, and the size
// and xxhash64 of every file in it. It is the archive's last entry; see
// package segment for the format.
type Manifest = segment.Manifest

// ManifestFile is one file of a backup.
type ManifestFile = segment.ManifestFile

// Backup writes a consistent image of the store to w (a tar archive of
// its segment files, the active one cut at its last record, ending with a
// manifest of their sizes and checksums) and returns the bytes written.
// Reads and writes go on meanwhile; a merge waits until the backup ends.
// Records appended while it runs may or may not be in it.
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	cp, err := db.Checkpoint()
	if err != nil {
		return 0, err
	}
	defer cp.Release()
	return cp.WriteTo(ctx, w)
}

// Checkpoint is a pinned, point-in-time image of the store (see
// DB.Checkpoint).
type Checkpoint struct{ sn *segment.Snapshot }

// pinTries bounds how often Checkpoint pins the log again to catch the
// keydir in step with it (see Checkpoint).
const pinTries = 8

// Checkpoint pins the store as it is now, quickly (nothing is copied), for
// writing out later with WriteTo while writes go on; a Raft FSM snapshot
// takes one under its apply lock. Merges wait until Release.
//
// The manifest records the key count only when it matches the pinned
// records exactly: when the keydir was up to date with the log as it was
// pinned (no write between its append and its keydir update). Under a
// stream of writes that rarely holds; after pinTries attempts the count
// is left out.
func (db *DB) Checkpoint() (*Checkpoint, error) {
	for try := 1; ; try++ {
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
		// While sn is pinned no merge can install (it holds the log's
		// maint lock), so only writes move the keydir; kdNext says how far
		// it has followed the log.
		db.kd.RLock()
		inStep, keys := db.kdNext.Load() == sn.Next(), db.kd.m.Len()
		db.kd.RUnlock()
		if inStep {
			sn.SetKeys(uint64(keys))
		}
		if inStep || try == pinTries {
			return &Checkpoint{sn: sn}, nil
		}
		sn.Release()
	}
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

// VerifyBackup reads a backup from r to its end and checks every file in
// it against its manifest, writing nothing. It returns the manifest, or
// an error wrapping ErrCorrupt that names the damaged or missing part.
func VerifyBackup(ctx context.Context, r io.Reader) (*Manifest, error) {
	return segment.VerifySnapshot(ctx, r)
}

// Restore creates a store in dir (which must not exist or be empty) from
// a backup read from r; see RestoreBackup.
func Restore(ctx context.Context, dir string, r io.Reader, opts *Options) error {
	_, err := RestoreBackup(ctx, dir, r, opts)
	return err
}

// RestoreBackup creates a store in dir (which must not exist or be empty)
// from a backup read from r, and returns the backup's manifest. Every file
// is checked against the manifest before dir appears, and the restored
// store is opened and must have the manifest's earliest and next offsets.
// dir holds the whole backup or nothing: a backup that is cut short,
// damaged, or lacks its manifest is refused with an error wrapping
// ErrCorrupt, and dir is left as it was.
func RestoreBackup(ctx context.Context, dir string, r io.Reader, opts *Options) (*Manifest, error) {
	m, err := segment.RestoreSnapshot(ctx, dir, r)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", dir, err)
	}
	db, err := Open(dir, opts)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("restore %s: the backup does not open: %w", dir, err)
	}
	earliest, next := db.log.Earliest(), db.log.Next()
	if err := db.Close(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("restore %s: %w", dir, err)
	}
	if earliest != m.Earliest || next != m.Next {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("restore %s: %w: the restored store holds offsets [%d, %d), its manifest says [%d, %d)",
			dir, ErrCorrupt, earliest, next, m.Earliest, m.Next)
	}
	return m, nil
}
