package replication

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/caskade/caskade/engine/segment"
)

// Entry layout constants (see doc.go). They describe bytes on disk and
// must never change; a new layout takes a new version.
const (
	// entryVersion is the only entry format version written and read.
	entryVersion = 1
	// entryHeaderSize is the size of the fixed header held in the record
	// key.
	entryHeaderSize = 32
	// entryFlagAppendedAt marks a header whose sec and nsec hold
	// raft.Log.AppendedAt; without it both are 0 and AppendedAt is zero.
	entryFlagAppendedAt = 1 << 0
	// maxEntryPayload is the largest len(Extensions)+len(Data): they share
	// the record value.
	maxEntryPayload = segment.MaxValueLen
)

// checkLogEntry reports whether l can be encoded.
func checkLogEntry(l *raft.Log) error {
	if l == nil {
		return fmt.Errorf("raft log entry is nil")
	}
	if l.Index == 0 {
		return fmt.Errorf("raft log entry with index 0")
	}
	if n := int64(len(l.Extensions)) + int64(len(l.Data)); n > maxEntryPayload {
		return fmt.Errorf("raft log entry %d: %d bytes of data and extensions, over the limit of %d", l.Index, n, maxEntryPayload)
	}
	return nil
}

// encodeLogEntryHeader writes the header of l into dst, which must be at
// least entryHeaderSize bytes long. The caller has checked l with
// checkLogEntry.
func encodeLogEntryHeader(dst []byte, l *raft.Log) {
	_ = dst[entryHeaderSize-1]
	dst[0] = entryVersion
	dst[1] = byte(l.Type)
	var flags byte
	var sec int64
	var nsec uint32
	if !l.AppendedAt.IsZero() {
		flags |= entryFlagAppendedAt
		sec = l.AppendedAt.Unix()
		nsec = uint32(l.AppendedAt.Nanosecond())
	}
	dst[2] = flags
	dst[3] = 0
	binary.LittleEndian.PutUint64(dst[4:], l.Term)
	binary.LittleEndian.PutUint64(dst[12:], uint64(sec))
	binary.LittleEndian.PutUint32(dst[20:], nsec)
	binary.LittleEndian.PutUint32(dst[24:], uint32(len(l.Extensions)))
	binary.LittleEndian.PutUint32(dst[28:], uint32(len(l.Data)))
}

// encodeLogEntry returns the record that stores l: the header is written
// into hdr (entryHeaderSize bytes, becoming the key); the value is l.Data
// itself when l has no extensions, or extensions and data appended to
// scratch otherwise. It returns scratch, grown. The caller has checked l
// with checkLogEntry.
func encodeLogEntry(hdr []byte, scratch []byte, l *raft.Log) (segment.Record, []byte) {
	encodeLogEntryHeader(hdr, l)
	r := segment.Record{Offset: l.Index, Key: hdr[:entryHeaderSize:entryHeaderSize], Value: l.Data}
	if len(l.Extensions) > 0 {
		start := len(scratch)
		scratch = append(scratch, l.Extensions...)
		scratch = append(scratch, l.Data...)
		r.Value = scratch[start:len(scratch):len(scratch)]
	}
	return r, scratch
}

// decodeLogEntry fills out from the key and value of the record at offset
// index. Data and Extensions alias value. Any mismatch with the layout
// (length, version, flags, reserved bits, a time that cannot have been
// written) is an error wrapping segment.ErrCorrupt; it never panics and
// allocates nothing.
func decodeLogEntry(index uint64, key, value []byte, out *raft.Log) error {
	if len(key) != entryHeaderSize {
		return fmt.Errorf("%w: raft log entry %d: header of %d bytes, want %d", segment.ErrCorrupt, index, len(key), entryHeaderSize)
	}
	if key[0] != entryVersion {
		return fmt.Errorf("%w: raft log entry %d: unknown version %d", segment.ErrCorrupt, index, key[0])
	}
	flags := key[2]
	if flags&^entryFlagAppendedAt != 0 || key[3] != 0 {
		return fmt.Errorf("%w: raft log entry %d: unknown flags %#x %#x", segment.ErrCorrupt, index, flags, key[3])
	}
	sec := int64(binary.LittleEndian.Uint64(key[12:]))
	nsec := binary.LittleEndian.Uint32(key[20:])
	extLen := binary.LittleEndian.Uint32(key[24:])
	dataLen := binary.LittleEndian.Uint32(key[28:])
	// In 64 bits: two 32-bit lengths cannot overflow.
	if uint64(extLen)+uint64(dataLen) != uint64(len(value)) {
		return fmt.Errorf("%w: raft log entry %d: %d bytes of extensions and %d of data in a value of %d bytes",
			segment.ErrCorrupt, index, extLen, dataLen, len(value))
	}
	var appendedAt time.Time
	if flags&entryFlagAppendedAt != 0 {
		if nsec >= uint32(time.Second) {
			return fmt.Errorf("%w: raft log entry %d: %d nanoseconds", segment.ErrCorrupt, index, nsec)
		}
		appendedAt = time.Unix(sec, int64(nsec))
		if appendedAt.IsZero() {
			// The encoder writes a zero time without the flag.
			return fmt.Errorf("%w: raft log entry %d: zero time with the time flag set", segment.ErrCorrupt, index)
		}
	} else if sec != 0 || nsec != 0 {
		return fmt.Errorf("%w: raft log entry %d: time without the time flag", segment.ErrCorrupt, index)
	}
	*out = raft.Log{
		Index:      index,
		Term:       binary.LittleEndian.Uint64(key[4:]),
		Type:       raft.LogType(key[1]),
		AppendedAt: appendedAt,
	}
	if extLen > 0 {
		out.Extensions = value[:extLen:extLen]
	}
	if dataLen > 0 {
		out.Data = value[extLen:]
	}
	return nil
}
