package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/caskade/caskade/engine"
)

// syncFlag is a pflag.Value holding an engine.SyncMode.
type syncFlag struct{ mode engine.SyncMode }

func (s *syncFlag) Set(v string) error {
	m, err := engine.ParseSyncMode(v)
	if err != nil {
		return err
	}
	s.mode = m
	return nil
}

func (s *syncFlag) String() string { return s.mode.String() }
func (s *syncFlag) Type() string   { return "mode" }

// Binary size units accepted by byteSize.
const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// byteSize is a pflag.Value for a size in bytes within [min, max]: a plain
// integer, or an integer with a binary unit (K, KiB, M, MiB, G, GiB; any
// case). Values out of range are refused when set, so the error names the
// flag or variable that gave them.
type byteSize struct {
	n        int64
	min, max int64 // Invariant: min <= n <= max once set
}

func (b *byteSize) Set(v string) error {
	n, err := parseBytes(v)
	if err != nil {
		return err
	}
	if n < b.min || n > b.max {
		return fmt.Errorf("%s is outside [%s, %s]", formatBytes(n), formatBytes(b.min), formatBytes(b.max))
	}
	b.n = n
	return nil
}

func (b *byteSize) String() string { return formatBytes(b.n) }
func (b *byteSize) Type() string   { return "bytes" }

// parseBytes parses "4096", "64KiB", "8m", "1GiB".
func parseBytes(v string) (int64, error) {
	s := strings.TrimSpace(v)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q is not a size (want a number of bytes, optionally with KiB, MiB or GiB)", v)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: too large", v)
	}
	var mult int64
	switch strings.ToLower(strings.TrimSpace(s[i:])) {
	case "", "b":
		mult = 1
	case "k", "ki", "kib":
		mult = kib
	case "m", "mi", "mib":
		mult = mib
	case "g", "gi", "gib":
		mult = gib
	default:
		return 0, fmt.Errorf("%q has an unknown unit (want KiB, MiB or GiB)", v)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is not a size: too large", v)
	}
	return n * mult, nil
}

// formatBytes prints n with the largest binary unit that divides it.
func formatBytes(n int64) string {
	switch {
	case n != 0 && n%gib == 0:
		return fmt.Sprintf("%dGiB", n/gib)
	case n != 0 && n%mib == 0:
		return fmt.Sprintf("%dMiB", n/mib)
	case n != 0 && n%kib == 0:
		return fmt.Sprintf("%dKiB", n/kib)
	}
	return strconv.FormatInt(n, 10)
}

// hourWindow is a pflag.Value for hours of the day, "START-END" (22-6
// wraps midnight); empty means all day.
type hourWindow struct{ start, end int }

func (w *hourWindow) Set(v string) error {
	v = strings.TrimSpace(v)
	if v == "" {
		*w = hourWindow{}
		return nil
	}
	a, b, ok := strings.Cut(v, "-")
	start, err1 := strconv.Atoi(strings.TrimSpace(a))
	end, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || start < 0 || start > 23 || end < 0 || end > 23 {
		return fmt.Errorf("%q is not START-END with hours in [0, 23]", v)
	}
	*w = hourWindow{start: start, end: end}
	return nil
}

func (w *hourWindow) String() string {
	if w.start == w.end {
		return ""
	}
	return fmt.Sprintf("%d-%d", w.start, w.end)
}

func (w *hourWindow) Type() string { return "hours" }
