package main

import (
	"context"

	"github.com/caskade/caskade/engine"
)

// compactSegmentBytes is caskade's segment size in the compact workload.
// Compact never merges the active segment, and the engine has no call to
// seal it: with the default 64 MiB, a quick run's whole log (3 × 100k
// records, 47 MB) would stay in the active segment and nothing would be
// compacted. 16 MiB segments leave at most 16 MiB unmerged (and
// preallocated) at any key count.
const compactSegmentBytes = 16 << 20

// caskade runs with its defaults (64 MiB segments) except Sync: SyncNever
// for the no-fsync workloads, SyncAlways (fsync before each Put returns;
// concurrent writers share one fsync) for the durable ones. The compact
// workload uses SyncNever and compactSegmentBytes.
var caskadeBackend = backend{
	name:     "caskade",
	module:   "github.com/caskade/caskade",
	settings: "engine defaults (64 MiB segments); Sync=never, durable: Sync=always (group commit); Get/Scan return copies; compact: 16 MiB segments, DB.Compact (never merges the active segment)",
	open: func(dir string, durable bool) (store, error) {
		o := &engine.Options{Sync: engine.SyncNever}
		if durable {
			o.Sync = engine.SyncAlways
		}
		return openCaskade(dir, o)
	},
	openCompact: func(dir string) (store, error) {
		return openCaskade(dir, &engine.Options{Sync: engine.SyncNever, SegmentBytes: compactSegmentBytes})
	},
}

// openCaskade opens a caskade store in dir with o.
func openCaskade(dir string, o *engine.Options) (store, error) {
	db, err := engine.Open(dir, o)
	if err != nil {
		return nil, err
	}
	return &caskadeStore{db: db}, nil
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
func (s *caskadeStore) load(n, gen int) error {
	kb := make([]byte, keySize)
	for i := range n {
		if _, err := s.db.Put(key(kb, i), value(i+gen)); err != nil {
			return err
		}
	}
	return s.db.Sync()
}

func (s *caskadeStore) settle() error { return nil }

// compact merges every sealed segment with dead bytes (DB.Compact); the
// active segment stays as it is.
func (s *caskadeStore) compact() error {
	_, err := s.db.Compact(context.Background())
	return err
}

func (s *caskadeStore) close() error { return s.db.Close() }
