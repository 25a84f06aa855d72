package segment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
)

// A snapshot ends with a manifest: a tar entry named MANIFEST.json, the
// archive's last, holding JSON like this (every field required unless
// marked; unknown fields are refused):
//
//	{
//	  "format": "caskade-snapshot",      // must never change
//	  "version": 1,                      // SnapshotVersion
//	  "created": "2026-05-01T10:00:00Z", // when the snapshot was pinned, UTC
//	  "earliest_offset": 1,              // the first segment's base offset
//	  "next_offset": 302,                // the offset after the last record
//	  "keys": 40,                        // optional: live keys then, as the store counted them
//	  "files": [                         // every other entry, in archive order
//	    {"name": "00000000000000000001.log", "bytes": 4096, "xxhash64": "0123456789abcdef"}
//	  ],
//	  "checksum": "fedcba9876543210"     // see below
//	}
//
// xxhash64 is the 64-bit xxHash (seed 0) of the file's bytes, as 16
// lowercase hex digits of the value (xxhsum -H1 prints the same). It is
// the hash the records already carry; a snapshot is hashed while it is
// streamed, on every Raft snapshot too, and xxhash64 costs a tenth of
// SHA-256 there. It detects damage, not tampering: without a signature
// no checksum stored beside the data could.
//
// checksum is the xxhash64 of the manifest itself encoded as compact JSON
// (encoding/json, fields in the order above) with checksum set to "", so
// that a flipped byte in the summary is caught too.

// ManifestName is the name of a snapshot's last entry, its manifest. Must
// never change.
const ManifestName = "MANIFEST.json"

// Snapshot format identifiers; must never change.
const (
	// SnapshotFormat is the manifest's "format".
	SnapshotFormat = "caskade-snapshot"
	// SnapshotVersion is the format version this package writes and the
	// only one it reads.
	SnapshotVersion = 1
)

// maxManifestBytes bounds the manifest a reader accepts: a segment costs
// it about 250 bytes, so this allows tens of thousands of segments while
// a damaged size field cannot make a reader allocate gigabytes.
const maxManifestBytes = 16 << 20

// maxEntryBytes bounds one segment file in a snapshot: a .log holds at
// most MaxSegmentBytes plus one record past it.
const maxEntryBytes = 2 * MaxSegmentBytes

// hexHash matches an xxhash64 as the manifest writes it.
var hexHash = regexp.MustCompile(`^[0-9a-f]{16}$`)

// Manifest describes a snapshot: a summary of the store it holds and the
// size and hash of every file in it. DecodeManifest returns only
// manifests whose every field is consistent; a snapshot's files are
// checked against it as they are read.
type Manifest struct {
	Format   string    `json:"format"`          // SnapshotFormat
	Version  int       `json:"version"`         // SnapshotVersion
	Created  time.Time `json:"created"`         // when the snapshot was pinned, UTC, whole seconds
	Earliest uint64    `json:"earliest_offset"` // the first segment's base offset (the log start)
	Next     uint64    `json:"next_offset"`     // the offset after the snapshot's last record
	// Keys is the store's live key count when the snapshot was pinned;
	// nil when whoever took it did not know (the segment layer has no
	// keys; the engine fills it in).
	Keys  *uint64        `json:"keys,omitempty"`
	Files []ManifestFile `json:"files"` // in archive order
	// Checksum is the xxhash64 of the manifest's compact JSON with
	// Checksum "" (see the format comment above); Encode fills it in.
	Checksum string `json:"checksum"`
}

// ManifestFile is one file of a snapshot.
type ManifestFile struct {
	Name     string `json:"name"`     // e.g. 00000000000000000001.log
	Bytes    int64  `json:"bytes"`    // its size
	XXHash64 string `json:"xxhash64"` // its xxhash64, 16 lowercase hex digits
}

// TotalBytes returns the sum of the files' sizes.
func (m *Manifest) TotalBytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Bytes
	}
	return n
}

// Encode checks m, fills in its Checksum and returns its JSON (indented,
// so that an operator can read it with tar -xOf).
func (m *Manifest) Encode() ([]byte, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	sum, err := m.checksum()
	if err != nil {
		return nil, err
	}
	m.Checksum = sum
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// checksum returns the xxhash64 of m's compact JSON with Checksum "".
func (m *Manifest) checksum() (string, error) {
	c := *m
	c.Checksum = ""
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	return formatHash(xxhash.Sum64(b)), nil
}

// formatHash writes an xxhash64 the way the manifest holds it.
func formatHash(h uint64) string { return fmt.Sprintf("%016x", h) }

// DecodeManifest parses and checks a snapshot's manifest. Every problem
// is an error wrapping ErrCorrupt that says what is wrong: not JSON,
// another format or version, an unknown or missing field, a bad file
// name, size or hash, offsets that do not match the file names, or a
// checksum that does not match.
func DecodeManifest(b []byte) (*Manifest, error) {
	if len(b) > maxManifestBytes {
		return nil, fmt.Errorf("%w: manifest of %d bytes, limit %d", ErrCorrupt, len(b), maxManifestBytes)
	}
	// Format and version first, leniently: a newer version may have
	// fields this one does not know, and deserves a better message than
	// "unknown field". (Unmarshal also refuses anything after the object.)
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: manifest is not JSON: %w", ErrCorrupt, err)
	}
	if head.Format != SnapshotFormat {
		return nil, fmt.Errorf("%w: manifest format %q, want %q", ErrCorrupt, head.Format, SnapshotFormat)
	}
	if head.Version != SnapshotVersion {
		return nil, fmt.Errorf("%w: snapshot format version %d; this caskade reads version %d only", ErrCorrupt, head.Version, SnapshotVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", ErrCorrupt, err)
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	sum, err := m.checksum()
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", ErrCorrupt, err)
	}
	if m.Checksum != sum {
		return nil, fmt.Errorf("%w: manifest checksum %q, its contents hash to %s (the manifest is damaged)", ErrCorrupt, m.Checksum, sum)
	}
	return &m, nil
}

// validate reports the first field of m that is missing or inconsistent.
func (m *Manifest) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: manifest: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Format != SnapshotFormat:
		return bad("format %q, want %q", m.Format, SnapshotFormat)
	case m.Version != SnapshotVersion:
		return bad("version %d, want %d", m.Version, SnapshotVersion)
	case m.Created.IsZero():
		return bad("no creation time")
	case m.Created.Location() != time.UTC || !m.Created.Equal(m.Created.Truncate(time.Second)):
		return bad("creation time %s is not in whole seconds UTC", m.Created)
	case len(m.Files) == 0:
		return bad("no files")
	case m.Next < m.Earliest:
		return bad("next offset %d below the earliest %d", m.Next, m.Earliest)
	}
	seen := make(map[string]bool, len(m.Files))
	logs, idxs := map[uint64]bool{}, map[uint64]bool{}
	var first, last uint64
	for i, f := range m.Files {
		if !snapshotName.MatchString(f.Name) {
			return bad("file %q is not a segment file", f.Name)
		}
		if seen[f.Name] {
			return bad("file %s listed twice", f.Name)
		}
		seen[f.Name] = true
		if f.Bytes < 0 || f.Bytes > maxEntryBytes {
			return bad("file %s: size %d outside [0, %d]", f.Name, f.Bytes, maxEntryBytes)
		}
		if !hexHash.MatchString(f.XXHash64) {
			return bad("file %s: xxhash64 %q is not 16 lowercase hex digits", f.Name, f.XXHash64)
		}
		stem, ext, _ := strings.Cut(f.Name, ".")
		base, err := strconv.ParseUint(stem, 10, 64)
		if err != nil {
			return bad("file %s: base offset: %v", f.Name, err)
		}
		switch "." + ext {
		case LogExt:
			logs[base] = true
		case IndexExt:
			idxs[base] = true
		}
		if i == 0 || base < first {
			first = base
		}
		last = max(last, base)
	}
	for base := range logs {
		if !idxs[base] {
			return bad("segment %d has a .log but no .idx", base)
		}
	}
	for base := range idxs {
		if !logs[base] {
			return bad("segment %d has an .idx but no .log", base)
		}
	}
	if first != m.Earliest {
		return bad("earliest offset %d, but the first segment is %d", m.Earliest, first)
	}
	if m.Next < last {
		return bad("next offset %d below the last segment's base %d", m.Next, last)
	}
	return nil
}
