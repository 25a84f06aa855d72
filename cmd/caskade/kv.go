package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/engine"
)

func (a *app) newPutCmd() *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "put KEY [VALUE]",
		Short: "Store VALUE under KEY and print the record's offset",
		Long: `Store VALUE under KEY and print the offset of the new record.

Without VALUE, the value is all of standard input, byte for byte. Under
--sync always the write is on disk when the offset is printed.`,
		Args: argsNamed("KEY", "[VALUE]"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			key, err := keyArg(args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("ttl") && ttl <= 0 {
				return usageErrorf("--ttl %v: want a positive duration such as 30s or 1h", ttl)
			}
			value, err := a.valueArg(args, 1)
			if err != nil {
				return err
			}
			return a.withStore(true, func(db *engine.DB) error {
				var off uint64
				if ttl > 0 {
					off, err = db.PutWithExpiry(key, value, time.Now().Add(ttl))
				} else {
					off, err = db.Put(key, value)
				}
				if err != nil {
					return keyError(err, key)
				}
				_, err = fmt.Fprintln(a.stdout, off)
				return err
			})
		}),
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "expire the key after this long (e.g. 30s, 1h); default never")
	return cmd
}

func (a *app) newGetCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print KEY's value",
		Long: `Print KEY's value, byte for byte, to standard output (followed by a
newline only when standard output is a terminal). A missing, deleted or
expired key exits with code 1.

With --json, print {key, value, offset, timestamp, expiry}; a value that is
not valid UTF-8 is base64 with "value_encoding": "base64".`,
		Args: argsNamed("KEY"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			key, err := keyArg(args[0])
			if err != nil {
				return err
			}
			return a.withStore(false, func(db *engine.DB) error {
				it, err := db.Get(key)
				if err != nil {
					return keyError(err, key)
				}
				if asJSON {
					return writeJSON(a.stdout, newJSONItem(&it))
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
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the item as JSON")
	return cmd
}

func (a *app) newDelCmd() *cobra.Command {
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
			return a.withStore(true, func(db *engine.DB) error {
				off, err := db.Delete(key)
				if err != nil {
					return keyError(err, key)
				}
				_, err = fmt.Fprintln(a.stdout, off)
				return err
			})
		}),
	}
}

func (a *app) newCASCmd() *cobra.Command {
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
			value, err := a.valueArg(args, 2)
			if err != nil {
				return err
			}
			return a.withStore(true, func(db *engine.DB) error {
				off, err := db.CompareAndSwap(key, expected, value)
				if err != nil {
					return keyError(err, key)
				}
				_, err = fmt.Fprintln(a.stdout, off)
				return err
			})
		}),
	}
}

// keyArg checks the KEY argument. The engine checks its size against
// --max-key-size.
func keyArg(s string) ([]byte, error) {
	if s == "" {
		return nil, usageErrorf("argument KEY is empty")
	}
	return []byte(s), nil
}

// offsetArg parses an offset argument.
func offsetArg(name, s string) (uint64, error) {
	off, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usageErrorf("argument %s: %q is not an offset (want an integer >= 0)", name, s)
	}
	return off, nil
}

// valueArg returns args[i], or all of standard input when there is no
// args[i]. Input over --max-value-size is refused before the store opens.
func (a *app) valueArg(args []string, i int) ([]byte, error) {
	limit := a.local.maxValueSize.n
	if i < len(args) {
		if int64(len(args[i])) > limit {
			return nil, usageErrorf("argument VALUE: %d bytes, over --max-value-size %s", len(args[i]), formatBytes(limit))
		}
		return []byte(args[i]), nil
	}
	b, err := io.ReadAll(io.LimitReader(a.stdin, limit+1))
	if err != nil {
		return nil, failuref("read VALUE from stdin: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, usageErrorf("VALUE on stdin: over --max-value-size %s", formatBytes(limit))
	}
	return b, nil
}

// keyError turns the engine's errors about one key into messages that
// name the key or the argument at fault.
func keyError(err error, key []byte) error {
	var ce *engine.CASError
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return noErrorf("key not found: %s", display(key))
	case errors.As(err, &ce):
		return casFailed(key, ce.Expected, ce.Current)
	case errors.Is(err, engine.ErrEmptyKey), errors.Is(err, engine.ErrKeyTooLarge):
		return usageErrorf("argument KEY: %w", err)
	case errors.Is(err, engine.ErrValueTooLarge):
		return usageErrorf("argument VALUE: %w", err)
	}
	return err
}

// casFailed says why a compare-and-swap on key wrote nothing (exit code 1).
func casFailed(key []byte, expected, current uint64) error {
	switch {
	case current == 0:
		return noErrorf("compare-and-swap failed: key %s is absent, expected offset %d", display(key), expected)
	case expected == 0:
		return noErrorf("compare-and-swap failed: key %s exists at offset %d, expected absent (0)", display(key), current)
	}
	return noErrorf("compare-and-swap failed: key %s is at offset %d, expected %d", display(key), current, expected)
}
