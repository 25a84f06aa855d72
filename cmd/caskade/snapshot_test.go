package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/rpctest"
	"github.com/caskade/caskade/rpc"
)

// TestSnapshot_ServeRoundTrip: a node's store saved with "snapshot save"
// and restored with "snapshot restore" is served by a new node with the
// same keys, the same log records at the same offsets (gaps left by
// compaction included), and the same earliest and next offsets.
func TestSnapshot_ServeRoundTrip(t *testing.T) {
	t.Parallel()
	serveArgs := []string{"--listen", "127.0.0.1:0", "--segment-bytes", "64KiB", "--sync", "never", "--compaction=false"}
	src := startServeCLI(t, nil, append(serveArgs, "--data-dir", t.TempDir())...)
	env := map[string]string{"CASKADE_ENDPOINTS": src.addr, "CASKADE_TIMEOUT": "10s"}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, []string{src.addr}, client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A few segments of overwritten keys, messages and deletes.
	value := strings.Repeat("v", 300)
	for i := range 600 {
		if _, err := c.Put(ctx, fmt.Appendf(nil, "k%03d", i%200), fmt.Appendf(nil, "%s%d", value, i)); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if _, err := c.Produce(ctx, fmt.Appendf(nil, "message %d", i)); err != nil {
				t.Fatal(err)
			}
		}
		if i%50 == 49 {
			if _, err := c.Delete(ctx, fmt.Appendf(nil, "k%03d", i%200-7)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Compaction leaves offset gaps; the snapshot must keep them.
	var cr jsonCompact
	decode(t, runCLI(t, env, "", "compact", "-o", "json"), &cr)
	if cr.Merges == 0 {
		t.Fatalf("nothing compacted: %+v", cr)
	}
	type view struct {
		scan, consume string
		status        jsonStatus
	}
	look := func(env map[string]string) view {
		t.Helper()
		var v view
		r := runCLI(t, env, "", "scan", "-o", "json")
		r.want(t, 0, r.stdout, "")
		v.scan = r.stdout
		r = runCLI(t, env, "", "consume", "-o", "json")
		r.want(t, 0, r.stdout, "")
		v.consume = r.stdout
		decode(t, runCLI(t, env, "", "status", "-o", "json"), &v.status)
		return v
	}
	before := look(env)
	if before.status.Keys < 150 || !strings.Contains(before.consume, `"message 590"`) || !strings.Contains(before.scan, `"k199"`) {
		t.Fatalf("the store is not what was written: status %+v", before.status)
	}

	file := filepath.Join(t.TempDir(), "backup.tar")
	var saved jsonSnapshot
	decode(t, runCLI(t, env, "", "snapshot", "save", file, "-o", "json"), &saved)
	st := before.status
	if saved.File != file || saved.EarliestOffset != st.EarliestOffset || saved.NextOffset != st.NextOffset ||
		saved.Keys == nil || *saved.Keys != st.Keys || len(saved.Files) < 4 {
		t.Fatalf("snapshot save -o json: %+v, status %+v", saved, st)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() != saved.Bytes {
		t.Fatalf("saved file: %v, %v; save said %d bytes", fi, err, saved.Bytes)
	}
	if src.stop(t) != exitOK {
		t.Fatalf("serve: %s", src.stderr.String())
	}

	dir := filepath.Join(t.TempDir(), "restored")
	runCLI(t, nil, "", "snapshot", "restore", file, "--data-dir", dir).want(t, 0,
		fmt.Sprintf("restored %s into %s: earliest offset %d, next offset %d, %d keys, %d files\n",
			file, dir, st.EarliestOffset, st.NextOffset, st.Keys, len(saved.Files)), "")
	dst := startServeCLI(t, nil, append(serveArgs, "--data-dir", dir)...)
	denv := map[string]string{"CASKADE_ENDPOINTS": dst.addr, "CASKADE_TIMEOUT": "10s"}
	after := look(denv)
	if after.scan != before.scan {
		t.Errorf("restored keys differ:\n%s\nwant\n%s", after.scan, before.scan)
	}
	if after.consume != before.consume {
		t.Errorf("restored log differs:\n%s\nwant\n%s", after.consume, before.consume)
	}
	if a, b := after.status, before.status; a.EarliestOffset != b.EarliestOffset || a.NextOffset != b.NextOffset || a.Keys != b.Keys {
		t.Errorf("restored status %+v, want offsets and keys of %+v", a, b)
	}
	// New writes continue from the next offset.
	runCLI(t, denv, "", "put", "after", "restore").want(t, 0, fmt.Sprintf("%d\n", st.NextOffset), "")
}

// makeSnapshot writes a store with sealed segments (with hints) and an
// active one, and a snapshot of it to a file; it returns the file and the
// archive.
func makeSnapshot(t *testing.T) (string, []byte) {
	t.Helper()
	opts := &engine.Options{SegmentBytes: 16 << 10, Sync: engine.SyncNever, Compaction: engine.CompactionOptions{Disabled: true}}
	dir := t.TempDir()
	db, err := engine.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := db.Put(fmt.Appendf(nil, "k%02d", i%40), bytes.Repeat([]byte{'v'}, 200)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil { // seals and writes the hints
		t.Fatal(err)
	}
	if db, err = engine.Open(dir, opts); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var buf bytes.Buffer
	if _, err := db.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "snap.tar")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, buf.Bytes()
}

// tarEntry is where an entry's data lies in an archive.
type tarEntry struct {
	name        string
	start, size int
}

func tarEntries(t *testing.T, archive []byte) []tarEntry {
	t.Helper()
	cr := &byteCounter{r: bytes.NewReader(archive)}
	tr := tar.NewReader(cr)
	var es []tarEntry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return es
		}
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, tarEntry{name: hdr.Name, start: int(cr.n), size: int(hdr.Size)})
	}
}

// TestSnapshot_VerifyAndRestore_Refused: a damaged, cut or manifest-less
// snapshot makes verify and restore exit 3 naming the problem, and restore
// leaves no directory behind.
func TestSnapshot_VerifyAndRestore_Refused(t *testing.T) {
	t.Parallel()
	_, archive := makeSnapshot(t)
	es := tarEntries(t, archive)
	entry := func(suffix string) tarEntry {
		for _, e := range es {
			if strings.HasSuffix(e.name, suffix) && e.size > 0 {
				return e
			}
		}
		t.Fatalf("no %s in the snapshot", suffix)
		return tarEntry{}
	}
	flip := func(e tarEntry) []byte {
		b := bytes.Clone(archive)
		b[e.start+e.size/3] ^= 0x01
		return b
	}
	logE, idxE, hintE, manE := entry(".log"), entry(".idx"), entry(".hint"), entry("MANIFEST.json")
	prev := es[len(es)-2] // the entry before the manifest
	tests := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"flipped byte in a .log", flip(logE), logE.name + " is damaged"},
		{"flipped byte in an .idx", flip(idxE), idxE.name + " is damaged"},
		{"flipped byte in a .hint", flip(hintE), hintE.name + " is damaged"},
		{"flipped byte in the manifest", flip(manE), "MANIFEST.json"},
		{"truncated in a file", archive[:logE.start+100], logE.name + " cut at 100"},
		{"truncated before the manifest", archive[:prev.start+(prev.size+511)/512*512], "has no MANIFEST.json"},
		{"manifest dropped", archive[:manE.start-512], "has no MANIFEST.json"},
		{"junk appended", append(bytes.Clone(archive), "junk\n"...), "data after the end of the archive"},
		{"empty file", nil, "has no MANIFEST.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "bad.tar")
			if err := os.WriteFile(file, tt.archive, 0o644); err != nil {
				t.Fatal(err)
			}
			runCLI(t, nil, "", "snapshot", "verify", file).want(t, exitFailure, "", tt.want)
			runCLI(t, nil, "", "snapshot", "verify", file, "-o", "json").want(t, exitFailure, "", file+" is not a valid snapshot")
			dir := filepath.Join(t.TempDir(), "restored")
			runCLI(t, nil, "", "snapshot", "restore", file, "--data-dir", dir).want(t, exitFailure, "", tt.want)
			runCLI(t, nil, string(tt.archive), "snapshot", "restore", "-", "--data-dir", dir).want(t, exitFailure, "",
				"- is not a valid snapshot (--data-dir "+dir+" was left as it was)")
			if m, _ := filepath.Glob(dir + "*"); len(m) != 0 {
				t.Errorf("a refused restore left %v", m)
			}
		})
	}
}

func TestSnapshot_Verify(t *testing.T) {
	t.Parallel()
	file, archive := makeSnapshot(t)
	m, err := engine.VerifyBackup(context.Background(), bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "", "snapshot", "verify", file)
	want := fmt.Sprintf(`^snapshot         %s: OK
format           caskade-snapshot version 1
created          \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ
earliest offset  1
next offset      301
keys             40
files            %d \(\d+\.\d KiB; archive \d+\.\d KiB\)
$`, regexp.QuoteMeta(file), len(m.Files))
	if r.code != 0 || !regexp.MustCompile(want).MatchString(r.stdout) {
		t.Fatalf("verify: exit %d, stdout:\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
	}
	var js jsonSnapshot
	decode(t, runCLI(t, nil, "", "snapshot", "verify", file, "-o", "json"), &js)
	if js.File != file || js.Bytes != int64(len(archive)) || js.Format != "caskade-snapshot" || js.Version != 1 ||
		js.Created != m.Created.Format(time.RFC3339) || js.EarliestOffset != 1 || js.NextOffset != 301 ||
		js.Keys == nil || *js.Keys != 40 || js.FileBytes != m.TotalBytes() || len(js.Files) != len(m.Files) || js.DataDir != "" {
		t.Fatalf("verify -o json: %+v", js)
	}
	for i, f := range js.Files {
		if f != m.Files[i] {
			t.Fatalf("file %d: %+v, manifest %+v", i, f, m.Files[i])
		}
	}
	// The JSON has every field, keys included.
	var raw map[string]any
	if err := json.Unmarshal([]byte(runCLI(t, nil, "", "snapshot", "verify", file, "-o", "json").stdout), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"file", "bytes", "format", "version", "created", "earliest_offset", "next_offset", "keys", "file_bytes", "files"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("verify -o json lacks %q: %v", k, raw)
		}
	}
	// From stdin; the environment sets -o; no server is needed, and the
	// client flags are not checked.
	decode(t, runCLI(t, map[string]string{"CASKADE_OUTPUT": "json", "CASKADE_CERT": "only-a-cert"}, string(archive), "snapshot", "verify", "-"), &js)
	if js.File != "-" || js.NextOffset != 301 {
		t.Fatalf("verify - : %+v", js)
	}
	runCLI(t, nil, "", "snapshot", "verify").want(t, exitUsage, "", "missing argument FILE")
	runCLI(t, nil, "", "snapshot", "verify", filepath.Join(t.TempDir(), "missing.tar")).want(t, exitUsage, "", "missing.tar: no such file")
	runCLI(t, nil, "", "snapshot", "verify", t.TempDir()).want(t, exitUsage, "", "is a directory")
}

func TestSnapshot_Restore_Dirs(t *testing.T) {
	t.Parallel()
	file, _ := makeSnapshot(t)

	// Into a new directory, a path from the environment, and JSON.
	dir := filepath.Join(t.TempDir(), "new")
	var js jsonSnapshot
	decode(t, runCLI(t, map[string]string{"CASKADE_DATA_DIR": dir}, "", "snapshot", "restore", file, "-o", "json"), &js)
	if js.DataDir != dir || js.File != file || js.NextOffset != 301 || js.Keys == nil || *js.Keys != 40 {
		t.Fatalf("restore -o json: %+v", js)
	}
	runCLI(t, testEnv(dir), "", "local", "get", "k07").want(t, 0, strings.Repeat("v", 200), "")

	// Into an empty directory that exists.
	empty := t.TempDir()
	runCLI(t, nil, "", "snapshot", "restore", file, "--data-dir", empty).want(t, 0,
		fmt.Sprintf("restored %s into %s: earliest offset 1, next offset 301, 40 keys, %d files\n", file, empty, len(js.Files)), "")

	// Refused, changing nothing: a store, a cluster node's directory or
	// its data/, a file, no --data-dir, no snapshot.
	cluster := t.TempDir()
	for _, d := range []string{"raft", "data"} {
		if err := os.Mkdir(filepath.Join(cluster, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"a store", []string{"--data-dir", dir}, "--data-dir " + dir + " is not empty"},
		{"a cluster node's directory", []string{"--data-dir", cluster}, "is a cluster node's directory (raft/ and data/ in " + cluster + ")"},
		{"a cluster node's data", []string{"--data-dir", filepath.Join(cluster, "data")}, "is a cluster node's directory (raft/ and data/ in " + cluster + ")"},
		{"a file", []string{"--data-dir", notDir}, "not a directory"},
		{"empty --data-dir", []string{"--data-dir", ""}, "--data-dir is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			runCLI(t, nil, "", append([]string{"snapshot", "restore", file}, tt.args...)...).want(t, exitUsage, "", tt.want)
		})
	}
	if ents, _ := os.ReadDir(filepath.Join(cluster, "data")); len(ents) != 0 {
		t.Fatalf("restore wrote into a cluster node's data/: %v", ents)
	}
	runCLI(t, nil, "", "snapshot", "restore", filepath.Join(t.TempDir(), "missing.tar"), "--data-dir", filepath.Join(t.TempDir(), "x")).
		want(t, exitUsage, "", "missing.tar: no such file")
	runCLI(t, nil, "", "snapshot", "restore", "--data-dir", filepath.Join(t.TempDir(), "x")).want(t, exitUsage, "", "missing argument FILE")

	// "local restore" is the same restore.
	local := filepath.Join(t.TempDir(), "local")
	decode(t, runCLI(t, testEnv(local), "", "local", "restore", file, "--json"), &js)
	if js.DataDir != local || js.NextOffset != 301 {
		t.Fatalf("local restore --json: %+v", js)
	}
}

// TestSnapshot_Save_Refused: a server that sends something that is not a
// valid snapshot, or cannot make one, leaves no file.
func TestSnapshot_Save_Refused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.tar")
	_, env := serverEnv(t, &rpctest.Options{Wrap: func(db *engine.DB) rpc.Store { return fakeBackup{db} }})
	runCLI(t, env, "", "snapshot", "save", file).want(t, exitFailure, "",
		"snapshot: the server sent an archive that does not verify (not saved): segment: corrupt data: snapshot")
	_, env = serverEnv(t, &rpctest.Options{Wrap: func(db *engine.DB) rpc.Store { return noMaintenance{db} }})
	runCLI(t, env, "", "snapshot", "save", file).want(t, exitFailure, "", "caskade: snapshot: not implemented: ")
	runCLI(t, env, "", "compact").want(t, exitFailure, "", "caskade: compact: not implemented: ")
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("files left after failed snapshots: %v", ents)
	}
	// A good one saved over an existing file replaces it whole.
	_, env = serverEnv(t, nil)
	runCLI(t, env, "", "put", "k", "v").want(t, 0, "1\n", "")
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, env, "", "snapshot", "save", file)
	if r.code != 0 || !regexp.MustCompile(`^saved `+regexp.QuoteMeta(file)+` \(\d+\.\d KiB\): earliest offset 1, next offset 2, 1 key, 2 files\n$`).MatchString(r.stdout) {
		t.Fatalf("save: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	runCLI(t, nil, "", "snapshot", "verify", file, "-o", "json").want(t, 0, runCLI(t, nil, "", "snapshot", "verify", file, "-o", "json").stdout, "")
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("files beside the snapshot: %v", ents)
	}
}

// fakeBackup serves a DB whose Backup writes "fake backup".
type fakeBackup struct{ *engine.DB }

func (fakeBackup) Backup(_ context.Context, w io.Writer) (int64, error) {
	n, err := io.WriteString(w, "fake backup")
	return int64(n), err
}

// noMaintenance hides Compact and Backup.
type noMaintenance struct{ rpc.Store }
