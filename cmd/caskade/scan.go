package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/engine"
)

// scanPage is how many items an unlimited scan reads per engine call, so
// that text output streams instead of collecting every key first.
const scanPage = 1000

// scanFlags are the flags of scan.
type scanFlags struct {
	prefix, start, end string
	limit              int
	keysOnly, json     bool
}

// jsonScan is what scan --json prints: one page of items, and where the
// next page starts (absent when the range is exhausted).
type jsonScan struct {
	Items        []jsonItem `json:"items"`
	Next         *string    `json:"next,omitempty"`
	NextEncoding string     `json:"next_encoding,omitempty"`
}

func (a *app) newScanCmd() *cobra.Command {
	var f scanFlags
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "List live keys in byte order",
		Long: `List live keys in byte order, with their values unless --keys-only: one
"KEY<TAB>VALUE" line each. Keys or values that are not printable text
(tabs, newlines, invalid UTF-8) are shown Go-quoted; --json gives the exact
bytes.

--start is inclusive, --end exclusive; --prefix restricts the range further.
When --limit stops the scan early, the key to pass as --start for the next
page is printed on stderr (and as "next" with --json).`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if f.limit < 0 {
				return usageErrorf("--limit %d: want 0 (no limit) or more", f.limit)
			}
			if f.start != "" && f.end != "" && f.end < f.start {
				return usageErrorf("--end %q is before --start %q", f.end, f.start)
			}
			return a.withStore(false, func(db *engine.DB) error { return a.scan(cmd, db, &f) })
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.prefix, "prefix", "", "only keys with this prefix")
	fl.StringVar(&f.start, "start", "", "first key (inclusive)")
	fl.StringVar(&f.end, "end", "", "end of the range (exclusive)")
	fl.IntVar(&f.limit, "limit", 0, "at most this many keys; 0 means no limit")
	fl.BoolVar(&f.keysOnly, "keys-only", false, "print keys without values")
	fl.BoolVar(&f.json, "json", false, "print {items, next} as JSON")
	return cmd
}

func (a *app) scan(cmd *cobra.Command, db *engine.DB, f *scanFlags) error {
	o := engine.ScanOptions{
		Start:    bytesOrNil(f.start),
		End:      bytesOrNil(f.end),
		Prefix:   bytesOrNil(f.prefix),
		KeysOnly: f.keysOnly,
	}
	w := bufio.NewWriter(a.stdout)
	var out jsonScan
	out.Items = []jsonItem{}
	left := f.limit // items still wanted; 0: no limit
	var next []byte
	for {
		if err := cmd.Context().Err(); err != nil {
			return err
		}
		o.Limit = scanPage
		if f.limit > 0 {
			o.Limit = min(left, scanPage)
		}
		res, err := db.Scan(o)
		if errors.Is(err, engine.ErrBadRange) {
			return usageErrorf("--prefix/--start/--end: %w", err)
		}
		if err != nil {
			return err
		}
		for i := range res.Items {
			it := &res.Items[i]
			switch {
			case f.json:
				out.Items = append(out.Items, newJSONItem(it))
			case f.keysOnly:
				fmt.Fprintf(w, "%s\n", display(it.Key))
			default:
				fmt.Fprintf(w, "%s\t%s\n", display(it.Key), display(it.Value))
			}
		}
		left -= len(res.Items)
		next = res.Next
		if next == nil || (f.limit > 0 && left == 0) {
			break
		}
		o.Start = next
	}
	return a.endScan(w, f, &out, next)
}

// bytesOrNil maps an unset string flag to nil (unbounded).
func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return bytes.Clone([]byte(s))
}

// endScan finishes a scan's output, local or remote: the JSON document
// with its continuation key, or, in text, a note on stderr saying where
// to continue.
func (a *app) endScan(w *bufio.Writer, f *scanFlags, out *jsonScan, next []byte) error {
	if f.json {
		if next != nil {
			s, enc := encodeBytes(next)
			out.Next, out.NextEncoding = &s, enc
		}
		if err := writeJSON(w, out); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if next != nil && !f.json {
		fmt.Fprintf(a.stderr, "more keys: continue with --start %s\n", display(next))
	}
	return nil
}
