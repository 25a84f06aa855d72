//go:build failpoints

package failpoint

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Enabled reports whether this binary was built with -tags failpoints.
const Enabled = true

// config is what the environment (or Configure) asked for. Replaced
// whole, never edited, except for the hit counters.
type config struct {
	// points holds every crash point by name, armed or not.
	points map[string]*point
	bugs   map[string]bool // enabled bugs
	seed   uint64          // of the name%P draws
}

// point is a crash point: how it is armed, and its hits so far.
type point struct {
	armed bool
	arm   arm // when armed
	hits  atomic.Uint64
}

// current is the configuration in force. The only package-level state:
// failpoints belong to the process, and Hit is called from packages that
// must not take a failpoint handle through their APIs.
var current atomic.Pointer[config]

// init reads the environment once. Bad input stops the process before it
// does anything, so a typo cannot run a test without its fault.
func init() {
	c, err := newConfig(os.Getenv(EnvFailpoints), os.Getenv(EnvBugs), os.Getenv(EnvSeed))
	if err != nil {
		fmt.Fprintf(os.Stderr, "caskade: %v\n", err)
		os.Exit(2)
	}
	current.Store(c)
	if s := c.String(); s != "" {
		fmt.Fprintf(os.Stderr, "caskade: %s\n", s)
	}
}

// newConfig parses the three environment variables' values.
func newConfig(failpoints, bugs, seed string) (*config, error) {
	arms, err := parseFailpoints(failpoints)
	if err != nil {
		return nil, fmt.Errorf("$%s=%q: %w", EnvFailpoints, failpoints, err)
	}
	b, err := parseBugs(bugs)
	if err != nil {
		return nil, fmt.Errorf("$%s=%q: %w", EnvBugs, bugs, err)
	}
	s, seeded, err := parseSeed(seed)
	if err != nil {
		return nil, err
	}
	if !seeded {
		s = uint64(time.Now().UnixNano())
	}
	c := &config{points: map[string]*point{}, bugs: b, seed: s}
	for _, name := range names {
		a, ok := arms[name]
		c.points[name] = &point{armed: ok, arm: a}
	}
	return c, nil
}

// String describes what is armed and enabled, or is "" when nothing is.
func (c *config) String() string {
	var parts []string
	var arms []string
	prob := false
	for _, n := range names {
		if p := c.points[n]; p.armed {
			arms = append(arms, n+p.arm.String())
			prob = prob || p.arm.at == 0
		}
	}
	if len(arms) > 0 {
		s := "failpoints armed: " + strings.Join(arms, ", ")
		if prob {
			s += fmt.Sprintf(" (%s=%d)", EnvSeed, int64(c.seed))
		}
		parts = append(parts, s)
	}
	var bugs []string
	for _, n := range bugNames {
		if c.bugs[n] {
			bugs = append(bugs, n)
		}
	}
	if len(bugs) > 0 {
		parts = append(parts, "bugs enabled: "+strings.Join(bugs, ", "))
	}
	return strings.Join(parts, "; ")
}

// Hit marks the crash point name: when the point is armed and this hit is
// the one it is armed for, the process writes its crash line (see
// CrashMarker) to stderr and kills itself with SIGKILL, as kill -9 would.
// Hitting a name that is not one of Names panics (a bug in the hook).
func Hit(name string) {
	c := current.Load()
	p := c.points[name]
	if p == nil {
		panic("failpoint: Hit of unknown point " + name)
	}
	n := p.hits.Add(1)
	if p.armed && p.arm.fires(c.seed, name, n) {
		crash(name, n)
	}
}

// Hits returns how many times the crash point name was hit since the
// process started (or since the last Configure), armed or not; 0 for a
// name that is not one of Names.
func Hits(name string) uint64 {
	if p := current.Load().points[name]; p != nil {
		return p.hits.Load()
	}
	return 0
}

// crash ends the process the way kill -9 does, after one line to stderr.
func crash(name string, hit uint64) {
	_, _ = os.Stderr.WriteString(crashLine(name, hit))
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	for {
		// The signal is on its way; this goroutine must not go on.
		time.Sleep(time.Hour)
	}
}

// Bug reports whether the deliberate bug name is enabled.
func Bug(name string) bool { return current.Load().bugs[name] }

// Configure replaces the configuration read from the environment, as if
// the three variables had held failpoints, bugs and seed, resetting every
// hit count; restore puts the previous one back. For tests that need a
// bug in their own process: arming a crash point this way kills the test
// binary when it fires. Bad input is an error and changes nothing.
func Configure(failpoints, bugs, seed string) (restore func(), err error) {
	c, err := newConfig(failpoints, bugs, seed)
	if err != nil {
		return nil, err
	}
	prev := current.Swap(c)
	return func() { current.Store(prev) }, nil
}
