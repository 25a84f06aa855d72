package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/tysonmote/gommap"
)

// Index layout constants. They describe bytes on disk and must never change.
const (
	// IndexEntrySize is the size of one index entry: offset (8 bytes, little
	// endian) then position (8 bytes, little endian).
	IndexEntrySize = 16
)

// index is a memory-mapped .idx file of fixed-length (offset, position)
// entries sorted by offset. Offsets are absolute, so an all-zero entry
// (offset 0) can never be valid: that is how a preallocated or torn tail is
// told apart from entries.
//
// Concurrency: one writer (the segment's owner, under Log.mu) appends;
// any number of readers search the first n entries, n published atomically
// after the entry's bytes are written.
type index struct {
	path string
	f    *os.File
	mm   gommap.MMap // capacity entries; only [0, n*IndexEntrySize) is meaningful
	// fileEntries is how many whole entries the file held before openIndex
	// grew it (fileBytes its exact size then): past them the file is
	// freshly preallocated, hence zero.
	fileEntries, fileBytes int64
	// n is the number of valid entries. Invariant: n*IndexEntrySize <= len(mm).
	n atomic.Int64
}

// openIndex maps path with room for capEntries entries (at least the
// entries already in the file). It does not validate the entries: see
// validate and the segment's recovery.
func openIndex(path string, capEntries int64) (*index, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := fi.Size() - fi.Size()%IndexEntrySize
	capBytes := max(capEntries*IndexEntrySize, size, IndexEntrySize)
	if capBytes > fi.Size() {
		if err := preallocate(f, capBytes); err != nil {
			f.Close()
			return nil, &FileError{Op: "grow index", Path: path, Position: -1, Err: err}
		}
	}
	mm, err := gommap.MapRegion(f.Fd(), 0, capBytes, gommap.PROT_READ|gommap.PROT_WRITE, gommap.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, &FileError{Op: "map index", Path: path, Position: -1, Err: err}
	}
	return &index{path: path, f: f, mm: mm, fileEntries: size / IndexEntrySize, fileBytes: fi.Size()}, nil
}

// countValid returns the number of leading entries that are well formed:
// offsets strictly increasing and at least base, positions strictly
// increasing. It stops at the first entry that breaks the order (a zero
// tail included).
func (ix *index) countValid(base uint64) int64 { return ix.countValidN(base, ix.capacity()) }

// countValidN is countValid over the first limit entries only.
func (ix *index) countValidN(base uint64, limit int64) int64 {
	var prevOff, prevPos uint64
	capEntries := min(int64(len(ix.mm)/IndexEntrySize), limit)
	for i := int64(0); i < capEntries; i++ {
		off, pos := ix.entryAt(i)
		if off < base || off == 0 || (i > 0 && (off <= prevOff || pos <= prevPos)) || (i == 0 && pos != 0) {
			return i
		}
		prevOff, prevPos = off, pos
	}
	return capEntries
}

func (ix *index) entryAt(i int64) (offset, position uint64) {
	b := ix.mm[i*IndexEntrySize : (i+1)*IndexEntrySize]
	return binary.LittleEndian.Uint64(b[0:8]), binary.LittleEndian.Uint64(b[8:16])
}

// Entry returns entry i; i must be < Len.
func (ix *index) Entry(i int64) (offset uint64, position int64) {
	o, p := ix.entryAt(i)
	return o, int64(p)
}

// Len returns the number of valid entries.
func (ix *index) Len() int64 { return ix.n.Load() }

// capacity returns how many entries fit in the mapping.
func (ix *index) capacity() int64 { return int64(len(ix.mm) / IndexEntrySize) }

// write stores entry i without publishing it.
func (ix *index) write(i int64, offset uint64, position int64) {
	b := ix.mm[i*IndexEntrySize : (i+1)*IndexEntrySize]
	binary.LittleEndian.PutUint64(b[0:8], offset)
	binary.LittleEndian.PutUint64(b[8:16], uint64(position))
}

// LowerBound returns the index of the first entry whose offset is >= offset,
// or Len() if there is none. A binary search over the mapped entries.
func (ix *index) LowerBound(offset uint64) int64 {
	lo, hi := int64(0), ix.n.Load()
	for lo < hi {
		mid := lo + (hi-lo)/2
		o, _ := ix.entryAt(mid)
		if o < offset {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// truncate drops entries from n on, zeroing them so that a crash cannot
// resurrect them.
func (ix *index) truncate(n int64) {
	old := ix.n.Load()
	if n >= old {
		return
	}
	ix.n.Store(n)
	clear(ix.mm[n*IndexEntrySize : old*IndexEntrySize])
}

// sync flushes the mapped entries to disk.
func (ix *index) sync() error {
	if err := ix.mm.Sync(gommap.MS_SYNC); err != nil {
		return &FileError{Op: "sync index", Path: ix.path, Position: -1, Err: err}
	}
	return nil
}

// shrink cuts the file to exactly its valid entries (on seal and close).
// The mapping keeps its length; bytes past the new end are never read.
func (ix *index) shrink() error {
	if err := ix.f.Truncate(ix.n.Load() * IndexEntrySize); err != nil {
		return &FileError{Op: "truncate index", Path: ix.path, Position: -1, Err: err}
	}
	return nil
}

// close unmaps and closes the file.
func (ix *index) close() error {
	var errs []error
	if ix.mm != nil {
		if err := ix.mm.UnsafeUnmap(); err != nil {
			errs = append(errs, fmt.Errorf("unmap %s: %w", ix.path, err))
		}
		ix.mm = nil
	}
	if err := ix.f.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
