package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cespare/xxhash/v2"

	"github.com/caskade/caskade/engine/segment"
)

// First index file constants (see doc.go). They describe bytes on disk and
// must never change.
const (
	// firstIndexFile holds the floor of the Raft log in its directory.
	// The segment log ignores files whose names are not segment names.
	firstIndexFile = "raft-first-index"
	// firstIndexTemp is where a new floor is written before the rename.
	// It ends in .tmp so that segment.Open removes one a crash left.
	firstIndexTemp = firstIndexFile + ".tmp"
	// firstIndexMagic starts the file.
	firstIndexMagic = "CSKRFST1"
	// firstIndexSize is the size of the whole file.
	firstIndexSize = 24
)

// encodeFirstIndex returns the bytes of the first index file for floor.
func encodeFirstIndex(floor uint64) []byte {
	b := make([]byte, firstIndexSize)
	copy(b, firstIndexMagic)
	binary.LittleEndian.PutUint64(b[8:], floor)
	binary.LittleEndian.PutUint64(b[16:], xxhash.Sum64(b[:16]))
	return b
}

// decodeFirstIndex parses the first index file. Any mismatch is an error
// wrapping segment.ErrCorrupt.
func decodeFirstIndex(b []byte) (uint64, error) {
	if len(b) != firstIndexSize {
		return 0, fmt.Errorf("%w: first index file of %d bytes, want %d", segment.ErrCorrupt, len(b), firstIndexSize)
	}
	if string(b[:8]) != firstIndexMagic {
		return 0, fmt.Errorf("%w: first index file: bad magic %q", segment.ErrCorrupt, b[:8])
	}
	if xxhash.Sum64(b[:16]) != binary.LittleEndian.Uint64(b[16:]) {
		return 0, fmt.Errorf("%w: first index file: checksum mismatch", segment.ErrCorrupt)
	}
	return binary.LittleEndian.Uint64(b[8:]), nil
}

// readFirstIndex returns the floor stored in dir; 0 when there is no file.
func readFirstIndex(dir string) (uint64, error) {
	path := filepath.Join(dir, firstIndexFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read first index: %w", err)
	}
	floor, err := decodeFirstIndex(b)
	if err != nil {
		return 0, &segment.FileError{Op: "decode first index", Path: path, Position: -1, Err: err}
	}
	return floor, nil
}

// writeFirstIndex makes floor the durable floor of dir: it writes a
// temporary file, fsyncs it, renames it over the old one and fsyncs the
// directory. A crash leaves the old floor or the new one.
func writeFirstIndex(dir string, floor uint64) error {
	tmp := filepath.Join(dir, firstIndexTemp)
	if err := writeFileSync(tmp, encodeFirstIndex(floor)); err != nil {
		return fmt.Errorf("write first index %d: %w", floor, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, firstIndexFile)); err != nil {
		return fmt.Errorf("write first index %d: %w", floor, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write first index %d: %w", floor, err)
	}
	return nil
}

// writeFileSync creates (or truncates) path, writes b and fsyncs it.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir fsyncs a directory, making the creations, renames and removals
// of files in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
