package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/caskade/caskade/engine"
)

// localConfig holds the global flags of "local": where the store is and
// the engine options it is opened with.
type localConfig struct {
	dataDir      string
	sync         syncFlag
	segmentBytes byteSize
	maxKeySize   byteSize
	maxValueSize byteSize

	tombstoneRetention time.Duration
	retention          time.Duration
	retentionBytes     byteSize
	compaction         bool
	compactionInterval time.Duration
	compactionRate     byteSize
	compactionWindow   hourWindow
	compactionMinDead  float64
}

func (a *app) newLocalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Use a store in a local directory, without a server",
		Long: `Use a store in a local directory directly, without a server.

The store is opened by one process at a time: a command fails if another
holds it. Commands that only read (get, scan, consume, stats) refuse a
missing --data-dir instead of creating an empty store.

--sync always makes each write durable before the command prints its
offset; interval syncs every 100ms; never leaves it to the OS (the store is
still synced when the command closes it).

Every global flag below can also be set in the environment: --data-dir as
CASKADE_DATA_DIR, --sync as CASKADE_SYNC, and so on. A flag on the command
line wins over the environment; an empty variable counts as unset.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c := &a.local
	f := cmd.PersistentFlags()
	addEngineFlags(f, c)
	annotateEnv(f)
	a.localFlags = f
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if err := bindEnv(f, a.lookupEnv); err != nil {
			return err
		}
		if err := c.check(); err != nil {
			return err
		}
		return nil
	}

	cmd.AddCommand(
		a.newPutCmd(), a.newGetCmd(), a.newDelCmd(), a.newCASCmd(), a.newScanCmd(),
		a.newProduceCmd(), a.newConsumeCmd(),
		a.newStatsCmd(), a.newLocalCompactCmd(), a.newLocalRestoreCmd(), a.newDemoCmd(),
	)
	return cmd
}

// addEngineFlags defines the flags that say where the store is and how it
// is opened, with their defaults, on f. "local" and "serve" share them.
func addEngineFlags(f *pflag.FlagSet, c *localConfig) {
	c.sync.mode = engine.SyncAlways
	c.segmentBytes = byteSize{n: engine.DefaultSegmentBytes, min: engine.MinSegmentBytes, max: engine.MaxSegmentBytes}
	c.maxKeySize = byteSize{n: engine.DefaultMaxKeySize, min: 1, max: engine.MaxKeySizeLimit}
	c.maxValueSize = byteSize{n: engine.DefaultMaxValueSize, min: 0, max: engine.MaxValueSizeLimit}
	f.StringVar(&c.dataDir, "data-dir", "./caskade-data", "directory of the store")
	f.Var(&c.sync, "sync", "when writes reach the disk: always, interval or never")
	f.Var(&c.segmentBytes, "segment-bytes", "seal the active segment at this size")
	f.Var(&c.maxKeySize, "max-key-size", "largest key accepted")
	f.Var(&c.maxValueSize, "max-value-size", "largest value accepted")

	c.retentionBytes = byteSize{n: 0, min: 0, max: 1 << 62}
	c.compactionRate = byteSize{n: 0, min: 0, max: 1 << 40}
	f.DurationVar(&c.tombstoneRetention, "tombstone-retention", engine.DefaultTombstoneRetention, "how long a delete's tombstone stays in the log before compaction may drop it")
	f.DurationVar(&c.retention, "retention", 0, "drop keyless records (produce) older than this; 0 keeps them")
	f.Var(&c.retentionBytes, "retention-bytes", "drop the oldest keyless records while the log is larger than this; 0 means no limit")
	f.BoolVar(&c.compaction, "compaction", true, "merge sealed segments in the background (compact works either way)")
	f.DurationVar(&c.compactionInterval, "compaction-interval", 15*time.Second, "how often background compaction looks for work")
	f.Var(&c.compactionRate, "compaction-rate", "bytes per second a merge may read; 0 means unlimited")
	f.Var(&c.compactionWindow, "compaction-window", "hours of the day for background merges, START-END (22-6); empty means always")
	f.Float64Var(&c.compactionMinDead, "compaction-min-dead", 0.5, "merge a segment once this fraction of it is dead")
}

// check reports engine flags whose values the engine would refuse, naming
// the flag.
func (c *localConfig) check() error {
	switch {
	case c.dataDir == "":
		return usageErrorf("--data-dir is empty")
	case c.tombstoneRetention <= 0:
		return usageErrorf("--tombstone-retention %v must be positive", c.tombstoneRetention)
	case c.retention < 0:
		return usageErrorf("--retention %v must not be negative (0 keeps records forever)", c.retention)
	case c.compactionInterval <= 0:
		return usageErrorf("--compaction-interval %v must be positive", c.compactionInterval)
	case !(c.compactionMinDead > 0 && c.compactionMinDead <= 1):
		return usageErrorf("--compaction-min-dead %v must be in (0, 1]", c.compactionMinDead)
	}
	return nil
}

// options maps the global flags to engine options.
func (a *app) options() engine.Options { return a.local.options(a.logger) }

// options maps the engine flags to engine options.
func (c *localConfig) options(logger *slog.Logger) engine.Options {
	return engine.Options{
		SegmentBytes: c.segmentBytes.n,
		Sync:         c.sync.mode,
		MaxKeySize:   int(c.maxKeySize.n),
		MaxValueSize: int(c.maxValueSize.n),
		Logger:       logger,

		TombstoneRetention: c.tombstoneRetention,
		Retention:          c.retention,
		RetentionBytes:     c.retentionBytes.n,
		Compaction: engine.CompactionOptions{
			Disabled:        !c.compaction,
			Interval:        c.compactionInterval,
			RateBytesPerSec: c.compactionRate.n,
			WindowStart:     c.compactionWindow.start,
			WindowEnd:       c.compactionWindow.end,
			MinDeadFraction: c.compactionMinDead,
		},
	}
}

// store is an open DB; engine.Open holds the lock on its directory until
// Close.
type store struct {
	*engine.DB
}

// openStore opens the store in --data-dir with opts. A command that writes
// creates the directory if needed; one that only reads refuses a missing
// directory rather than leave an empty store behind.
func (a *app) openStore(write bool, opts engine.Options) (*store, error) {
	return openStoreIn(a.local.dataDir, write, opts)
}

// openStoreIn is openStore for the store in dir.
func openStoreIn(dir string, write bool, opts engine.Options) (*store, error) {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !write:
		return nil, usageErrorf("--data-dir %s: no store there (nothing was written yet)", dir)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, failuref("create --data-dir: %w", err)
		}
	case err != nil:
		return nil, failuref("--data-dir: %w", err)
	case !fi.IsDir():
		return nil, usageErrorf("--data-dir %s: not a directory", dir)
	default:
		if err := refuseClusterDir(dir); err != nil {
			return nil, err
		}
	}
	// engine.Open locks the directory: one process at a time.
	db, err := engine.Open(dir, &opts)
	switch {
	case errors.Is(err, engine.ErrInvalidOptions):
		return nil, usageErrorf("%w", err)
	case errors.Is(err, engine.ErrLocked):
		return nil, failuref("--data-dir %s: %w", dir, errStoreInUse)
	case err != nil:
		return nil, failuref("%w", err)
	}
	return &store{DB: db}, nil
}

// withStore opens the store, runs fn and closes the store. A failure to
// close is an error (under --sync never, Close is what makes writes
// durable).
func (a *app) withStore(write bool, fn func(db *engine.DB) error) (err error) {
	s, err := a.openStore(write, a.options())
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", a.local.dataDir, cerr)
		}
	}()
	return fn(s.DB)
}

// errStoreInUse is returned when another process holds the store.
var errStoreInUse = errors.New("store is in use by another process")
