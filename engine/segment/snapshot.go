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
)

// A snapshot is a tar archive of a log's files as of one moment: every
// sealed segment's .log, .idx and (when written) .hint, and the active
// segment's .log and .idx cut at its last published record. Restoring it
// gives a directory Open accepts like any other: indexes and hints are
// validated there and rebuilt when they do not match.

// snapshotName matches the file names a snapshot may hold.
var snapshotName = regexp.MustCompile(`^[0-9]{20}\.(log|idx|hint)$`)

// Snapshot is a pinned point-in-time image of a log: its segments as they
// were when it was taken, each cut at its last record then. Taking one is
// quick (no data is copied); WriteTo streams it later while appends go on.
// Merges and truncations wait until Release, so keep one only as long as
// needed. Safe for one goroutine at a time.
type Snapshot struct {
	l      *Log
	segs   []*Segment
	images []image
	next   uint64
	done   bool
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
	sn := &Snapshot{l: l, segs: segs, next: next}
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

// Release lets go of the pinned segments and lets merges run again.
func (sn *Snapshot) Release() {
	if sn.done {
		return
	}
	sn.done = true
	closeAll(sn.segs)
	sn.l.maint.Unlock()
}

// WriteTo writes the snapshot to w as a tar archive and returns the bytes
// written. ctx ends it early.
func (sn *Snapshot) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	if sn.done {
		return 0, errors.New("segment: snapshot already released")
	}
	cw := &countingWriter{w: w}
	tw := tar.NewWriter(cw)
	now := time.Now()
	put := func(name string, data []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		for len(data) > 0 {
			n := min(len(data), 1<<20)
			if _, err := tw.Write(data[:n]); err != nil {
				return err
			}
			data = data[n:]
			if err := ctx.Err(); err != nil {
				return err
			}
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
	if err := tw.Close(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

// WriteSnapshot takes a snapshot of the log and writes it to w; see
// Snapshot.
func (l *Log) WriteSnapshot(ctx context.Context, w io.Writer) (int64, error) {
	sn, err := l.Snapshot()
	if err != nil {
		return 0, err
	}
	defer sn.Release()
	return sn.WriteTo(ctx, w)
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

// RestoreSnapshot extracts the snapshot read from r into dir, which must
// not exist or be empty. Files go to a temporary directory beside dir,
// are fsynced, and the directory is renamed into place, so dir holds the
// whole snapshot or nothing. Names other than segment files, links and
// oversized entries are refused.
func RestoreSnapshot(ctx context.Context, dir string, r io.Reader) error {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("restore into %s: directory not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tmp := filepath.Clean(dir) + ".restore.tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	tr := tar.NewReader(r)
	files := 0
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: snapshot: %w", ErrCorrupt, err)
		}
		if hdr.Typeflag != tar.TypeReg || !snapshotName.MatchString(hdr.Name) || hdr.Size < 0 || hdr.Size > 2*MaxSegmentBytes {
			return fmt.Errorf("%w: snapshot entry %q is not a segment file", ErrCorrupt, hdr.Name)
		}
		if err := restoreFile(filepath.Join(tmp, hdr.Name), tr, hdr.Size); err != nil {
			return err
		}
		files++
	}
	if files == 0 {
		return fmt.Errorf("%w: snapshot holds no segment", ErrCorrupt)
	}
	if err := syncDir(tmp); err != nil {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return err
	}
	ok = true
	return syncDir(filepath.Dir(filepath.Clean(dir)))
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
