package keydir

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestBuilder_Add(t *testing.T) {
	tests := []struct {
		name    string
		keys    []string
		wantErr error // from the last Add; earlier ones must succeed
	}{
		{"empty", nil, nil},
		{"ascending", []string{"", "\x00", "a", "a\x00", "b", "\xff"}, nil},
		{"duplicate", []string{"a", "b", "b"}, ErrUnsorted},
		{"descending", []string{"a", "c", "b"}, ErrUnsorted},
		{"prefix after longer key", []string{"ab", "a"}, ErrUnsorted},
		{"empty key after a key", []string{"a", ""}, ErrUnsorted},
		{"too large", []string{"a", "b" + string(make([]byte, MaxKeyBytes))}, ErrKeyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder(len(tt.keys))
			for i, k := range tt.keys {
				err := b.Add([]byte(k), ent(uint64(i+1)))
				if i < len(tt.keys)-1 || tt.wantErr == nil {
					if err != nil {
						t.Fatalf("Add(%q): %v", k, err)
					}
				} else if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Add(%q) = %v, want %v", k, err, tt.wantErr)
				}
			}
			m := b.Map()
			mustCheck(t, m)
			want := tt.keys
			if tt.wantErr != nil {
				want = want[:len(want)-1] // a refused key is not added
			}
			if got := ascendAll(m, nil, nil, 100); !slices.Equal(got, want) {
				t.Fatalf("Ascend = %q, want %q", got, want)
			}
			for i, k := range want {
				if e, ok := m.Get([]byte(k)); !ok || e != ent(uint64(i+1)) {
					t.Fatalf("Get(%q) = %+v, %v", k, e, ok)
				}
			}
		})
	}
}

func TestBuilder_MapThenMutate(t *testing.T) {
	c := defaultConfig()
	c.maxBlock = 8
	b := newBuilder(0, c)
	var want []string
	for i := range 100 {
		k := fmt.Sprintf("k%03d", i*2)
		if err := b.Add([]byte(k), ent(uint64(i+1))); err != nil {
			t.Fatal(err)
		}
		want = append(want, k)
	}
	m := b.Map()
	if b.Map() != m {
		t.Fatal("second Map call returned another Map")
	}
	mustCheck(t, m)
	for i := range 100 {
		k := fmt.Sprintf("k%03d", i*2+1)
		m.Put([]byte(k), ent(uint64(1000+i)))
		want = append(want, k)
	}
	m.Delete([]byte("k000"))
	want = slices.DeleteFunc(want, func(s string) bool { return s == "k000" })
	slices.Sort(want)
	mustCheck(t, m)
	if got := ascendAll(m, nil, nil, 1000); !slices.Equal(got, want) {
		t.Fatalf("Ascend after mutations: %d keys, want %d", len(got), len(want))
	}

	defer func() {
		if recover() == nil {
			t.Fatal("Add after Map did not panic")
		}
	}()
	b.Add([]byte("z"), ent(1))
}

// TestBuilder_SizeHint loads enough keys for many segments with hints that
// are right, high, far too high, low and absent: each takes another way to
// group the keys by segment, and every one must give a valid Map sized for
// the keys actually added.
func TestBuilder_SizeHint(t *testing.T) {
	const n = 30000
	tests := []struct {
		name string
		hint int
	}{
		{"exact", n},
		{"high", 2 * n}, // one level deeper directory than needed
		{"far too high", 100 * n},
		{"low", n / 10},
		{"none", 0},
		{"negative", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBuilder(tt.hint)
			var buf [16]byte
			for i := range uint64(n) {
				if err := b.Add(sortedKey(&buf, i), ent(i+1)); err != nil {
					t.Fatal(err)
				}
			}
			m := b.Map()
			mustCheck(t, m)
			if want := depthFor(n, maxSegSlots); m.tab.depth < want || m.tab.depth > want+1 {
				t.Fatalf("directory depth %d for %d keys, want %d or %d", m.tab.depth, n, want, want+1)
			}
			if load := float64(n) / float64(m.tab.slots()); load < 0.3 || load > float64(maxLoadPct)/100 {
				t.Fatalf("load %.2f after the build", load)
			}
			for i := range uint64(n) {
				if e, ok := m.Get(sortedKey(&buf, i)); !ok || e != ent(i+1) {
					t.Fatalf("Get(key %d) = %+v, %v", i, e, ok)
				}
			}
			// Loading exactly the hinted keys leaves room for them: the
			// first Puts after startup must not resize anything.
			if tt.hint == n {
				segs := slices.Clone(m.tab.segs)
				for i := range uint64(100) {
					m.Put(randomKey(&buf, i), ent(n+i+1))
				}
				for si := range segs {
					if len(m.tab.segs[si].slots) != len(segs[si].slots) {
						t.Fatalf("segment %d resized from %d slots by a Put after the build", si, len(segs[si].slots))
					}
				}
			}
		})
	}
}

// TestSegmentBuilder_Wrap builds segments whose keys crowd the last slots,
// so that the layout must wrap to the front, and checks the Robin Hood
// order that find relies on.
func TestSegmentBuilder_Wrap(t *testing.T) {
	tests := []struct {
		name   string
		hashes []uint32
	}{
		{"empty", nil},
		{"one at the end", []uint32{^uint32(0)}},
		{"cluster at the end", slices.Repeat([]uint32{0xfffffff0}, 5)},
		{"end and start", []uint32{0, 0, 0xffffffff, 0xffffffff, 0xffffffff, 1}},
		{"all at one home", slices.Repeat([]uint32{0x80000000}, 12)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pairs := make([]uint64, len(tt.hashes))
			for i, h := range tt.hashes {
				pairs[i] = uint64(h)<<32 | uint64(i+1)
			}
			var b segmentBuilder
			slots := b.build(pairs)
			n := len(slots)
			if len(tt.hashes)*100 > n*maxLoadPct {
				t.Fatalf("%d keys in %d slots", len(tt.hashes), n)
			}
			seen := map[uint32]bool{}
			for s, idx := range slots {
				if idx == 0 {
					continue
				}
				seen[idx] = true
				d := dist(s, home(tt.hashes[idx-1], n), n)
				p := (s - 1 + n) % n
				if prev := slots[p]; prev == 0 && d != 0 {
					t.Fatalf("slot %d: distance %d after an empty slot: %v", s, d, slots)
				} else if prev != 0 && d > dist(p, home(tt.hashes[prev-1], n), n)+1 {
					t.Fatalf("slot %d: Robin Hood order broken: %v", s, slots)
				}
			}
			if len(seen) != len(tt.hashes) {
				t.Fatalf("%d of %d keys placed: %v", len(seen), len(tt.hashes), slots)
			}
		})
	}
}
