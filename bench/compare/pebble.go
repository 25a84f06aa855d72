package main

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/cockroachdb/pebble/v2"
)

// pebble runs with its defaults (pebble.Options{} with EnsureDefaults)
// except FormatMajorVersion=FormatNewest, the format a new store should use,
// and a logger that drops info lines. Puts are db.Set with pebble.NoSync
// (written to the WAL, not fsynced) or pebble.Sync (fsync; concurrent
// writers share WAL syncs). After loading, the read dataset is flushed and
// fully compacted: pebble's best layout for reads. The compact workload's
// compaction is the same flush and full Compact.
var pebbleBackend = backend{
	name:     "pebble",
	module:   "github.com/cockroachdb/pebble/v2",
	settings: "default Options, FormatNewest; Set(pebble.NoSync), durable: Set(pebble.Sync); read dataset flushed and fully compacted; compact: Flush + Compact(all keys, parallel)",
	open: func(dir string, durable bool) (store, error) {
		db, err := pebble.Open(dir, &pebble.Options{
			FormatMajorVersion: pebble.FormatNewest,
			Logger:             quietLogger{},
		})
		if err != nil {
			return nil, err
		}
		wo := pebble.NoSync
		if durable {
			wo = pebble.Sync
		}
		return &pebbleStore{db: db, wo: wo}, nil
	},
}

type pebbleStore struct {
	db *pebble.DB
	wo *pebble.WriteOptions
}

func (s *pebbleStore) put(k, v []byte) error { return s.db.Set(k, v, s.wo) }

// get copies the value out: pebble lends it until the closer is closed.
func (s *pebbleStore) get(k, buf []byte) ([]byte, error) {
	v, closer, err := s.db.Get(k)
	if err != nil {
		return nil, err
	}
	out := append(buf[:0], v...)
	return out, closer.Close()
}

func (s *pebbleStore) scan(start []byte, n int, buf []byte) (int, error) {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	read := 0
	for ok := it.SeekGE(start); ok && read < n; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return read, err
		}
		buf = append(buf[:0], v...)
		read++
	}
	if err := it.Close(); err != nil {
		return read, err
	}
	return read, nil
}

// load writes 1,000 keys per batch.
func (s *pebbleStore) load(n, gen int) error {
	const batch = 1000
	kb := make([]byte, keySize) // Batch.Set copies
	for lo := 0; lo < n; lo += batch {
		b := s.db.NewBatch()
		for i := lo; i < min(lo+batch, n); i++ {
			if err := b.Set(key(kb, i), value(i+gen), nil); err != nil {
				b.Close()
				return err
			}
		}
		err := b.Commit(pebble.NoSync)
		b.Close()
		if err != nil {
			return err
		}
	}
	return s.db.Flush()
}

// settle compacts the freshly loaded store: see compact.
func (s *pebbleStore) settle() error { return s.compact() }

// compact flushes the memtable and compacts the whole key space (all keys
// are hex digits, so [0x00, 0xff) covers them), in parallel.
func (s *pebbleStore) compact() error {
	if err := s.db.Flush(); err != nil {
		return err
	}
	return s.db.Compact(context.Background(), []byte{0x00}, []byte{0xff}, true)
}

func (s *pebbleStore) close() error { return s.db.Close() }

// quietLogger drops pebble's info lines and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) { log.Fatalf("pebble: "+format, args...) }
