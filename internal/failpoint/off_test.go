//go:build !failpoints

package failpoint

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Without the tag nothing happens: an armed-looking environment is
// refused at start (below), and Hit and Bug are inert.
func TestHit_NoTag_DoesNothing(t *testing.T) {
	if Enabled {
		t.Fatal("Enabled without the failpoints tag")
	}
	for range 3 {
		for _, n := range Names() {
			Hit(n) // would crash the test binary if it did anything
		}
		Hit("not-a-point")
	}
	for _, n := range BugNames() {
		if Bug(n) {
			t.Errorf("Bug(%s) without the failpoints tag", n)
		}
	}
}

func TestConfigure_NoTag(t *testing.T) {
	if _, err := Configure("", BugStaleReads, ""); err == nil {
		t.Fatal("Configure enabled a bug without the failpoints tag")
	}
	if _, err := Configure(FSMApply, "", ""); err == nil {
		t.Fatal("Configure armed a point without the failpoints tag")
	}
	restore, err := Configure(" ", "", "1")
	if err != nil {
		t.Fatalf("Configure asking for nothing: %v", err)
	}
	restore()
	if Hits(FSMApply) != 0 || Bug(BugStaleReads) {
		t.Fatal("failpoints act without the tag")
	}
}

func TestRefuseEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantErr string
	}{
		{map[string]string{}, ""},
		{map[string]string{EnvFailpoints: " "}, ""},
		{map[string]string{EnvSeed: "3"}, ""},
		{map[string]string{EnvFailpoints: "fsm-apply"}, "$CASKADE_FAILPOINTS is set"},
		{map[string]string{EnvBugs: "drop-acked-writes"}, "$CASKADE_BUGS is set"},
	}
	for _, tt := range tests {
		err := refuseEnv(func(k string) string { return tt.env[k] })
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("refuseEnv(%v) = %v, want an error containing %q", tt.env, err, tt.wantErr)
		}
	}
}

// A binary without failpoints started with CASKADE_FAILPOINTS set stops
// at once, naming the variable, instead of running without the faults.
func TestInit_NoTag_RefusesArmedEnvironment(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHit_NoTag_DoesNothing$", "-test.count=1")
	cmd.Env = append(os.Environ(), EnvFailpoints+"=fsm-apply")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("child: %v, want exit status 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "built without failpoints") {
		t.Fatalf("child output does not say why:\n%s", out)
	}
}
