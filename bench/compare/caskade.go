package main

import (
	"github.com/caskade/caskade/engine"
)

// caskade runs with its defaults (64 MiB segments) except Sync: SyncNever
// for the no-fsync workloads, SyncAlways (fsync before each Put returns;
// concurrent writers share one fsync) for the durable ones.
var caskadeBackend = backend{
	name:     "caskade",
	module:   "github.com/caskade/caskade",
	settings: "engine defaults (64 MiB segments); Sync=never, durable: Sync=always (group commit); Get/Scan return copies",
	open: func(dir string, durable bool) (store, error) {
		o := &engine.Options{Sync: engine.SyncNever}
		if durable {
			o.Sync = engine.SyncAlways
		}
		db, err := engine.Open(dir, o)
		if err != nil {
			return nil, err
		}
		return &caskadeStore{db: db}, nil
	},
}

type caskadeStore struct{ db *engine.DB }

func (s *caskadeStore) put(k, v []byte) error {
	_, err := s.db.Put(k, v)
	return err
}

// get returns the copy engine.Get makes; buf is not needed.
func (s *caskadeStore) get(k, _ []byte) ([]byte, error) {
	it, err := s.db.Get(k)
	return it.Value, err
}

func (s *caskadeStore) scan(start []byte, n int, _ []byte) (int, error) {
	res, err := s.db.Scan(engine.ScanOptions{Start: start, Limit: n})
	return len(res.Items), err
}

// load has no batch API to use: plain Puts under SyncNever.
func (s *caskadeStore) load(n int) error {
	kb := make([]byte, keySize)
	for i := range n {
		if _, err := s.db.Put(key(kb, i), value(i)); err != nil {
			return err
		}
	}
	return s.db.Sync()
}

func (s *caskadeStore) settle() error { return nil }
func (s *caskadeStore) close() error  { return s.db.Close() }
