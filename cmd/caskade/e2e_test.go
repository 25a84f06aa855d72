package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestRun_Session runs a session of commands against one store, as a user
// would, and checks every output and exit code.
func TestRun_Session(t *testing.T) {
	t.Parallel()
	env := testEnv(t.TempDir())
	cli := func(stdin string, args ...string) result {
		t.Helper()
		return runCLI(t, env, stdin, append([]string{"local"}, args...)...)
	}

	cli("", "put", "app/a", "alpha").want(t, 0, "1\n", "")
	cli("", "put", "app/b", "beta").want(t, 0, "2\n", "")
	cli("bin\x00\xff", "put", "app/c").want(t, 0, "3\n", "") // value from stdin
	cli("", "put", "other", "x\ty").want(t, 0, "4\n", "")
	cli("", "put", "tmp", "soon gone", "--ttl", "1h").want(t, 0, "5\n", "")

	cli("", "get", "app/a").want(t, 0, "alpha", "")
	cli("", "get", "app/c").want(t, 0, "bin\x00\xff", "")
	cli("", "get", "missing").want(t, exitNo, "", "caskade: key not found: missing\n")

	var it jsonItem
	decode(t, cli("", "get", "app/c", "--json"), &it)
	if it.Key != "app/c" || it.Value == nil || it.ValueEncoding != "base64" || it.Offset != 3 || it.Expiry != "" {
		t.Fatalf("get --json: %+v", it)
	}
	if v, _ := base64.StdEncoding.DecodeString(*it.Value); string(v) != "bin\x00\xff" {
		t.Fatalf("get --json value %q", v)
	}
	if ts, err := time.Parse(time.RFC3339Nano, it.Timestamp); err != nil || time.Since(ts) > time.Minute {
		t.Fatalf("get --json timestamp %q: %v", it.Timestamp, err)
	}
	it = jsonItem{}
	decode(t, cli("", "get", "tmp", "--json"), &it)
	if exp, err := time.Parse(time.RFC3339Nano, it.Expiry); err != nil || time.Until(exp) < 59*time.Minute {
		t.Fatalf("get --json of a key with --ttl 1h: expiry %q: %v", it.Expiry, err)
	}

	// Scans: all, prefix, range, pages, keys only.
	cli("", "scan").want(t, 0, "app/a\talpha\napp/b\tbeta\napp/c\t\"bin\\x00\\xff\"\nother\t\"x\\ty\"\ntmp\tsoon gone\n", "")
	cli("", "scan", "--prefix", "app/", "--keys-only").want(t, 0, "app/a\napp/b\napp/c\n", "")
	cli("", "scan", "--start", "app/b", "--end", "tmp", "--keys-only").want(t, 0, "app/b\napp/c\nother\n", "")
	cli("", "scan", "--prefix", "app/", "--limit", "2").want(t, 0, "app/a\talpha\napp/b\tbeta\n", "more keys: continue with --start app/c\n")
	cli("", "scan", "--prefix", "app/", "--limit", "2", "--start", "app/c", "--keys-only").want(t, 0, "app/c\n", "")
	cli("", "scan", "--prefix", "zzz").want(t, 0, "", "")
	var page jsonScan
	decode(t, cli("", "scan", "--prefix", "app/", "--limit", "2", "--json"), &page)
	if len(page.Items) != 2 || page.Items[1].Key != "app/b" || *page.Items[1].Value != "beta" || page.Next == nil || *page.Next != "app/c" {
		t.Fatalf("scan --json: %+v", page)
	}
	page = jsonScan{}
	decode(t, cli("", "scan", "--prefix", "app/", "--keys-only", "--json"), &page)
	if len(page.Items) != 3 || page.Items[0].Value != nil || page.Next != nil {
		t.Fatalf("scan --keys-only --json: %+v", page)
	}

	// Delete.
	cli("", "del", "app/b").want(t, 0, "6\n", "")
	cli("", "del", "app/b").want(t, exitNo, "", "caskade: key not found: app/b\n")
	cli("", "get", "app/b").want(t, exitNo, "", "key not found: app/b")

	// Compare and swap.
	cli("", "cas", "lock", "0", "mine").want(t, 0, "7\n", "")
	cli("", "cas", "lock", "0", "yours").want(t, exitNo, "", "caskade: compare-and-swap failed: key lock exists at offset 7, expected absent (0)\n")
	cli("", "cas", "lock", "3", "yours").want(t, exitNo, "", "caskade: compare-and-swap failed: key lock is at offset 7, expected 3\n")
	cli("", "cas", "nolock", "3", "v").want(t, exitNo, "", "caskade: compare-and-swap failed: key nolock is absent, expected offset 3\n")
	cli("released", "cas", "lock", "7").want(t, 0, "8\n", "")
	cli("", "get", "lock").want(t, 0, "released", "")

	// Produce from arguments and from stdin lines.
	cli("", "produce", "m1", "m2").want(t, 0, "9\n10\n", "")
	cli("line a\n\nline c\r\n", "produce").want(t, 0, "11\n12\n13\n", "")

	// Consume everything, a window, and past the end.
	cli("", "consume").want(t, 0, strings.Join([]string{
		"1\tput\tapp/a\talpha",
		"2\tput\tapp/b\tbeta",
		"3\tput\tapp/c\t\"bin\\x00\\xff\"",
		"4\tput\tother\t\"x\\ty\"",
		"5\tput\ttmp\tsoon gone",
		"6\ttombstone\tapp/b",
		"7\tput\tlock\tmine",
		"8\tput\tlock\treleased",
		"9\tmessage\t\tm1",
		"10\tmessage\t\tm2",
		"11\tmessage\t\tline a",
		"12\tmessage\t\t",
		"13\tmessage\t\tline c",
	}, "\n")+"\n", "")
	cli("", "consume", "--from", "6", "--max", "2").want(t, 0, "6\ttombstone\tapp/b\n7\tput\tlock\tmine\n",
		"more records: continue with --from 8 (high-water mark 14)\n")
	cli("", "consume", "--from", "14").want(t, 0, "", "")
	cli("", "consume", "--from", "15").want(t, exitNo, "", "caskade: --from 15 is past the end of the log (next offset 14)\n")
	var cons jsonConsume
	decode(t, cli("", "consume", "--from", "5", "--max", "2", "--json"), &cons)
	if len(cons.Records) != 2 || cons.Next != 7 || cons.HighWaterMark != 14 {
		t.Fatalf("consume --json: %+v", cons)
	}
	if r := cons.Records[0]; r.Offset != 5 || r.Type != "put" || r.Key != "tmp" || *r.Value != "soon gone" || r.Expiry == "" {
		t.Fatalf("consume --json record: %+v", r)
	}
	if r := cons.Records[1]; r.Type != "tombstone" || r.Key != "app/b" || r.Value != nil {
		t.Fatalf("consume --json tombstone: %+v", r)
	}
	cons = jsonConsume{}
	decode(t, cli("", "consume", "--from", "12", "--json"), &cons)
	if len(cons.Records) != 2 || cons.Records[0].Type != "message" || cons.Records[0].Key != "" || *cons.Records[0].Value != "" || cons.Next != 14 {
		t.Fatalf("consume --json of messages: %+v", cons)
	}

	// Stats.
	st := stats(t, env["CASKADE_DATA_DIR"])
	if st.Keys != 5 || st.NextOffset != 14 || st.Earliest != 1 || st.Segments != 1 || st.DiskBytes == 0 || st.LogBytes == 0 {
		t.Fatalf("stats: %+v", st)
	}
	r := cli("", "stats")
	if r.code != 0 || !strings.Contains(r.stdout, "keys             5\n") || !strings.Contains(r.stdout, "next offset      14\n") {
		t.Fatalf("stats text: %+v", r)
	}
}

// TestRun_EmptyStore checks the commands on a store with no records.
func TestRun_EmptyStore(t *testing.T) {
	t.Parallel()
	env := testEnv(t.TempDir())
	runCLI(t, env, "", "local", "produce").want(t, 0, "", "") // empty stdin: no records, store created
	runCLI(t, env, "", "local", "scan").want(t, 0, "", "")
	runCLI(t, env, "", "local", "consume").want(t, 0, "", "")
	var cons jsonConsume
	decode(t, runCLI(t, env, "", "local", "consume", "--json"), &cons)
	if len(cons.Records) != 0 || cons.Next != 1 || cons.HighWaterMark != 1 {
		t.Fatalf("consume --json of an empty log: %+v", cons)
	}
	if st := stats(t, env["CASKADE_DATA_DIR"]); st.Keys != 0 || st.NextOffset != 1 || st.Earliest != 1 || st.LogBytes != 0 {
		t.Fatalf("stats of an empty store: %+v", st)
	}
}

// TestRun_Demo runs the demo twice on one store with small segments (so
// that segments are sealed and reopening reads hint files).
func TestRun_Demo(t *testing.T) {
	t.Parallel()
	env := testEnv(t.TempDir())
	for run := 1; run <= 2; run++ {
		r := runCLI(t, env, "", "local", "demo", "--keys", "3000")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("demo run %d: exit %d\nstdout:\n%s\nstderr:\n%s", run, r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{
			"3,000 keys of 100 B", "(sync=never)", "3,000 keys verified", "1,000 keys under \"demo/key-00000\" in 10 pages",
			"demo/counter = " + string(rune('0'+run)), "10 messages verified", "reopen", "ok: every check passed",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("demo run %d output lacks %q:\n%s", run, want, r.stdout)
			}
		}
	}
	if st := stats(t, env["CASKADE_DATA_DIR"]); st.Segments < 2 || st.Keys != 3001 {
		t.Fatalf("after two demos: %+v", st)
	}
	// Fewer keys than an earlier run: the scan must not see the old ones.
	r := runCLI(t, env, "", "local", "demo", "--keys", "50", "--sync", "always")
	if r.code != 0 || !strings.Contains(r.stdout, "(sync=always)") || !strings.Contains(r.stdout, "50 keys under") {
		t.Fatalf("demo --keys 50: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRun_Interrupted checks that a cancelled context stops the demo with
// exit code 130 and leaves a store that opens.
func TestRun_Interrupted(t *testing.T) {
	t.Parallel()
	env := testEnv(t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var out, errOut strings.Builder
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := run(ctx, []string{"local", "demo", "--keys", "100"}, strings.NewReader(""), &out, &errOut, lookup)
	if code != exitInterrupted || errOut.String() != "caskade: interrupted: context canceled\n" {
		t.Fatalf("exit %d, stderr %q; want %d", code, errOut.String(), exitInterrupted)
	}
	runCLI(t, env, "", "local", "scan").want(t, 0, "", "")
}

func decode(t *testing.T, r result, v any) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("decode %q: %v", r.stdout, err)
	}
}
