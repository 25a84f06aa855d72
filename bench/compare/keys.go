package main

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
)

// Sizes of the workloads. Every store gets the same keys, the same values
// and the same order.
const (
	keySize   = 16  // bytes per key: 16 hex digits
	valueSize = 100 // bytes per value
	scanLen   = 100 // keys per scan
)

// mix is splitmix64's finalizer: a bijection on uint64, so distinct i give
// distinct keys, spread evenly over the key space. Writes therefore land at
// random places in every store's key order, as hashed ids would.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// key writes the i-th key into buf (at least keySize bytes) and returns it.
func key(buf []byte, i int) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], mix(uint64(i)))
	hex.Encode(buf[:keySize], b[:])
	return buf[:keySize]
}

// values is a pool of random (incompressible) values, made once from a fixed
// seed; the i-th key's value is value(i). Stores never modify it.
var values = func() [][]byte {
	rng := rand.New(rand.NewPCG(42, 42))
	vs := make([][]byte, 4096)
	for i := range vs {
		vs[i] = make([]byte, valueSize)
		for j := range vs[i] {
			vs[i][j] = byte(rng.Uint32())
		}
	}
	return vs
}()

// value returns the i-th key's value.
func value(i int) []byte { return values[i%len(values)] }
