package main

import (
	"errors"

	"github.com/dgraph-io/badger/v4"
)

// badger runs with badger.DefaultOptions (values below 1 MiB stay in the
// LSM tree, Snappy block compression, 256 MiB block cache) and no logger.
// Puts are one db.Update transaction each, with SyncWrites=false or, for
// durable puts, SyncWrites=true (badger's write goroutine batches
// concurrent commits into one fsync). Scans iterate with PrefetchValues
// off: values live in the tree, so prefetching only adds goroutines. After
// loading, the read dataset is flattened into one level. The compact
// workload's compaction is Flatten followed by value-log GC.
var badgerBackend = backend{
	name:     "badger",
	module:   "github.com/dgraph-io/badger/v4",
	settings: "DefaultOptions, no logger, one Update txn per put; SyncWrites=false, durable: SyncWrites=true; scans without value prefetch; read dataset flattened; compact: Flatten(2), then RunValueLogGC(0.5) until ErrNoRewrite",
	open: func(dir string, durable bool) (store, error) {
		db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithSyncWrites(durable))
		if err != nil {
			return nil, err
		}
		return &badgerStore{db: db}, nil
	},
}

type badgerStore struct{ db *badger.DB }

func (s *badgerStore) put(k, v []byte) error {
	return s.db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) })
}

// get copies the value out: badger lends it only inside the transaction.
func (s *badgerStore) get(k, buf []byte) ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(buf[:0])
		return err
	})
	return out, err
}

func (s *badgerStore) scan(start []byte, n int, buf []byte) (int, error) {
	read := 0
	err := s.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Seek(start); it.Valid() && read < n; it.Next() {
			var err error
			if buf, err = it.Item().ValueCopy(buf[:0]); err != nil {
				return err
			}
			read++
		}
		return nil
	})
	return read, err
}

// load writes through a WriteBatch, which keeps the slices it is given
// until it flushes, so every key gets its own.
func (s *badgerStore) load(n, gen int) error {
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for i := range n {
		if err := wb.Set(key(make([]byte, keySize), i), value(i+gen)); err != nil {
			return err
		}
	}
	return wb.Flush()
}

// settle compacts every level into one.
func (s *badgerStore) settle() error { return s.db.Flatten(2) }

// compact flattens the LSM tree into one level, dropping overwritten
// versions, then rewrites value-log files until none has half its bytes
// dead (values under 1 MiB live in the tree, so there is usually none).
// The memtable is not flushed: badger has no call for it.
func (s *badgerStore) compact() error {
	if err := s.db.Flatten(2); err != nil {
		return err
	}
	for {
		err := s.db.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (s *badgerStore) close() error { return s.db.Close() }
