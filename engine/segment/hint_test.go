package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func sampleHints() []HintEntry {
	return []HintEntry{
		{Key: []byte("zeta"), Offset: 9, Position: 400, Size: 60, Timestamp: 3, Flags: FlagTombstone},
		{Key: []byte("alpha"), Offset: 1, Position: 0, Size: 50, Timestamp: 1},
		{Key: []byte("mid"), Offset: 5, Position: 200, Size: 100, Timestamp: -2, Expiry: 1 << 62, Flags: FlagExpiry},
		{Key: []byte{0}, Offset: 7, Position: 300, Size: 42},
	}
}

// encodeHintFile builds a hint file image the way writeHints does, from
// entries in the given order (no sorting), with a correct trailer.
func encodeHintFile(entries []HintEntry, logSize int64) []byte {
	var b []byte
	for i := range entries {
		b = AppendHintEntry(b, &entries[i])
	}
	return appendHintTrailer(b, hintTrailer{count: uint64(len(entries)), logSize: logSize})
}

func collectHints(t *testing.T, h *Hints) []HintEntry {
	t.Helper()
	var out []HintEntry
	if err := h.Each(func(e HintEntry) error { out = append(out, e); return nil }); err != nil {
		t.Fatalf("Each: %v", err)
	}
	var it []HintEntry
	for i := h.Iter(); i.Next(); {
		it = append(it, *i.Entry())
	}
	if len(it) != len(out) {
		t.Fatalf("Iter gave %d entries, Each %d", len(it), len(out))
	}
	for i := range it {
		assertHintEqual(t, it[i], out[i])
	}
	return out
}

func assertHintEqual(t testing.TB, got, want HintEntry) {
	t.Helper()
	if !bytes.Equal(got.Key, want.Key) || got.Offset != want.Offset || got.Position != want.Position ||
		got.Size != want.Size || got.Timestamp != want.Timestamp || got.Expiry != want.Expiry || got.Flags != want.Flags {
		t.Fatalf("hint entry = %+v, want %+v", got, want)
	}
}

func TestHints_RoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "00000000000000000001.hint")
	// Entries go in sorted by key, one per key (as buildHints makes them).
	entries := sampleHints()
	slices.SortFunc(entries, func(a, b HintEntry) int { return bytes.Compare(a.Key, b.Key) })
	const logSize = 1000
	if err := writeHints(path, entries, logSize, 0, nil); err != nil {
		t.Fatalf("writeHints: %v", err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	h, err := readHints(path, logSize)
	if err != nil {
		t.Fatalf("readHints: %v", err)
	}
	if h.Len() != len(entries) || h.LogSize != logSize {
		t.Fatalf("Len %d LogSize %d, want %d %d", h.Len(), h.LogSize, len(entries), logSize)
	}
	got := collectHints(t, h)
	for i := range entries {
		assertHintEqual(t, got[i], entries[i])
	}
	// The file is exactly what the entries encode to.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, encodeHintFile(entries, logSize)) {
		t.Fatal("hint file bytes differ from the encoding of the entries")
	}
	// Overwriting replaces the file whole.
	if err := writeHints(path, entries[1:2], 500, 0, nil); err != nil {
		t.Fatal(err)
	}
	if h, err := readHints(path, 500); err != nil || h.Len() != 1 {
		t.Fatalf("after rewrite: %v, %v", h, err)
	}
}

func TestHints_Empty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.hint")
	if err := writeHints(path, nil, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	h, err := readHints(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 0 || len(collectHints(t, h)) != 0 {
		t.Fatalf("empty hint file has %d entries", h.Len())
	}
}

func TestReadHints_StaleLogSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.hint")
	if err := writeHints(path, sampleHints(), 1000, 0, nil); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{0, 999, 1001, 1 << 40} {
		if _, err := readHints(path, size); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("readHints with log size %d: err = %v, want ErrCorrupt", size, err)
		}
	}
	if _, err := readHints(filepath.Join(t.TempDir(), "missing.hint"), 1000); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

// TestReadHints_EveryBitFlipped flips each bit of a hint file in turn. The
// trailer's log size is not under the checksum: ParseHints may accept a
// flip there, and the comparison with the real log size (readHints) must
// catch it.
func TestReadHints_EveryBitFlipped(t *testing.T) {
	const logSize = 100
	valid := encodeHintFile([]HintEntry{
		{Key: []byte("a"), Offset: 1, Position: 0, Size: 50},
		{Key: []byte("b"), Offset: 2, Position: 50, Size: 50, Flags: FlagTombstone},
	}, logSize)
	path := filepath.Join(t.TempDir(), "x.hint")
	read := func(b []byte) error {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := readHints(path, logSize)
		return err
	}
	if err := read(valid); err != nil {
		t.Fatalf("valid file: %v", err)
	}
	for i := range valid {
		for bit := range 8 {
			b := bytes.Clone(valid)
			b[i] ^= 1 << bit
			if err := read(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d bit %d flipped: err = %v, want ErrCorrupt", i, bit, err)
			}
		}
	}
	for n := range len(valid) {
		if err := read(valid[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut to %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}
}

func TestParseHints_Invalid(t *testing.T) {
	e := func(key string, off uint64, pos, size uint32) HintEntry {
		return HintEntry{Key: []byte(key), Offset: off, Position: pos, Size: size}
	}
	entriesOf := func(es ...HintEntry) []byte {
		var b []byte
		for i := range es {
			b = AppendHintEntry(b, &es[i])
		}
		return b
	}
	tests := []struct {
		name string
		file []byte
	}{
		{"too short", []byte("CSKHINT1")},
		{"bad magic", func() []byte {
			b := encodeHintFile([]HintEntry{e("a", 1, 0, 50)}, 100)
			b[len(b)-1] = 'X'
			return b
		}()},
		{"keys out of order", encodeHintFile([]HintEntry{e("b", 1, 0, 50), e("a", 2, 50, 50)}, 100)},
		{"duplicate key", encodeHintFile([]HintEntry{e("a", 1, 0, 50), e("a", 2, 50, 50)}, 100)},
		{"prefix after longer key", encodeHintFile([]HintEntry{e("ab", 1, 0, 50), e("a", 2, 50, 50)}, 100)},
		{"count too high", appendHintTrailer(entriesOf(e("a", 1, 0, 50)), hintTrailer{count: 2, logSize: 100})},
		{"count too low", appendHintTrailer(entriesOf(e("a", 1, 0, 50), e("b", 2, 50, 50)), hintTrailer{count: 1, logSize: 100})},
		{"entry past log end", encodeHintFile([]HintEntry{e("a", 1, 60, 50)}, 100)},
		{"negative log size", appendHintTrailer(nil, hintTrailer{count: 0, logSize: -1})},
		{"empty key", encodeHintFile([]HintEntry{e("", 1, 0, 50)}, 100)},
		{"offset 0", encodeHintFile([]HintEntry{e("a", 0, 0, 50)}, 100)},
		{"size below header", encodeHintFile([]HintEntry{e("abc", 1, 0, HeaderSize+2)}, 100)},
		{"unknown flags", encodeHintFile([]HintEntry{{Key: []byte("a"), Offset: 1, Size: 50, Flags: 0x10}}, 100)},
		{"torn entry", appendHintTrailer(entriesOf(e("a", 1, 0, 50))[:HintEntryHeaderSize], hintTrailer{count: 1, logSize: 100})},
		{"key past entries", appendHintTrailer(entriesOf(e("abc", 1, 0, 50))[:HintEntryHeaderSize+1], hintTrailer{count: 1, logSize: 100})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := ParseHints(tt.file); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ParseHints = (%v, %v), want ErrCorrupt", h, err)
			}
		})
	}
}

func TestWriteHints_DuplicateKeysRejectedOnRead(t *testing.T) {
	// writeHints trusts its caller to pass one entry per key; a file with
	// a duplicate must not read back as valid.
	path := filepath.Join(t.TempDir(), "x.hint")
	entries := []HintEntry{
		{Key: []byte("a"), Offset: 1, Size: 50},
		{Key: []byte("a"), Offset: 2, Position: 50, Size: 50},
	}
	if err := writeHints(path, entries, 100, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := readHints(path, 100); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}

func TestDecodeHintEntry(t *testing.T) {
	want := HintEntry{Key: []byte("key"), Offset: 12, Position: 34, Size: 56, Timestamp: -7, Expiry: 8, Flags: FlagExpiry}
	b := AppendHintEntry(nil, &want)
	if len(b) != HintEntryHeaderSize+3 {
		t.Fatalf("encoded %d bytes", len(b))
	}
	got, n, err := DecodeHintEntry(append(b, 0xff))
	if err != nil || n != len(b) {
		t.Fatalf("DecodeHintEntry = %d, %v", n, err)
	}
	assertHintEqual(t, got, want)
	for i := range len(b) {
		if _, _, err := DecodeHintEntry(b[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut to %d bytes: err = %v", i, err)
		}
	}
}

func FuzzParseHints(f *testing.F) {
	f.Add(encodeHintFile(nil, 0))
	f.Add(encodeHintFile(sampleHints()[1:2], 100))
	f.Add(encodeHintFile([]HintEntry{
		{Key: []byte("a"), Offset: 1, Position: 0, Size: 50},
		{Key: []byte("b"), Offset: 2, Position: 50, Size: 60, Flags: FlagExpiry, Expiry: 5},
	}, 200))
	f.Add([]byte("CSKHINT1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHints(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		entries := collectHints(t, h)
		if len(entries) != h.Len() {
			t.Fatalf("Len %d, %d entries", h.Len(), len(entries))
		}
		for i, e := range entries {
			if i > 0 && bytes.Compare(entries[i-1].Key, e.Key) >= 0 {
				t.Fatalf("entry %d out of order", i)
			}
			if int64(e.Position)+int64(e.Size) > h.LogSize {
				t.Fatalf("entry %d past the log end", i)
			}
		}
		if re := encodeHintFile(entries, h.LogSize); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b, re)
		}
	})
}

func FuzzDecodeHintEntry(f *testing.F) {
	for _, e := range sampleHints() {
		f.Add(AppendHintEntry(nil, &e))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := DecodeHintEntry(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if n > len(b) || n != HintEntryHeaderSize+len(e.Key) {
			t.Fatalf("size %d for key of %d bytes, input %d", n, len(e.Key), len(b))
		}
		if len(e.Key) == 0 || e.Offset == 0 || e.Flags&^knownFlags != 0 || int64(e.Size) < HeaderSize+int64(len(e.Key)) {
			t.Fatalf("decoded an invalid entry: %+v", e)
		}
		if re := AppendHintEntry(nil, &e); !bytes.Equal(re, b[:n]) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", b[:n], re)
		}
	})
}
