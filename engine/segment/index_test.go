package segment

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

type idxEntry struct {
	off uint64
	pos uint64
}

// memIndex builds an index over plain memory holding entries followed by
// zeroTail all-zero entries; n is published as len(entries).
func memIndex(entries []idxEntry, zeroTail int) *index {
	b := make([]byte, (len(entries)+zeroTail)*IndexEntrySize)
	for i, e := range entries {
		binary.LittleEndian.PutUint64(b[i*IndexEntrySize:], e.off)
		binary.LittleEndian.PutUint64(b[i*IndexEntrySize+8:], e.pos)
	}
	ix := &index{mm: b}
	ix.n.Store(int64(len(entries)))
	return ix
}

func TestIndex_LowerBound(t *testing.T) {
	// Offsets with gaps, as compaction leaves them.
	ix := memIndex([]idxEntry{{10, 0}, {11, 50}, {15, 100}, {20, 150}, {100, 200}}, 3)
	tests := []struct {
		name   string
		offset uint64
		want   int64
	}{
		{"zero", 0, 0},
		{"before first", 9, 0},
		{"first", 10, 0},
		{"exact", 11, 1},
		{"between", 12, 2},
		{"just before", 14, 2},
		{"exact after gap", 15, 2},
		{"between wide gap", 21, 4},
		{"last", 100, 4},
		{"after last", 101, 5},
		{"max", ^uint64(0), 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ix.LowerBound(tt.offset); got != tt.want {
				t.Fatalf("LowerBound(%d) = %d, want %d", tt.offset, got, tt.want)
			}
		})
	}
	if got := memIndex(nil, 4).LowerBound(5); got != 0 {
		t.Fatalf("LowerBound on an empty index = %d", got)
	}
	// Only published entries count.
	ix.n.Store(2)
	if got := ix.LowerBound(50); got != 2 {
		t.Fatalf("LowerBound past the published entries = %d, want 2", got)
	}
}

func TestIndex_CountValid(t *testing.T) {
	tests := []struct {
		name     string
		base     uint64
		entries  []idxEntry
		zeroTail int
		want     int64
	}{
		{"empty", 1, nil, 0, 0},
		{"all zero", 1, nil, 8, 0},
		{"stops at zero tail", 1, []idxEntry{{1, 0}, {2, 41}, {3, 82}}, 5, 3},
		{"fills the file", 1, []idxEntry{{1, 0}, {2, 41}, {3, 82}}, 0, 3},
		{"gaps", 5, []idxEntry{{5, 0}, {9, 41}, {30, 82}}, 1, 3},
		{"first above base", 5, []idxEntry{{7, 0}, {8, 41}}, 1, 2},
		{"first below base", 5, []idxEntry{{4, 0}, {8, 41}}, 1, 0},
		{"first position not 0", 1, []idxEntry{{1, 10}, {2, 41}}, 1, 0},
		{"offset repeats", 1, []idxEntry{{1, 0}, {2, 41}, {2, 82}, {3, 123}}, 0, 2},
		{"offset goes back", 1, []idxEntry{{1, 0}, {5, 41}, {4, 82}}, 0, 2},
		{"position repeats", 1, []idxEntry{{1, 0}, {2, 41}, {3, 41}}, 0, 2},
		{"position goes back", 1, []idxEntry{{1, 0}, {2, 41}, {3, 20}}, 0, 2},
		{"zero entry in the middle", 1, []idxEntry{{1, 0}, {0, 0}, {3, 82}}, 0, 1},
		{"zero offset with position", 1, []idxEntry{{1, 0}, {0, 41}}, 0, 1},
		{"garbage after zero", 1, []idxEntry{{1, 0}, {2, 41}, {0, 0}, {9, 500}}, 0, 2},
		{"base 0 still refuses offset 0", 0, []idxEntry{{0, 0}, {1, 41}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := memIndex(tt.entries, tt.zeroTail)
			if got := ix.countValid(tt.base); got != tt.want {
				t.Fatalf("countValid(%d) = %d, want %d", tt.base, got, tt.want)
			}
		})
	}
}

func TestIndex_CountValid_PartialEntry(t *testing.T) {
	// A file whose length is not a multiple of the entry size: the
	// partial entry at the end is never read.
	ix := memIndex([]idxEntry{{1, 0}, {2, 41}}, 0)
	ix.mm = append(ix.mm, 1, 2, 3)
	if got := ix.countValid(1); got != 2 {
		t.Fatalf("countValid = %d, want 2", got)
	}
}

func TestIndex_File(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.idx")
	ix, err := openIndex(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	if ix.capacity() != 10 || ix.Len() != 0 || ix.countValid(1) != 0 {
		t.Fatalf("new index: capacity %d len %d valid %d", ix.capacity(), ix.Len(), ix.countValid(1))
	}
	for i := range int64(6) {
		ix.write(i, uint64(i+1), i*100)
	}
	ix.n.Store(6)
	if off, pos := ix.Entry(3); off != 4 || pos != 300 {
		t.Fatalf("Entry(3) = %d, %d", off, pos)
	}
	ix.truncate(4)
	if ix.Len() != 4 || ix.countValid(1) != 4 {
		t.Fatalf("after truncate: len %d valid %d", ix.Len(), ix.countValid(1))
	}
	ix.truncate(9) // no-op: never grows
	if ix.Len() != 4 {
		t.Fatalf("truncate grew the index to %d", ix.Len())
	}
	if err := ix.sync(); err != nil {
		t.Fatal(err)
	}
	if err := ix.shrink(); err != nil {
		t.Fatal(err)
	}
	if err := ix.close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 4*IndexEntrySize {
		t.Fatalf("shrunk file has %d bytes, want %d", fi.Size(), 4*IndexEntrySize)
	}
	// Reopened with a smaller capacity: the file keeps its entries.
	ix, err = openIndex(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.close()
	if ix.capacity() != 4 || ix.countValid(1) != 4 {
		t.Fatalf("reopened: capacity %d valid %d", ix.capacity(), ix.countValid(1))
	}
}

// FuzzIndexCountValid feeds arbitrary file bytes to the index validation:
// no panic, and the valid count covers only well-formed, strictly
// increasing entries, up to the first entry that is not.
func FuzzIndexCountValid(f *testing.F) {
	f.Add(uint64(1), []byte(memIndex([]idxEntry{{1, 0}, {2, 41}, {3, 90}}, 2).mm))
	f.Add(uint64(5), []byte(memIndex([]idxEntry{{5, 0}, {9, 41}, {8, 90}}, 0).mm))
	f.Add(uint64(1), []byte{})
	f.Add(uint64(1), make([]byte, 17))
	f.Fuzz(func(t *testing.T, base uint64, b []byte) {
		ix := &index{mm: b}
		n := ix.countValid(base)
		capEntries := int64(len(b) / IndexEntrySize)
		if n < 0 || n > capEntries {
			t.Fatalf("countValid = %d of %d entries", n, capEntries)
		}
		var prevOff, prevPos uint64
		for i := range n {
			off, pos := ix.entryAt(i)
			if off == 0 || off < base {
				t.Fatalf("entry %d: offset %d counted (base %d)", i, off, base)
			}
			if i == 0 && pos != 0 {
				t.Fatalf("first entry at position %d counted", pos)
			}
			if i > 0 && (off <= prevOff || pos <= prevPos) {
				t.Fatalf("entry %d (%d, %d) not above (%d, %d)", i, off, pos, prevOff, prevPos)
			}
			prevOff, prevPos = off, pos
		}
		if n < capEntries {
			// Entry n must break the order, else it should have counted.
			off, pos := ix.entryAt(n)
			ok := off != 0 && off >= base && ((n == 0 && pos == 0) || (n > 0 && off > prevOff && pos > prevPos))
			if ok {
				t.Fatalf("countValid stopped at entry %d (%d, %d), which is well formed", n, off, pos)
			}
		}
		ix.n.Store(n)
		if n > 0 {
			// LowerBound agrees with a linear search over the valid run.
			for _, q := range []uint64{0, base, prevOff, prevOff + 1} {
				want := int64(0)
				for want < n {
					if o, _ := ix.entryAt(want); o >= q {
						break
					}
					want++
				}
				if got := ix.LowerBound(q); got != want {
					t.Fatalf("LowerBound(%d) = %d, want %d", q, got, want)
				}
			}
		}
	})
}
