package segment

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"
)

// Record layout constants. They describe bytes on disk and must never change.
const (
	// HeaderSize is the fixed part of every record: checksum, offset,
	// timestamp, expiry, flags, key length, value length.
	HeaderSize = 41

	// MaxKeyLen is the largest key the format can carry. Engines may set a
	// lower limit; none may set a higher one (the keydir packs key lengths in
	// 16 bits).
	MaxKeyLen = 1<<16 - 1
	// MaxValueLen is the largest value the format can carry (1 GiB). A
	// decoder refuses larger lengths before allocating anything.
	MaxValueLen = 1 << 30

	// MaxRecordSize is the largest encoded record.
	MaxRecordSize = HeaderSize + MaxKeyLen + MaxValueLen
)

// Flags mark what a record means. Unknown bits make a record corrupt.
type Flags uint8

const (
	// FlagTombstone marks a delete: the key has no value from this record on.
	FlagTombstone Flags = 1 << 0
	// FlagExpiry marks a record whose Expiry field holds an absolute expiry
	// time (TTL); without it Expiry is 0.
	FlagExpiry Flags = 1 << 1

	knownFlags = FlagTombstone | FlagExpiry
)

// Record is one entry of the log. Key is empty for keyless (produced)
// records. Slices returned by DecodeRecord alias the decoded buffer.
type Record struct {
	Offset    uint64 // place in the log; never 0 once written
	Timestamp int64  // unix nanoseconds when the write was accepted
	Expiry    int64  // unix nanoseconds after which the key reads as absent; 0 = never
	Flags     Flags
	Key       []byte
	Value     []byte
}

// Tombstone reports whether r deletes its key.
func (r *Record) Tombstone() bool { return r.Flags&FlagTombstone != 0 }

// Expired reports whether r carries an expiry at or before now (unix ns).
func (r *Record) Expired(now int64) bool {
	return r.Flags&FlagExpiry != 0 && r.Expiry <= now
}

// Size is the encoded size of r in bytes.
func (r *Record) Size() int { return HeaderSize + len(r.Key) + len(r.Value) }

// Header is the decoded fixed part of a record.
type Header struct {
	Checksum  uint64
	Offset    uint64
	Timestamp int64
	Expiry    int64
	Flags     Flags
	KeyLen    uint32
	ValueLen  uint32
}

// Size is the encoded size of the whole record the header starts.
func (h *Header) Size() int64 { return HeaderSize + int64(h.KeyLen) + int64(h.ValueLen) }

// Encode writes r into dst, which must be at least r.Size() bytes, and
// returns the number of bytes written. It panics if dst is too small or the
// record breaks the format limits: callers validate input before encoding.
func Encode(dst []byte, r *Record) int {
	n := r.Size()
	if len(r.Key) > MaxKeyLen || len(r.Value) > MaxValueLen {
		panic(fmt.Sprintf("segment: record too large (key %d, value %d bytes)", len(r.Key), len(r.Value)))
	}
	_ = dst[n-1]
	binary.LittleEndian.PutUint64(dst[8:], r.Offset)
	binary.LittleEndian.PutUint64(dst[16:], uint64(r.Timestamp))
	binary.LittleEndian.PutUint64(dst[24:], uint64(r.Expiry))
	dst[32] = byte(r.Flags)
	binary.LittleEndian.PutUint32(dst[33:], uint32(len(r.Key)))
	binary.LittleEndian.PutUint32(dst[37:], uint32(len(r.Value)))
	copy(dst[HeaderSize:], r.Key)
	copy(dst[HeaderSize+len(r.Key):], r.Value)
	binary.LittleEndian.PutUint64(dst[0:], xxhash.Sum64(dst[8:n]))
	return n
}

// AppendRecord appends the encoding of r to dst.
func AppendRecord(dst []byte, r *Record) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, r.Size())...)
	Encode(dst[start:], r)
	return dst
}

// DecodeHeader parses the fixed part of a record from b. It checks the
// lengths against the format limits and the flags against the known bits,
// but not the checksum (that needs the whole record: see DecodeRecord).
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: short record header (%d bytes)", ErrCorrupt, len(b))
	}
	h := Header{
		Checksum:  binary.LittleEndian.Uint64(b[0:]),
		Offset:    binary.LittleEndian.Uint64(b[8:]),
		Timestamp: int64(binary.LittleEndian.Uint64(b[16:])),
		Expiry:    int64(binary.LittleEndian.Uint64(b[24:])),
		Flags:     Flags(b[32]),
		KeyLen:    binary.LittleEndian.Uint32(b[33:]),
		ValueLen:  binary.LittleEndian.Uint32(b[37:]),
	}
	switch {
	case h.Offset == 0:
		// A zero offset is never written: it is what a zero-filled
		// (preallocated or torn) region decodes to.
		return Header{}, fmt.Errorf("%w: record offset 0", ErrCorrupt)
	case h.Flags&^knownFlags != 0:
		return Header{}, fmt.Errorf("%w: unknown record flags %#x", ErrCorrupt, byte(h.Flags))
	case h.KeyLen > MaxKeyLen:
		return Header{}, fmt.Errorf("%w: key length %d over limit", ErrCorrupt, h.KeyLen)
	case h.ValueLen > MaxValueLen:
		return Header{}, fmt.Errorf("%w: value length %d over limit", ErrCorrupt, h.ValueLen)
	case h.Flags&FlagExpiry == 0 && h.Expiry != 0:
		return Header{}, fmt.Errorf("%w: expiry without flag", ErrCorrupt)
	}
	return h, nil
}

// DecodeRecord parses and verifies one record at the start of b. Key and
// Value alias b: copy them if b is reused or memory-mapped. It returns the
// record's encoded size. Any mismatch (short buffer, bad lengths, bad
// checksum, unknown flags) is ErrCorrupt; it never panics and never
// allocates in proportion to lengths read from b.
func DecodeRecord(b []byte) (Record, int, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return Record{}, 0, err
	}
	n := h.Size()
	if n > int64(len(b)) {
		return Record{}, 0, fmt.Errorf("%w: record of %d bytes runs past the end (%d bytes)", ErrCorrupt, n, len(b))
	}
	if xxhash.Sum64(b[8:n]) != h.Checksum {
		return Record{}, 0, fmt.Errorf("%w: record checksum mismatch", ErrCorrupt)
	}
	kEnd := HeaderSize + int(h.KeyLen)
	r := Record{
		Offset:    h.Offset,
		Timestamp: h.Timestamp,
		Expiry:    h.Expiry,
		Flags:     h.Flags,
		Key:       b[HeaderSize:kEnd:kEnd],
		Value:     b[kEnd:n:n],
	}
	return r, int(n), nil
}

// Clone returns a copy of r whose Key and Value own their memory (one
// allocation for both).
func (r *Record) Clone() Record {
	c := *r
	buf := make([]byte, len(r.Key)+len(r.Value))
	copy(buf, r.Key)
	copy(buf[len(r.Key):], r.Value)
	c.Key = buf[:len(r.Key):len(r.Key)]
	c.Value = buf[len(r.Key):]
	if len(r.Key) == 0 {
		c.Key = nil
	}
	return c
}
