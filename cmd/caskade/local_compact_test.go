package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/caskade/caskade/engine"
)

func TestRun_LocalCompact(t *testing.T) {
	t.Parallel()
	env := testEnv(t.TempDir())
	cli := func(args ...string) result {
		t.Helper()
		return runCLI(t, env, "", append([]string{"local", "--segment-bytes", "4KiB", "--tombstone-retention", "1ns"}, args...)...)
	}
	for i := range 60 {
		cli("put", fmt.Sprintf("k%d", i%5), fmt.Sprintf("value-%d-%0100d", i, 0)).want(t, 0, fmt.Sprintf("%d\n", i+1), "")
	}
	var rep compactReport
	decode(t, cli("compact", "--json"), &rep)
	if rep.Merges == 0 || rep.Reclaimed <= 0 || rep.BytesAfter >= rep.BytesBefore {
		t.Fatalf("compact --json: %+v", rep)
	}
	for i := 55; i < 60; i++ {
		cli("get", fmt.Sprintf("k%d", i%5)).want(t, 0, fmt.Sprintf("value-%d-%0100d", i, 0), "")
	}
	// Nothing left to merge the second time.
	decode(t, cli("compact", "--json"), &rep)
	if rep.Merges != 0 {
		t.Fatalf("second compact merged again: %+v", rep)
	}
	// Bad flags name themselves and change nothing.
	runCLI(t, env, "", "local", "--compaction-window", "25-3", "compact").want(t, exitUsage, "", "--compaction-window")
	runCLI(t, env, "", "local", "--retention", "-1h", "compact").want(t, exitUsage, "", "--retention")
}

func TestRun_LocalRestore(t *testing.T) {
	t.Parallel()
	env := testEnv(t.TempDir())
	runCLI(t, env, "", "local", "put", "k", "v").want(t, 0, "1\n", "")
	// A snapshot as the server writes it: the engine's Backup.
	dir := env["CASKADE_DATA_DIR"]
	snap := filepath.Join(t.TempDir(), "snap.tar")
	writeBackup(t, dir, snap)
	restored := filepath.Join(t.TempDir(), "restored")
	runCLI(t, env, "", "local", "--data-dir", restored, "restore", snap).want(t, 0, "restored "+snap+" into "+restored+": earliest offset 1, next offset 2, 1 key, 2 files\n", "")
	runCLI(t, env, "", "local", "--data-dir", restored, "get", "k").want(t, 0, "v", "")
	// Not over an existing store; not from garbage.
	runCLI(t, env, "", "local", "--data-dir", restored, "restore", snap).want(t, exitUsage, "", "not empty")
	runCLI(t, env, "garbage", "local", "--data-dir", filepath.Join(t.TempDir(), "x"), "restore", "-").want(t, exitFailure, "", "- is not a valid snapshot")
	runCLI(t, env, "", "local", "--data-dir", filepath.Join(t.TempDir(), "y"), "restore", "/nonexistent").want(t, exitUsage, "", "nonexistent")
}

func writeBackup(t *testing.T, dir, path string) {
	t.Helper()
	db, err := engine.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := db.Backup(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}
