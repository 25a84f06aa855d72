package segment

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleManifest is a valid manifest of two segments.
func sampleManifest() *Manifest {
	keys := uint64(12)
	return &Manifest{
		Format: SnapshotFormat, Version: SnapshotVersion,
		Created:  time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
		Earliest: 1, Next: 120, Keys: &keys,
		Files: []ManifestFile{
			{Name: "00000000000000000001.log", Bytes: 4096, XXHash64: "0123456789abcdef"},
			{Name: "00000000000000000001.idx", Bytes: 1600, XXHash64: "1123456789abcdef"},
			{Name: "00000000000000000001.hint", Bytes: 300, XXHash64: "2123456789abcdef"},
			{Name: "00000000000000000101.log", Bytes: 700, XXHash64: "3123456789abcdef"},
			{Name: "00000000000000000101.idx", Bytes: 304, XXHash64: "4123456789abcdef"},
		},
	}
}

func encodeManifest(t testing.TB, m *Manifest) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestManifest_RoundTrip(t *testing.T) {
	for _, keys := range []bool{true, false} {
		m := sampleManifest()
		if !keys {
			m.Keys = nil
		}
		b := encodeManifest(t, m)
		got, err := DecodeManifest(b)
		if err != nil {
			t.Fatalf("keys %v: %v\n%s", keys, err, b)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("keys %v: decoded %+v, want %+v", keys, got, m)
		}
		if keys != bytes.Contains(b, []byte(`"keys"`)) {
			t.Fatalf("keys %v: %s", keys, b)
		}
	}
}

// TestDecodeManifest_Invalid: each change to a valid manifest is refused
// with ErrCorrupt and a message that says what is wrong. Changes are
// made to the decoded JSON and the checksum recomputed, so that the
// checks behind the checksum are what refuses them.
func TestDecodeManifest_Invalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *Manifest)
		raw    func(b []byte) []byte // applied after encoding, when set
		want   string
	}{
		{name: "not JSON", raw: func([]byte) []byte { return []byte("MANIFEST") }, want: "not JSON"},
		{name: "other format", change: func(m *Manifest) { m.Format = "tarball" }, want: `format "tarball"`},
		{name: "newer version", change: func(m *Manifest) { m.Version = 2 }, want: "version 2; this caskade reads version 1"},
		{name: "unknown field", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"version": 1,`), []byte(`"version": 1, "extra": true,`), 1)
		}, want: `unknown field "extra"`},
		{name: "trailing data", raw: func(b []byte) []byte { return append(b, "{}"...) }, want: "not JSON"},
		{name: "no files", change: func(m *Manifest) { m.Files = nil }, want: "no files"},
		{name: "no creation time", change: func(m *Manifest) { m.Created = time.Time{} }, want: "no creation time"},
		{name: "creation time not UTC", change: func(m *Manifest) { m.Created = m.Created.In(time.FixedZone("X", 3600)) }, want: "whole seconds UTC"},
		{name: "bad file name", change: func(m *Manifest) { m.Files[0].Name = "../etc/passwd" }, want: "not a segment file"},
		{name: "file twice", change: func(m *Manifest) { m.Files[2] = m.Files[1] }, want: "listed twice"},
		{name: "negative size", change: func(m *Manifest) { m.Files[0].Bytes = -1 }, want: "size -1"},
		{name: "huge size", change: func(m *Manifest) { m.Files[0].Bytes = 1 << 40 }, want: "outside"},
		{name: "bad hash", change: func(m *Manifest) { m.Files[0].XXHash64 = "0123456789ABCDEF" }, want: "16 lowercase hex"},
		{name: "log without index", change: func(m *Manifest) { m.Files = m.Files[:4] }, want: "segment 101 has a .log but no .idx"},
		{name: "index without log", change: func(m *Manifest) { m.Files = append(m.Files[:3], m.Files[4]) }, want: "segment 101 has an .idx but no .log"},
		{name: "earliest not the first segment", change: func(m *Manifest) { m.Earliest = 2 }, want: "earliest offset 2, but the first segment is 1"},
		{name: "next below the last segment", change: func(m *Manifest) { m.Next = 100 }, want: "next offset 100 below the last segment's base 101"},
		{name: "next below earliest", change: func(m *Manifest) { m.Earliest, m.Next = 5, 4 }, want: "below the earliest"},
		{name: "checksum", raw: func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"keys": 12`), []byte(`"keys": 13`), 1)
		}, want: "the manifest is damaged"},
		{name: "too large", raw: func(b []byte) []byte { return append(b, make([]byte, maxManifestBytes)...) }, want: "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleManifest()
			var b []byte
			if tt.change != nil {
				tt.change(m)
				// Encode refuses what validate refuses: write the JSON
				// with a correct checksum by hand.
				sum, err := m.checksum()
				if err != nil {
					t.Fatal(err)
				}
				m.Checksum = sum
				if b, err = json.Marshal(m); err != nil {
					t.Fatal(err)
				}
				if _, err := m.Encode(); !errors.Is(err, ErrCorrupt) {
					t.Errorf("Encode accepted it: %v", err)
				}
			} else {
				b = encodeManifest(t, m)
			}
			if tt.raw != nil {
				b = tt.raw(b)
			}
			_, err := DecodeManifest(b)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrCorrupt mentioning %q", err, tt.want)
			}
		})
	}
}

// FuzzDecodeManifest: DecodeManifest never panics, and what it accepts
// encodes back to a manifest it accepts and decodes equal.
func FuzzDecodeManifest(f *testing.F) {
	f.Add(encodeManifest(f, sampleManifest()))
	noKeys := sampleManifest()
	noKeys.Keys = nil
	f.Add(encodeManifest(f, noKeys))
	f.Add([]byte(`{"format":"caskade-snapshot","version":1}`))
	f.Add([]byte(`{"format":"caskade-snapshot","version":1,"files":[{"name":"00000000000000000001.log","bytes":-5}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		again, err := DecodeManifest(encodeManifest(t, m))
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip changed the manifest: %+v, %+v", again, m)
		}
	})
}
