package segment

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/cespare/xxhash/v2"
)

// A snapshot is a tar archive of a log's files as of one moment: every
// sealed segment's .log, .idx and (when written) .hint, and the active
// segment's .log and .idx cut at its last published record, then the
// manifest (snapshot_manifest.go) listing each file's size and xxhash64.
// Restoring it gives a directory Open accepts like any other: indexes and
// hints are validated there and rebuilt when they do not match.

// snapshotName matches the file names a snapshot may hold besides its
// manifest.
var snapshotName = regexp.MustCompile(`^[0-9]{20}\.(log|idx|hint)$`)

// Snapshot is a pinned point-in-time image of a log: its segments as they
// were when it was taken, each cut at its last record then. Taking one is
// quick (no data is copied); WriteTo streams it later while appends go on.
// Merges and truncations wait until Release, so keep one only as long as
// needed. Safe for one goroutine at a time.
type Snapshot struct {
	l       *Log
	segs    []*Segment
	images  []image
	next    uint64
	created time.Time // when it was pinned, UTC, whole seconds
	keys    *uint64   // for the manifest; see SetKeys
	done    bool
}

// image is the part of a segment a snapshot holds.
type image struct{ n, end int64 }

// Snapshot pins the log's current state.
func (l *Log) Snapshot() (*Snapshot, error) {
	l.maint.Lock()
	// The next offset and the segment list are read together under mu
	// (no append is half done then); each segment is cut at next.
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		l.maint.Unlock()
		return nil, ErrClosed
	}
	next := l.next.Load()
	v := l.v.Load()
	segs := make([]*Segment, 0, len(v.segs))
	for _, s := range v.segs {
		if !s.Acquire() { // a segment of the current view is released only by Close
			l.mu.Unlock()
			closeAll(segs)
			l.maint.Unlock()
			return nil, ErrClosed
		}
		segs = append(segs, s)
	}
	l.mu.Unlock()
	sn := &Snapshot{l: l, segs: segs, next: next, created: time.Now().UTC().Truncate(time.Second)}
	for _, s := range segs {
		n, end, err := s.publishedImage(next)
		if err != nil {
			sn.Release()
			return nil, err
		}
		sn.images = append(sn.images, image{n, end})
	}
	return sn, nil
}

// Next returns the offset after the snapshot's last record: the log's next
// offset when it was taken.
func (sn *Snapshot) Next() uint64 { return sn.next }

// Earliest returns the base offset of the snapshot's first segment: the
// log start when it was taken.
func (sn *Snapshot) Earliest() uint64 { return sn.segs[0].Base() }

// SetKeys records in the manifest how many live keys the store had when
// the snapshot was pinned. The log does not know its keys; a caller that
// does (the engine) tells it, before WriteTo.
func (sn *Snapshot) SetKeys(n uint64) { sn.keys = &n }

// Release lets go of the pinned segments and lets merges run again.
func (sn *Snapshot) Release() {
	if sn.done {
		return
	}
	sn.done = true
	closeAll(sn.segs)
	sn.l.maint.Unlock()
}

// WriteTo writes the snapshot to w as a tar archive ending with its
// manifest, and returns the bytes written. Each file is hashed as it is
// written: the data is read once. ctx ends it early.
func (sn *Snapshot) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	if sn.done {
		return 0, errors.New("segment: snapshot already released")
	}
	cw := &countingWriter{w: w}
	tw := tar.NewWriter(cw)
	m := &Manifest{
		Format: SnapshotFormat, Version: SnapshotVersion, Created: sn.created,
		Earliest: sn.Earliest(), Next: sn.next, Keys: sn.keys,
	}
	put := func(name string, data []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: sn.created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		h := xxhash.New()
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1<<20)
			h.Write(rest[:n])
			if _, err := tw.Write(rest[:n]); err != nil {
				return err
			}
			rest = rest[n:]
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if name != ManifestName {
			m.Files = append(m.Files, ManifestFile{Name: name, Bytes: int64(len(data)), XXHash64: formatHash(h.Sum64())})
		}
		return nil
	}
	for i, s := range sn.segs {
		im := sn.images[i]
		// Even an empty segment goes in: its name (base offset) keeps the
		// restored log's next offset where it was.
		name := filepath.Base(s.Path(""))
		if err := put(name+LogExt, s.data[:im.end]); err != nil {
			return cw.n, err
		}
		if err := put(name+IndexExt, s.idx.mm[:im.n*IndexEntrySize]); err != nil {
			return cw.n, err
		}
		if s.Sealed() && im.n == s.idx.Len() {
			hint, err := os.ReadFile(s.Path(HintExt))
			switch {
			case err == nil:
				if err := put(name+HintExt, hint); err != nil {
					return cw.n, err
				}
			case !errors.Is(err, os.ErrNotExist):
				return cw.n, err
			}
		}
	}
	manifest, err := m.Encode()
	if err != nil {
		return cw.n, err
	}
	if err := put(ManifestName, manifest); err != nil {
		return cw.n, err
	}
	if err := tw.Close(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

// publishedImage returns the number of published index entries with
// offsets below next and the .log bytes they cover (up to the end of the
// last one's record).
func (s *Segment) publishedImage(next uint64) (n, end int64, err error) {
	n = s.idx.Len()
	for n > 0 {
		if off, _ := s.idx.Entry(n - 1); off < next {
			break
		}
		n--
	}
	if n == 0 {
		return 0, 0, nil
	}
	_, pos := s.idx.Entry(n - 1)
	h, err := s.headerAt(pos)
	if err != nil {
		return 0, 0, err
	}
	return n, pos + h.Size(), nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// errNoManifest explains a snapshot without a manifest.
var errNoManifest = fmt.Errorf("%w: snapshot has no %s: it was cut short (the manifest is its last entry) "+
	"or written by a caskade from before snapshots carried one; it cannot be verified", ErrCorrupt, ManifestName)

// readSnapshot reads a snapshot from r and checks it: each segment file is
// passed to put as it comes (hashed on the way through), and once the
// manifest, the last entry, is read, every file's size and hash must match
// it, and only zero padding may follow the archive's end. put must read
// exactly size bytes from its reader. Every problem found is an error
// wrapping ErrCorrupt that names the entry.
func readSnapshot(ctx context.Context, r io.Reader, put func(name string, size int64, r io.Reader) error) (*Manifest, error) {
	tr := tar.NewReader(r)
	var (
		m     *Manifest
		got   = map[string]ManifestFile{}
		order []string      // got's names in archive order
		last  = "the start" // what was read last, for errors
	)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: snapshot: the entry after %s: %w", ErrCorrupt, last, err)
		}
		if m != nil {
			return nil, fmt.Errorf("%w: snapshot entry %q after the manifest (it must be last)", ErrCorrupt, hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: snapshot entry %q is not a regular file", ErrCorrupt, hdr.Name)
		}
		if hdr.Name == ManifestName {
			if hdr.Size < 0 || hdr.Size > maxManifestBytes {
				return nil, fmt.Errorf("%w: snapshot manifest of %d bytes, limit %d", ErrCorrupt, hdr.Size, maxManifestBytes)
			}
			b := make([]byte, hdr.Size)
			if n, err := io.ReadFull(tr, b); err != nil {
				return nil, fmt.Errorf("%w: snapshot entry %s cut at %d of %d bytes: %w", ErrCorrupt, ManifestName, n, hdr.Size, err)
			}
			if m, err = DecodeManifest(b); err != nil {
				return nil, fmt.Errorf("snapshot entry %s: %w", ManifestName, err)
			}
			last = ManifestName
			continue
		}
		if !snapshotName.MatchString(hdr.Name) {
			return nil, fmt.Errorf("%w: snapshot entry %q is not a segment file", ErrCorrupt, hdr.Name)
		}
		if hdr.Size < 0 || hdr.Size > maxEntryBytes {
			return nil, fmt.Errorf("%w: snapshot entry %s of %d bytes, limit %d", ErrCorrupt, hdr.Name, hdr.Size, maxEntryBytes)
		}
		if _, dup := got[hdr.Name]; dup {
			return nil, fmt.Errorf("%w: snapshot entry %s appears twice", ErrCorrupt, hdr.Name)
		}
		h := xxhash.New()
		cr := &countingReader{r: io.TeeReader(tr, h)}
		if err := put(hdr.Name, hdr.Size, cr); err != nil {
			return nil, err
		}
		if cr.n != hdr.Size {
			return nil, fmt.Errorf("%w: snapshot entry %s cut at %d of %d bytes", ErrCorrupt, hdr.Name, cr.n, hdr.Size)
		}
		got[hdr.Name] = ManifestFile{Name: hdr.Name, Bytes: hdr.Size, XXHash64: formatHash(h.Sum64())}
		order = append(order, hdr.Name)
		last = hdr.Name
	}
	if m == nil {
		return nil, errNoManifest
	}
	if err := zeroTail(r); err != nil {
		return nil, err
	}
	listed := make(map[string]bool, len(m.Files))
	for _, want := range m.Files {
		listed[want.Name] = true
		f, ok := got[want.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: snapshot lacks %s, which its manifest lists", ErrCorrupt, want.Name)
		case f.Bytes != want.Bytes:
			return nil, fmt.Errorf("%w: snapshot entry %s has %d bytes, its manifest says %d", ErrCorrupt, want.Name, f.Bytes, want.Bytes)
		case f.XXHash64 != want.XXHash64:
			return nil, fmt.Errorf("%w: snapshot entry %s is damaged: its xxhash64 is %s, its manifest says %s", ErrCorrupt, want.Name, f.XXHash64, want.XXHash64)
		}
	}
	for _, name := range order {
		if !listed[name] {
			return nil, fmt.Errorf("%w: snapshot entry %s is not in its manifest", ErrCorrupt, name)
		}
	}
	return m, nil
}

// zeroTail reads r to its end and refuses anything but zero bytes: tar
// writers may pad an archive with zeros, and anything else after its end
// means the file is not what was written.
func zeroTail(r io.Reader) error {
	var buf [32 << 10]byte
	for pos := int64(0); ; {
		n, err := r.Read(buf[:])
		for i, b := range buf[:n] {
			if b != 0 {
				return fmt.Errorf("%w: snapshot: data after the end of the archive (byte %d past it is %#x)", ErrCorrupt, pos+int64(i), b)
			}
		}
		pos += int64(n)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("snapshot: read past the end of the archive: %w", err)
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// VerifySnapshot reads a snapshot from r to its end and checks every file
// against the manifest, writing nothing. It returns the manifest, or an
// error wrapping ErrCorrupt that names what is wrong.
func VerifySnapshot(ctx context.Context, r io.Reader) (*Manifest, error) {
	return readSnapshot(ctx, r, func(name string, size int64, r io.Reader) error {
		if n, err := io.CopyN(io.Discard, r, size); err != nil {
			return fmt.Errorf("%w: snapshot entry %s cut at %d of %d bytes: %w", ErrCorrupt, name, n, size, err)
		}
		return nil
	})
}

// RestoreSnapshot extracts the snapshot read from r into dir, which must
// not exist or be empty, and returns its manifest. Files go to a
// temporary directory beside dir and are checked against the manifest
// (see VerifySnapshot) and fsynced; only then is the directory renamed
// into place, so dir holds the whole verified snapshot or nothing.
func RestoreSnapshot(ctx context.Context, dir string, r io.Reader) (*Manifest, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("restore into %s: directory not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	tmp := filepath.Clean(dir) + ".restore.tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	m, err := readSnapshot(ctx, r, func(name string, size int64, r io.Reader) error {
		return restoreFile(filepath.Join(tmp, name), r, size)
	})
	if err != nil {
		return nil, err
	}
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	ok = true
	return m, syncDir(filepath.Dir(filepath.Clean(dir)))
}

func restoreFile(path string, r io.Reader, size int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if n, err := io.CopyN(f, r, size); err != nil {
		return fmt.Errorf("%w: snapshot entry %s cut at %d of %d bytes: %w", ErrCorrupt, filepath.Base(path), n, size, err)
	}
	if err := fdatasync(f); err != nil {
		return &FileError{Op: "sync restored file", Path: path, Position: -1, Err: err}
	}
	return f.Close()
}
