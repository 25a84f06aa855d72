// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"testing"

	"github.com/caskade/caskade/engine"
)

// OpenDB opens a DB in a fresh temporary directory and closes it when the
// test ends. nil opts means defaults.
func OpenDB(t testing.TB, opts *engine.Options) *engine.DB {
	t.Helper()
	return OpenDBAt(t, t.TempDir(), opts)
}

// OpenDBAt opens the DB in dir and closes it when the test ends (a DB the
// test closed itself is fine).
func OpenDBAt(t testing.TB, dir string, opts *engine.Options) *engine.DB {
	t.Helper()
	db, err := engine.Open(dir, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
