package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
)

// storeStats is what stats reports: the counts from engine.Stats, the
// sizes from the files in the directory once the store is closed (while it
// is open, the active segment is preallocated to --segment-bytes).
type storeStats struct {
	DataDir     string `json:"data_dir"`
	Keys        int    `json:"keys"`            // live keys (expired ones until compaction drops them)
	NextOffset  uint64 `json:"next_offset"`     // the offset the next write gets (high-water mark)
	Earliest    uint64 `json:"earliest_offset"` // the log start: the oldest segment's base offset
	RecordBytes int64  `json:"record_bytes"`    // bytes of records in all segments
	LiveBytes   int64  `json:"live_bytes"`      // bytes of keyed records the keydir points at
	DeadBytes   int64  `json:"dead_bytes"`      // superseded records a merge would drop
	KeydirBytes int64  `json:"keydir_bytes"`    // heap held by the in-memory index
	Segments    int    `json:"segments"`
	LogBytes    int64  `json:"log_bytes"`
	IndexBytes  int64  `json:"index_bytes"`
	HintBytes   int64  `json:"hint_bytes"`
	DiskBytes   int64  `json:"disk_bytes"` // all files of the store
}

func (a *app) newStatsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Print the store's key count, offsets and size on disk",
		Args:  cobra.NoArgs,
		RunE: runE(func(*cobra.Command, []string) error {
			st := storeStats{DataDir: a.local.dataDir}
			err := a.withStore(false, func(db *engine.DB) error {
				es := db.Stats()
				st.Keys, st.NextOffset, st.Earliest = es.Keys, es.NextOffset, es.Earliest
				st.RecordBytes, st.LiveBytes, st.KeydirBytes = es.Bytes, es.LiveBytes, es.KeydirBytes
				st.DeadBytes = es.DeadBytes
				return nil
			})
			if err != nil {
				return err
			}
			if err := diskUsage(&st); err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, st)
			}
			return writeStatsText(a, &st)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the numbers as JSON")
	return cmd
}

// diskUsage fills the size fields from the files in st.DataDir.
func diskUsage(st *storeStats) error {
	ents, err := os.ReadDir(st.DataDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		n := fi.Size()
		st.DiskBytes += n
		switch filepath.Ext(e.Name()) {
		case segment.LogExt:
			st.Segments++
			st.LogBytes += n
		case segment.IndexExt:
			st.IndexBytes += n
		case segment.HintExt:
			st.HintBytes += n
		}
	}
	return nil
}

func writeStatsText(a *app, st *storeStats) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "data dir\t%s\n", st.DataDir)
	fmt.Fprintf(tw, "keys\t%d\n", st.Keys)
	fmt.Fprintf(tw, "earliest offset\t%d\n", st.Earliest)
	fmt.Fprintf(tw, "next offset\t%d\n", st.NextOffset)
	fmt.Fprintf(tw, "record bytes\t%s (live %s, dead %s)\n", humanBytes(st.RecordBytes), humanBytes(st.LiveBytes), humanBytes(st.DeadBytes))
	fmt.Fprintf(tw, "keydir bytes\t%s\n", humanBytes(st.KeydirBytes))
	fmt.Fprintf(tw, "segments\t%d\n", st.Segments)
	fmt.Fprintf(tw, "disk bytes\t%s (log %s, index %s, hint %s)\n",
		humanBytes(st.DiskBytes), humanBytes(st.LogBytes), humanBytes(st.IndexBytes), humanBytes(st.HintBytes))
	return tw.Flush()
}

// humanBytes prints n with one decimal in the largest binary unit below
// it, for people (formatBytes is exact, for flags).
func humanBytes(n int64) string {
	switch {
	case n >= gib:
		return fmt.Sprintf("%.1f GiB", float64(n)/gib)
	case n >= mib:
		return fmt.Sprintf("%.1f MiB", float64(n)/mib)
	case n >= kib:
		return fmt.Sprintf("%.1f KiB", float64(n)/kib)
	}
	return fmt.Sprintf("%d B", n)
}
