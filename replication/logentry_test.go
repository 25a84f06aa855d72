package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/caskade/caskade/engine/segment"
)

// encodeForTest encodes l into a fresh key and value.
func encodeForTest(t testing.TB, l *raft.Log) (key, value []byte) {
	t.Helper()
	if err := checkLogEntry(l); err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, entryHeaderSize)
	r, _ := encodeLogEntry(hdr, nil, l)
	return r.Key, r.Value
}

// sameLog reports whether two entries hold the same thing (nil and empty
// slices alike, times by instant).
func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

func TestLogEntry_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		log  raft.Log
	}{
		{"empty", raft.Log{Index: 1}},
		{"command", raft.Log{Index: 7, Term: 3, Type: raft.LogCommand, Data: []byte("hello")}},
		{"configuration", raft.Log{Index: 1 << 40, Term: math.MaxUint64, Type: raft.LogConfiguration, Data: []byte{0, 1, 2}}},
		{"extensions only", raft.Log{Index: 2, Term: 1, Type: raft.LogNoop, Extensions: []byte("ext")}},
		{"extensions and data", raft.Log{Index: 3, Term: 1, Extensions: []byte("ext"), Data: []byte("data")}},
		{"appended at", raft.Log{Index: 4, Term: 2, AppendedAt: time.Unix(1_700_000_000, 123_456_789), Data: []byte("x")}},
		{"appended before 1970", raft.Log{Index: 5, AppendedAt: time.Date(1900, 1, 2, 3, 4, 5, 6, time.UTC)}},
		{"appended in year 1", raft.Log{Index: 6, AppendedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"appended far ahead", raft.Log{Index: 7, AppendedAt: time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)}},
		{"unknown type", raft.Log{Index: 8, Type: raft.LogType(200)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, value := encodeForTest(t, &tt.log)
			if len(key) != entryHeaderSize {
				t.Fatalf("key of %d bytes", len(key))
			}
			var got raft.Log
			if err := decodeLogEntry(tt.log.Index, key, value, &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !sameLog(&got, &tt.log) {
				t.Fatalf("decoded %+v, want %+v", got, tt.log)
			}
			if tt.log.AppendedAt.IsZero() != got.AppendedAt.IsZero() {
				t.Fatalf("AppendedAt zero: %v, want %v", got.AppendedAt.IsZero(), tt.log.AppendedAt.IsZero())
			}
		})
	}
}

// TestLogEntry_Layout pins the bytes of one entry: the layout must never
// change.
func TestLogEntry_Layout(t *testing.T) {
	l := raft.Log{Index: 9, Term: 0x0102030405060708, Type: raft.LogConfiguration,
		AppendedAt: time.Unix(0x11223344, 500), Extensions: []byte("e"), Data: []byte("dd")}
	key, value := encodeForTest(t, &l)
	want := []byte{
		1, 5, 1, 0, // version, type (LogConfiguration), flags, reserved
		8, 7, 6, 5, 4, 3, 2, 1, // term
		0x44, 0x33, 0x22, 0x11, 0, 0, 0, 0, // sec
		0xf4, 0x01, 0, 0, // nsec 500
		1, 0, 0, 0, // extlen
		2, 0, 0, 0, // datlen
	}
	if !bytes.Equal(key, want) {
		t.Fatalf("key\n%x, want\n%x", key, want)
	}
	if string(value) != "edd" {
		t.Fatalf("value %q, want %q", value, "edd")
	}
}

func TestLogEntry_DecodeCorrupt(t *testing.T) {
	key, value := encodeForTest(t, &raft.Log{Index: 1, Term: 1, AppendedAt: time.Unix(10, 0), Extensions: []byte("ab"), Data: []byte("cdef")})
	with := func(f func(k []byte)) []byte {
		k := bytes.Clone(key)
		f(k)
		return k
	}
	zeroTime := with(func(k []byte) {
		k[2] = 0
		binary.LittleEndian.PutUint64(k[12:], 0)
		binary.LittleEndian.PutUint32(k[20:], 0)
	})
	tests := []struct {
		name       string
		key, value []byte
	}{
		{"short key", key[:entryHeaderSize-1], value},
		{"long key", append(bytes.Clone(key), 0), value},
		{"no key", nil, value},
		{"version 0", with(func(k []byte) { k[0] = 0 }), value},
		{"version 2", with(func(k []byte) { k[0] = 2 }), value},
		{"unknown flag", with(func(k []byte) { k[2] |= 2 }), value},
		{"reserved byte", with(func(k []byte) { k[3] = 1 }), value},
		{"value too short", key, value[:len(value)-1]},
		{"value too long", key, append(bytes.Clone(value), 'x')},
		{"extlen past value", with(func(k []byte) { binary.LittleEndian.PutUint32(k[24:], 7) }), value},
		{"lengths overflow 32 bits", with(func(k []byte) {
			binary.LittleEndian.PutUint32(k[24:], math.MaxUint32)
			binary.LittleEndian.PutUint32(k[28:], 7)
		}), value},
		{"nanoseconds over a second", with(func(k []byte) { binary.LittleEndian.PutUint32(k[20:], uint32(time.Second)) }), value},
		{"time without flag", with(func(k []byte) { k[2] = 0 }), value},
		{"zero time with flag", with(func(k []byte) {
			binary.LittleEndian.PutUint64(k[12:], uint64(time.Time{}.Unix()))
			binary.LittleEndian.PutUint32(k[20:], 0)
		}), value},
		{"nanoseconds without flag", with(func(k []byte) { copy(k, zeroTime); k[20] = 1 }), value},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got raft.Log
			err := decodeLogEntry(1, tt.key, tt.value, &got)
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("decode: %v, want ErrCorrupt", err)
			}
		})
	}
	var got raft.Log
	if err := decodeLogEntry(1, zeroTime, value, &got); err != nil || !got.AppendedAt.IsZero() {
		t.Fatalf("zero time without flag: %v, %v", err, got.AppendedAt)
	}
}

func TestLogEntry_CheckRefuses(t *testing.T) {
	for _, l := range []*raft.Log{nil, {Index: 0, Data: []byte("x")}} {
		if err := checkLogEntry(l); err == nil {
			t.Fatalf("checkLogEntry(%+v) accepted", l)
		}
	}
}

// FuzzDecodeLogEntry checks that decoding never panics, that whatever
// decodes encodes back to the same bytes, and that anything else is
// ErrCorrupt.
func FuzzDecodeLogEntry(f *testing.F) {
	for _, l := range []raft.Log{
		{Index: 1},
		{Index: 2, Term: 5, Type: raft.LogCommand, Data: []byte("some data")},
		{Index: 3, Term: 6, AppendedAt: time.Unix(1_700_000_000, 42), Extensions: []byte("x"), Data: []byte("yz")},
	} {
		key, value := encodeForTest(f, &l)
		f.Add(l.Index, key, value)
	}
	f.Add(uint64(1), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, index uint64, key, value []byte) {
		var got raft.Log
		if err := decodeLogEntry(index, key, value, &got); err != nil {
			if !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if got.Index != index {
			t.Fatalf("index %d, want %d", got.Index, index)
		}
		if index == 0 {
			return // never written: checkLogEntry refuses it
		}
		k2, v2 := encodeForTest(t, &got)
		if !bytes.Equal(k2, key) || !bytes.Equal(v2, value) {
			t.Fatalf("re-encoded\n%x %x\nfrom\n%x %x", k2, v2, key, value)
		}
		var again raft.Log
		if err := decodeLogEntry(index, k2, v2, &again); err != nil || !sameLog(&again, &got) {
			t.Fatalf("second decode: %v, %+v vs %+v", err, again, got)
		}
	})
}
