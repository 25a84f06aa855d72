package replication

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
)

// commandVersion starts every command (the Data of a Raft LogCommand
// entry). It must never change meaning: a new layout gets a new version.
const commandVersion = 1

// minOpBytes is the smallest encoding of one op: kind, then five
// one-byte varints (key length, value length, expected, timestamp,
// expiry).
const minOpBytes = 6

// EncodeCommand appends the encoding of a batch of ops to dst and returns
// it. The layout (must never change for version 1), all varints unsigned
// LEB128 in their shortest form:
//
//	version  1 byte, 1
//	count    varint, >= 1
//	count ×  kind       1 byte, an engine.OpKind
//	         keylen     varint, then keylen bytes of key
//	         valuelen   varint, then valuelen bytes of value
//	         expected   varint (0 unless kind is OpCAS)
//	         timestamp  varint, <= math.MaxInt64
//	         expiry     varint, <= math.MaxInt64
//
// Nothing may follow the last op.
func EncodeCommand(dst []byte, ops []engine.Op) []byte {
	dst = append(dst, commandVersion)
	dst = binary.AppendUvarint(dst, uint64(len(ops)))
	for i := range ops {
		op := &ops[i]
		dst = append(dst, byte(op.Kind))
		dst = binary.AppendUvarint(dst, uint64(len(op.Key)))
		dst = append(dst, op.Key...)
		dst = binary.AppendUvarint(dst, uint64(len(op.Value)))
		dst = append(dst, op.Value...)
		dst = binary.AppendUvarint(dst, op.Expected)
		dst = binary.AppendUvarint(dst, uint64(op.Timestamp))
		dst = binary.AppendUvarint(dst, uint64(op.Expiry))
	}
	return dst
}

// DecodeCommand decodes a command made by EncodeCommand. Keys and values
// alias b. Anything that is not exactly such an encoding (another version,
// an unknown kind, a length past the end, a varint not in its shortest
// form, trailing bytes, a negative time) is an error wrapping
// segment.ErrCorrupt. It allocates no more than len(b) ops.
func DecodeCommand(b []byte) ([]engine.Op, error) {
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != commandVersion {
		return nil, fmt.Errorf("%w: command version %d", segment.ErrCorrupt, v)
	}
	n := d.uvarint()
	if d.err != nil {
		return nil, d.err
	}
	if n == 0 || n > uint64(len(d.b))/minOpBytes {
		return nil, fmt.Errorf("%w: command of %d ops in %d bytes", segment.ErrCorrupt, n, len(b))
	}
	ops := make([]engine.Op, n)
	for i := range ops {
		op := &ops[i]
		op.Kind = engine.OpKind(d.byte())
		if d.err == nil && (op.Kind < engine.OpPut || op.Kind > engine.OpProduce) {
			return nil, fmt.Errorf("%w: op %d: unknown kind %d", segment.ErrCorrupt, i, op.Kind)
		}
		op.Key = d.bytes()
		op.Value = d.bytes()
		op.Expected = d.uvarint()
		op.Timestamp = d.int64()
		op.Expiry = d.int64()
		if d.err != nil {
			return nil, fmt.Errorf("op %d: %w", i, d.err)
		}
		if op.Expected != 0 && op.Kind != engine.OpCAS {
			return nil, fmt.Errorf("%w: op %d: expected offset on a %v op", segment.ErrCorrupt, i, op.Kind)
		}
		if len(op.Key) == 0 {
			op.Key = nil
		}
		if len(op.Value) == 0 {
			op.Value = nil
		}
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last op", segment.ErrCorrupt, len(d.b))
	}
	return ops, nil
}

// decoder reads a command; the first error sticks and later reads return
// zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = fmt.Errorf("%w: command ends early", segment.ErrCorrupt)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	switch {
	case n == 0:
		d.err = fmt.Errorf("%w: command ends inside a varint", segment.ErrCorrupt)
		return 0
	case n < 0:
		d.err = fmt.Errorf("%w: varint overflows 64 bits", segment.ErrCorrupt)
		return 0
	case n != varintLen(v):
		d.err = fmt.Errorf("%w: varint not in its shortest form", segment.ErrCorrupt)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int64() int64 {
	v := d.uvarint()
	if d.err == nil && v > math.MaxInt64 {
		d.err = fmt.Errorf("%w: time %d past int64", segment.ErrCorrupt, v)
		return 0
	}
	return int64(v)
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: length %d past the end (%d bytes left)", segment.ErrCorrupt, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

// varintLen is the length of v's shortest uvarint encoding.
func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
