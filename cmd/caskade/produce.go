package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/engine"
)

func (a *app) newProduceCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "produce [VALUE...]",
		Short: "Append keyless records to the log and print their offsets",
		Long: `Append keyless records (messages of the log view) and print their offsets,
one per line. Each VALUE is one record; with no VALUE, each line of standard
input is one record (without its line ending).

All input is checked against --max-value-size before anything is written.`,
		Args: argsNamed("[VALUE...]"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			values, err := a.produceValues(args)
			if err != nil {
				return err
			}
			return a.withStore(true, func(db *engine.DB) error {
				w := bufio.NewWriter(a.stdout)
				defer w.Flush()
				for i, v := range values {
					off, err := db.Produce(v)
					if err != nil {
						return fmt.Errorf("record %d of %d: %w", i+1, len(values), err)
					}
					fmt.Fprintln(w, off)
				}
				return w.Flush()
			})
		}),
	}
}

// produceValues returns the records to produce: the arguments, or the
// lines of standard input, each checked against --max-value-size.
func (a *app) produceValues(args []string) ([][]byte, error) {
	limit := a.local.maxValueSize.n
	if len(args) > 0 {
		values := make([][]byte, len(args))
		for i, s := range args {
			if int64(len(s)) > limit {
				return nil, usageErrorf("argument VALUE %d: %d bytes, over --max-value-size %s", i+1, len(s), formatBytes(limit))
			}
			values[i] = []byte(s)
		}
		return values, nil
	}
	sc := bufio.NewScanner(a.stdin)
	sc.Buffer(make([]byte, 0, 64<<10), int(min(limit, 1<<30))+2) // room for the line ending
	var values [][]byte
	for sc.Scan() {
		if int64(len(sc.Bytes())) > limit {
			return nil, usageErrorf("stdin line %d: %d bytes, over --max-value-size %s", len(values)+1, len(sc.Bytes()), formatBytes(limit))
		}
		values = append(values, bytes.Clone(sc.Bytes()))
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return nil, usageErrorf("stdin line %d: over --max-value-size %s", len(values)+1, formatBytes(limit))
	}
	if err := sc.Err(); err != nil {
		return nil, failuref("read stdin: %w", err)
	}
	return values, nil
}

// consumeBatch is how many records consume reads per engine call.
const consumeBatch = 1000

// jsonConsume is what consume --json prints: the records, the offset to
// pass as --from to continue, and the log's high-water mark (the offset
// the next write gets).
type jsonConsume struct {
	Records       []jsonRecord `json:"records"`
	Next          uint64       `json:"next"`
	HighWaterMark uint64       `json:"high_water_mark"`
}

func (a *app) newConsumeCmd() *cobra.Command {
	var (
		from   uint64
		maxN   int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Print the log's records in offset order",
		Long: `Print the log's records in offset order, from --from (the first record at
or after it; 0 is the log start) up to the high-water mark, one
"OFFSET<TAB>TYPE<TAB>KEY<TAB>VALUE" line each. TYPE is put, tombstone (no
value) or message (a keyless record from produce: empty KEY). Keys and
values that are not printable text are Go-quoted; --json gives exact bytes.

When --max stops early, the offset to continue from is printed on stderr
(and as "next" with --json). An offset before the log start or past its
end exits with code 1.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if maxN < 0 {
				return usageErrorf("--max %d: want 0 (no limit) or more", maxN)
			}
			return a.withStore(false, func(db *engine.DB) error {
				return a.consume(cmd, db, from, maxN, asJSON)
			})
		}),
	}
	f := cmd.Flags()
	f.Uint64Var(&from, "from", 0, "first offset to read; 0 means the log start")
	f.IntVar(&maxN, "max", 0, "at most this many records; 0 means up to the high-water mark")
	f.BoolVar(&asJSON, "json", false, "print {records, next, high_water_mark} as JSON")
	return cmd
}

func (a *app) consume(cmd *cobra.Command, db *engine.DB, from uint64, maxN int, asJSON bool) error {
	w := bufio.NewWriter(a.stdout)
	out := jsonConsume{Records: []jsonRecord{}}
	next, n := from, 0
	var hwm uint64
	for {
		if err := cmd.Context().Err(); err != nil {
			return err
		}
		batch := consumeBatch
		if maxN > 0 {
			batch = min(batch, maxN-n)
		}
		recs, h, err := db.ReadFrom(next, batch)
		if err != nil {
			return offsetError(err)
		}
		hwm = h
		for i := range recs {
			r := &recs[i]
			if asJSON {
				out.Records = append(out.Records, newJSONRecord(r))
			} else {
				writeRecordText(w, r)
			}
		}
		n += len(recs)
		if len(recs) > 0 {
			next = recs[len(recs)-1].Offset + 1
		}
		if len(recs) == 0 || next >= hwm || (maxN > 0 && n == maxN) {
			break
		}
	}
	if next == 0 || next > hwm {
		next = hwm // nothing read from an empty log
	}
	if asJSON {
		out.Next, out.HighWaterMark = next, hwm
		if err := writeJSON(w, out); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !asJSON && maxN > 0 && n == maxN && next < hwm {
		fmt.Fprintf(a.stderr, "more records: continue with --from %d (high-water mark %d)\n", next, hwm)
	}
	return nil
}

// writeRecordText writes one record as a tab-separated line.
func writeRecordText(w io.Writer, r *engine.Record) {
	writeRecordLine(w, r.Offset, recordType(r), r.Key, r.Value)
}

// offsetError explains a read outside the log.
func offsetError(err error) error {
	var oe *engine.OffsetError
	if !errors.As(err, &oe) {
		return err
	}
	if oe.Requested < oe.Earliest {
		return noErrorf("--from %d is before the log start (earliest offset %d)", oe.Requested, oe.Earliest)
	}
	return noErrorf("--from %d is past the end of the log (next offset %d)", oe.Requested, oe.Next)
}
