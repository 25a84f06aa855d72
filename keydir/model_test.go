package keydir

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// mapMachine runs a Map against a model: a Go map plus its sorted keys.
// The Map is built with tiny chunks, blocks, segments and garbage
// thresholds, and sometimes a hash with almost no bits, so that a few dozen
// keys reach block splits and merges, chunk ends, segment resizes and
// splits, directory doubling, wrapped probe clusters, full-hash collisions,
// and arena rewrites both at once and spread over many Puts and Deletes
// that interleave with them.
type mapMachine struct {
	m      *Map
	model  map[string]Entry
	offset uint64 // last offset handed out; entries get unique offsets
	key    *rapid.Generator[[]byte]
}

// keyGen draws keys from a small alphabet, so that keys repeat, share
// prefixes and differ by trailing zero bytes (which the 8-byte head prefixes
// must not confuse), plus keys sharing a whole 8-byte prefix.
func keyGen() *rapid.Generator[[]byte] {
	short := rapid.SliceOfN(rapid.SampledFrom([]byte{0x00, 'a', 0xff}), 0, 4)
	long := rapid.Custom(func(t *rapid.T) []byte {
		tail := rapid.SliceOfN(rapid.SampledFrom([]byte{0x00, 'b', 0xff}), 0, 3).Draw(t, "tail")
		return append([]byte("\x00prefix\xff"), tail...)
	})
	return rapid.OneOf(short, short, long)
}

func modelConfig(t *rapid.T) config {
	return config{
		arenaShift:    uint(rapid.IntRange(4, 6).Draw(t, "arenaShift")), // 16..64-byte chunks; keys are <= 11 bytes
		slabShift:     uint(rapid.IntRange(1, 4).Draw(t, "slabShift")),
		maxBlock:      rapid.IntRange(4, 9).Draw(t, "maxBlock"),
		maxSeg:        rapid.SampledFrom([]int{minSlots, 12, 32, maxSegSlots}).Draw(t, "maxSeg"),
		minGarbage:    int64(rapid.IntRange(0, 64).Draw(t, "minGarbage")),
		evacSync:      rapid.SampledFrom([]int{0, 5, 1 << 20}).Draw(t, "evacSync"),
		evacSyncBytes: rapid.SampledFrom([]int64{0, 40, 1 << 20}).Draw(t, "evacSyncBytes"),
		evacStep:      rapid.IntRange(1, 4).Draw(t, "evacStep"),
		evacStepBytes: rapid.SampledFrom([]int64{1, 8, 1 << 20}).Draw(t, "evacStepBytes"),
		hashMask:      rapid.SampledFrom([]uint32{^uint32(0), ^uint32(0), 0xe0000000, 0x3, 0}).Draw(t, "hashMask"),
	}
}

func newMapMachine(t *rapid.T) *mapMachine {
	sm := &mapMachine{model: map[string]Entry{}, key: keyGen()}
	cfg := modelConfig(t)
	if rapid.Bool().Draw(t, "useBuilder") {
		keys := rapid.SliceOfNDistinct(sm.key, 0, 40, func(k []byte) string { return string(k) }).Draw(t, "built")
		slices.SortFunc(keys, bytes.Compare)
		b := newBuilder(rapid.IntRange(0, 50).Draw(t, "sizeHint"), cfg)
		for _, k := range keys {
			e := sm.entry(t)
			if err := b.Add(k, e); err != nil {
				t.Fatalf("Builder.Add(%q): %v", k, err)
			}
			sm.model[string(k)] = e
		}
		sm.m = b.Map()
	} else {
		sm.m = newMap(rapid.IntRange(0, 50).Draw(t, "sizeHint"), cfg)
	}
	return sm
}

func (sm *mapMachine) entry(t *rapid.T) Entry {
	sm.offset++
	return Entry{
		Offset: sm.offset,
		Seg:    rapid.Uint32().Draw(t, "seg"),
		Pos:    rapid.Uint32().Draw(t, "pos"),
		Size:   rapid.Uint32().Draw(t, "size"),
		Flags:  rapid.Uint8().Draw(t, "flags"),
	}
}

// someKey draws a key, from the model half of the time when it has any.
func (sm *mapMachine) someKey(t *rapid.T, label string) []byte {
	if len(sm.model) > 0 && rapid.Bool().Draw(t, label+"Existing") {
		return []byte(rapid.SampledFrom(sm.sortedKeys()).Draw(t, label))
	}
	return sm.key.Draw(t, label)
}

func (sm *mapMachine) sortedKeys() []string {
	keys := make([]string, 0, len(sm.model))
	for k := range sm.model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (sm *mapMachine) put(t *rapid.T, k []byte) {
	e := sm.entry(t)
	old, replaced := sm.m.Put(k, e)
	want, had := sm.model[string(k)]
	if replaced != had || old != want {
		t.Fatalf("Put(%q) = %+v, %v; model %+v, %v", k, old, replaced, want, had)
	}
	sm.model[string(k)] = e
}

func (sm *mapMachine) Put(t *rapid.T) { sm.put(t, sm.someKey(t, "key")) }

// PutMany adds a burst of keys, enough to fill and split small blocks.
func (sm *mapMachine) PutMany(t *rapid.T) {
	for _, k := range rapid.SliceOfN(sm.key, 1, 30).Draw(t, "keys") {
		sm.put(t, k)
	}
}

func (sm *mapMachine) delete(t *rapid.T, k []byte) {
	old, deleted := sm.m.Delete(k)
	want, had := sm.model[string(k)]
	if deleted != had || old != want {
		t.Fatalf("Delete(%q) = %+v, %v; model %+v, %v", k, old, deleted, want, had)
	}
	delete(sm.model, string(k))
}

func (sm *mapMachine) Delete(t *rapid.T) { sm.delete(t, sm.someKey(t, "key")) }

// DeleteRange deletes a run of adjacent keys, emptying and merging blocks
// and piling up arena garbage.
func (sm *mapMachine) DeleteRange(t *rapid.T) {
	keys := sm.sortedKeys()
	if len(keys) == 0 {
		t.Skip("no keys")
	}
	from := rapid.IntRange(0, len(keys)-1).Draw(t, "from")
	n := rapid.IntRange(1, len(keys)-from).Draw(t, "n")
	for _, k := range keys[from : from+n] {
		sm.delete(t, []byte(k))
	}
}

func (sm *mapMachine) Relocate(t *rapid.T) {
	k := sm.someKey(t, "key")
	cur, had := sm.model[string(k)]
	offset := cur.Offset
	if !had || rapid.Bool().Draw(t, "wrongOffset") {
		offset = rapid.Uint64Range(0, sm.offset+1).Draw(t, "offset")
	}
	newE := sm.entry(t)
	if rapid.Bool().Draw(t, "keepOffset") {
		newE.Offset = offset // what the compactor does: same record, new place
	}
	moved := sm.m.Relocate(k, offset, newE)
	if want := had && cur.Offset == offset; moved != want {
		t.Fatalf("Relocate(%q, %d) = %v; model entry %+v, %v", k, offset, moved, cur, had)
	}
	if moved {
		sm.model[string(k)] = newE
	}
}

func (sm *mapMachine) Get(t *rapid.T) {
	k := sm.someKey(t, "key")
	e, ok := sm.m.Get(k)
	want, had := sm.model[string(k)]
	if ok != had || e != want {
		t.Fatalf("Get(%q) = %+v, %v; model %+v, %v", k, e, ok, want, had)
	}
}

func (sm *mapMachine) Ascend(t *rapid.T) {
	var start, end []byte
	if rapid.Bool().Draw(t, "hasStart") {
		start = sm.someKey(t, "start")
	}
	if rapid.Bool().Draw(t, "hasEnd") {
		end = sm.someKey(t, "end")
	}
	limit := rapid.IntRange(1, 50).Draw(t, "limit")

	var want []string
	for _, k := range sm.sortedKeys() {
		if len(want) == limit {
			break
		}
		if k >= string(start) && (len(end) == 0 || k < string(end)) {
			want = append(want, k)
		}
	}
	var got []string
	sm.m.Ascend(start, end, func(k []byte, e Entry) bool {
		if me := sm.model[string(k)]; e != me {
			t.Fatalf("Ascend: key %q has %+v, model %+v", k, e, me)
		}
		got = append(got, string(k))
		return len(got) < limit
	})
	if !slices.Equal(got, want) {
		t.Fatalf("Ascend(%q, %q, limit %d) = %q, want %q", start, end, limit, got, want)
	}
}

func (sm *mapMachine) Check(t *rapid.T) {
	if sm.m.Len() != len(sm.model) {
		t.Fatalf("Len = %d, model has %d keys", sm.m.Len(), len(sm.model))
	}
	if err := checkInvariants(sm.m); err != nil {
		t.Fatal(err)
	}
}

func TestMap_Model(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		t.Repeat(rapid.StateMachineActions(newMapMachine(t)))
	})
}

// TestMap_Model_Keys sanity-checks the generator: the model test is only as
// good as the collisions its keys produce.
func TestMap_Model_Keys(t *testing.T) {
	seen := map[string]int{}
	rapid.Check(t, func(t *rapid.T) {
		k := keyGen().Draw(t, "k")
		if len(k) > 11 {
			t.Fatalf("key %q longer than the smallest arena chunk allows", k)
		}
		seen[string(k)]++
	})
	if len(seen) < 10 || !slices.ContainsFunc(keysOf(seen), func(k string) bool { return strings.HasPrefix(k, "\x00prefix") }) {
		t.Fatalf("key generator too narrow: %d distinct keys", len(seen))
	}
}

func keysOf(m map[string]int) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
