package engine_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
	"pgregory.net/rapid"
)

// copyDir copies the files of src into a new directory: what a kill -9
// leaves on disk is what the page cache holds, which is what reading the
// files of a live DB sees.
func copyDir(t *rapid.T, src string) string {
	dst, err := mkdirTemp(tempRoot)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		in, err := os.Open(filepath.Join(src, e.Name()))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // renamed or removed meanwhile, as a crash could see it
			}
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		out.Close()
	}
	return dst
}

// dataEnd returns the position after the last whole record of a .log file.
func dataEnd(b []byte) int {
	pos := 0
	for pos < len(b) {
		_, n, err := segment.DecodeRecord(b[pos:])
		if err != nil {
			break
		}
		pos += n
	}
	return pos
}

func filesWithExt(t *rapid.T, dir, ext string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ext) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(out)
	return out
}

// TestDB_CrashRecovery writes under SyncAlways, takes the files as a crash
// would leave them, damages them the way a crash can (a torn record or
// garbage after the last write, broken or missing index and hint files),
// and checks that the reopened store holds every acknowledged write, serves
// no corrupt record, and takes new writes at the right offset.
func TestDB_CrashRecovery(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dir := tempDir(t)
		opts := &engine.Options{SegmentBytes: 4096, Sync: engine.SyncAlways}
		db, err := engine.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		kv := map[string][]byte{}
		var offsets []uint64
		n := rapid.IntRange(1, 120).Draw(t, "writes")
		for i := range n {
			k := fmt.Sprintf("k%d", rapid.IntRange(0, 30).Draw(t, "key"))
			var off uint64
			switch rapid.IntRange(0, 5).Draw(t, "op") {
			case 0:
				if _, ok := kv[k]; !ok {
					continue
				}
				off, err = db.Delete([]byte(k))
				delete(kv, k)
			case 1:
				off, err = db.Produce(fmt.Appendf(nil, "msg%d", i))
			default:
				v := bytes.Repeat([]byte{byte(i)}, rapid.IntRange(0, 700).Draw(t, "vlen"))
				off, err = db.Put([]byte(k), v)
				kv[k] = v
			}
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			offsets = append(offsets, off)
		}
		next := db.NextOffset()

		crashed := copyDir(t, dir)
		logs := filesWithExt(t, crashed, segment.LogExt)
		newest := logs[len(logs)-1]
		b, err := os.ReadFile(newest)
		if err != nil {
			t.Fatal(err)
		}
		end := dataEnd(b)
		switch rapid.IntRange(0, 3).Draw(t, "damage") {
		case 0: // an in-flight record torn at a random byte
			rec := segment.Record{Offset: next, Key: []byte("torn"), Value: bytes.Repeat([]byte{7}, 300)}
			enc := segment.AppendRecord(nil, &rec)
			cut := rapid.IntRange(1, len(enc)-1).Draw(t, "cut")
			b = append(b[:end:end], enc[:cut]...)
			if err := os.WriteFile(newest, b, 0o644); err != nil {
				t.Fatal(err)
			}
		case 1: // garbage after the last record
			g := rapid.SliceOfN(rapid.Byte(), 1, 200).Draw(t, "garbage")
			b = append(b[:end:end], g...)
			if err := os.WriteFile(newest, b, 0o644); err != nil {
				t.Fatal(err)
			}
		case 2: // a byte of an index or hint file flipped
			files := append(filesWithExt(t, crashed, segment.IndexExt), filesWithExt(t, crashed, segment.HintExt)...)
			f := files[rapid.IntRange(0, len(files)-1).Draw(t, "file")]
			fb, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(fb) > 0 {
				fb[rapid.IntRange(0, len(fb)-1).Draw(t, "byte")] ^= byte(rapid.IntRange(1, 255).Draw(t, "xor"))
				if err := os.WriteFile(f, fb, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		case 3: // index and hint files lost
			for _, f := range append(filesWithExt(t, crashed, segment.IndexExt), filesWithExt(t, crashed, segment.HintExt)...) {
				if rapid.Bool().Draw(t, "remove "+filepath.Base(f)) {
					os.Remove(f)
				}
			}
		}

		re, err := engine.Open(crashed, opts)
		if err != nil {
			t.Fatalf("reopen after crash: %v", err)
		}
		defer re.Close()
		if got := re.NextOffset(); got != next {
			t.Fatalf("next offset after crash %d, want %d", got, next)
		}
		for k, v := range kv {
			it, err := re.Get([]byte(k))
			if err != nil || !bytes.Equal(it.Value, v) {
				t.Fatalf("acknowledged %q lost: %v", k, err)
			}
		}
		if re.Len() != len(kv) {
			t.Fatalf("%d keys after crash, want %d", re.Len(), len(kv))
		}
		recs, _, err := re.ReadFrom(0, len(offsets)+10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(offsets) {
			t.Fatalf("%d records after crash, want %d", len(recs), len(offsets))
		}
		for i, r := range recs {
			if r.Offset != offsets[i] {
				t.Fatalf("record %d at offset %d, want %d", i, r.Offset, offsets[i])
			}
		}
		off, err := re.Put([]byte("after"), []byte("crash"))
		if err != nil || off != next {
			t.Fatalf("put after crash: offset %d (want %d), %v", off, next, err)
		}
	})
}

// TestDB_CorruptSealedSegment flips a byte inside a record of a sealed
// segment: the record is never served as data.
func TestDB_CorruptSealedSegment(t *testing.T) {
	for _, withHints := range []bool{true, false} {
		t.Run(fmt.Sprintf("hints=%v", withHints), func(t *testing.T) {
			dir := t.TempDir()
			opts := &engine.Options{SegmentBytes: 4096, Sync: engine.SyncNever}
			db, err := engine.Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			val := bytes.Repeat([]byte("v"), 200)
			for i := range 60 {
				if _, err := db.Put(fmt.Appendf(nil, "key%02d", i), val); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			first := segment.Path(dir, 1, segment.LogExt)
			b, err := os.ReadFile(first)
			if err != nil {
				t.Fatal(err)
			}
			// The value bytes of the second record.
			r0, n, err := segment.DecodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			_ = r0
			b[n+segment.HeaderSize+5+10] ^= 0xff
			if err := os.WriteFile(first, b, 0o644); err != nil {
				t.Fatal(err)
			}
			if !withHints {
				os.Remove(segment.Path(dir, 1, segment.HintExt))
			}
			db, err = engine.Open(dir, opts)
			if !withHints {
				var fe *engine.FileError
				if !errors.As(err, &fe) || !errors.Is(err, engine.ErrCorrupt) || fe.Path != first || fe.Position != int64(n) {
					t.Fatalf("open with a corrupt sealed segment: %v (want a FileError at %s position %d)", err, first, n)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer db.Close()
			if _, err := db.Get([]byte("key01")); !errors.Is(err, engine.ErrCorrupt) {
				t.Fatalf("get of corrupt record: %v", err)
			}
			if it, err := db.Get([]byte("key02")); err != nil || !bytes.Equal(it.Value, val) {
				t.Fatalf("neighbour record: %v", err)
			}
			if _, _, err := db.ReadFrom(2, 1); !errors.Is(err, engine.ErrCorrupt) {
				t.Fatalf("readfrom of corrupt record: %v", err)
			}
		})
	}
}
