package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestRun_BadInput checks that bad flags, arguments and variables give
// exit code 2, a one-line message naming the culprit, and no write.
func TestRun_BadInput(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		err   string // part of the message
	}{
		{name: "unknown sync flag", args: []string{"local", "--sync", "often", "put", "k", "v"}, err: `"--sync" flag: unknown sync mode "often"`},
		{name: "unknown sync env", env: map[string]string{"CASKADE_SYNC": "often"}, args: []string{"local", "put", "k", "v"}, err: `$CASKADE_SYNC="often"`},
		{name: "segment bytes too small", args: []string{"local", "--segment-bytes", "100", "put", "k", "v"}, err: `"--segment-bytes" flag: 100 is outside [4KiB, 1GiB]`},
		{name: "max key size zero from env", env: map[string]string{"CASKADE_MAX_KEY_SIZE": "0"}, args: []string{"local", "put", "k", "v"}, err: "$CASKADE_MAX_KEY_SIZE"},
		{name: "max value size negative", args: []string{"local", "--max-value-size=-1", "put", "k", "v"}, err: `"--max-value-size" flag`},
		{name: "empty data dir", args: []string{"local", "--data-dir", "", "put", "k", "v"}, err: "--data-dir is empty"},
		{name: "empty key put", args: []string{"local", "put", "", "v"}, err: "argument KEY is empty"},
		{name: "empty key get", args: []string{"local", "get", ""}, err: "argument KEY is empty"},
		{name: "empty key del", args: []string{"local", "del", ""}, err: "argument KEY is empty"},
		{name: "key over limit", args: []string{"local", "--max-key-size", "2", "put", "abc", "v"}, err: "argument KEY: "},
		{name: "key over limit cas", args: []string{"local", "--max-key-size", "2", "cas", "abc", "0", "v"}, err: "argument KEY: "},
		{name: "value over limit", args: []string{"local", "--max-value-size", "2", "put", "k", "abc"}, err: "argument VALUE: 3 bytes, over --max-value-size 2"},
		{name: "stdin value over limit", stdin: "abcdef", args: []string{"local", "--max-value-size", "2", "put", "k"}, err: "VALUE on stdin: over --max-value-size 2"},
		{name: "cas value over limit", args: []string{"local", "--max-value-size", "2", "cas", "k", "1", "abc"}, err: "argument VALUE"},
		{name: "cas offset not a number", args: []string{"local", "cas", "k", "one", "v"}, err: `argument EXPECTED_OFFSET: "one" is not an offset`},
		{name: "cas offset missing", args: []string{"local", "cas", "k"}, err: "missing argument EXPECTED_OFFSET"},
		{name: "put key missing", args: []string{"local", "put"}, err: "missing argument KEY"},
		{name: "put extra argument", args: []string{"local", "put", "k", "v", "w"}, err: `unexpected argument "w"`},
		{name: "get extra argument", args: []string{"local", "get", "k", "v"}, err: `unexpected argument "v"`},
		{name: "negative ttl", args: []string{"local", "put", "k", "v", "--ttl", "-1s"}, err: "--ttl -1s"},
		{name: "zero ttl", args: []string{"local", "put", "k", "v", "--ttl", "0s"}, err: "--ttl 0s"},
		{name: "ttl not a duration", args: []string{"local", "put", "k", "v", "--ttl", "soon"}, err: `"--ttl" flag`},
		{name: "negative limit", args: []string{"local", "scan", "--limit", "-1"}, err: "--limit -1"},
		{name: "limit not a number", args: []string{"local", "scan", "--limit", "ten"}, err: `"--limit" flag`},
		{name: "end before start", args: []string{"local", "scan", "--start", "b", "--end", "a"}, err: `--end "a" is before --start "b"`},
		{name: "start outside prefix", args: []string{"local", "scan", "--prefix", "a", "--start", "b"}, err: "--prefix/--start/--end: "},
		{name: "scan argument", args: []string{"local", "scan", "k"}, err: `unknown command "k"`},
		{name: "from not a number", args: []string{"local", "consume", "--from", "start"}, err: `"--from" flag`},
		{name: "negative from", args: []string{"local", "consume", "--from=-1"}, err: `"--from" flag`},
		{name: "negative max", args: []string{"local", "consume", "--max", "-1"}, err: "--max -1"},
		{name: "produce value over limit", args: []string{"local", "--max-value-size", "3", "produce", "abc", "abcd"}, err: "argument VALUE 2: 4 bytes"},
		{name: "produce line over limit", stdin: "abc\nabcd\n", args: []string{"local", "--max-value-size", "3", "produce"}, err: "stdin line 2: "},
		{name: "produce long line over limit", stdin: "a\n" + string(make([]byte, 100<<10)), args: []string{"local", "--max-value-size", "3", "produce"}, err: "stdin line 2: "},
		{name: "demo zero keys", args: []string{"local", "demo", "--keys", "0"}, err: "--keys 0"},
		{name: "unknown command", args: []string{"local", "frobnicate"}, err: `unknown command "frobnicate" for "caskade local"`},
		{name: "unknown top command", args: []string{"frobnicate"}, err: `unknown command "frobnicate" for "caskade"`},
		{name: "unknown flag", args: []string{"local", "get", "k", "--colour"}, err: "unknown flag: --colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := testEnv(dir)
			runCLI(t, env, "", "local", "put", "k", "orig").want(t, 0, "1\n", "")
			for k, v := range tt.env {
				env[k] = v
			}
			r := runCLI(t, env, tt.stdin, tt.args...)
			r.want(t, exitUsage, "", tt.err)
			if n := len(r.stderr); n == 0 || r.stderr[n-1] != '\n' || countLines(r.stderr) != 1 {
				t.Errorf("stderr %q is not one line", r.stderr)
			}
			// Nothing was written: the log still ends after the first put.
			st := stats(t, dir)
			if st.NextOffset != 2 || st.Keys != 1 {
				t.Errorf("after a refused command: next offset %d, %d keys; want 2, 1", st.NextOffset, st.Keys)
			}
		})
	}
}

// TestRun_ReadMissingStore checks that read commands refuse a missing
// --data-dir and do not create it.
func TestRun_ReadMissingStore(t *testing.T) {
	for _, args := range [][]string{
		{"local", "get", "k"},
		{"local", "scan"},
		{"local", "consume"},
		{"local", "stats"},
	} {
		t.Run(args[1], func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "nothing")
			r := runCLI(t, testEnv(dir), "", args...)
			r.want(t, exitUsage, "", "--data-dir "+dir+": no store there")
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Fatalf("%s was created (stat: %v)", dir, err)
			}
		})
	}
}

func countLines(s string) int {
	n := 0
	for _, c := range s {
		if c == '\n' {
			n++
		}
	}
	return n
}

// stats runs "local stats --json" on dir.
func stats(t *testing.T, dir string) storeStats {
	t.Helper()
	r := runCLI(t, testEnv(dir), "", "local", "stats", "--json")
	if r.code != 0 {
		t.Fatalf("stats: exit %d: %s", r.code, r.stderr)
	}
	var st storeStats
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("stats output %q: %v", r.stdout, err)
	}
	return st
}
