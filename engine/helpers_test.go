package engine_test

import (
	"fmt"
	"os"
	"testing"
)

func mkdirTemp(root string) (string, error) { return os.MkdirTemp(root, "db-") }

// runWithTempRoot gives rapid-driven tests (which have no t.TempDir) one
// root directory, removed after all tests, and runs cleanup after them.
func runWithTempRoot(m *testing.M, cleanup func()) {
	root, err := os.MkdirTemp("", "caskade-engine-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tempRoot = root
	code := m.Run()
	cleanup()
	os.RemoveAll(root)
	os.Exit(code)
}
