package main

import (
	"fmt"
	"testing"
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
