package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/engine"
)

// jsonOffset is what put, del, cas and produce print with -o json: the
// offset of a record they wrote.
type jsonOffset struct {
	Offset uint64 `json:"offset"`
}

// printOffset prints the offset of a written record.
func (a *app) printOffset(cc *clientConfig, off uint64) error {
	if cc.output.json {
		return writeJSON(a.stdout, jsonOffset{Offset: off})
	}
	_, err := fmt.Fprintln(a.stdout, off)
	return err
}

func (a *app) newClientPutCmd(cc *clientConfig) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "put KEY [VALUE]",
		Short: "Store VALUE under KEY and print the record's offset",
		Long: `Store VALUE under KEY and print the offset of the new record (with -o json:
{"offset": N}). The write is acknowledged, as durable as the server's
--sync promises, when the offset is printed.

Without VALUE, the value is all of standard input, byte for byte.`,
		Args: argsNamed("KEY", "[VALUE]"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			key, err := keyArg(args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("ttl") && ttl <= 0 {
				return usageErrorf("--ttl %v: want a positive duration such as 30s or 1h", ttl)
			}
			value, err := a.remoteValueArg(args, 1)
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				var opts []client.PutOption
				if ttl > 0 {
					opts = append(opts, client.WithTTL(ttl))
				}
				off, err := c.Put(cmd.Context(), key, value, opts...)
				if err != nil {
					return remoteKeyError(err, key)
				}
				return a.printOffset(cc, off)
			})
		}),
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "expire the key after this long (e.g. 30s, 1h); default never")
	return cmd
}

func (a *app) newClientGetCmd(cc *clientConfig) *cobra.Command {
	var stale bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print KEY's value",
		Long: `Print KEY's value, byte for byte, to standard output (followed by a
newline only when standard output is a terminal). A missing, deleted or
expired key exits with code 1.

With -o json, print {key, value, offset, timestamp, expiry}; a value that
is not valid UTF-8 is base64 with "value_encoding": "base64".

--stale lets any replica answer from its local state (fastest, possibly
behind the leader); by default the read is linearizable.`,
		Args: argsNamed("KEY"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			key, err := keyArg(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				var opts []client.ReadOption
				if stale {
					opts = append(opts, client.Stale())
				}
				it, err := c.Get(cmd.Context(), key, opts...)
				if err != nil {
					return remoteKeyError(err, key)
				}
				if cc.output.json {
					return writeJSON(a.stdout, clientItemJSON(&it))
				}
				if _, err := a.stdout.Write(it.Value); err != nil {
					return err
				}
				if isTerminal(a.stdout) {
					_, err = io.WriteString(a.stdout, "\n")
				}
				return err
			})
		}),
	}
	cmd.Flags().BoolVar(&stale, "stale", false, "read from any replica's local state (may be behind)")
	return cmd
}

func (a *app) newClientDelCmd(cc *clientConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "del KEY",
		Short: "Delete KEY and print the tombstone's offset",
		Long: `Delete KEY: write a tombstone and print its offset. A key with no live
value exits with code 1 and nothing is written.`,
		Args: argsNamed("KEY"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			key, err := keyArg(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				off, err := c.Delete(cmd.Context(), key)
				if err != nil {
					return remoteKeyError(err, key)
				}
				return a.printOffset(cc, off)
			})
		}),
	}
}

func (a *app) newClientCASCmd(cc *clientConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "cas KEY EXPECTED_OFFSET [VALUE]",
		Short: "Store VALUE under KEY only if the key is at EXPECTED_OFFSET",
		Long: `Compare and swap: store VALUE under KEY only if the key's current record
is at EXPECTED_OFFSET (0: the key must be absent), and print the new offset.
Otherwise print the key's current offset in the error and exit with code 1;
nothing is written.

Without VALUE, the value is all of standard input.`,
		Args: argsNamed("KEY", "EXPECTED_OFFSET", "[VALUE]"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			key, err := keyArg(args[0])
			if err != nil {
				return err
			}
			expected, err := offsetArg("EXPECTED_OFFSET", args[1])
			if err != nil {
				return err
			}
			value, err := a.remoteValueArg(args, 2)
			if err != nil {
				return err
			}
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				off, err := c.CompareAndSwap(cmd.Context(), key, expected, value)
				if err != nil {
					return remoteKeyError(err, key)
				}
				return a.printOffset(cc, off)
			})
		}),
	}
}

// remoteValueArg returns args[i], or all of standard input when there is
// no args[i]. The server checks the size against its limit; standard
// input is read up to the largest limit any server may have.
func (a *app) remoteValueArg(args []string, i int) ([]byte, error) {
	if i < len(args) {
		return []byte(args[i]), nil
	}
	limit := int64(engine.MaxValueSizeLimit)
	b, err := io.ReadAll(io.LimitReader(a.stdin, limit+1))
	if err != nil {
		return nil, failuref("read VALUE from stdin: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, usageErrorf("VALUE on stdin: over %s, the largest value a server accepts", formatBytes(limit))
	}
	return b, nil
}

// remoteKeyError turns the server's answers about one key into messages
// that name the key or the argument at fault. Other errors are left to
// classify.
func remoteKeyError(err error, key []byte) error {
	var ce *client.CASError
	switch {
	case errors.Is(err, client.ErrNotFound):
		return noErrorf("key not found: %s", display(key))
	case errors.As(err, &ce):
		return casFailed(key, ce.Expected, ce.Current)
	case errors.Is(err, client.ErrEmptyKey), errors.Is(err, client.ErrKeyTooLarge):
		return usageErrorf("argument KEY: %s", serverMessage(err))
	case errors.Is(err, client.ErrValueTooLarge), errors.Is(err, client.ErrTooLarge):
		return usageErrorf("argument VALUE: %s", serverMessage(err))
	}
	return err
}

// serverMessage returns the server's own words for a refused request:
// the description of the one field at fault (it gives the limit), or the
// whole message, or err's text.
func serverMessage(err error) string {
	var e *client.Error
	switch {
	case !errors.As(err, &e):
		return err.Error()
	case len(e.Violations) == 1 && e.Violations[0].Description != "":
		return e.Violations[0].Description
	case e.Message != "":
		return e.Message
	}
	return err.Error()
}

// clientItemJSON is the jsonItem of an item read over the client.
func clientItemJSON(it *client.Item) jsonItem {
	return itemJSON(it.Key, it.Value, it.Offset, unixNano(it.Timestamp), unixNano(it.Expiry))
}

// clientRecordJSON is the jsonRecord of a record read over the client.
func clientRecordJSON(r *client.Record) jsonRecord {
	return recordJSON(r.Offset, r.Type.String(), r.Key, r.Value, unixNano(r.Timestamp), unixNano(r.Expiry))
}

// scan with a server: the same output as local scan.
func (a *app) newClientScanCmd(cc *clientConfig) *cobra.Command {
	var (
		f     scanFlags
		stale bool
	)
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "List live keys in byte order",
		Long: `List live keys in byte order, with their values unless --keys-only: one
"KEY<TAB>VALUE" line each. Keys or values that are not printable text
(tabs, newlines, invalid UTF-8) are shown Go-quoted; -o json gives the
exact bytes as {items, next}.

--start is inclusive, --end exclusive; --prefix restricts the range further.
The scan follows the server's pages up to --limit keys (0: all). When
--limit stops it early, the key to pass as --start for the next page is
printed on stderr (and as "next" with -o json).`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if f.limit < 0 {
				return usageErrorf("--limit %d: want 0 (no limit) or more", f.limit)
			}
			if f.start != "" && f.end != "" && f.end < f.start {
				return usageErrorf("--end %q is before --start %q", f.end, f.start)
			}
			f.json = cc.output.json
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				return a.remoteScan(cmd, c, &f, stale)
			})
		}),
	}
	fl := cmd.Flags()
	fl.StringVar(&f.prefix, "prefix", "", "only keys with this prefix")
	fl.StringVar(&f.start, "start", "", "first key (inclusive)")
	fl.StringVar(&f.end, "end", "", "end of the range (exclusive)")
	fl.IntVar(&f.limit, "limit", 0, "at most this many keys; 0 means no limit")
	fl.BoolVar(&f.keysOnly, "keys-only", false, "print keys without values")
	fl.BoolVar(&stale, "stale", false, "read from any replica's local state (may be behind)")
	return cmd
}

func (a *app) remoteScan(cmd *cobra.Command, c *client.Client, f *scanFlags, stale bool) error {
	o := client.ScanOptions{
		Start:    bytesOrNil(f.start),
		End:      bytesOrNil(f.end),
		Prefix:   bytesOrNil(f.prefix),
		KeysOnly: f.keysOnly,
	}
	if stale {
		o.Consistency = client.ConsistencyStale
	}
	w := bufio.NewWriter(a.stdout)
	out := jsonScan{Items: []jsonItem{}}
	left := f.limit // items still wanted; 0: no limit
	var next []byte // the first key past --limit, once seen
	for {
		o.Limit = scanPage
		if f.limit > 0 {
			// One more than wanted: the extra item is where the next
			// page starts (page tokens are opaque; keys are not).
			o.Limit = min(left+1, scanPage)
		}
		page, err := c.Scan(cmd.Context(), o)
		if errors.Is(err, client.ErrInvalidArgument) {
			return usageErrorf("--prefix/--start/--end: %w", err)
		}
		if err != nil {
			return err
		}
		items := page.Items
		if f.limit > 0 && len(items) > left {
			next = items[left].Key
			items = items[:left]
		}
		for i := range items {
			it := &items[i]
			switch {
			case f.json:
				out.Items = append(out.Items, clientItemJSON(it))
			case f.keysOnly:
				fmt.Fprintf(w, "%s\n", display(it.Key))
			default:
				fmt.Fprintf(w, "%s\t%s\n", display(it.Key), display(it.Value))
			}
		}
		left -= len(items)
		if next != nil || page.NextPageToken == nil {
			break
		}
		o.PageToken = page.NextPageToken
	}
	return a.endScan(w, f, &out, next)
}
