package bench

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caskade/caskade/client"
)

// Workload names what the workers of a run do.
type Workload string

// Workloads.
const (
	Put     Workload = "put"
	Get     Workload = "get"
	Mixed   Workload = "mixed"
	Produce Workload = "produce"
	Consume Workload = "consume"
)

// Workloads lists every workload, in the order help text shows them.
func Workloads() []Workload { return []Workload{Put, Get, Mixed, Produce, Consume} }

// ParseWorkload returns the workload called s.
func ParseWorkload(s string) (Workload, error) {
	for _, w := range Workloads() {
		if string(w) == s {
			return w, nil
		}
	}
	return "", fmt.Errorf("%w: unknown workload %q (want put, get, mixed, produce or consume)", ErrInvalidOptions, s)
}

// Keyed reports whether the workload uses the key space (Keys, KeySize).
func (w Workload) Keyed() bool { return w == Put || w == Get || w == Mixed }

// Reads reports whether the workload reads (and so has a Consistency).
func (w Workload) Reads() bool { return w == Get || w == Mixed || w == Consume }

// Defaults of Options.
const (
	DefaultClients   = 16
	DefaultKeySize   = 16
	DefaultValueSize = 256
	DefaultKeys      = 10000
	DefaultRecords   = 10000
)

// KeyPrefix starts every key the generator writes, so that its keys can be
// told apart from others (scan --prefix bench-).
const KeyPrefix = "bench-"

// ErrInvalidOptions marks Options that cannot be run; nothing was sent.
var ErrInvalidOptions = errors.New("bench: invalid options")

// Options configure a run. Exactly one of Total and Duration is set.
type Options struct {
	Workload Workload
	// Clients is the number of concurrent workers; 0 means 16. They share
	// the Target (one client, its connections multiplexed).
	Clients int
	// Total is the number of operations to do, over all workers.
	Total int64
	// Duration is how long workers start operations.
	Duration time.Duration
	// KeySize is the length of every key in bytes; 0 means 16. It must
	// hold KeyPrefix and the number of the largest key.
	KeySize int
	// ValueSize is the length of every value written, in bytes; 0 means
	// 256 (a value of zero bytes is not a load).
	ValueSize int
	// Keys is the size of the key space of put, get and mixed; 0 means
	// 10000.
	Keys int
	// Records is how many records consume produces first when the log is
	// empty and Populate is set; 0 means 10000.
	Records int
	// Consistency of the reads of get, mixed and consume.
	Consistency client.Consistency
	// ReadRatio is the fraction of mixed operations that are reads, in
	// [0, 1]; the rest are puts. Only mixed uses it (0: all puts).
	ReadRatio float64
	// Populate makes get and mixed write every key of the key space once
	// before the measured run, and consume produce Records records when
	// the log is empty. Those writes are not in the Report's counts.
	Populate bool
	// Seed seeds the random choices of keys and reads; 0 means a seed
	// from the clock. Each worker draws from its own stream.
	Seed uint64
	// Progress, when set, is called about every ProgressInterval, and once
	// when a phase ends, from a goroutine of its own: it must return
	// quickly.
	Progress func(Progress)
}

// ProgressInterval is how often Options.Progress is called.
const ProgressInterval = 100 * time.Millisecond

// Phase is the part of a run that Progress reports on.
type Phase string

// Phases of a run.
const (
	PhasePopulate Phase = "populate" // writing the keys or records to read
	PhaseRun      Phase = "run"      // the measured operations
)

// Progress is how far a phase has gone.
type Progress struct {
	Phase   Phase
	Done    int64         // operations completed (successes and errors)
	Errors  int64         // of which errors
	Total   int64         // operations the phase does; 0 when bounded by Duration
	Elapsed time.Duration // since the phase began
	// Duration bounds the phase when Total is 0.
	Duration time.Duration
}

// withDefaults returns o with its zero fields set to the defaults.
func (o Options) withDefaults() Options {
	if o.Clients == 0 {
		o.Clients = DefaultClients
	}
	if o.KeySize == 0 {
		o.KeySize = DefaultKeySize
	}
	if o.ValueSize == 0 {
		o.ValueSize = DefaultValueSize
	}
	if o.Keys == 0 {
		o.Keys = DefaultKeys
	}
	if o.Records == 0 {
		o.Records = DefaultRecords
	}
	return o
}

// validate reports every problem of o (after withDefaults), each naming
// the field, joined; every one matches ErrInvalidOptions.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidOptions}, args...)...))
	}
	if _, err := ParseWorkload(string(o.Workload)); err != nil {
		errs = append(errs, err)
	}
	if o.Clients < 1 {
		bad("Clients %d: want at least 1", o.Clients)
	}
	switch {
	case (o.Total > 0) == (o.Duration > 0):
		bad("want exactly one of Total and Duration (Total %d, Duration %v)", o.Total, o.Duration)
	case o.Total < 0:
		bad("Total %d: want at least 1", o.Total)
	case o.Duration < 0:
		bad("Duration %v: want a positive duration", o.Duration)
	}
	if o.ValueSize < 1 {
		bad("ValueSize %d: want at least 1", o.ValueSize)
	}
	if o.Keys < 1 {
		bad("Keys %d: want at least 1", o.Keys)
	}
	if o.Records < 1 {
		bad("Records %d: want at least 1", o.Records)
	}
	if need := MinKeySize(o.Keys); o.Keys >= 1 && o.KeySize < need {
		bad("KeySize %d is too small for %d keys: keys are %q and %d digits, want at least %d", o.KeySize, o.Keys, KeyPrefix, need-len(KeyPrefix), need)
	}
	if o.ReadRatio < 0 || o.ReadRatio > 1 || o.ReadRatio != o.ReadRatio {
		bad("ReadRatio %v: want a fraction in [0, 1]", o.ReadRatio)
	}
	if o.Consistency != client.ConsistencyLinearizable && o.Consistency != client.ConsistencyStale {
		bad("Consistency %d: want linearizable or stale", o.Consistency)
	}
	return errors.Join(errs...)
}

// MinKeySize is the smallest KeySize that holds every key of a key space
// of n keys: KeyPrefix and the digits of n-1.
func MinKeySize(n int) int {
	return len(KeyPrefix) + len(strconv.Itoa(max(n-1, 0)))
}

// Key returns key number i of a key space, size bytes long: KeyPrefix and
// i zero-padded to fill the rest. size must be at least MinKeySize of the
// key space.
func Key(i, size int) []byte {
	digits := strconv.Itoa(i)
	b := make([]byte, 0, size)
	b = append(b, KeyPrefix...)
	b = append(b, strings.Repeat("0", max(size-len(KeyPrefix)-len(digits), 0))...)
	return append(b, digits...)
}
