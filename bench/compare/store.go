package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

// store is one engine under test, open on a directory of its own. All
// methods are safe for concurrent use.
type store interface {
	// put writes one key as one commit (one transaction or one batch), with
	// the durability the store was opened with.
	put(key, value []byte) error
	// get returns key's value, copied into buf's memory when the store
	// lends it only until the next call (the caller owns the result).
	get(key, buf []byte) ([]byte, error)
	// scan reads up to n consecutive keys from start (inclusive) in key
	// order, copying each value out, and returns how many it read.
	scan(start []byte, n int, buf []byte) (int, error)
	// load writes keys 0..n-1 in large batches, key i with value(i+gen):
	// gen 0 for the first load, 1 and 2 for the compact workload's
	// overwrites. Not timed.
	load(n, gen int) error
	// settle brings a freshly loaded and reopened store to a steady state
	// for reads (LSM trees flush and compact). Not timed.
	settle() error
	// compact runs the store's full compaction and returns when it is
	// done: what the store's API offers to reclaim the space of
	// overwritten values now (nothing for bbolt, which has no compaction).
	compact() error
	close() error
}

// backend opens stores of one kind.
type backend struct {
	name   string
	module string // Go module, for the version in the report
	// settings are printed in the report's header: what the store runs
	// with, in both durability modes.
	settings string
	// open opens (or creates) a store in dir. durable selects fsync per
	// commit; otherwise commits are not fsynced.
	open func(dir string, durable bool) (store, error)
	// openCompact, when set, opens the compact workload's store in dir
	// instead of open(dir, false); settings should say how it differs.
	openCompact func(dir string) (store, error)
}

// backends run in this order; caskade first, as the ratios' base.
var backends = []backend{caskadeBackend, bboltBackend, pebbleBackend, badgerBackend}

// version returns the version of mod this binary was built with.
func version(mod string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	for _, d := range bi.Deps {
		if d.Path == mod {
			if d.Replace != nil {
				return "local (" + d.Replace.Path + ")"
			}
			return d.Version
		}
	}
	return "?"
}

// selectBackends returns the backends named in the comma-separated list
// (all for "").
func selectBackends(list string) ([]backend, error) {
	if list == "" {
		return backends, nil
	}
	var out []backend
	for name := range strings.SplitSeq(list, ",") {
		found := false
		for _, be := range backends {
			if be.name == strings.TrimSpace(name) {
				out = append(out, be)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown store %q", name)
		}
	}
	return out, nil
}

// dataset is a store preloaded with keys 0..n-1, shared by the read
// workloads (get, scan, reopen).
type dataset struct {
	be  backend
	dir string
	s   store // nil after a failed reopen
}

// loadDataset makes a store in a temp dir under root, loads n keys, closes
// and reopens it (so every store starts from its on-disk state) and lets it
// settle.
func loadDataset(be backend, root string, n int) (*dataset, error) {
	dir, err := os.MkdirTemp(root, "compare-"+be.name+"-")
	if err != nil {
		return nil, err
	}
	d := &dataset{be: be, dir: dir}
	if d.s, err = be.open(dir, false); err != nil {
		d.close()
		return nil, fmt.Errorf("%s: open: %w", be.name, err)
	}
	if err := d.s.load(n, 0); err != nil {
		d.close()
		return nil, fmt.Errorf("%s: load: %w", be.name, err)
	}
	if err := d.reopen(); err != nil {
		d.close()
		return nil, err
	}
	if err := d.s.settle(); err != nil {
		d.close()
		return nil, fmt.Errorf("%s: settle: %w", be.name, err)
	}
	return d, nil
}

// reopen closes the store and opens it again.
func (d *dataset) reopen() error {
	err := d.s.close()
	d.s = nil
	if err != nil {
		return fmt.Errorf("%s: close: %w", d.be.name, err)
	}
	if d.s, err = d.be.open(d.dir, false); err != nil {
		return fmt.Errorf("%s: reopen: %w", d.be.name, err)
	}
	return nil
}

// close closes the store and removes its directory.
func (d *dataset) close() error {
	var err error
	if d.s != nil {
		err = d.s.close()
		d.s = nil
	}
	if rerr := os.RemoveAll(d.dir); err == nil {
		err = rerr
	}
	return err
}

// quietDirBytes waits until the allocated bytes under dir stop changing
// (two equal readings 100 ms apart; at most 5 s), so that files a store
// deletes in the background after a compaction (pebble's obsolete tables)
// are gone, and returns the last reading of dirBytes.
func quietDirBytes(dir string) (alloc, apparent int64, err error) {
	if alloc, apparent, err = dirBytes(dir); err != nil {
		return 0, 0, err
	}
	for range 50 {
		time.Sleep(100 * time.Millisecond)
		prev := alloc
		if alloc, apparent, err = dirBytes(dir); err != nil || alloc == prev {
			return alloc, apparent, err
		}
	}
	return alloc, apparent, nil
}

// dirBytes returns the bytes allocated on disk to the regular files under
// dir (see allocated), and the sum of their apparent sizes (what ls shows).
func dirBytes(dir string) (alloc, apparent int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.Type().IsRegular() {
			return nil
		}
		var fi fs.FileInfo
		if err == nil {
			fi, err = d.Info()
		}
		if errors.Is(err, fs.ErrNotExist) && path != dir {
			return nil // removed by the store meanwhile
		}
		if err != nil {
			return err
		}
		alloc += allocated(fi)
		apparent += fi.Size()
		return nil
	})
	return alloc, apparent, err
}
