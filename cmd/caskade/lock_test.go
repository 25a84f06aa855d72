package main

import (
	"testing"

	"github.com/caskade/caskade/engine"
)

func TestRun_StoreInUse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := testEnv(dir)
	runCLI(t, env, "", "local", "put", "k", "v").want(t, 0, "1\n", "")
	db, err := engine.Open(dir, nil) // holds the directory lock
	if err != nil {
		t.Fatal(err)
	}
	runCLI(t, env, "", "local", "get", "k").want(t, exitFailure, "", "store is in use by another process")
	runCLI(t, env, "", "local", "put", "k", "w").want(t, exitFailure, "", "store is in use by another process")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	runCLI(t, env, "", "local", "get", "k").want(t, 0, "v", "")
}
