package segment

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Hint layout constants. They describe bytes on disk and must never change.
const (
	// HintEntryHeaderSize is the fixed part of a hint entry: flags (1),
	// key length (2), offset (8), position (4), size (4), timestamp (8),
	// expiry (8), all little endian; the key follows.
	HintEntryHeaderSize = 35
	// HintTrailerSize is the trailer at the end of a hint file: entry count
	// (8), size of the .log file the hint describes (8), entries of the .idx
	// file it was written with (8), xxhash64 of those index bytes (8),
	// bytes of keyless records in the .log (8), xxhash64 of the entries and
	// the five fields before it (8), magic (8).
	HintTrailerSize = 56
	// hintMagic ends every hint file ("CSKHINT2" read as little endian).
	hintMagic = 0x32544e49484b5343
)

// HintEntry says where the latest record of one key inside one segment is.
// A hint file holds one entry per key that the segment's records touch,
// sorted by key, so that startup can merge the hint files of all segments
// without sorting.
type HintEntry struct {
	Key       []byte
	Offset    uint64
	Position  uint32
	Size      uint32
	Timestamp int64
	Expiry    int64
	Flags     Flags
}

// AppendHintEntry appends the encoding of e to dst.
func AppendHintEntry(dst []byte, e *HintEntry) []byte {
	var h [HintEntryHeaderSize]byte
	h[0] = byte(e.Flags)
	binary.LittleEndian.PutUint16(h[1:], uint16(len(e.Key)))
	binary.LittleEndian.PutUint64(h[3:], e.Offset)
	binary.LittleEndian.PutUint32(h[11:], e.Position)
	binary.LittleEndian.PutUint32(h[15:], e.Size)
	binary.LittleEndian.PutUint64(h[19:], uint64(e.Timestamp))
	binary.LittleEndian.PutUint64(h[27:], uint64(e.Expiry))
	dst = append(dst, h[:]...)
	return append(dst, e.Key...)
}

// DecodeHintEntry parses one hint entry at the start of b. The key aliases
// b. It returns the entry's encoded size; malformed input is ErrCorrupt.
func DecodeHintEntry(b []byte) (HintEntry, int, error) {
	if len(b) < HintEntryHeaderSize {
		return HintEntry{}, 0, fmt.Errorf("%w: short hint entry", ErrCorrupt)
	}
	kl := int(binary.LittleEndian.Uint16(b[1:]))
	n := HintEntryHeaderSize + kl
	if n > len(b) {
		return HintEntry{}, 0, fmt.Errorf("%w: hint key runs past the end", ErrCorrupt)
	}
	e := HintEntry{
		Flags:     Flags(b[0]),
		Offset:    binary.LittleEndian.Uint64(b[3:]),
		Position:  binary.LittleEndian.Uint32(b[11:]),
		Size:      binary.LittleEndian.Uint32(b[15:]),
		Timestamp: int64(binary.LittleEndian.Uint64(b[19:])),
		Expiry:    int64(binary.LittleEndian.Uint64(b[27:])),
		Key:       b[HintEntryHeaderSize:n:n],
	}
	switch {
	case kl == 0:
		return HintEntry{}, 0, fmt.Errorf("%w: hint entry without key", ErrCorrupt)
	case e.Offset == 0:
		return HintEntry{}, 0, fmt.Errorf("%w: hint entry offset 0", ErrCorrupt)
	case e.Flags&^knownFlags != 0:
		return HintEntry{}, 0, fmt.Errorf("%w: unknown hint flags %#x", ErrCorrupt, b[0])
	case int64(e.Size) < HeaderSize+int64(kl):
		return HintEntry{}, 0, fmt.Errorf("%w: hint record size %d too small", ErrCorrupt, e.Size)
	}
	return e, n, nil
}

// Hints is a validated, decoded-on-demand hint file.
type Hints struct {
	entries []byte // the entry bytes, trailer removed
	count   uint64
	LogSize int64 // size of the .log the hints describe
	// IndexEntries and IndexChecksum describe the .idx written with the
	// hints: a matching index needs no check against the .log.
	IndexEntries  int64
	IndexChecksum uint64
	// KeylessBytes are the bytes of keyless records in the .log (they are
	// not in the entries; compaction accounts for them).
	KeylessBytes int64
}

// indexChecksum is the xxhash64 of an index's entry bytes; 0 for none.
func indexChecksum(idx []byte) uint64 {
	if len(idx) == 0 {
		return 0
	}
	return xxhash.Sum64(idx)
}

// hintTrailer is the decoded trailer of a hint file.
type hintTrailer struct {
	count        uint64
	logSize      int64
	indexEntries int64
	indexSum     uint64
	keylessBytes int64
}

// appendHintTrailer appends the trailer for the entry bytes entries.
func appendHintTrailer(entries []byte, tr hintTrailer) []byte {
	var t [HintTrailerSize]byte
	binary.LittleEndian.PutUint64(t[0:], tr.count)
	binary.LittleEndian.PutUint64(t[8:], uint64(tr.logSize))
	binary.LittleEndian.PutUint64(t[16:], uint64(tr.indexEntries))
	binary.LittleEndian.PutUint64(t[24:], tr.indexSum)
	binary.LittleEndian.PutUint64(t[32:], uint64(tr.keylessBytes))
	binary.LittleEndian.PutUint64(t[48:], hintMagic)
	out := append(entries, t[:]...)
	binary.LittleEndian.PutUint64(out[len(out)-16:], hintChecksum(out))
	return out
}

// hintChecksum is the xxhash64 of a hint file image's entries and the
// first five trailer fields: everything but the checksum and the magic.
func hintChecksum(file []byte) uint64 {
	return xxhash.Sum64(file[:len(file)-16])
}

// Len returns the number of entries.
func (h *Hints) Len() int { return int(h.count) }

// ParseHints validates a whole hint file image: trailer magic, checksum,
// entry count, key order and that every entry points inside a log of
// LogSize bytes. Malformed input is ErrCorrupt; it never panics.
func ParseHints(b []byte) (*Hints, error) {
	if len(b) < HintTrailerSize {
		return nil, fmt.Errorf("%w: hint file too short", ErrCorrupt)
	}
	t := b[len(b)-HintTrailerSize:]
	if binary.LittleEndian.Uint64(t[48:]) != hintMagic {
		return nil, fmt.Errorf("%w: bad hint magic", ErrCorrupt)
	}
	h := &Hints{
		entries:       b[:len(b)-HintTrailerSize],
		count:         binary.LittleEndian.Uint64(t[0:]),
		LogSize:       int64(binary.LittleEndian.Uint64(t[8:])),
		IndexEntries:  int64(binary.LittleEndian.Uint64(t[16:])),
		IndexChecksum: binary.LittleEndian.Uint64(t[24:]),
		KeylessBytes:  int64(binary.LittleEndian.Uint64(t[32:])),
	}
	if hintChecksum(b) != binary.LittleEndian.Uint64(t[40:]) {
		return nil, fmt.Errorf("%w: hint checksum mismatch", ErrCorrupt)
	}
	if h.LogSize < 0 || h.IndexEntries < 0 || h.KeylessBytes < 0 || h.KeylessBytes > h.LogSize {
		return nil, fmt.Errorf("%w: hint sizes negative", ErrCorrupt)
	}
	var n uint64
	var prev []byte
	err := h.Each(func(e HintEntry) error {
		if n > 0 && bytes.Compare(prev, e.Key) >= 0 {
			return fmt.Errorf("%w: hint keys out of order", ErrCorrupt)
		}
		if int64(e.Position)+int64(e.Size) > h.LogSize {
			return fmt.Errorf("%w: hint entry past the end of the log", ErrCorrupt)
		}
		prev = e.Key
		n++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n != h.count {
		return nil, fmt.Errorf("%w: hint count %d, found %d entries", ErrCorrupt, h.count, n)
	}
	return h, nil
}

// Each calls fn for every entry in key order, stopping at fn's first error.
// Keys alias the file image.
func (h *Hints) Each(fn func(HintEntry) error) error {
	for b := h.entries; len(b) > 0; {
		e, n, err := DecodeHintEntry(b)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// Iter returns an iterator over the entries in key order.
func (h *Hints) Iter() *HintIter { return &HintIter{rest: h.entries} }

// HintIter walks the entries of a validated hint file.
type HintIter struct {
	rest []byte
	cur  HintEntry
}

// Next advances to the next entry and reports whether there is one.
func (it *HintIter) Next() bool {
	if len(it.rest) == 0 {
		return false
	}
	e, n, err := DecodeHintEntry(it.rest)
	if err != nil { // impossible after ParseHints; stop rather than panic
		it.rest = nil
		return false
	}
	it.cur, it.rest = e, it.rest[n:]
	return true
}

// Entry returns the current entry; its key aliases the file image.
func (it *HintIter) Entry() *HintEntry { return &it.cur }

// readHints reads and validates the hint file at path for a log of
// logSize bytes. A missing, malformed or stale file yields an error.
func readHints(path string, logSize int64) (*Hints, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, err := ParseHints(b)
	if err != nil {
		return nil, err
	}
	if h.LogSize != logSize {
		return nil, fmt.Errorf("%w: hint describes %d bytes of log, log has %d", ErrCorrupt, h.LogSize, logSize)
	}
	return h, nil
}

// writeHints writes entries (one per key) sorted by key to path through a
// temporary file, fsyncs and renames it into place. Entries already in
// key order (as buildHints makes them) are not sorted again. idx is the
// .idx content the hints go with (its checksum lets Open trust it without
// reading the .log). The directory is not synced here.
func writeHints(path string, entries []HintEntry, logSize, keylessBytes int64, idx []byte) error {
	byKey := func(a, b HintEntry) int { return bytes.Compare(a.Key, b.Key) }
	if !slices.IsSortedFunc(entries, byKey) {
		slices.SortFunc(entries, byKey)
	}
	size := HintTrailerSize
	for i := range entries {
		size += HintEntryHeaderSize + len(entries[i].Key)
	}
	buf := make([]byte, 0, size)
	for i := range entries {
		buf = AppendHintEntry(buf, &entries[i])
	}
	buf = appendHintTrailer(buf, hintTrailer{
		count:        uint64(len(entries)),
		logSize:      logSize,
		indexEntries: int64(len(idx) / IndexEntrySize),
		indexSum:     indexChecksum(idx),
		keylessBytes: keylessBytes,
	})
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		os.Remove(tmp)
		return &FileError{Op: "write hints", Path: tmp, Position: -1, Err: err}
	}
	if err := fdatasync(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return &FileError{Op: "sync hints", Path: tmp, Position: -1, Err: err}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// syncDir fsyncs a directory so that created, renamed and removed names in
// it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &FileError{Op: "sync directory", Path: filepath.Clean(dir), Position: -1, Err: err}
	}
	return nil
}
