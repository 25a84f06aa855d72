package segment

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// snapshotArchive fills a log with sealed segments (with hints) and an
// active one, and returns it with a snapshot of it.
func snapshotArchive(t *testing.T) (*Log, []byte) {
	t.Helper()
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 16 << 10, Hints: true})
	appendN(t, l, 300, 200)
	if err := l.WaitSealed(t.Context()); err != nil { // so that sealed segments have hints
		t.Fatal(err)
	}
	sn, err := l.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	sn.SetKeys(37)
	var buf bytes.Buffer
	n, err := sn.WriteTo(context.Background(), &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v (buffer %d)", n, err, buf.Len())
	}
	return l, buf.Bytes()
}

// entry is one entry of an archive: its header, and where its data is.
type entry struct {
	hdr         *tar.Header
	start, size int
}

// entries lists the entries of archive with their data's place in it.
func entries(t *testing.T, archive []byte) []entry {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(archive)}
	tr := tar.NewReader(cr)
	var es []entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, entry{hdr: hdr, start: int(cr.n), size: int(hdr.Size)})
	}
}

// findEntry returns the first entry whose name ends in suffix.
func findEntry(t *testing.T, archive []byte, suffix string) entry {
	t.Helper()
	for _, e := range entries(t, archive) {
		if strings.HasSuffix(e.hdr.Name, suffix) && e.size > 0 {
			return e
		}
	}
	t.Fatalf("no non-empty %s entry in the archive", suffix)
	return entry{}
}

// endOfEntryBefore returns where the (padded) data of the entry before
// the one called name ends.
func endOfEntryBefore(t *testing.T, archive []byte, name string) int {
	t.Helper()
	es := entries(t, archive)
	for i, e := range es {
		if e.hdr.Name == name && i > 0 {
			prev := es[i-1]
			return prev.start + (prev.size+511)/512*512
		}
	}
	t.Fatalf("no entry %s after another", name)
	return 0
}

// insertBefore returns archive with an entry (hdr, Size bytes of 'x')
// inserted before the entry called name.
func insertBefore(t *testing.T, archive []byte, name string, hdr *tar.Header) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == name {
			if err := tw.WriteHeader(hdr); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(bytes.Repeat([]byte{'x'}, int(hdr.Size))); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// rewrite builds a new archive from archive's entries, each passed
// through fn, which returns the data to write, or nil to drop the entry.
func rewrite(t *testing.T, archive []byte, fn func(name string, data []byte) []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		data = fn(hdr.Name, data)
		if data == nil {
			continue
		}
		hdr.Size = int64(len(data))
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestSnapshot_RoundTrip(t *testing.T) {
	l, archive := snapshotArchive(t)
	want := readAll(t, l)
	appendN(t, l, 5, 10) // after the snapshot: not in it

	m, err := VerifySnapshot(context.Background(), bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	rm, err := RestoreSnapshot(context.Background(), dir, bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	if rm.Checksum != m.Checksum {
		t.Fatalf("restore and verify read different manifests: %+v, %+v", rm, m)
	}
	if m.Format != SnapshotFormat || m.Version != SnapshotVersion || m.Created.IsZero() {
		t.Fatalf("manifest header: %+v", m)
	}
	if m.Earliest != 1 || m.Next != 301 || m.Keys == nil || *m.Keys != 37 {
		t.Fatalf("manifest summary: earliest %d, next %d, keys %v", m.Earliest, m.Next, m.Keys)
	}
	var hints int
	for _, f := range m.Files {
		if strings.HasSuffix(f.Name, HintExt) {
			hints++
		}
	}
	if segs := len(segmentBases(l)); len(m.Files) < 2*segs-2 || hints == 0 {
		t.Fatalf("manifest lists %d files (%d hints) for %d segments", len(m.Files), hints, segs)
	}
	// The manifest is the archive's last entry, and lists the others in
	// order with their sizes.
	es := entries(t, archive)
	if last := es[len(es)-1].hdr.Name; last != ManifestName || len(es) != len(m.Files)+1 {
		t.Fatalf("archive ends with %s, has %d entries for %d files", last, len(es), len(m.Files))
	}
	for i, f := range m.Files {
		if es[i].hdr.Name != f.Name || int64(es[i].size) != f.Bytes {
			t.Fatalf("entry %d is %s (%d bytes), manifest says %s (%d)", i, es[i].hdr.Name, es[i].size, f.Name, f.Bytes)
		}
	}
	if m.TotalBytes() <= 0 || m.TotalBytes() >= int64(len(archive)) {
		t.Fatalf("TotalBytes %d for an archive of %d", m.TotalBytes(), len(archive))
	}

	r := openLog(t, dir, &Options{SegmentBytes: 16 << 10, Hints: true})
	assertRecords(t, readAll(t, r), want)
	if r.Next() != m.Next || r.Earliest() != m.Earliest {
		t.Fatalf("restored log [%d, %d), manifest [%d, %d)", r.Earliest(), r.Next(), m.Earliest, m.Next)
	}
	// Zero padding after the archive's end is what tar writers add.
	padded := append(bytes.Clone(archive), make([]byte, 10240)...)
	if _, err := VerifySnapshot(context.Background(), bytes.NewReader(padded)); err != nil {
		t.Fatalf("zero padding refused: %v", err)
	}
}

// TestSnapshot_Refused: every way an archive can be damaged is refused
// with an error that wraps ErrCorrupt and names what is wrong, by Verify
// and by Restore, which leaves nothing behind.
func TestSnapshot_Refused(t *testing.T) {
	_, archive := snapshotArchive(t)
	flip := func(suffix string) []byte {
		e := findEntry(t, archive, suffix)
		b := bytes.Clone(archive)
		b[e.start+e.size/2] ^= 0x20
		return b
	}
	man := findEntry(t, archive, ManifestName)
	logEntry := findEntry(t, archive, LogExt)
	tests := []struct {
		name    string
		archive []byte
		want    string // in the error
	}{
		{"flipped byte in a .log", flip(LogExt), LogExt + " is damaged"},
		{"flipped byte in an .idx", flip(IndexExt), IndexExt + " is damaged"},
		{"flipped byte in a .hint", flip(HintExt), HintExt + " is damaged"},
		{"flipped byte in the manifest", flip(ManifestName), ManifestName},
		{"manifest summary changed", rewrite(t, archive, func(n string, data []byte) []byte {
			if n == ManifestName {
				return bytes.Replace(data, []byte(`"next_offset": 301`), []byte(`"next_offset": 302`), 1)
			}
			return data
		}), "manifest is damaged"},
		{"flipped byte in a header", func() []byte {
			b := bytes.Clone(archive)
			b[logEntry.start-512+10] ^= 0x01 // inside the name field of the entry's header
			return b
		}(), "the entry after"},
		{"cut inside a file", archive[:logEntry.start+logEntry.size/2], logEntry.hdr.Name + " cut at"},
		{"cut before the manifest", archive[:endOfEntryBefore(t, archive, ManifestName)], "has no " + ManifestName},
		{"cut inside the manifest", archive[:man.start+man.size/2], ManifestName + " cut at"},
		{"no manifest (an archive from before manifests)", rewrite(t, archive, func(n string, data []byte) []byte {
			if n == ManifestName {
				return nil
			}
			return data
		}), "from before snapshots carried one"},
		{"a file missing", rewrite(t, archive, func(n string, data []byte) []byte {
			if n == logEntry.hdr.Name {
				return nil
			}
			return data
		}), "lacks " + logEntry.hdr.Name},
		{"a file with other contents", rewrite(t, archive, func(n string, data []byte) []byte {
			if n == logEntry.hdr.Name {
				return data[:len(data)-1]
			}
			return data
		}), logEntry.hdr.Name + " has"},
		{"junk appended", append(bytes.Clone(archive), "junk"...), "data after the end of the archive"},
		{"an entry after the manifest", func() []byte {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			tw.WriteHeader(&tar.Header{Name: "99999999999999999999.log", Size: 1, Mode: 0o644, Typeflag: tar.TypeReg})
			tw.Write([]byte{1})
			tw.Close()
			return append(bytes.Clone(archive[:man.start+(man.size+511)/512*512]), b.Bytes()...)
		}(), "after the manifest"},
		{"a foreign entry", insertBefore(t, archive, ManifestName, &tar.Header{Name: "notes.txt", Size: 2, Mode: 0o644, Typeflag: tar.TypeReg}), `"notes.txt" is not a segment file`},
		{"a link", insertBefore(t, archive, ManifestName, &tar.Header{Name: "00000000000000000999.log", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink}), "not a regular file"},
		{"not a tar", []byte("not a tar archive at all, just some text that is long enough to fill a tar header block........................................................................................................................................................................................................................................................................................................................................................................................................................................................."), "the entry after the start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, verr := VerifySnapshot(context.Background(), bytes.NewReader(tt.archive))
			dir := filepath.Join(t.TempDir(), "restored")
			_, rerr := RestoreSnapshot(context.Background(), dir, bytes.NewReader(tt.archive))
			t.Logf("refused: %v", rerr)
			for _, err := range []error{verr, rerr} {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %v, want ErrCorrupt mentioning %q", err, tt.want)
				}
			}
			if m, _ := filepath.Glob(dir + "*"); len(m) != 0 {
				t.Errorf("a refused restore left %v", m)
			}
		})
	}
}

// FuzzVerifySnapshot: reading any bytes as a snapshot never panics and
// fails only with ErrCorrupt.
func FuzzVerifySnapshot(f *testing.F) {
	l := openLog(f, f.TempDir(), &Options{SegmentBytes: 4 << 10, Hints: true})
	for range 3 {
		appendN(f, l, 20, 100)
	}
	sn, err := l.Snapshot()
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = sn.WriteTo(context.Background(), &buf)
	sn.Release()
	if err != nil {
		f.Fatal(err)
	}
	archive := buf.Bytes()
	f.Add(archive)
	f.Add(archive[:len(archive)/2])
	f.Add(archive[:1024])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := VerifySnapshot(context.Background(), bytes.NewReader(b)); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
	})
}
