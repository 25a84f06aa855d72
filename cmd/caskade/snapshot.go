package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/engine"
)

// jsonSnapshot is what snapshot save, verify and restore (and local
// restore --json) print: the archive and the summary of its manifest.
type jsonSnapshot struct {
	File           string                `json:"file"`
	Bytes          int64                 `json:"bytes"`              // the archive's size
	DataDir        string                `json:"data_dir,omitempty"` // restore: the new store
	Format         string                `json:"format"`
	Version        int                   `json:"version"`
	Created        string                `json:"created"` // RFC 3339, UTC
	EarliestOffset uint64                `json:"earliest_offset"`
	NextOffset     uint64                `json:"next_offset"`
	Keys           *uint64               `json:"keys"`       // null when the manifest does not say
	FileBytes      int64                 `json:"file_bytes"` // the store's files, without tar headers
	Files          []engine.ManifestFile `json:"files"`
}

func newJSONSnapshot(file string, bytes int64, m *engine.Manifest) jsonSnapshot {
	return jsonSnapshot{
		File: file, Bytes: bytes,
		Format: m.Format, Version: m.Version, Created: m.Created.UTC().Format(time.RFC3339),
		EarliestOffset: m.Earliest, NextOffset: m.Next, Keys: m.Keys,
		FileBytes: m.TotalBytes(), Files: m.Files,
	}
}

// summary is the one-line text form of js's manifest.
func (js *jsonSnapshot) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "earliest offset %d, next offset %d", js.EarliestOffset, js.NextOffset)
	if js.Keys != nil {
		fmt.Fprintf(&b, ", %s", count(*js.Keys, "key"))
	}
	fmt.Fprintf(&b, ", %s", count(uint64(len(js.Files)), "file"))
	return b.String()
}

// count is "1 key", "2 keys".
func count(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func (a *app) newClientSnapshotCmd(cc *clientConfig) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Save, verify and restore snapshots (backups) of a store",
		Long: `Save, verify and restore snapshots: consistent point-in-time images of a
store, for backups.

A snapshot is a tar archive of the store's segment files that ends with
MANIFEST.json: the format version, when it was taken, the store's earliest
and next offsets and key count then, and the size and xxhash64 of every
file. "save" downloads one from a server and checks it as it arrives;
"verify" checks a file; "restore" makes a new store directory from one, to
serve with "caskade serve --data-dir".

verify and restore work on local files only: they contact no server, and
--endpoints, --timeout and the TLS flags do not apply to them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(a.newSnapshotSaveCmd(cc), a.newSnapshotVerifyCmd(cc), a.newSnapshotRestoreCmd(cc))
	return cmd
}

func (a *app) newSnapshotSaveCmd(cc *clientConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "save FILE",
		Short: "Save a consistent image of the server's store to FILE",
		Long: `Save a consistent point-in-time image of the server's store to FILE (a tar
archive ending with its manifest; see "caskade snapshot --help"). In a
cluster the leader answers when it can. The archive is checked against its
manifest as it arrives and written to a temporary file beside FILE, synced,
and renamed to FILE only when complete and valid, so FILE is never left
half-written or damaged. --timeout does not bound the download.`,
		Args: argsNamed("FILE"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if file == "" {
				return usageErrorf("argument FILE is empty")
			}
			if fi, err := os.Stat(file); err == nil && fi.IsDir() {
				return usageErrorf("argument FILE: %s is a directory", file)
			}
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				n, m, err := saveSnapshot(cmd.Context(), c, file)
				if err != nil {
					return err
				}
				js := newJSONSnapshot(file, n, m)
				if cc.output.json {
					return writeJSON(a.stdout, js)
				}
				_, err = fmt.Fprintf(a.stdout, "saved %s (%s): %s\n", file, humanBytes(n), js.summary())
				return err
			})
		}),
	}
}

// errVerifyStopped ends a download whose archive failed verification.
var errVerifyStopped = errors.New("the archive failed verification")

// saveSnapshot downloads a snapshot into a temporary file beside file,
// verifying it on the way (one pass: the bytes go to the file and to the
// verifier together), and renames it to file once complete, valid and
// synced.
func saveSnapshot(ctx context.Context, c *client.Client, file string) (n int64, m *engine.Manifest, err error) {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return 0, nil, failuref("snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	pr, pw := io.Pipe()
	type verified struct {
		m   *engine.Manifest
		err error
	}
	done := make(chan verified, 1)
	go func() {
		m, err := engine.VerifyBackup(ctx, pr)
		// A verifier that stopped early makes the download's next write
		// fail; one that read to the end has nothing more to read.
		pr.CloseWithError(errVerifyStopped)
		done <- verified{m, err}
	}()
	n, err = c.Snapshot(ctx, io.MultiWriter(tmp, pw))
	pw.CloseWithError(err) // nil: the verifier reads EOF
	v := <-done
	switch {
	case v.err != nil && (err == nil || errors.Is(err, errVerifyStopped)):
		return n, nil, failuref("snapshot: the server sent an archive that does not verify (not saved): %w", v.err)
	case err != nil:
		return n, nil, err
	}
	if err := tmp.Sync(); err != nil {
		return n, nil, failuref("snapshot: sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return n, nil, failuref("snapshot: close %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return n, nil, failuref("snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return n, nil, failuref("snapshot: %w", err)
	}
	// Make the rename durable too.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return n, v.m, nil
}

func (a *app) newSnapshotVerifyCmd(cc *clientConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a snapshot file against its manifest and print its summary",
		Long: `Read FILE, a snapshot ("-" reads standard input), to its end and check
every file in it against its manifest: sizes and xxhash64 checksums, the
manifest's own checksum, and that nothing is missing, extra or appended.
Print the manifest's summary. Exit code 0 means the snapshot is intact; 3
that it is damaged, cut short, or lacks a manifest (snapshots from before
manifests existed cannot be verified), with the first problem found on
standard error. Nothing is written.`,
		Args: argsNamed("FILE"),
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return bindOfflineEnv(cmd, a.lookupEnv)
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			in, closeIn, err := a.openSnapshotFile(args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			cr := &byteCounter{r: in}
			m, err := engine.VerifyBackup(cmd.Context(), cr)
			if err != nil {
				return snapshotError(args[0], "", err)
			}
			js := newJSONSnapshot(args[0], cr.n, m)
			if cc.output.json {
				return writeJSON(a.stdout, js)
			}
			keys := "not recorded"
			if js.Keys != nil {
				keys = fmt.Sprint(*js.Keys)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "snapshot\t%s: OK\n", js.File)
			fmt.Fprintf(tw, "format\t%s version %d\n", js.Format, js.Version)
			fmt.Fprintf(tw, "created\t%s\n", js.Created)
			fmt.Fprintf(tw, "earliest offset\t%d\n", js.EarliestOffset)
			fmt.Fprintf(tw, "next offset\t%d\n", js.NextOffset)
			fmt.Fprintf(tw, "keys\t%s\n", keys)
			fmt.Fprintf(tw, "files\t%d (%s; archive %s)\n", len(js.Files), humanBytes(js.FileBytes), humanBytes(js.Bytes))
			return tw.Flush()
		}),
	}
}

func (a *app) newSnapshotRestoreCmd(cc *clientConfig) *cobra.Command {
	var dataDir string
	fs := pflag.NewFlagSet("restore", pflag.ContinueOnError)
	fs.StringVar(&dataDir, "data-dir", "./caskade-data", "directory to create the store in (new or empty), as caskade serve --data-dir")
	annotateEnv(fs)
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Create a store in --data-dir from a snapshot file, for caskade serve",
		Long: `Create a store in --data-dir from FILE, a snapshot written by "caskade
snapshot save" ("-" reads standard input). Every file is checked against
the snapshot's manifest, and the restored store is opened and must hold the
earliest and next offsets the manifest records, before --data-dir appears:
a snapshot that is cut short, damaged or lacks its manifest is refused
(exit code 3) and --data-dir is left as it was. --data-dir must be new or
empty.

Then serve it:

    caskade snapshot restore backup.tar --data-dir /var/lib/caskade
    caskade serve --data-dir /var/lib/caskade

The node serves the keys and log records the snapshot holds, at the same
offsets; new writes continue from its next offset.

Clusters: a snapshot restores into a single node's --data-dir (serve
without cluster flags). A cluster node's --data-dir (raft/ and data/) is
refused: a cluster node rebuilds data/ from its Raft log at every start,
and a single node's store cannot become a cluster node's. Seeding a new
cluster from a snapshot is not supported yet; to get a cluster's data back
from a snapshot, restore it into a single node and serve it from there.`,
		Args: argsNamed("FILE"),
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if err := bindOfflineEnv(cmd, a.lookupEnv); err != nil {
				return err
			}
			if err := bindEnv(fs, a.lookupEnv); err != nil {
				return err
			}
			if dataDir == "" {
				return usageErrorf("--data-dir is empty")
			}
			return nil
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			// Only a check that the snapshot opens: no background merges.
			opts := engine.Options{Logger: a.logger, Compaction: engine.CompactionOptions{Disabled: true}}
			js, err := a.restoreSnapshot(cmd.Context(), args[0], dataDir, opts)
			if err != nil {
				return err
			}
			if cc.output.json {
				return writeJSON(a.stdout, js)
			}
			return js.writeRestored(a.stdout)
		}),
	}
	cmd.Flags().AddFlagSet(fs)
	return cmd
}

// bindOfflineEnv sets the client flags cmd inherits (for -o) from the
// environment, as the client commands do, without checking --endpoints or
// the TLS flags: cmd contacts no server.
func bindOfflineEnv(cmd *cobra.Command, lookupEnv func(string) (string, bool)) error {
	return bindEnv(cmd.InheritedFlags(), lookupEnv)
}

// writeRestored prints the text result of a restore.
func (js *jsonSnapshot) writeRestored(w io.Writer) error {
	_, err := fmt.Fprintf(w, "restored %s into %s: %s\n", js.File, js.DataDir, js.summary())
	return err
}

// restoreSnapshot creates the store in dir from the snapshot in file ("-"
// for stdin) with opts (engine.RestoreBackup: verified, all or nothing).
// "snapshot restore" and "local restore" both run it.
func (a *app) restoreSnapshot(ctx context.Context, file, dir string, opts engine.Options) (jsonSnapshot, error) {
	if err := checkRestoreDir(dir); err != nil {
		return jsonSnapshot{}, err
	}
	in, closeIn, err := a.openSnapshotFile(file)
	if err != nil {
		return jsonSnapshot{}, err
	}
	defer closeIn()
	cr := &byteCounter{r: in}
	m, err := engine.RestoreBackup(ctx, dir, cr, &opts)
	if err != nil {
		return jsonSnapshot{}, snapshotError(file, fmt.Sprintf(" (--data-dir %s was left as it was)", dir), err)
	}
	js := newJSONSnapshot(file, cr.n, m)
	js.DataDir = dir
	return js, nil
}

// checkRestoreDir refuses a --data-dir a snapshot must not be restored
// into: one that is not empty, and above all a cluster node's, whose data/
// is rebuilt from raft/ at every start (a store restored there would be
// thrown away, and a single node's files beside raft/ make the node refuse
// to start).
func checkRestoreDir(dir string) error {
	clusterDir := ""
	if isDir(filepath.Join(dir, raftDirName)) {
		clusterDir = dir
	} else if parent := filepath.Dir(filepath.Clean(dir)); filepath.Base(filepath.Clean(dir)) == dataDirName && isDir(filepath.Join(parent, raftDirName)) {
		clusterDir = parent
	}
	if clusterDir != "" {
		return usageErrorf("--data-dir %s is a cluster node's directory (%s/ and %s/ in %s): a snapshot restores only into a single node's new --data-dir "+
			"(served without cluster flags); a cluster node rebuilds its store from its Raft log, and seeding a cluster from a snapshot is not supported (nothing was written)",
			dir, raftDirName, dataDirName, clusterDir)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return failuref("--data-dir: %w", err)
	case !fi.IsDir():
		return usageErrorf("--data-dir %s: not a directory", dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return failuref("--data-dir: %w", err)
	}
	if len(ents) > 0 {
		return usageErrorf("--data-dir %s is not empty (it holds %s): a snapshot restores only into a new or empty directory (nothing was written)", dir, ents[0].Name())
	}
	return nil
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// openSnapshotFile opens the snapshot named by a FILE argument; "-" is
// standard input. The returned func closes it.
func (a *app) openSnapshotFile(file string) (io.Reader, func(), error) {
	if file == "-" {
		return a.stdin, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, usageErrorf("argument FILE: %v", err)
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, nil, usageErrorf("argument FILE: %s is a directory", file)
	}
	return f, func() { f.Close() }, nil
}

// snapshotError explains an error reading the snapshot in file: damage
// (exit code 3, naming the entry) or any other failure. note follows the
// file's name.
func snapshotError(file, note string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return err // classify reports the interruption
	case errors.Is(err, engine.ErrCorrupt):
		return failuref("%s is not a valid snapshot%s: %w", file, note, err)
	}
	return failuref("%s%s: %w", file, note, err)
}

// byteCounter counts the bytes read through it.
type byteCounter struct {
	r io.Reader
	n int64
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
