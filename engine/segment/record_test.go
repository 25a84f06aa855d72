package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// reseal recomputes the checksum of the record at the start of b after a
// test changed its header, so that only the change under test is wrong.
func reseal(b []byte) {
	kl := int(binary.LittleEndian.Uint32(b[33:]))
	vl := int(binary.LittleEndian.Uint32(b[37:]))
	n := min(HeaderSize+kl+vl, len(b))
	binary.LittleEndian.PutUint64(b[0:], xxhash.Sum64(b[8:n]))
}

func TestRecord_RoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"key and value", Record{Offset: 1, Timestamp: 1700000000000000000, Key: []byte("k"), Value: []byte("value")}},
		{"empty key (keyless)", Record{Offset: 2, Timestamp: 5, Value: []byte("produced")}},
		{"empty value", Record{Offset: 3, Timestamp: 6, Key: []byte("key")}},
		{"empty key and value", Record{Offset: 4}},
		{"tombstone", Record{Offset: 5, Timestamp: 7, Flags: FlagTombstone, Key: []byte("gone")}},
		{"expiry", Record{Offset: 6, Timestamp: 8, Expiry: 9, Flags: FlagExpiry, Key: []byte("ttl"), Value: []byte("v")}},
		{"expiry flag with zero expiry", Record{Offset: 7, Flags: FlagExpiry, Key: []byte("k")}},
		{"tombstone and expiry", Record{Offset: 8, Expiry: -1, Flags: FlagTombstone | FlagExpiry, Key: []byte("k")}},
		{"negative timestamp", Record{Offset: 9, Timestamp: -42, Key: []byte("k")}},
		{"max offset", Record{Offset: ^uint64(0), Key: []byte("k")}},
		{"max key", Record{Offset: 10, Key: bytes.Repeat([]byte{'k'}, MaxKeyLen), Value: []byte{0}}},
		{"binary value", Record{Offset: 11, Key: []byte{0}, Value: []byte{0, 0xff, 0, 0xff}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendRecord([]byte("prefix"), &tt.rec)
			b = b[len("prefix"):]
			if len(b) != tt.rec.Size() {
				t.Fatalf("encoded %d bytes, Size() = %d", len(b), tt.rec.Size())
			}
			direct := make([]byte, tt.rec.Size())
			if n := Encode(direct, &tt.rec); n != len(b) || !bytes.Equal(direct, b) {
				t.Fatalf("Encode and AppendRecord disagree (n=%d)", n)
			}
			// Trailing bytes after the record are not part of it.
			got, n, err := DecodeRecord(append(b[:len(b):len(b)], 1, 2, 3))
			if err != nil {
				t.Fatalf("DecodeRecord: %v", err)
			}
			if n != len(b) {
				t.Fatalf("DecodeRecord size = %d, want %d", n, len(b))
			}
			assertRecordEqual(t, got, tt.rec)
			h, err := DecodeHeader(b)
			if err != nil {
				t.Fatalf("DecodeHeader: %v", err)
			}
			if h.Offset != tt.rec.Offset || h.Timestamp != tt.rec.Timestamp || h.Expiry != tt.rec.Expiry ||
				h.Flags != tt.rec.Flags || int(h.KeyLen) != len(tt.rec.Key) || int(h.ValueLen) != len(tt.rec.Value) ||
				h.Size() != int64(len(b)) || h.Checksum != binary.LittleEndian.Uint64(b) {
				t.Fatalf("header %+v does not match record %+v", h, tt.rec)
			}
			if got.Tombstone() != (tt.rec.Flags&FlagTombstone != 0) {
				t.Fatalf("Tombstone() = %v", got.Tombstone())
			}
			c := got.Clone()
			assertRecordEqual(t, c, tt.rec)
			if len(c.Value) > 0 && &c.Value[0] == &got.Value[0] {
				t.Fatal("Clone shares the value's memory")
			}
		})
	}
}

func assertRecordEqual(t testing.TB, got, want Record) {
	t.Helper()
	if got.Offset != want.Offset || got.Timestamp != want.Timestamp || got.Expiry != want.Expiry ||
		got.Flags != want.Flags || !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Value, want.Value) {
		t.Fatalf("record mismatch:\n got  {off %d ts %d exp %d flags %#x key %q value %d bytes}\n want {off %d ts %d exp %d flags %#x key %q value %d bytes}",
			got.Offset, got.Timestamp, got.Expiry, got.Flags, trunc(got.Key), len(got.Value),
			want.Offset, want.Timestamp, want.Expiry, want.Flags, trunc(want.Key), len(want.Value))
	}
}

func trunc(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

func TestRecord_Expired(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		now  int64
		want bool
	}{
		{"no flag", Record{Expiry: 0}, 100, false},
		{"before", Record{Flags: FlagExpiry, Expiry: 200}, 100, false},
		{"at", Record{Flags: FlagExpiry, Expiry: 100}, 100, true},
		{"after", Record{Flags: FlagExpiry, Expiry: 50}, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rec.Expired(tt.now); got != tt.want {
				t.Fatalf("Expired(%d) = %v, want %v", tt.now, got, tt.want)
			}
		})
	}
}

func TestRecord_Clone_EmptyKey(t *testing.T) {
	r := Record{Offset: 1, Key: []byte{}, Value: []byte("v")}
	c := r.Clone()
	if c.Key != nil || string(c.Value) != "v" {
		t.Fatalf("Clone = %+v", c)
	}
}

func TestEncode_PanicsOnOversize(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Encode of an oversize key did not panic")
		}
	}()
	r := Record{Offset: 1, Key: make([]byte, MaxKeyLen+1)}
	Encode(make([]byte, r.Size()), &r)
}

func TestDecodeRecord_Corrupt(t *testing.T) {
	valid := AppendRecord(nil, &Record{Offset: 7, Timestamp: 99, Expiry: 1234, Flags: FlagExpiry, Key: []byte("key"), Value: []byte("value")})
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(valid)
		f(b)
		return b
	}
	tests := []struct {
		name       string
		b          []byte
		headerErr  bool   // DecodeHeader fails too
		wantSubstr string // part of the error message
	}{
		{"nil", nil, true, "short"},
		{"empty", []byte{}, true, "short"},
		{"short header", valid[:HeaderSize-1], true, "short"},
		{"header only", valid[:HeaderSize], false, "past the end"},
		{"one byte short", valid[:len(valid)-1], false, "past the end"},
		{"checksum byte", mod(func(b []byte) { b[0] ^= 1 }), false, "checksum"},
		{"offset byte", mod(func(b []byte) { b[8] ^= 1 }), false, "checksum"},
		{"timestamp byte", mod(func(b []byte) { b[16] ^= 0x80 }), false, "checksum"},
		{"expiry byte", mod(func(b []byte) { b[24] ^= 1 }), false, "checksum"},
		{"key byte", mod(func(b []byte) { b[HeaderSize] ^= 1 }), false, "checksum"},
		{"value byte", mod(func(b []byte) { b[len(b)-1] ^= 1 }), false, "checksum"},
		{"key length grows into value", mod(func(b []byte) { b[33]++ }), false, "past the end"},
		{"key length shrinks", mod(func(b []byte) { b[33]-- }), false, "checksum"},
		{"unknown flag", mod(func(b []byte) { b[32] |= 0x04; reseal(b) }), true, "flags"},
		{"high flag", mod(func(b []byte) { b[32] = 0x80 | byte(FlagExpiry); reseal(b) }), true, "flags"},
		{"offset 0", mod(func(b []byte) { binary.LittleEndian.PutUint64(b[8:], 0); reseal(b) }), true, "offset 0"},
		{"all zero", make([]byte, 100), true, "offset 0"},
		{"key length over limit", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[33:], MaxKeyLen+1) }), true, "key length"},
		{"key length max uint32", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[33:], ^uint32(0)) }), true, "key length"},
		{"value length over limit", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[37:], MaxValueLen+1) }), true, "value length"},
		{"value length max uint32", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[37:], ^uint32(0)) }), true, "value length"},
		{"value length at limit", mod(func(b []byte) { binary.LittleEndian.PutUint32(b[37:], MaxValueLen) }), false, "past the end"},
		{"expiry without flag", mod(func(b []byte) { b[32] = 0; reseal(b) }), true, "expiry without flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, n, err := DecodeRecord(tt.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeRecord = (%+v, %d, %v), want ErrCorrupt", r, n, err)
			}
			if !strings.Contains(err.Error(), tt.wantSubstr) {
				t.Errorf("error %q does not mention %q", err, tt.wantSubstr)
			}
			if n != 0 || r.Key != nil || r.Value != nil {
				t.Errorf("failed decode returned data: n=%d rec=%+v", n, r)
			}
			_, herr := DecodeHeader(tt.b)
			if tt.headerErr != (herr != nil) {
				t.Fatalf("DecodeHeader err = %v, want error: %v", herr, tt.headerErr)
			}
			if herr != nil && !errors.Is(herr, ErrCorrupt) {
				t.Fatalf("DecodeHeader err = %v, want ErrCorrupt", herr)
			}
		})
	}
}

// TestDecodeRecord_EveryByteFlipped flips each bit of a valid record in
// turn: every such record must be rejected.
func TestDecodeRecord_EveryByteFlipped(t *testing.T) {
	valid := AppendRecord(nil, &Record{Offset: 3, Timestamp: 42, Flags: FlagTombstone, Key: []byte("key"), Value: []byte("some value")})
	for i := range valid {
		for bit := range 8 {
			b := bytes.Clone(valid)
			b[i] ^= 1 << bit
			if _, _, err := DecodeRecord(b); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d bit %d flipped: err = %v, want ErrCorrupt", i, bit, err)
			}
		}
	}
}

// checkDecodeRecord is the property of FuzzDecodeRecord: no panic, no
// allocation in proportion to lengths in the input, and a record that
// decodes re-encodes to exactly the bytes it came from.
func checkDecodeRecord(t *testing.T, b []byte) {
	r, n, err := DecodeRecord(b)
	h, herr := DecodeHeader(b)
	if herr == nil {
		// Lengths in a parsed header can claim up to 1 GiB: decode again,
		// measuring. An error message is a few hundred bytes; other
		// goroutines of the fuzzer may allocate a little between the two
		// reads, hence the slack. (Measuring only here keeps the fuzzer
		// fast on the many inputs whose header does not parse.)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, _ = DecodeRecord(b)
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
			t.Fatalf("DecodeRecord of %d bytes (header claims %d) allocated %d bytes", len(b), h.Size(), d)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v is not ErrCorrupt", err)
		}
		if herr == nil && h.Size() <= int64(len(b)) && xxhash.Sum64(b[8:h.Size()]) == h.Checksum {
			t.Fatalf("DecodeRecord failed (%v) on a record whose header and checksum are fine", err)
		}
		return
	}
	if herr != nil {
		t.Fatalf("DecodeRecord accepted what DecodeHeader rejects: %v", herr)
	}
	if n != r.Size() || n > len(b) || int64(n) != h.Size() {
		t.Fatalf("decoded size %d, record size %d, header size %d, input %d", n, r.Size(), h.Size(), len(b))
	}
	if r.Offset == 0 || r.Flags&^knownFlags != 0 || (r.Flags&FlagExpiry == 0 && r.Expiry != 0) {
		t.Fatalf("decoded an invalid record: %+v", r)
	}
	re := AppendRecord(nil, &r)
	if !bytes.Equal(re, b[:n]) {
		t.Fatalf("re-encoding differs:\n in  %x\n out %x", b[:n], re)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	seeds := []Record{
		{Offset: 1, Timestamp: 1, Key: []byte("k"), Value: []byte("v")},
		{Offset: 2},
		{Offset: 3, Flags: FlagTombstone, Key: []byte("deleted")},
		{Offset: 4, Expiry: 77, Flags: FlagExpiry, Key: []byte("ttl"), Value: bytes.Repeat([]byte{0xaa}, 100)},
		{Offset: 1 << 40, Timestamp: -1, Value: []byte("keyless")},
	}
	for i := range seeds {
		b := AppendRecord(nil, &seeds[i])
		f.Add(b)
		f.Add(b[:len(b)-1])
		f.Add(append(bytes.Clone(b), 0, 0, 0))
	}
	f.Add([]byte{})
	f.Add(make([]byte, HeaderSize))
	huge := AppendRecord(nil, &seeds[0])
	binary.LittleEndian.PutUint32(huge[37:], MaxValueLen)
	f.Add(huge)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeRecord(t, b)
	})
}
