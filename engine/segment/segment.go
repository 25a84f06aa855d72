package segment

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tysonmote/gommap"
)

// File name extensions of a segment's files. Segments are named by their
// base offset, zero-padded to 20 digits so that names sort by offset.
const (
	LogExt   = ".log"
	IndexExt = ".idx"
	HintExt  = ".hint"
)

// Path returns the path of the file with extension ext of the segment with
// base offset base in dir.
func Path(dir string, base uint64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

// Segment is one .log file with its .idx (and, once sealed, .hint).
//
// The .log is preallocated to the segment's capacity and mapped shared,
// so an append is a copy into memory and a read is a copy out of it: no
// system call on either path. The kernel writes the pages back; Sync makes
// them durable. With Options.ZeroFill an append writes with one pwrite
// instead, and a background goroutine writes zeros ahead of the appends
// (zerofill.go).
//
// Concurrency: one appender at a time (the Log serializes appends under
// Log.mu); any number of readers, lock-free, over the records published by
// size. A reader holds a reference (Acquire/Release) while it touches the
// mapping; the mapping is unmapped only when the last reference goes.
type Segment struct {
	id   uint32 // process-local id, for keydir entries; never persisted
	base uint64 // offset the segment starts at (its file name)
	dir  string

	f    *os.File    // the .log
	data gommap.MMap // mapping of the .log; len(data) is the capacity
	idx  *index
	zf   *zeroFill // the zero-filler of an active segment; nil when off

	// size is the number of bytes of whole, published records.
	// Invariant: size <= len(data); records live in data[0:size].
	size atomic.Int64
	// last is the offset of the last published record; 0 while empty.
	last atomic.Uint64
	// keyless is the bytes of keyless records among the published ones
	// (written under Log.mu; compaction reads it for retention).
	keyless atomic.Int64
	// refs counts holders: 1 for the Log while the segment is in its list,
	// plus one per reader. At 0 the mapping and files are closed.
	refs atomic.Int64
	// sealed is set when the segment stops taking appends.
	sealed atomic.Bool
	// finished is set once the segment is sealed and its seal work done
	// (files cut, synced, hint written): only then may a merge take it.
	finished atomic.Bool
	// retired is set when the segment left the log (removed, or replaced
	// by a new Segment over the same files): sealing work on it stops.
	retired atomic.Bool

	// fileMu guards changes to the files' sizes and their closing
	// (finishing a seal, cutting the tail, closing). Never held by readers.
	fileMu sync.Mutex

	// hints are the segment's hint entries loaded at open, when a valid
	// hint file matched the .log; nil otherwise, and nil again after
	// DropHints. Read by the Log's owner while it starts up, then dropped.
	hints *Hints
	// synced is the number of bytes known durable. Guarded by Log.syncMu.
	synced int64
	// recovered is set by Open when the segment was scanned rather than
	// trusted: its files need a seal pass (cut, fsync, hints). Immutable.
	recovered bool
	// torn is set by Open when an older (not newest) segment ended in a
	// torn record: it was never synced whole, so no later record was
	// acknowledged (Sync flushes older segments first). Immutable.
	torn bool
}

// ID returns the segment's process-local id.
func (s *Segment) ID() uint32 { return s.id }

// Base returns the segment's base offset (its name).
func (s *Segment) Base() uint64 { return s.base }

// Size returns the bytes of published records.
func (s *Segment) Size() int64 { return s.size.Load() }

// LastOffset returns the offset of the last record, or 0 if empty.
func (s *Segment) LastOffset() uint64 { return s.last.Load() }

// Len returns the number of records.
func (s *Segment) Len() int64 { return s.idx.Len() }

// LastTimestamp returns the timestamp of the segment's last record (the
// newest in it), or 0 when it is empty or the record cannot be read.
func (s *Segment) LastTimestamp() int64 {
	n := s.idx.Len()
	if n == 0 {
		return 0
	}
	_, pos := s.idx.Entry(n - 1)
	h, err := s.headerAt(pos)
	if err != nil {
		return 0
	}
	return h.Timestamp
}

// KeylessBytes returns the bytes of keyless records in the segment.
func (s *Segment) KeylessBytes() int64 { return s.keyless.Load() }

// Finished reports whether the segment is sealed and its seal work
// (cutting, syncing, writing the hint) is done: it may be merged.
func (s *Segment) Finished() bool { return s.finished.Load() }

// Sealed reports whether the segment takes no more appends.
func (s *Segment) Sealed() bool { return s.sealed.Load() }

// Hints returns the hint entries loaded when the segment was opened from a
// valid hint file, or nil: then the caller must Scan the records.
func (s *Segment) Hints() *Hints { return s.hints }

// DropHints frees the hint entries loaded at open, once the caller has
// built its index from them. Call it before any concurrent use of Hints.
func (s *Segment) DropHints() { s.hints = nil }

// Path returns the path of the segment's file with extension ext.
func (s *Segment) Path(ext string) string { return Path(s.dir, s.base, ext) }

// Acquire takes a reference; it fails once the segment has been released
// for good (then the caller looks the segment up again).
func (s *Segment) Acquire() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release drops a reference taken by Acquire (or the Log's own).
func (s *Segment) Release() {
	if n := s.refs.Add(-1); n == 0 {
		s.closeFiles()
	} else if n < 0 {
		panic("segment: Release without Acquire")
	}
}

func (s *Segment) closeFiles() {
	s.haltZeroFill()
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.data != nil {
		_ = s.data.UnsafeUnmap() // nothing to do about a failing munmap
		s.data = nil
	}
	_ = s.idx.close()
	_ = s.f.Close()
}

// remove unlinks the segment's files. Readers holding a reference keep
// reading the mapping; the memory goes with the last Release.
func (s *Segment) remove() error {
	s.retired.Store(true)
	var errs []error
	for _, ext := range []string{LogExt, IndexExt, HintExt} {
		if err := os.Remove(s.Path(ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// corrupt wraps err with the segment's .log path and a position.
func (s *Segment) corrupt(op string, pos int64, err error) error {
	return &FileError{Op: op, Path: s.Path(LogExt), Position: pos, Err: err}
}

// headerAt decodes and bounds-checks the header of the record at pos
// without verifying its checksum.
func (s *Segment) headerAt(pos int64) (Header, error) {
	size := s.size.Load()
	if pos < 0 || pos+HeaderSize > size {
		return Header{}, s.corrupt("read record", pos, fmt.Errorf("%w: position outside the segment (%d bytes)", ErrCorrupt, size))
	}
	h, err := DecodeHeader(s.data[pos : pos+HeaderSize])
	if err != nil {
		return Header{}, s.corrupt("read record", pos, err)
	}
	if pos+h.Size() > size {
		return Header{}, s.corrupt("read record", pos, fmt.Errorf("%w: record runs past the segment end", ErrCorrupt))
	}
	return h, nil
}

// view decodes and verifies the record at pos in place. Its Key and Value
// point into the mapping: only for callers that copy them afterwards and
// cannot race a TruncateTail (building hints), or that only look.
func (s *Segment) view(pos int64) (Record, error) {
	h, err := s.headerAt(pos)
	if err != nil {
		return Record{}, err
	}
	r, _, err := DecodeRecord(s.data[pos : pos+h.Size()])
	if err != nil {
		return Record{}, s.corrupt("read record", pos, err)
	}
	return r, nil
}

// readCopy appends the bytes of the record at pos to dst and verifies the
// copy, not the mapping: bytes that change under the reader (a concurrent
// TruncateTail zeroing or refilling the tail) fail the checksum instead of
// being served. The record's Key and Value point into the returned slice.
func (s *Segment) readCopy(pos int64, dst []byte) (Record, []byte, error) {
	h, err := s.headerAt(pos)
	if err != nil {
		return Record{}, dst, err
	}
	start := len(dst)
	dst = append(dst, s.data[pos:pos+h.Size()]...)
	r, _, err := DecodeRecord(dst[start:])
	if err != nil {
		return Record{}, dst[:start], s.corrupt("read record", pos, err)
	}
	if len(r.Key) == 0 {
		r.Key = nil
	}
	return r, dst, nil
}

// ReadRecord returns a copy of the record at position pos, checksum
// verified. The caller holds a reference.
func (s *Segment) ReadRecord(pos int64) (Record, error) {
	r, _, err := s.readCopy(pos, nil)
	return r, err
}

// ReadValue appends the record at pos to dst (header and key included:
// one copy, then verified) and returns it with Key and Value pointing into
// the returned slice. Pass dst with spare capacity to read many records
// into one allocation. The caller holds a reference.
func (s *Segment) ReadValue(pos int64, dst []byte) (Record, []byte, error) {
	return s.readCopy(pos, dst)
}

// Touch reads one byte of the record at pos, if it is published, and
// returns it. Touching the records of a batch before reading them lets the
// CPU overlap their cache and TLB misses (a scan reads records scattered
// over the log). The caller holds a reference.
func (s *Segment) Touch(pos int64) byte {
	if pos < 0 || pos >= s.size.Load() {
		return 0
	}
	return s.data[pos]
}

// ReadHeader returns the header of the record at pos, without verifying
// the record's checksum (cheap: a keys-only scan uses it for expiry).
func (s *Segment) ReadHeader(pos int64) (Header, error) { return s.headerAt(pos) }

// Scan calls fn for each record in position order, starting at the first
// record with offset >= from. Records alias the mapping and are valid only
// during the call. The caller holds a reference.
func (s *Segment) Scan(from uint64, fn func(r *Record, pos int64) error) error {
	n := s.idx.Len()
	for i := s.idx.LowerBound(from); i < n; i++ {
		_, pos := s.idx.Entry(i)
		r, err := s.view(pos)
		if err != nil {
			return err
		}
		if err := fn(&r, pos); err != nil {
			return err
		}
	}
	return nil
}

// find returns the index position of the first record with offset >= off.
func (s *Segment) find(off uint64) int64 { return s.idx.LowerBound(off) }

// room returns how many bytes an append may still use.
func (s *Segment) room() int64 { return int64(len(s.data)) - s.size.Load() }

// appendRecord encodes r into dst (the mapping at position pos, or a
// buffer the caller writes there with writeAt) and writes its index entry
// i, without publishing either (nor counting keyless bytes). It returns
// the record's size. Caller holds Log.mu and checked room.
func (s *Segment) appendRecord(dst []byte, i, pos int64, r *Record) int64 {
	n := int64(Encode(dst, r))
	s.idx.write(i, r.Offset, pos)
	return n
}

// publish makes the first n records (size bytes, the last with offset
// last) visible to readers. Readers load the index length first and the
// size after it, so size is stored first.
func (s *Segment) publish(n, size int64, last uint64) {
	s.size.Store(size)
	s.last.Store(last)
	s.idx.n.Store(n)
}

// syncData makes the published records durable.
func (s *Segment) syncData() error {
	if err := fdatasync(s.f); err != nil {
		return s.corrupt("sync", -1, err)
	}
	return nil
}

// finishSeal cuts the files to their contents, makes them durable and,
// with hints set, writes the hint file. Runs off the write path.
func (s *Segment) finishSeal(hints bool) error {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.retired.Load() || s.data == nil {
		return nil
	}
	s.haltZeroFill()
	size := s.size.Load()
	if err := s.f.Truncate(size); err != nil {
		return s.corrupt("truncate", size, err)
	}
	if err := s.idx.shrink(); err != nil {
		return err
	}
	if err := s.syncData(); err != nil {
		return err
	}
	if err := fdatasync(s.idx.f); err != nil {
		return &FileError{Op: "sync index", Path: s.idx.path, Position: -1, Err: err}
	}
	if !hints {
		return nil
	}
	entries, keyless, err := s.buildHints()
	if err != nil {
		return err
	}
	if err := writeHints(s.Path(HintExt), entries, size, keyless, s.idx.mm[:s.idx.Len()*IndexEntrySize]); err != nil {
		return err
	}
	if s.retired.Load() {
		// Removed from the log (remove runs without fileMu) while the
		// hints were written: do not leave them behind.
		if err := os.Remove(s.Path(HintExt)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// buildHints collects the latest record of each key in the segment and
// counts the bytes of keyless records. Keys alias the mapping: the caller
// holds a reference until the hints are written.
func (s *Segment) buildHints() (entries []HintEntry, keylessBytes int64, err error) {
	entries = make([]HintEntry, 0, s.idx.Len())
	err = s.Scan(0, func(r *Record, pos int64) error {
		if len(r.Key) == 0 {
			keylessBytes += int64(r.Size())
			return nil
		}
		entries = append(entries, HintEntry{
			Key:       r.Key,
			Offset:    r.Offset,
			Position:  uint32(pos),
			Size:      uint32(r.Size()),
			Timestamp: r.Timestamp,
			Expiry:    r.Expiry,
			Flags:     r.Flags,
		})
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return latestPerKey(entries), keylessBytes, nil
}

// latestPerKey sorts entries by key and keeps the newest (highest offset)
// entry of each key. Sorting (key, offset) pairs and keeping the last of
// each run needs no map and no copy of the keys.
func latestPerKey(entries []HintEntry) []HintEntry {
	slices.SortFunc(entries, func(a, b HintEntry) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
	out := entries[:0]
	for i := range entries {
		if i+1 < len(entries) && bytes.Equal(entries[i].Key, entries[i+1].Key) {
			continue
		}
		out = append(out, entries[i])
	}
	return out
}

// writeCloseHints writes the active segment's hint file on a clean close,
// so that the next open needs no scan.
func (s *Segment) writeCloseHints() error {
	entries, keyless, err := s.buildHints()
	if err != nil {
		return err
	}
	return writeHints(s.Path(HintExt), entries, s.size.Load(), keyless, s.idx.mm[:s.idx.Len()*IndexEntrySize])
}

// cutTail drops the records from index position i on: their bytes are
// zeroed so a crash cannot bring them back. Caller holds Log.mu.
func (s *Segment) cutTail(i int64) {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if i >= s.idx.Len() {
		return
	}
	_, pos := s.idx.Entry(i)
	size := s.size.Load()
	for j := i; j < s.idx.Len(); j++ {
		_, p := s.idx.Entry(j)
		if h, err := s.headerAt(p); err == nil && h.KeyLen == 0 {
			s.keyless.Add(-h.Size())
		}
	}
	var last uint64
	if i > 0 {
		last, _ = s.idx.Entry(i - 1)
	}
	s.idx.truncate(i)
	s.size.Store(pos)
	s.last.Store(last)
	clear(s.data[pos:size])
}

// openOptions says how to open a segment's files.
type openOptions struct {
	id       uint32
	capacity int64 // bytes to map for appends; 0 opens sealed (map the file as it is)
	last     bool  // the newest segment: a torn tail is expected, not corruption
	// preallocated is the size an older segment's file still has if its
	// seal never cut it to its contents (the log's SegmentBytes).
	preallocated int64
	// zeroFill starts a zero-filler on an active segment (Options.ZeroFill).
	zeroFill bool
}

// openSegment opens (creating if absent) the segment with base offset base.
//
// A segment whose hint file matches its .log exactly was sealed cleanly:
// its index is checked (order, bounds, each entry against its record's
// header, the last record whole) and rebuilt from the .log if it does not
// match. Any other segment is scanned record by
// record: the scan stops at the first record that does not verify; what
// follows is dropped when it is the newest segment's torn tail or a zero
// tail, and is corruption otherwise.
func openSegment(dir string, base uint64, o openOptions) (*Segment, error) {
	path := Path(dir, base, LogExt)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	s := &Segment{id: o.id, base: base, dir: dir, f: f}
	ok := false
	defer func() {
		if !ok {
			if s.data != nil {
				_ = s.data.UnsafeUnmap()
			}
			if s.idx != nil {
				_ = s.idx.close()
			}
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	fileSize := fi.Size()
	if hints, err := readHints(s.Path(HintExt), fileSize); err == nil {
		s.hints = hints
	}
	mapLen := max(o.capacity, fileSize)
	if mapLen > fileSize {
		if err := preallocate(f, mapLen); err != nil {
			return nil, s.corrupt("preallocate", -1, err)
		}
	}
	if mapLen > 0 {
		s.data, err = gommap.MapRegion(f.Fd(), 0, mapLen, gommap.PROT_READ|gommap.PROT_WRITE, gommap.MAP_SHARED)
		if err != nil {
			return nil, s.corrupt("map", -1, err)
		}
	}
	// A sealed segment maps its index as it is; an active one, or one
	// being recovered, needs room for an entry per possible record.
	fullCap := mapLen/HeaderSize + 1
	idxCap := int64(1)
	if o.capacity > 0 {
		idxCap = fullCap
	}
	if s.idx, err = openIndex(s.Path(IndexExt), idxCap); err != nil {
		return nil, err
	}
	if s.hints == nil || !s.checkIndex(fileSize) {
		if s.idx.capacity() < fullCap {
			if err := s.idx.close(); err != nil {
				return nil, err
			}
			if s.idx, err = openIndex(s.Path(IndexExt), fullCap); err != nil {
				return nil, err
			}
		}
		if err := s.recover(fileSize, o); err != nil {
			return nil, err
		}
		s.recovered = true
	}
	s.refs.Store(1)
	if o.capacity == 0 {
		s.sealed.Store(true)
	} else if o.zeroFill {
		s.startZeroFill()
	}
	ok = true
	return s, nil
}

// checkIndex validates the index against a .log of exactly logSize bytes
// and the hints loaded with it: the index must be the one the hints were
// written with (same entry count, same xxhash64), which makes it exactly
// what sealing derived from the .log, so no record but the last is read.
// On success it publishes the index's entries.
func (s *Segment) checkIndex(logSize int64) bool {
	n := s.hints.IndexEntries
	if n*IndexEntrySize != s.idx.fileBytes || n > s.idx.capacity() {
		return false
	}
	if n == 0 {
		return logSize == 0
	}
	if indexChecksum(s.idx.mm[:n*IndexEntrySize]) != s.hints.IndexChecksum {
		return false
	}
	if s.idx.countValidN(s.base, n) != n {
		return false
	}
	lastOff, lastPos := s.idx.Entry(n - 1)
	s.size.Store(logSize)
	h, err := s.headerAt(lastPos)
	if err != nil || h.Offset != lastOff || lastPos+h.Size() != logSize {
		s.size.Store(0)
		return false
	}
	if _, _, err := DecodeRecord(s.data[lastPos : lastPos+h.Size()]); err != nil {
		s.size.Store(0)
		return false
	}
	s.idx.n.Store(n)
	s.last.Store(lastOff)
	s.keyless.Store(s.hints.KeylessBytes)
	return true
}

// recover rebuilds the index by scanning the .log from the start.
func (s *Segment) recover(fileSize int64, o openOptions) error {
	last := o.last
	var (
		pos, i int64
		prev   uint64
	)
	s.idx.n.Store(0)
	s.keyless.Store(0)
	capEntries := s.idx.capacity()
	for pos < fileSize {
		r, n, err := DecodeRecord(s.data[pos:fileSize])
		if err == nil && (r.Offset < s.base || r.Offset <= prev) {
			err = fmt.Errorf("%w: offset %d out of order", ErrCorrupt, r.Offset)
		}
		if err != nil {
			if !last && !allZero(s.data[pos:fileSize]) {
				// An older segment may only be torn if it was never
				// synced whole: its seal never finished (no hint, file
				// still at its preallocated size) and nothing valid
				// follows the tear. Anything else is corruption of data
				// that may have been acknowledged.
				unsealed := s.hints == nil && o.preallocated > 0 && fileSize >= o.preallocated
				if !unsealed || resyncs(s.data[pos:fileSize], prev) {
					return s.corrupt("recover segment", pos, err)
				}
				s.torn = true
			}
			// A torn or preallocated tail: zero it so it cannot be
			// mistaken for records later.
			zeroNonZeroPages(s.data[pos:fileSize])
			break
		}
		if i >= capEntries {
			return s.corrupt("recover segment", pos, fmt.Errorf("%w: index capacity exceeded", ErrCorrupt))
		}
		s.idx.write(i, r.Offset, pos)
		if len(r.Key) == 0 {
			s.keyless.Add(int64(n))
		}
		i++
		prev = r.Offset
		pos += int64(n)
	}
	clear(s.idx.mm[i*IndexEntrySize:])
	s.idx.n.Store(i)
	s.size.Store(pos)
	s.last.Store(prev)
	if s.hints != nil && s.hints.LogSize != pos {
		s.hints = nil
	}
	return nil
}

// resyncs reports whether a valid record with an offset above prev starts
// anywhere in b after its first byte: damage followed by good records is
// corruption in the middle, not a torn tail.
func resyncs(b []byte, prev uint64) bool {
	for i := 1; i+HeaderSize <= len(b); i++ {
		if r, _, err := DecodeRecord(b[i:]); err == nil && r.Offset > prev {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// zeroNonZeroPages clears b page by page, writing only pages that hold
// something, so that an untouched preallocated tail stays clean.
func zeroNonZeroPages(b []byte) {
	const page = 4096
	for len(b) > 0 {
		n := min(page, len(b))
		if !allZero(b[:n]) {
			clear(b[:n])
		}
		b = b[n:]
	}
}
