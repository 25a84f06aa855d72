//go:build !failpoints

package failpoint

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Enabled reports whether this binary was built with -tags failpoints.
const Enabled = false

// Hit marks the crash point name. In a build without the failpoints tag
// it does nothing and inlines to nothing.
func Hit(name string) {}

// Bug reports whether the deliberate bug name is enabled. In a build
// without the failpoints tag it is the constant false, so the compiler
// removes the code it guards.
func Bug(name string) bool { return false }

// Hits returns how many times the crash point name was hit: always 0
// without the failpoints tag.
func Hits(name string) uint64 { return 0 }

// Configure would arm crash points and enable bugs in this process; a
// build without the failpoints tag has none, so anything but empty
// arguments is an error.
func Configure(failpoints, bugs, seed string) (restore func(), err error) {
	if strings.TrimSpace(failpoints) != "" || strings.TrimSpace(bugs) != "" {
		return nil, errors.New("failpoint: this binary was built without failpoints (build it with -tags failpoints)")
	}
	return func() {}, nil
}

// init refuses to run a binary without failpoints when the environment
// asks for some: the faults would silently not happen.
func init() {
	if err := refuseEnv(os.Getenv); err != nil {
		fmt.Fprintf(os.Stderr, "caskade: %v\n", err)
		os.Exit(2)
	}
}

// refuseEnv returns an error when EnvFailpoints or EnvBugs is set.
func refuseEnv(getenv func(string) string) error {
	for _, v := range []string{EnvFailpoints, EnvBugs} {
		if strings.TrimSpace(getenv(v)) != "" {
			return fmt.Errorf("$%s is set, but this binary was built without failpoints (build it with -tags failpoints, or unset %s)", v, v)
		}
	}
	return nil
}
