package main

import (
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

var bboltBucket = []byte("kv")

// bbolt runs with bolt.DefaultOptions, one bucket, one Update transaction
// per put. No-fsync workloads set NoSync=true (commits are written but not
// fsynced); durable ones keep the default (fsync per commit). bbolt admits
// one writing transaction at a time, so concurrent writers queue. Its
// DB.Batch, which coalesces concurrent writers into one commit, is not used:
// every store here commits each put on its own. bbolt has no compaction:
// the compact workload's compaction is a no-op.
var bboltBackend = backend{
	name:     "bbolt",
	module:   "go.etcd.io/bbolt",
	settings: "DefaultOptions, one Update txn per put; NoSync=true, durable: default (fsync per commit, writers serialize, no DB.Batch); compact: none (no-op, free pages are reused in place)",
	open: func(dir string, durable bool) (store, error) {
		o := *bolt.DefaultOptions
		o.NoSync = !durable
		db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &o)
		if err != nil {
			return nil, err
		}
		err = db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(bboltBucket)
			return err
		})
		if err != nil {
			db.Close()
			return nil, err
		}
		return &bboltStore{db: db}, nil
	},
}

type bboltStore struct{ db *bolt.DB }

func (s *bboltStore) put(k, v []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bboltBucket).Put(k, v) })
}

// get copies the value out: bbolt's slice is valid only inside the
// transaction.
func (s *bboltStore) get(k, buf []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bboltBucket).Get(k)
		if v == nil {
			return errNotFound
		}
		out = append(buf[:0], v...)
		return nil
	})
	return out, err
}

func (s *bboltStore) scan(start []byte, n int, buf []byte) (int, error) {
	read := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bboltBucket).Cursor()
		for k, v := c.Seek(start); k != nil && read < n; k, v = c.Next() {
			buf = append(buf[:0], v...)
			read++
		}
		return nil
	})
	return read, err
}

// load writes 10,000 keys per transaction.
func (s *bboltStore) load(n, gen int) error {
	const batch = 10_000
	kb := make([]byte, keySize)
	for lo := 0; lo < n; lo += batch {
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bboltBucket)
			for i := lo; i < min(lo+batch, n); i++ {
				if err := b.Put(key(kb, i), value(i+gen)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return s.db.Sync()
}

func (s *bboltStore) settle() error { return nil }

// compact does nothing: bbolt has no compaction in place. An overwrite
// frees the old pages, later commits reuse them, and the file never
// shrinks. (bbolt.Compact copies the data into a new file, which is an
// offline rewrite, not what the other stores do.)
func (s *bboltStore) compact() error { return nil }

func (s *bboltStore) close() error { return s.db.Close() }
