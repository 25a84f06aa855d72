package failpoint

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// arm says when an armed crash point fires.
type arm struct {
	// at > 0: crash at exactly the at-th hit.
	at uint64
	// prob > 0 (when at == 0): crash at each hit with this probability.
	// Invariant: at > 0 || 0 < prob <= 1.
	prob float64
}

// String is the arm in the syntax of EnvFailpoints, after name.
func (a arm) String() string {
	if a.at > 0 {
		return "@" + strconv.FormatUint(a.at, 10)
	}
	return "%" + strconv.FormatFloat(a.prob, 'g', -1, 64)
}

// fires reports whether the hit-th hit (counting from 1) of the point
// named name crashes: for @N exactly the N-th; for %P a draw that is a
// function of (seed, name, hit) only, so a run with the same seed crashes
// at the same hit of each point whatever the other points do.
func (a arm) fires(seed uint64, name string, hit uint64) bool {
	if a.at > 0 {
		return hit == a.at
	}
	h := splitmix64(seed ^ fnv64(name) ^ splitmix64(hit))
	u := float64(h>>11) / (1 << 53) // uniform in [0, 1)
	return u < a.prob
}

// parseFailpoints parses EnvFailpoints. An empty (or blank) spec arms
// nothing. Unknown names, duplicates, empty entries and bad counts or
// probabilities are errors naming the entry.
func parseFailpoints(spec string) (map[string]arm, error) {
	out := map[string]arm{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	var errs []error
	for i, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			errs = append(errs, fmt.Errorf("entry %d is empty", i+1))
			continue
		}
		name, a, err := parseArm(item)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q: %w", item, err))
			continue
		}
		if _, dup := out[name]; dup {
			errs = append(errs, fmt.Errorf("%q: failpoint %s is armed twice", item, name))
			continue
		}
		out[name] = a
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// parseArm parses one entry: name, name@N or name%P.
func parseArm(item string) (string, arm, error) {
	name, a := item, arm{at: 1}
	if i := strings.IndexAny(item, "@%"); i >= 0 {
		name = item[:i]
		val := item[i+1:]
		switch item[i] {
		case '@':
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil || n == 0 {
				return "", arm{}, fmt.Errorf("the hit count after @ must be a whole number from 1 up, not %q", val)
			}
			a = arm{at: n}
		case '%':
			p, err := strconv.ParseFloat(val, 64)
			if err != nil || math.IsNaN(p) || p <= 0 || p > 1 {
				return "", arm{}, fmt.Errorf("the probability after %% must be a number in (0, 1], not %q", val)
			}
			a = arm{prob: p}
		}
	}
	if !slices.Contains(names, name) {
		return "", arm{}, fmt.Errorf("unknown failpoint %q (known: %s)", name, strings.Join(names, ", "))
	}
	return name, a, nil
}

// parseBugs parses EnvBugs into the set of bug names it enables.
func parseBugs(spec string) (map[string]bool, error) {
	out := map[string]bool{}
	if strings.TrimSpace(spec) == "" {
		return out, nil
	}
	var errs []error
	for i, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("entry %d is empty", i+1))
		case !slices.Contains(bugNames, name):
			errs = append(errs, fmt.Errorf("unknown bug %q (known: %s)", name, strings.Join(bugNames, ", ")))
		case out[name]:
			errs = append(errs, fmt.Errorf("bug %s is named twice", name))
		default:
			out[name] = true
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// parseSeed parses EnvSeed; ok is false when it is blank.
func parseSeed(s string) (seed uint64, ok bool, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s=%q: not a decimal int64", EnvSeed, s)
	}
	return uint64(v), true, nil
}

// splitmix64 is SplitMix64's output function: a bijective mix of x.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// fnv64 is FNV-1a of s.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
