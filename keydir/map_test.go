package keydir

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

func ent(off uint64) Entry {
	return Entry{Offset: off, Seg: uint32(off % 7), Pos: uint32(off * 3), Size: uint32(off + 10), Flags: uint8(off)}
}

func mustCheck(t testing.TB, m *Map) {
	t.Helper()
	if err := checkInvariants(m); err != nil {
		t.Fatal(err)
	}
}

// ascendAll collects keys (copied) visited by Ascend.
func ascendAll(m *Map, start, end []byte, limit int) []string {
	var got []string
	m.Ascend(start, end, func(k []byte, e Entry) bool {
		got = append(got, string(k))
		return len(got) < limit
	})
	return got
}

func TestItem_Size(t *testing.T) {
	if got := unsafe.Sizeof(item{}); got != 32 {
		t.Fatalf("item is %d bytes, want 32 (doc.go layout)", got)
	}
}

func TestMap_Empty(t *testing.T) {
	for _, hint := range []int{0, 1, 1000} {
		t.Run(fmt.Sprint("hint=", hint), func(t *testing.T) {
			m := New(hint)
			if m.Len() != 0 {
				t.Fatalf("Len = %d", m.Len())
			}
			if _, ok := m.Get([]byte("a")); ok {
				t.Fatal("Get on empty map found a key")
			}
			if _, ok := m.Get(nil); ok {
				t.Fatal("Get(nil) on empty map found a key")
			}
			if _, ok := m.Delete([]byte("a")); ok {
				t.Fatal("Delete on empty map deleted")
			}
			if m.Relocate([]byte("a"), 0, ent(1)) {
				t.Fatal("Relocate on empty map moved")
			}
			if got := ascendAll(m, nil, nil, 100); len(got) != 0 {
				t.Fatalf("Ascend on empty map: %q", got)
			}
			if m.HeapBytes() <= 0 {
				t.Fatal("HeapBytes <= 0")
			}
			mustCheck(t, m)
		})
	}
}

func TestMap_PutGetDelete(t *testing.T) {
	type op struct {
		do      string // put, get, del
		key     string
		off     uint64 // entry to put; expected entry for get/del
		want    bool   // replaced / found / deleted
		wantOld uint64 // previous offset for put/del
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"insert then get", []op{{"put", "a", 1, false, 0}, {"get", "a", 1, true, 0}}},
		{"replace returns old", []op{{"put", "a", 1, false, 0}, {"put", "a", 2, true, 1}, {"get", "a", 2, true, 0}}},
		{"delete returns old", []op{{"put", "a", 1, false, 0}, {"del", "a", 0, true, 1}, {"get", "a", 0, false, 0}, {"del", "a", 0, false, 0}}},
		{"delete then put again", []op{{"put", "k", 1, false, 0}, {"del", "k", 0, true, 1}, {"put", "k", 2, false, 0}, {"get", "k", 2, true, 0}}},
		{"empty key is a key", []op{{"put", "", 5, false, 0}, {"get", "", 5, true, 0}, {"get", "\x00", 0, false, 0}, {"del", "", 0, true, 5}}},
		{"zero bytes are not padding", []op{{"put", "a", 1, false, 0}, {"put", "a\x00", 2, false, 0}, {"put", "a\x00\x00", 3, false, 0}, {"get", "a\x00", 2, true, 0}, {"del", "a", 0, true, 1}, {"get", "a\x00\x00", 3, true, 0}}},
		{"0xff keys", []op{{"put", "\xff", 1, false, 0}, {"put", "\xff\xff", 2, false, 0}, {"get", "\xff", 1, true, 0}, {"get", "\xff\xff\xff", 0, false, 0}}},
		{"same 8-byte prefix", []op{{"put", "prefix__1", 1, false, 0}, {"put", "prefix__2", 2, false, 0}, {"put", "prefix__", 3, false, 0}, {"get", "prefix__2", 2, true, 0}, {"del", "prefix__1", 0, true, 1}, {"get", "prefix__", 3, true, 0}}},
		{"offset zero stored as is", []op{{"put", "z", 0, false, 0}, {"get", "z", 0, true, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(0)
			for i, o := range tt.ops {
				switch o.do {
				case "put":
					old, rep := m.Put([]byte(o.key), ent(o.off))
					if rep != o.want || (rep && old != ent(o.wantOld)) || (!rep && old != (Entry{})) {
						t.Fatalf("op %d: Put(%q) = %+v, %v", i, o.key, old, rep)
					}
				case "get":
					e, ok := m.Get([]byte(o.key))
					if ok != o.want || (ok && e != ent(o.off)) {
						t.Fatalf("op %d: Get(%q) = %+v, %v", i, o.key, e, ok)
					}
				case "del":
					old, ok := m.Delete([]byte(o.key))
					if ok != o.want || (ok && old != ent(o.wantOld)) {
						t.Fatalf("op %d: Delete(%q) = %+v, %v", i, o.key, old, ok)
					}
				}
				mustCheck(t, m)
			}
		})
	}
}

func TestMap_Put_CopiesKey(t *testing.T) {
	m := New(0)
	key := []byte("abc")
	m.Put(key, ent(1))
	key[0] = 'x'
	if _, ok := m.Get([]byte("abc")); !ok {
		t.Fatal("Put kept the caller's key slice")
	}
	if _, ok := m.Get(key); ok {
		t.Fatal("mutated key found")
	}
}

func TestMap_Put_MaxKey(t *testing.T) {
	m := New(0)
	long := bytes.Repeat([]byte{0xff}, MaxKeyBytes)
	m.Put(long, ent(1))
	m.Put(long[:MaxKeyBytes-1], ent(2))
	if e, ok := m.Get(long); !ok || e != ent(1) {
		t.Fatalf("Get(max key) = %+v, %v", e, ok)
	}
	if got := ascendAll(m, long[:1], nil, 10); len(got) != 2 || got[1] != string(long) {
		t.Fatalf("Ascend over max keys returned %d keys", len(got))
	}
	mustCheck(t, m)

	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), "keys are at most") {
			t.Fatalf("Put of an over-long key: recover() = %v", r)
		}
	}()
	m.Put(make([]byte, MaxKeyBytes+1), ent(3))
}

func TestMap_Relocate(t *testing.T) {
	tests := []struct {
		name   string
		key    string
		offset uint64
		want   bool
		after  Entry // entry of "k" afterwards
	}{
		{"current offset moves", "k", 5, true, Entry{Offset: 5, Seg: 9, Pos: 100, Size: 7, Flags: 2}},
		{"stale offset loses", "k", 4, false, ent(5)},
		{"newer offset loses", "k", 6, false, ent(5)},
		{"absent key", "nope", 5, false, ent(5)},
		{"offset zero on absent key", "nope", 0, false, ent(5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(0)
			m.Put([]byte("k"), ent(5))
			m.Put([]byte("j"), ent(3))
			if got := m.Relocate([]byte(tt.key), tt.offset, Entry{Offset: 5, Seg: 9, Pos: 100, Size: 7, Flags: 2}); got != tt.want {
				t.Fatalf("Relocate = %v, want %v", got, tt.want)
			}
			if e, _ := m.Get([]byte("k")); e != tt.after {
				t.Fatalf("after Relocate: %+v, want %+v", e, tt.after)
			}
			if _, ok := m.Get([]byte("nope")); ok {
				t.Fatal("Relocate inserted a key")
			}
			if e, _ := m.Get([]byte("j")); e != ent(3) {
				t.Fatalf("Relocate touched another key: %+v", e)
			}
			mustCheck(t, m)
		})
	}
}

func TestMap_Ascend(t *testing.T) {
	keys := []string{"", "\x00", "\x00\x00", "\x00\xff", "a", "a\x00", "ab", "abc", "b", "\xff", "\xff\xff"}
	for _, maxBlock := range []int{4, 1024} {
		c := defaultConfig()
		c.maxBlock = maxBlock
		m := newMap(0, c)
		for i, k := range slices.Backward(keys) {
			m.Put([]byte(k), ent(uint64(i+1)))
		}
		mustCheck(t, m)
		b := func(s string) []byte { return []byte(s) }
		tests := []struct {
			name       string
			start, end []byte
			limit      int
			want       []string
		}{
			{"all", nil, nil, 100, keys},
			{"empty non-nil bounds are unbounded", b(""), []byte{}, 100, keys},
			{"start inclusive", b("a"), nil, 100, keys[4:]},
			{"end exclusive", nil, b("a"), 100, keys[:4]},
			{"start between keys", b("a\x00\x00"), b("b\x00"), 100, []string{"ab", "abc", "b"}},
			{"start past last key", b("\xff\xff\x00"), nil, 100, nil},
			{"start before first non-empty", b("\x00"), b("\x00\x01"), 100, []string{"\x00", "\x00\x00"}},
			{"end equals start", b("ab"), b("ab"), 100, nil},
			{"end before start", b("b"), b("a"), 100, nil},
			{"end just after start", b("ab"), b("ab\x00"), 100, []string{"ab"}},
			{"early stop", nil, nil, 3, keys[:3]},
			{"early stop inside range", b("a"), b("\xff"), 2, []string{"a", "a\x00"}},
			{"0xff end bound", b("\xff"), b("\xff\xff"), 100, []string{"\xff"}},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("block=%d/%s", maxBlock, tt.name), func(t *testing.T) {
				got := ascendAll(m, tt.start, tt.end, tt.limit)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("Ascend(%q, %q) = %q, want %q", tt.start, tt.end, got, tt.want)
				}
			})
		}
	}
}

func TestMap_Ascend_EntriesAndAliasing(t *testing.T) {
	m := New(0)
	m.Put([]byte("a"), ent(1))
	m.Put([]byte("b"), ent(2))
	m.Ascend(nil, nil, func(k []byte, e Entry) bool {
		if want := ent(uint64(k[0]-'a') + 1); e != want {
			t.Fatalf("key %q: entry %+v, want %+v", k, e, want)
		}
		if cap(k) != len(k) {
			t.Fatalf("key slice has spare capacity %d: an append would overwrite the arena", cap(k)-len(k))
		}
		return true
	})
}

// TestMap_ManyKeys goes through table growth and shrinking, block splits and
// merges, and arena rewrites with production sizes.
func TestMap_ManyKeys(t *testing.T) {
	const n = 20000
	m := New(0)
	key := func(i int) []byte { return fmt.Appendf(nil, "key-%08d", (i*7919)%n) }
	for i := range n {
		m.Put(key(i), ent(uint64(i+1)))
	}
	mustCheck(t, m)
	if m.Len() != n || len(m.ord.blocks) < 2 || len(m.tab.segs) < 2 {
		t.Fatalf("Len = %d, %d blocks, %d segments", m.Len(), len(m.ord.blocks), len(m.tab.segs))
	}
	// Growth split segments rather than let any outgrow maxSegSlots: that
	// bounds the work of the Put that grows one.
	for si, sg := range m.tab.segs {
		if len(sg.slots) > maxSegSlots {
			t.Fatalf("segment %d has %d slots, more than %d", si, len(sg.slots), maxSegSlots)
		}
	}
	grown := m.tab.slots()
	for i := range n - 10 {
		if _, ok := m.Delete(key(i)); !ok {
			t.Fatalf("Delete(%s) missed", key(i))
		}
	}
	mustCheck(t, m)
	if m.tab.slots() >= grown/10 {
		t.Fatalf("table did not shrink: %d slots for %d keys", m.tab.slots(), m.Len())
	}
	for i := n - 10; i < n; i++ {
		if e, ok := m.Get(key(i)); !ok || e != ent(uint64(i+1)) {
			t.Fatalf("Get(%s) = %+v, %v", key(i), e, ok)
		}
	}
}

func TestMap_ArenaRewrite(t *testing.T) {
	c := defaultConfig()
	c.minGarbage = 100
	c.arenaShift = 8
	m := newMap(0, c)
	key := func(i int) []byte { return fmt.Appendf(nil, "%05d-some-padding", i) }
	for i := range 1000 {
		m.Put(key(i), ent(uint64(i+1)))
	}
	before := m.arena.chunksInUse()
	for i := range 900 {
		m.Delete(key(i))
		mustCheck(t, m)
	}
	if m.arena.dead > max(m.arena.live, c.minGarbage) {
		t.Fatalf("arena not rewritten: %d dead, %d live bytes", m.arena.dead, m.arena.live)
	}
	if m.arena.chunksInUse() >= before/2 {
		t.Fatalf("arena still has %d chunks (had %d)", m.arena.chunksInUse(), before)
	}
	for i := 900; i < 1000; i++ {
		if e, ok := m.Get(key(i)); !ok || e != ent(uint64(i+1)) {
			t.Fatalf("Get(%s) after rewrite = %+v, %v", key(i), e, ok)
		}
	}
	got := ascendAll(m, nil, nil, 1000)
	if len(got) != 100 || got[0] != string(key(900)) || !slices.IsSorted(got) {
		t.Fatalf("Ascend after rewrite: %d keys, first %q", len(got), got[0])
	}
}

// TestMap_ConcurrentReads runs readers the way the engine does under an
// RLock; with -race it proves that reads write nothing.
func TestMap_ConcurrentReads(t *testing.T) {
	m := New(0)
	for i := range 5000 {
		m.Put(fmt.Appendf(nil, "k%05d", i), ent(uint64(i+1)))
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Appendf(nil, "k%05d", (i*31+g)%5000)
				if _, ok := m.Get(k); !ok {
					t.Errorf("Get(%s) missed", k)
					return
				}
				n := 0
				m.Ascend(k, nil, func([]byte, Entry) bool { n++; return n < 10 })
				_ = m.Len() + int(m.HeapBytes())
			}
		})
	}
	wg.Wait()
}

// TestMap_ArenaRewrite_Incremental deletes enough keys of a map too big to
// rewrite at once, and checks that the rewrite then moves at most a step's
// worth of keys per Put or Delete, survives the Puts, Deletes and Relocates
// that interleave with it, and ends with the garbage gone.
func TestMap_ArenaRewrite_Incremental(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		pad       int   // key length beyond its 6 digits
		stepBytes int64 // evacStepBytes
		maxMoved  int   // most keys the first step may move
	}{
		{"short keys", 6000, 13, 16 << 10, 16}, // evacStep binds
		{"long keys", 600, 1000, 2500, 3},      // evacStepBytes binds
		{"one key per step", 600, 100, 1, 1},   // at least one key
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig()
			c.arenaShift = 12
			c.minGarbage = 1000
			c.evacStep = 16
			c.evacStepBytes = tt.stepBytes
			c.evacSync = 100
			m := newMap(0, c)
			n := tt.n
			pad := strings.Repeat("p", tt.pad)
			key := func(i int) []byte { return fmt.Appendf(nil, "%06d%s", i, pad) }
			model := map[string]Entry{}
			for i := range n {
				m.Put(key(i), ent(uint64(i+1)))
				model[string(key(i))] = ent(uint64(i + 1))
			}
			chunks := m.arena.chunksInUse()
			// Delete two keys in three (multiples of 3 stay) until the
			// rewrite starts; next(i) is the key to delete after key i.
			next := func(i int) int {
				if i++; i%3 == 0 {
					i++
				}
				return i
			}
			i := 1
			for ; m.arena.from == nil; i = next(i) {
				if i >= n {
					t.Fatalf("no rewrite after deleting two thirds of the keys: %d dead bytes, %d live", m.arena.dead, m.arena.live)
				}
				m.Delete(key(i))
				delete(model, string(key(i)))
			}
			mustCheck(t, m)
			inFrom := 0
			for _, b := range m.ord.blocks {
				for _, idx := range b.items {
					if m.arena.evacuating(m.slab.at(idx).ref()) {
						inFrom++
					}
				}
			}
			if moved := m.Len() - inFrom; moved > tt.maxMoved {
				t.Fatalf("the Delete that started the rewrite moved %d keys, want at most %d", moved, tt.maxMoved)
			}
			// Mutate while the rewrite runs: new keys, replaced keys,
			// relocations, more deletes.
			ops := 0
			for ; m.arena.from != nil; ops++ {
				switch k := key(n + ops); ops % 4 {
				case 0:
					m.Put(k, ent(uint64(n+ops+1)))
					model[string(k)] = ent(uint64(n + ops + 1))
				case 1:
					old := key(ops * 7 % (n / 3) * 3) // multiples of 3 are still there
					e := model[string(old)]
					e.Pos++
					if !m.Relocate(old, e.Offset, e) {
						t.Fatalf("Relocate(%s) failed", old)
					}
					model[string(old)] = e
					m.Put(old, e) // Relocate takes no step; Put does
				case 2, 3:
					if i < n {
						m.Delete(key(i))
						delete(model, string(key(i)))
						i = next(i)
					} else {
						m.Put(key(0), model[string(key(0))])
					}
				}
				if ops%50 == 0 {
					mustCheck(t, m)
				}
			}
			mustCheck(t, m)
			if least := m.Len() / tt.maxMoved / 2; ops < least {
				t.Fatalf("the rewrite took %d operations, want at least %d at %d keys a step", ops, least, tt.maxMoved)
			}
			if m.arena.dead > m.arena.live {
				t.Fatalf("after the rewrite: %d dead bytes, %d live", m.arena.dead, m.arena.live)
			}
			if got := m.arena.chunksInUse(); got >= chunks {
				t.Fatalf("arena holds %d chunks, had %d before the deletes", got, chunks)
			}
			if m.Len() != len(model) {
				t.Fatalf("Len = %d, model has %d", m.Len(), len(model))
			}
			for k, want := range model {
				if e, ok := m.Get([]byte(k)); !ok || e != want {
					t.Fatalf("Get(%s) = %+v, %v; want %+v", k, e, ok, want)
				}
			}
		})
	}
}

// TestMap_ConcurrentReads_MidRewrite runs readers while an arena rewrite
// is half done: reads must neither advance it nor trip over it (with
// -race, this proves they write nothing).
func TestMap_ConcurrentReads_MidRewrite(t *testing.T) {
	c := defaultConfig()
	c.arenaShift = 12
	c.minGarbage = 1000
	c.evacStep = 1
	c.evacSync = 0
	m := newMap(0, c)
	const n = 5000
	for i := range n {
		m.Put(fmt.Appendf(nil, "k%05d", i), ent(uint64(i+1)))
	}
	for i := 1; m.arena.from == nil; i++ {
		if i >= n {
			t.Fatal("no rewrite after deleting two thirds of the keys")
		}
		if i%3 != 0 {
			m.Delete(fmt.Appendf(nil, "k%05d", i))
		}
	}
	cursor := string(m.evac.key)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Appendf(nil, "k%05d", (i*31+g)%(n/3)*3) // multiples of 3 stay
				if _, ok := m.Get(k); !ok {
					t.Errorf("Get(%s) missed", k)
					return
				}
				n := 0
				m.Ascend(k, nil, func([]byte, Entry) bool { n++; return n < 10 })
			}
		})
	}
	wg.Wait()
	if m.arena.from == nil || string(m.evac.key) != cursor {
		t.Fatal("reads advanced the arena rewrite")
	}
	mustCheck(t, m)
}

func TestGrowCap(t *testing.T) {
	const size = 1024
	tests := []struct {
		name            string
		cur, need, want int
	}{
		{"doubles", 64, 65, 128},
		{"fits the need", 64, 200, 200},
		{"up to a quarter", 128, 129, 256},
		{"past a quarter goes full", 256, 257, size},
		{"need past a quarter", 16, 300, size},
		{"full stays full", size, size, size},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := growCap(tt.cur, tt.need, size); got != tt.want {
				t.Fatalf("growCap(%d, %d, %d) = %d, want %d", tt.cur, tt.need, size, got, tt.want)
			}
		})
	}
}

// TestMap_SizeHint_NoGrowth loads exactly the hinted number of keys into
// New(hint): with a right hint, no segment may resize or split.
func TestMap_SizeHint_NoGrowth(t *testing.T) {
	for _, n := range []int{1, 100, 5000, 60000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			m := New(n)
			segs := slices.Clone(m.tab.segs)
			var buf [16]byte
			for i := range uint64(n) {
				m.Put(randomKey(&buf, i), ent(i+1))
			}
			if len(m.tab.segs) != len(segs) {
				t.Fatalf("%d segments after %d Puts, %d before", len(m.tab.segs), n, len(segs))
			}
			for si := range segs {
				if len(m.tab.segs[si].slots) != len(segs[si].slots) {
					t.Fatalf("segment %d resized from %d to %d slots", si, len(segs[si].slots), len(m.tab.segs[si].slots))
				}
			}
			mustCheck(t, m)
		})
	}
}
