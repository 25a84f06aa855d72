package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/client"
)

// Batching of produce from standard input: a batch is sent when it holds
// this many lines or bytes, or when no more input is buffered (so that
// lines typed by hand go out at once).
const (
	produceBatchLines = 1000
	produceBatchBytes = 1 << 20
)

func (a *app) newClientProduceCmd(cc *clientConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "produce [VALUE...]",
		Short: "Append keyless records to the log and print their offsets",
		Long: `Append keyless records (messages of the log view) and print their offsets,
one per line (with -o json, one {"offset": N} per line).

Each VALUE is one record; several VALUEs are appended as one batch
(contiguous offsets, all or nothing). With no VALUE, each line of standard
input is one record (without its line ending): lines stream to the server
in batches as they are read, and each offset is printed once the server
acknowledges it. A line the server refuses (over its value size limit)
stops the command with exit code 2: the batches acknowledged before it
stay written, nothing of the batch holding it is.`,
		Args: argsNamed("[VALUE...]"),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				switch len(args) {
				case 0:
					return a.produceStdin(cmd.Context(), cc, c)
				case 1:
					off, err := c.Produce(cmd.Context(), []byte(args[0]))
					if err != nil {
						return produceError(err, "argument VALUE")
					}
					return a.printOffset(cc, off)
				}
				return a.produceArgs(cmd.Context(), cc, c, args)
			})
		}),
	}
}

// produceArgs appends args as one batch over a ProduceStream.
func (a *app) produceArgs(ctx context.Context, cc *clientConfig, c *client.Client, args []string) error {
	values := make([][]byte, len(args))
	for i, s := range args {
		values[i] = []byte(s)
	}
	p, err := c.NewProducer(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Send(values...); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := p.CloseSend(); err != nil {
		return err
	}
	ack, err := p.Recv()
	if err != nil {
		return produceError(err, refusedInput(err, "argument VALUE", 0))
	}
	return a.printAck(cc, bufio.NewWriter(a.stdout), ack)
}

// produceStdin streams the lines of standard input. A goroutine reads and
// sends batches while this one prints the acknowledgements, so reading,
// sending and appending overlap.
func (a *app) produceStdin(ctx context.Context, cc *clientConfig, c *client.Client) error {
	p, err := c.NewProducer(ctx)
	if err != nil {
		return err
	}
	defer p.Close()
	// The sender reports its error here before it ends the stream, so an
	// error of Recv caused by the sender can be told from the server's.
	// When Recv fails first, the sender is not waited for: it may be
	// blocked reading standard input, and it ends at its next Send.
	sendErr := make(chan error, 1)
	go func() {
		err := sendLines(p, bufio.NewReaderSize(a.stdin, produceBatchBytes))
		sendErr <- err
		if err != nil {
			p.Close()
		}
	}()
	w := bufio.NewWriter(a.stdout)
	acked := 0 // lines acknowledged
	for {
		ack, err := p.Recv()
		if errors.Is(err, io.EOF) {
			if err := <-sendErr; err != nil {
				return err
			}
			return w.Flush()
		}
		if err != nil {
			w.Flush()
			select {
			case serr := <-sendErr:
				if serr != nil {
					return serr
				}
			default:
			}
			return produceError(err, refusedInput(err, "stdin line", acked))
		}
		if err := a.printAck(cc, w, ack); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		acked += ack.Count
	}
}

// sendLines sends the lines of r in batches, then closes the sending side.
func sendLines(p *client.Producer, r *bufio.Reader) error {
	var (
		batch [][]byte
		size  int
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := p.Send(batch...)
		batch, size = nil, 0
		if errors.Is(err, io.EOF) {
			return nil // the stream ended; Recv tells why
		}
		return err
	}
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			batch = append(batch, line)
			size += len(line)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return failuref("read stdin: %w", err)
		}
		if errors.Is(err, io.EOF) || len(batch) >= produceBatchLines || size >= produceBatchBytes || r.Buffered() == 0 {
			if ferr := flush(); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return p.CloseSend()
		}
	}
}

// printAck prints the offsets of an acknowledged batch.
func (a *app) printAck(cc *clientConfig, w *bufio.Writer, ack client.Ack) error {
	for off := ack.First; off < ack.First+uint64(ack.Count); off++ {
		if cc.output.json {
			if err := writeJSON(w, jsonOffset{Offset: off}); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(w, off)
		}
	}
	return w.Flush()
}

// produceError names the input a refused value came from.
func produceError(err error, what string) error {
	if errors.Is(err, client.ErrInvalidArgument) || errors.Is(err, client.ErrTooLarge) {
		return usageErrorf("%s: %s", what, serverMessage(err))
	}
	return err
}

// refusedInput names the input the server refused in a batch: what and
// the 1-based number of the value, which the server names values[i]
// within the batch that followed the first acked values.
func refusedInput(err error, what string, acked int) string {
	var e *client.Error
	if errors.As(err, &e) && len(e.Violations) > 0 {
		var i int
		if _, serr := fmt.Sscanf(e.Violations[0].Field, "values[%d]", &i); serr == nil {
			return fmt.Sprintf("%s %d", what, acked+i+1)
		}
	}
	return fmt.Sprintf("%s %d or later", what, acked+1)
}

// jsonConsume (produce.go) is what consume -o json prints without
// --follow; with --follow it prints one jsonRecord per line as records
// arrive.

func (a *app) newClientConsumeCmd(cc *clientConfig) *cobra.Command {
	var (
		from          uint64
		limit         int
		follow, stale bool
		prefix        string
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Print the log's records in offset order",
		Long: `Print the log's records in offset order, from --from (the first record at
or after it; 0 is the log start), one "OFFSET<TAB>TYPE<TAB>KEY<TAB>VALUE"
line each. TYPE is put, tombstone (no value) or message (a keyless record
from produce: empty KEY). Keys and values that are not printable text are
Go-quoted; -o json gives exact bytes.

Without --follow, consume stops at the high-water mark (the offset the next
write gets); -o json prints {records, next, high_water_mark}, and when
--limit stops early the offset to continue from is printed on stderr. With
--follow it waits for new records until interrupted (exit code 130) or
--limit records; -o json prints one record object per line. A follower
that loses the server reconnects and resumes after the last record it
printed: no record is printed twice or skipped.

--prefix shows only puts and tombstones of keys with that prefix (with
--follow: a watch). An offset before the log start or past its end exits
with code 1.`,
		Args: cobra.NoArgs,
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageErrorf("--limit %d: want 0 (no limit) or more", limit)
			}
			opts := &client.ConsumerOptions{
				Follow:    follow,
				KeyPrefix: bytesOrNil(prefix),
				OnRetry: func(err error, wait time.Duration) {
					a.logger.Warn("consume: reconnecting", "err", err, "in", wait.Round(time.Millisecond))
				},
			}
			if stale {
				opts.Consistency = client.ConsistencyStale
			}
			if !follow {
				opts.MaxRetries = 2 // a one-off read fails soon when no server answers
			}
			return a.withClient(cmd.Context(), cc, func(c *client.Client) error {
				cons := client.NewConsumer(c, from, opts)
				defer cons.Close()
				return a.remoteConsume(cmd.Context(), cc, c, cons, from, limit, follow)
			})
		}),
	}
	f := cmd.Flags()
	f.Uint64Var(&from, "from", 0, "first offset to read; 0 means the log start")
	f.IntVar(&limit, "limit", 0, "at most this many records; 0 means no limit")
	f.BoolVar(&follow, "follow", false, "wait for new records instead of stopping at the high-water mark")
	f.StringVar(&prefix, "prefix", "", "only puts and tombstones of keys with this prefix")
	f.BoolVar(&stale, "stale", false, "read from any replica's local state (may be behind)")
	return cmd
}

func (a *app) remoteConsume(ctx context.Context, cc *clientConfig, c *client.Client, cons *client.Consumer, from uint64, limit int, follow bool) error {
	w := bufio.NewWriter(a.stdout)
	defer w.Flush()
	out := jsonConsume{Records: []jsonRecord{}}
	n := 0
	for limit == 0 || n < limit {
		r, err := cons.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.Flush()
			return remoteOffsetError(err, from)
		}
		n++
		switch {
		case cc.output.json && follow:
			err = writeJSON(w, clientRecordJSON(&r))
		case cc.output.json:
			out.Records = append(out.Records, clientRecordJSON(&r))
		default:
			writeRecordLine(w, r.Offset, r.Type.String(), r.Key, r.Value)
		}
		if err != nil {
			return err
		}
		if follow {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	if follow {
		return w.Flush()
	}
	next, hwm := cons.Position(), cons.HighWaterMark()
	if hwm == 0 {
		// No batch came (an empty log, nothing past --from, or nothing
		// matching --prefix): ask for the high-water mark.
		var err error
		if _, hwm, err = c.Consume(ctx, next); err != nil {
			return remoteOffsetError(err, from)
		}
	}
	if next == 0 || next > hwm {
		next = hwm // nothing read from an empty log
	}
	if cc.output.json {
		out.Next, out.HighWaterMark = next, hwm
		if err := writeJSON(w, out); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if !cc.output.json && limit > 0 && n == limit && next < hwm {
		fmt.Fprintf(a.stderr, "more records: continue with --from %d (high-water mark %d)\n", next, hwm)
	}
	return nil
}

// remoteOffsetError explains a read outside the log.
func remoteOffsetError(err error, from uint64) error {
	var oe *client.OffsetError
	if !errors.As(err, &oe) {
		return err
	}
	what := fmt.Sprintf("--from %d", oe.Requested)
	if oe.Requested != from {
		what = fmt.Sprintf("offset %d", oe.Requested)
	}
	if oe.Requested < oe.Earliest {
		return noErrorf("%s is before the log start (earliest offset %d)", what, oe.Earliest)
	}
	return noErrorf("%s is past the end of the log (next offset %d)", what, oe.Next)
}
