package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/engine"
)

// compactReport is what local compact prints.
type compactReport struct {
	DataDir     string  `json:"data_dir"`
	Merges      int     `json:"merges"`
	Segments    int     `json:"segments_merged"`
	BytesBefore int64   `json:"bytes_before"`
	BytesAfter  int64   `json:"bytes_after"`
	Reclaimed   int64   `json:"bytes_reclaimed"`
	Seconds     float64 `json:"seconds"`
}

func (a *app) newLocalCompactCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "compact",
		Short: "Merge sealed segments now and report the bytes reclaimed",
		Long: `Merge the store's sealed segments now, dropping superseded records,
tombstones past --tombstone-retention, keyless records past --retention or
--retention-bytes and expired values. Offsets do not change. Records in the
active (newest) segment wait for a later merge.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			rep := compactReport{DataDir: a.local.dataDir}
			err := a.withStore(true, func(db *engine.DB) error {
				res, err := db.Compact(cmd.Context())
				if err != nil {
					return err
				}
				rep.Merges, rep.Segments = res.Merges, res.Segments
				rep.BytesBefore, rep.BytesAfter, rep.Reclaimed = res.BytesBefore, res.BytesAfter, res.Reclaimed
				rep.Seconds = res.Duration.Seconds()
				return nil
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, rep)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "merges\t%d (%d segments)\n", rep.Merges, rep.Segments)
			fmt.Fprintf(tw, "bytes\t%s -> %s\n", humanBytes(rep.BytesBefore), humanBytes(rep.BytesAfter))
			fmt.Fprintf(tw, "reclaimed\t%s in %.2fs\n", humanBytes(rep.Reclaimed), rep.Seconds)
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
