package replication

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/caskade/caskade/engine/segment"
)

func TestFirstIndex_WriteRead(t *testing.T) {
	dir := t.TempDir()
	if got, err := readFirstIndex(dir); err != nil || got != 0 {
		t.Fatalf("no file: %d, %v; want 0", got, err)
	}
	for _, floor := range []uint64{1, 1 << 40, 7} {
		if err := writeFirstIndex(dir, floor); err != nil {
			t.Fatal(err)
		}
		if got, err := readFirstIndex(dir); err != nil || got != floor {
			t.Fatalf("read %d, %v; want %d", got, err, floor)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, firstIndexTemp)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
}

// TestFirstIndex_Layout pins the bytes of the file: the layout must never
// change.
func TestFirstIndex_Layout(t *testing.T) {
	b := encodeFirstIndex(0x0102)
	if string(b[:8]) != "CSKRFST1" || !bytes.Equal(b[8:16], []byte{2, 1, 0, 0, 0, 0, 0, 0}) || len(b) != 24 {
		t.Fatalf("layout %x", b)
	}
}

func TestFirstIndex_DecodeCorrupt(t *testing.T) {
	good := encodeFirstIndex(42)
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 1; return b }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:23]},
		{"long", append(bytes.Clone(good), 0)},
		{"magic", flip(0)},
		{"floor", flip(8)},
		{"checksum", flip(16)},
		{"zeros", make([]byte, 24)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeFirstIndex(tt.b); !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("decode: %v, want ErrCorrupt", err)
			}
		})
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, firstIndexFile), flip(9), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := readFirstIndex(dir)
	var fe *segment.FileError
	if !errors.Is(err, segment.ErrCorrupt) || !errors.As(err, &fe) {
		t.Fatalf("read corrupt file: %v, want a *FileError wrapping ErrCorrupt", err)
	}
}

// FuzzDecodeFirstIndex checks that decoding never panics and that what
// decodes encodes back to the same bytes.
func FuzzDecodeFirstIndex(f *testing.F) {
	f.Add(encodeFirstIndex(1))
	f.Add(encodeFirstIndex(1 << 63))
	f.Add([]byte("CSKRFST1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		floor, err := decodeFirstIndex(b)
		if err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodeFirstIndex(floor), b) {
			t.Fatalf("%x decodes to %d, which encodes differently", b, floor)
		}
	})
}
