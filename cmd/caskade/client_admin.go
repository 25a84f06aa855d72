package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/client"
)

// jsonStatus is what status -o json prints.
type jsonStatus struct {
	NodeID         string `json:"node_id"`
	RPCAddr        string `json:"rpc_addr"`
	IsLeader       bool   `json:"is_leader"`
	LeaderAddr     string `json:"leader_addr"`
	Version        string `json:"version"`
	Keys           uint64 `json:"keys"`
	NextOffset     uint64 `json:"next_offset"`
	EarliestOffset uint64 `json:"earliest_offset"`
	RecordBytes    int64  `json:"record_bytes"`
	LiveBytes      int64  `json:"live_bytes"`
	KeydirBytes    int64  `json:"keydir_bytes"`
	Segments       int    `json:"segments"`
	SyncMode       string `json:"sync_mode"`
	Syncs          uint64 `json:"syncs"`
}

func (a *app) newClientStatusCmd(cc *clientConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Print the server's role, offsets and store size",
		Long: `Print the status of the server that answers: its id and address, whether
it leads, the store's key count, earliest and next offsets, record bytes,
segments and sync mode.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				st, err := c.Status(cmd.Context())
				if err != nil {
					return err
				}
				js := jsonStatus{
					NodeID: st.NodeID, RPCAddr: st.RPCAddr, IsLeader: st.IsLeader, LeaderAddr: st.LeaderAddr,
					Version: st.Version, Keys: st.Keys, NextOffset: st.NextOffset, EarliestOffset: st.EarliestOffset,
					RecordBytes: st.Bytes, LiveBytes: st.LiveBytes, KeydirBytes: st.KeydirBytes,
					Segments: st.Segments, SyncMode: st.SyncMode, Syncs: st.Syncs,
				}
				if cc.output.json {
					return writeJSON(a.stdout, js)
				}
				return writeStatusText(a, &js)
			})
		}),
	}
}

func writeStatusText(a *app, st *jsonStatus) error {
	role := "follower"
	if st.IsLeader {
		role = "leader"
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "node\t%s (%s)\n", st.NodeID, st.RPCAddr)
	fmt.Fprintf(tw, "role\t%s (leader %s)\n", role, st.LeaderAddr)
	fmt.Fprintf(tw, "version\t%s\n", st.Version)
	fmt.Fprintf(tw, "keys\t%d\n", st.Keys)
	fmt.Fprintf(tw, "earliest offset\t%d\n", st.EarliestOffset)
	fmt.Fprintf(tw, "next offset\t%d\n", st.NextOffset)
	fmt.Fprintf(tw, "record bytes\t%s (live %s)\n", humanBytes(st.RecordBytes), humanBytes(st.LiveBytes))
	fmt.Fprintf(tw, "keydir bytes\t%s\n", humanBytes(st.KeydirBytes))
	fmt.Fprintf(tw, "segments\t%d\n", st.Segments)
	fmt.Fprintf(tw, "sync\t%s (%d fsyncs)\n", st.SyncMode, st.Syncs)
	return tw.Flush()
}

// jsonCompact is what compact -o json prints.
type jsonCompact struct {
	Merges         int     `json:"merges"`
	SegmentsMerged int     `json:"segments_merged"`
	BytesBefore    int64   `json:"bytes_before"`
	BytesAfter     int64   `json:"bytes_after"`
	BytesReclaimed int64   `json:"bytes_reclaimed"`
	Seconds        float64 `json:"seconds"`
}

func (a *app) newClientCompactCmd(cc *clientConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "compact",
		Short: "Merge the server's sealed segments now and report the bytes reclaimed",
		Long: `Ask the server to compact now: merge sealed segments, dropping superseded
records (offsets do not change), and report the bytes reclaimed. On a large
store this may take longer than the default --timeout.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				r, err := c.Compact(cmd.Context())
				if err != nil {
					return err
				}
				if cc.output.json {
					return writeJSON(a.stdout, jsonCompact{
						Merges: r.Merges, SegmentsMerged: r.SegmentsMerged, BytesBefore: r.BytesBefore, BytesAfter: r.BytesAfter,
						BytesReclaimed: r.BytesReclaimed, Seconds: r.Duration.Seconds(),
					})
				}
				if r.Merges == 0 {
					_, err = fmt.Fprintln(a.stdout, "nothing to compact")
					return err
				}
				_, err = fmt.Fprintf(a.stdout, "merged %d segments in %d merges (%v): %s -> %s, reclaimed %s\n",
					r.SegmentsMerged, r.Merges, r.Duration.Round(time.Millisecond),
					humanBytes(r.BytesBefore), humanBytes(r.BytesAfter), humanBytes(r.BytesReclaimed))
				return err
			})
		}),
	}
}
