package keydir

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// TestPrefix_Order checks what the searches rely on: a smaller head prefix,
// or a smaller abbrev after a shared prefix, means a smaller key.
func TestPrefix_Order(t *testing.T) {
	bytesGen := rapid.SliceOfN(rapid.SampledFrom([]byte{0x00, 0x01, 0x7f, 0xff}), 0, 12)
	rapid.Check(t, func(t *rapid.T) {
		common := bytesGen.Draw(t, "common")
		a := append(bytes.Clone(common), bytesGen.Draw(t, "a")...)
		b := append(bytes.Clone(common), bytesGen.Draw(t, "b")...)
		cmp := bytes.Compare(a, b)
		if pa, pb := prefix(a), prefix(b); pa < pb && cmp >= 0 || pa > pb && cmp <= 0 {
			t.Fatalf("prefix order %#x vs %#x contradicts key order %d", pa, pb, cmp)
		}
		c := rapid.IntRange(0, len(common)).Draw(t, "c")
		if xa, xb := abbrev(a, c), abbrev(b, c); xa < xb && cmp >= 0 || xa > xb && cmp <= 0 {
			t.Fatalf("abbrev order %#x vs %#x after %d bytes contradicts key order %d", xa, xb, c, cmp)
		}
		if n := lcp(a, b); n < len(common) || (n < min(len(a), len(b)) && a[n] == b[n]) {
			t.Fatalf("lcp(%q, %q) = %d", a, b, n)
		}
	})
}
