package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// logBases returns the base offsets of the .log files in dir, sorted.
func logBases(t tb, dir string) []uint64 {
	t.Helper()
	var out []uint64
	for _, name := range filesWithExt(t, dir, LogExt) {
		var b uint64
		if _, err := fmt.Sscanf(name, "%020d.log", &b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// recordSpan is where one record sits in a .log image.
type recordSpan struct {
	offset   uint64
	pos, end int64
}

// spansOf decodes a .log image made only of records and maybe a zero
// tail (an empty active segment keeps its preallocated size).
func spansOf(t tb, data []byte) []recordSpan {
	t.Helper()
	var out []recordSpan
	for pos := 0; pos < len(data) && !allZero(data[pos:]); {
		r, n, err := DecodeRecord(data[pos:])
		if err != nil {
			t.Fatalf("record at %d: %v", pos, err)
		}
		out = append(out, recordSpan{r.Offset, int64(pos), int64(pos + n)})
		pos += n
	}
	return out
}

// buildLog writes n records into a new log in its own directory and closes
// it cleanly. It returns the directory and the records.
func buildLog(t testing.TB, opts *Options, n, valueLen int) (string, []Record) {
	t.Helper()
	dir := t.TempDir()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, l, n, valueLen)
	closeLog(t, l)
	return dir, want
}

// reopenAndCheck opens dir, expects exactly want in it, checks that
// appends continue at the right offset, and closes it again.
func reopenAndCheck(t testing.TB, dir string, opts *Options, want []Record) {
	t.Helper()
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer l.Close()
	assertRecords(t, readAll(t, l), want)
	next := uint64(1)
	if len(want) > 0 {
		next = want[len(want)-1].Offset + 1
	}
	if l.Next() != next {
		t.Fatalf("Next = %d, want %d", l.Next(), next)
	}
	more := appendN(t, l, 3, 20)
	if more[0].Offset != next {
		t.Fatalf("append after recovery got offset %d, want %d", more[0].Offset, next)
	}
	assertRecords(t, readAll(t, l), append(slices.Clone(want), more...))
}

// TestRecovery_TornTail damages the newest segment's .log the way a crash
// does (cut at any byte, a preallocated zero tail, a torn write of
// garbage): every record before the damage survives, nothing after it,
// and appends go on at the right offsets.
func TestRecovery_TornTail(t *testing.T) {
	for _, hints := range []bool{false, true} {
		for _, segs := range []string{"one segment", "many segments"} {
			t.Run(fmt.Sprintf("hints=%v/%s", hints, segs), func(t *testing.T) {
				opts := &Options{SegmentBytes: 4096, Hints: hints}
				n := 20
				if segs == "many segments" {
					n = 150
				}
				pristine, all := buildLog(t, opts, n, 90)
				bases := logBases(t, pristine)
				if (len(bases) > 1) != (segs == "many segments") {
					t.Fatalf("segments %v", bases)
				}
				newest := bases[len(bases)-1]
				data, err := os.ReadFile(Path(pristine, newest, LogExt))
				if err != nil {
					t.Fatal(err)
				}
				spans := spansOf(t, data)
				rng := rand.New(rand.NewPCG(uint64(n), 1))
				modes := []string{"cut", "cut+zeros", "cut+garbage", "zero in place", "garbage in place", "garbage after", "zeros after"}
				for trial := range 70 {
					mode := modes[trial%len(modes)]
					cut := rng.Int64N(int64(len(data)) + 1)
					if trial < 2 {
						cut = int64(len(data)) // nothing lost
					}
					dir := copyDir(t, pristine)
					path := Path(dir, newest, LogExt)
					img := bytes.Clone(data)
					switch mode {
					case "cut":
						img = img[:cut]
					case "cut+zeros":
						img = append(img[:cut], make([]byte, opts.SegmentBytes-cut)...)
					case "cut+garbage":
						img = append(img[:cut], randBytes(rng, 1+rng.IntN(300))...)
					case "zero in place":
						clear(img[cut:])
					case "garbage in place":
						copy(img[cut:], randBytes(rng, len(img)-int(cut)))
					case "garbage after":
						cut = int64(len(img))
						img = append(img, randBytes(rng, 1+rng.IntN(300))...)
					case "zeros after":
						cut = int64(len(img))
						img = append(img, make([]byte, 4096)...)
					}
					if err := os.WriteFile(path, img, 0o644); err != nil {
						t.Fatal(err)
					}
					// Records before the damage survive (a record the
					// damage left byte for byte intact, such as one ending
					// in zeros cut and refilled with zeros, survives too).
					want := slices.Clone(all[:newest-1])
					for _, sp := range survivors(spans, data, img) {
						want = append(want, all[sp.offset-1])
					}
					if len(want) < len(all[:newest-1])+int(countEndingBy(spans, cut)) {
						t.Fatalf("model: %d survivors for cut %d", len(want), cut)
					}
					t.Run(fmt.Sprintf("%s at %d", mode, cut), func(t *testing.T) {
						reopenAndCheck(t, dir, opts, want)
					})
					if t.Failed() {
						return
					}
				}
			})
		}
	}
}

// survivors returns the leading spans of the original image data whose
// bytes are unchanged in the damaged image img: what recovery must keep.
func survivors(spans []recordSpan, data, img []byte) []recordSpan {
	for i, sp := range spans {
		if sp.end > int64(len(img)) || !bytes.Equal(img[sp.pos:sp.end], data[sp.pos:sp.end]) {
			return spans[:i]
		}
	}
	return spans
}

// countEndingBy counts the spans that end at or before cut.
func countEndingBy(spans []recordSpan, cut int64) int64 {
	var n int64
	for _, sp := range spans {
		if sp.end <= cut {
			n++
		}
	}
	return n
}

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestRecovery_IndexAndHints damages or deletes .idx and .hint files: Open
// rebuilds what does not match the .log, every record stays intact, and
// after a clean close the files are right again.
func TestRecovery_IndexAndHints(t *testing.T) {
	for _, hints := range []bool{false, true} {
		t.Run(fmt.Sprintf("hints=%v", hints), func(t *testing.T) {
			opts := &Options{SegmentBytes: 4096, Hints: hints}
			pristine, all := buildLog(t, opts, 150, 90)
			bases := logBases(t, pristine)
			if len(bases) < 4 {
				t.Fatalf("segments %v", bases)
			}
			rng := rand.New(rand.NewPCG(7, 7))
			type damage struct {
				name string
				ext  string
				do   func(b []byte) []byte // nil result: delete the file
			}
			damages := []damage{
				{"delete idx", IndexExt, func([]byte) []byte { return nil }},
				{"delete hint", HintExt, func([]byte) []byte { return nil }},
				{"empty idx", IndexExt, func([]byte) []byte { return []byte{} }},
				{"cut idx", IndexExt, func(b []byte) []byte { return b[:rng.IntN(len(b))] }},
				{"flip idx", IndexExt, func(b []byte) []byte { b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255)); return b }},
				{"flip idx low bit", IndexExt, func(b []byte) []byte { b[rng.IntN(len(b)/IndexEntrySize)*IndexEntrySize+8] ^= 1; return b }},
				{"zero idx", IndexExt, func(b []byte) []byte { return make([]byte, len(b)) }},
				{"garbage after idx", IndexExt, func(b []byte) []byte { return append(b, randBytes(rng, 1+rng.IntN(64))...) }},
				{"zeros after idx", IndexExt, func(b []byte) []byte { return append(b, make([]byte, 4096)...) }},
				{"flip hint", HintExt, func(b []byte) []byte { b[rng.IntN(len(b))] ^= byte(1 + rng.IntN(255)); return b }},
				{"cut hint", HintExt, func(b []byte) []byte { return b[:rng.IntN(len(b))] }},
				{"garbage hint", HintExt, func(b []byte) []byte { return randBytes(rng, len(b)) }},
			}
			for trial := range 48 {
				d := damages[trial%len(damages)]
				base := bases[rng.IntN(len(bases))]
				if trial%4 == 0 {
					base = bases[len(bases)-1] // the newest segment too
				}
				dir := copyDir(t, pristine)
				path := Path(dir, base, d.ext)
				b, err := os.ReadFile(path)
				if errors.Is(err, os.ErrNotExist) {
					continue // no hint file without Hints
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(b) == 0 {
					continue
				}
				if nb := d.do(b); nb == nil {
					err = os.Remove(path)
				} else {
					err = os.WriteFile(path, nb, 0o644)
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Run(fmt.Sprintf("%s of %d", d.name, base), func(t *testing.T) {
					l, err := Open(dir, opts)
					if err != nil {
						t.Fatalf("open: %v", err)
					}
					assertRecords(t, readAll(t, l), all)
					for i := range all {
						r, err := l.Read(all[i].Offset)
						if err != nil {
							t.Fatalf("Read(%d): %v", all[i].Offset, err)
						}
						assertRecordEqual(t, r, all[i])
					}
					if hints {
						segs := l.Segments()
						for _, s := range segs[:len(segs)-1] {
							if s.Hints() != nil {
								checkSegmentHints(t, s)
							}
						}
						closeAll(segs)
					}
					closeLog(t, l)
					checkFilesMatchLogs(t, dir, hints)
					reopenAndCheck(t, dir, opts, all)
				})
				if t.Failed() {
					return
				}
			}
		})
	}
}

// checkFilesMatchLogs checks that every segment's .idx holds exactly the
// entries of its .log (a zero tail allowed) and, with hints, that its
// .hint file is valid for it.
func checkFilesMatchLogs(t testing.TB, dir string, hints bool) {
	t.Helper()
	for _, base := range logBases(t, dir) {
		data, err := os.ReadFile(Path(dir, base, LogExt))
		if err != nil {
			t.Fatal(err)
		}
		spans := spansOf(t, data)
		idx, err := os.ReadFile(Path(dir, base, IndexExt))
		if err != nil {
			t.Fatal(err)
		}
		if len(idx) < len(spans)*IndexEntrySize {
			t.Errorf("segment %d: index of %d bytes for %d records", base, len(idx), len(spans))
			continue
		}
		for i, sp := range spans {
			off := binary.LittleEndian.Uint64(idx[i*IndexEntrySize:])
			pos := binary.LittleEndian.Uint64(idx[i*IndexEntrySize+8:])
			if off != sp.offset || int64(pos) != sp.pos {
				t.Errorf("segment %d: index entry %d = (%d, %d), want (%d, %d)", base, i, off, pos, sp.offset, sp.pos)
				break
			}
		}
		for _, c := range idx[len(spans)*IndexEntrySize:] {
			if c != 0 {
				t.Errorf("segment %d: index has non-zero bytes after its entries", base)
				break
			}
		}
		if hints {
			if _, err := readHints(Path(dir, base, HintExt), int64(len(data))); err != nil {
				t.Errorf("segment %d: hints: %v", base, err)
			}
		}
	}
}

// TestRecovery_SealedCorruption flips a byte inside a sealed segment's
// .log: the damaged record is never served as data. Either Open fails
// naming the file and the record's position, or reading that record fails
// with ErrCorrupt while every other record reads back intact.
func TestRecovery_SealedCorruption(t *testing.T) {
	for _, hints := range []bool{false, true} {
		t.Run(fmt.Sprintf("hints=%v", hints), func(t *testing.T) {
			opts := &Options{SegmentBytes: 4096, Hints: hints}
			pristine, all := buildLog(t, opts, 150, 90)
			bases := logBases(t, pristine)
			rng := rand.New(rand.NewPCG(3, 9))
			for trial := range 40 {
				base := bases[rng.IntN(len(bases)-1)] // a sealed one
				dir := copyDir(t, pristine)
				path := Path(dir, base, LogExt)
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				spans := spansOf(t, data)
				at := rng.IntN(len(data))
				if trial%5 == 0 {
					at = len(data) - 1 - rng.IntN(20) // the last record
				}
				data[at] ^= byte(1 + rng.IntN(255))
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				var hit recordSpan
				for _, sp := range spans {
					if int64(at) >= sp.pos && int64(at) < sp.end {
						hit = sp
					}
				}
				t.Run(fmt.Sprintf("segment %d byte %d", base, at), func(t *testing.T) {
					l, err := Open(dir, opts)
					if err != nil {
						var fe *FileError
						if !errors.As(err, &fe) || !errors.Is(err, ErrCorrupt) {
							t.Fatalf("Open failed without a corrupt *FileError: %v", err)
						}
						if fe.Path != path || fe.Position != hit.pos {
							t.Fatalf("FileError names %s at %d, want %s at %d", fe.Path, fe.Position, path, hit.pos)
						}
						if msg := err.Error(); !strings.Contains(msg, filepath.Base(path)) || !strings.Contains(msg, fmt.Sprint(hit.pos)) {
							t.Fatalf("error message %q does not name the file and position", msg)
						}
						return
					}
					defer l.Close()
					_, err = l.Read(hit.offset)
					var fe *FileError
					if !errors.Is(err, ErrCorrupt) || !errors.As(err, &fe) || fe.Path != path {
						t.Fatalf("Read(%d) of the damaged record: %v", hit.offset, err)
					}
					for i := range all {
						if all[i].Offset == hit.offset {
							continue
						}
						r, err := l.Read(all[i].Offset)
						if err != nil {
							t.Fatalf("Read(%d): %v", all[i].Offset, err)
						}
						assertRecordEqual(t, r, all[i])
					}
					recs, _, err := l.ReadFrom(0, 1<<20, 0)
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("ReadFrom over the damaged record: %v", err)
					}
					assertRecords(t, recs, all[:hit.offset-1])
				})
				if t.Failed() {
					return
				}
			}
		})
	}
}

// TestRecovery_CrashBeforeSeal leaves an older segment as a crash right
// after a roll would: preallocated, zero tail, no hint, oversized index.
func TestRecovery_CrashBeforeSeal(t *testing.T) {
	opts := &Options{SegmentBytes: 4096, Hints: true}
	pristine, all := buildLog(t, opts, 100, 90)
	bases := logBases(t, pristine)
	for _, base := range bases[:len(bases)-1] {
		dir := copyDir(t, pristine)
		for ext, size := range map[string]int64{LogExt: opts.SegmentBytes, IndexExt: 4096} {
			if err := os.Truncate(Path(dir, base, ext), size); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Remove(Path(dir, base, HintExt)); err != nil {
			t.Fatal(err)
		}
		l := openLog(t, dir, opts)
		assertRecords(t, readAll(t, l), all)
		closeLog(t, l)
		checkFilesMatchLogs(t, dir, true)
		fi, err := os.Stat(Path(dir, base, LogExt))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= opts.SegmentBytes {
			t.Errorf("segment %d still %d bytes after a seal pass", base, fi.Size())
		}
	}
}

// TestRecovery_Rapid appends at random with tiny segments, syncs at random
// points, cuts the head or the tail now and then, and crashes by cutting
// the newest segment's .log anywhere after its last synced byte (maybe
// leaving a zero or garbage tail), then reopens: every synced record is
// there and identical, offsets stay contiguous, and nothing corrupt is
// served.
func TestRecovery_Rapid(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		opts := &Options{
			// Values reach 300 bytes: some records outgrow a segment.
			SegmentBytes: rapid.Int64Range(256, 2048).Draw(rt, "segmentBytes"),
			Hints:        rapid.Bool().Draw(rt, "hints"),
		}
		l, err := Open(dir, opts)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { _ = l.Close() }()
		var model []Record // what the log holds
		next := uint64(1)  // what Next must be
		var synced uint64  // every offset <= synced is durable
		steps := rapid.IntRange(1, 30).Draw(rt, "steps")
		for range steps {
			switch op := rapid.IntRange(0, 10).Draw(rt, "op"); op {
			case 0, 1, 2, 3, 4: // append a batch
				n := rapid.IntRange(1, 6).Draw(rt, "n")
				recs := make([]Record, n)
				for i := range recs {
					recs[i] = Record{
						Timestamp: rapid.Int64().Draw(rt, "ts"),
						Key:       rapid.SliceOfN(rapid.Byte(), 0, 8).Draw(rt, "key"),
						Value:     rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(rt, "value"),
					}
				}
				if err := l.Append(recs, nil); err != nil {
					rt.Fatal(err)
				}
				for _, r := range recs {
					if r.Offset != next {
						rt.Fatalf("appended at %d, want %d", r.Offset, next)
					}
					model = append(model, r.Clone())
					next++
				}
			case 5: // sync
				off, err := l.Sync()
				if err != nil {
					rt.Fatal(err)
				}
				if off != next-1 {
					rt.Fatalf("Sync = %d, want %d", off, next-1)
				}
				synced = off
			case 6: // cut the tail
				keep := rapid.Uint64Range(0, next-1).Draw(rt, "keep")
				if err := l.TruncateTail(keep); err != nil {
					rt.Fatal(err)
				}
				model = slices.DeleteFunc(model, func(r Record) bool { return r.Offset > keep })
				next = min(next, keep+1)
				synced = min(synced, keep)
			case 7: // cut the head
				start := rapid.Uint64Range(0, next+3).Draw(rt, "start")
				if err := l.TruncateHead(start); err != nil {
					rt.Fatal(err)
				}
				earliest := l.Earliest()
				for _, r := range model {
					if r.Offset >= start && r.Offset < earliest {
						rt.Fatalf("TruncateHead(%d) dropped record %d", start, r.Offset)
					}
				}
				model = slices.DeleteFunc(model, func(r Record) bool { return r.Offset < earliest })
				if l.Next() < next || (l.Next() != next && l.Next() != start) {
					rt.Fatalf("TruncateHead(%d) moved Next from %d to %d", start, next, l.Next())
				}
				next = l.Next()
			case 8: // clean reopen
				if err := l.Close(); err != nil {
					rt.Fatal(err)
				}
				if l, err = Open(dir, opts); err != nil {
					rt.Fatal(err)
				}
				synced = next - 1
			case 9, 10: // crash
				if err := l.Close(); err != nil {
					rt.Fatal(err)
				}
				var lost uint64
				if model, lost = crash(rt, dir, model, synced); lost != 0 {
					// Offsets are contiguous inside a segment and a
					// segment starts at its first record: recovery
					// resumes at the first offset lost.
					next = lost
				}
				if l, err = Open(dir, opts); err != nil {
					rt.Fatalf("open after crash: %v", err)
				}
			}
			checkModel(rt, l, model, next)
		}
	})
}

// crash cuts the newest .log of a closed log somewhere after its last
// synced record, maybe adding a zero or garbage tail, and returns the
// records that survive and the first offset lost (0 if none).
func crash(rt *rapid.T, dir string, model []Record, synced uint64) (survived []Record, firstLost uint64) {
	bases := logBases(rt, dir)
	newest := bases[len(bases)-1]
	path := Path(dir, newest, LogExt)
	data, err := os.ReadFile(path)
	if err != nil {
		rt.Fatal(err)
	}
	spans := spansOf(rt, data)
	// The cut may not go below the end of the last synced record in the
	// newest segment.
	var minCut int64
	for _, sp := range spans {
		if sp.offset <= synced {
			minCut = sp.end
		}
	}
	cut := rapid.Int64Range(minCut, int64(len(data))).Draw(rt, "cut")
	img := bytes.Clone(data[:cut])
	switch rapid.IntRange(0, 2).Draw(rt, "tail") {
	case 1:
		img = append(img, make([]byte, rapid.IntRange(1, 5000).Draw(rt, "zeros"))...)
	case 2:
		img = append(img, rapid.SliceOfN(rapid.Byte(), 1, 200).Draw(rt, "garbage")...)
	}
	if err := os.WriteFile(path, img, 0o644); err != nil {
		rt.Fatal(err)
	}
	kept := survivors(spans, data, img)
	if len(kept) == len(spans) {
		return model, 0
	}
	lost := spans[len(kept)].offset
	if lost <= synced {
		rt.Fatalf("crash model broken: cut %d loses synced record %d", cut, lost)
	}
	i := slices.IndexFunc(model, func(r Record) bool { return r.Offset == lost })
	if i < 0 {
		rt.Fatalf("lost offset %d not in the model", lost)
	}
	return model[:i], lost
}

func checkModel(t tb, l *Log, model []Record, next uint64) {
	t.Helper()
	got, hwm, err := l.ReadFrom(0, 1<<30, 0)
	if err != nil {
		t.Fatalf("read all: %v", err)
	}
	assertRecords(t, got, model)
	for i := 1; i < len(got); i++ {
		if got[i].Offset != got[i-1].Offset+1 {
			t.Fatalf("offsets not contiguous: %d after %d", got[i].Offset, got[i-1].Offset)
		}
	}
	if hwm != next || l.Next() != next {
		t.Fatalf("high-water mark %d, Next %d, want %d", hwm, l.Next(), next)
	}
}
