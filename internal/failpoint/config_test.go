package failpoint

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseFailpoints(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    map[string]arm
		wantErr string // a part of the error; "" means no error
	}{
		{"empty", "", map[string]arm{}, ""},
		{"blank", "  ", map[string]arm{}, ""},
		{"first hit", "fsm-apply", map[string]arm{FSMApply: {at: 1}}, ""},
		{"nth hit", "raft-log-append@3", map[string]arm{RaftLogAppend: {at: 3}}, ""},
		{"probability", "compaction-rename%0.25", map[string]arm{CompactionRename: {prob: 0.25}}, ""},
		{"probability one", "snapshot-persist%1", map[string]arm{SnapshotPersist: {prob: 1}}, ""},
		{"several with spaces", " fsm-apply@2 , snapshot-restore ", map[string]arm{FSMApply: {at: 2}, SnapshotRestore: {at: 1}}, ""},
		{"unknown", "fsm-aply", nil, `unknown failpoint "fsm-aply"`},
		{"unknown lists known", "x", nil, "known: raft-log-append, fsm-apply"},
		{"empty entry", "fsm-apply,,snapshot-persist", nil, "entry 2 is empty"},
		{"trailing comma", "fsm-apply,", nil, "entry 2 is empty"},
		{"zero count", "fsm-apply@0", nil, "whole number from 1 up"},
		{"negative count", "fsm-apply@-1", nil, "whole number from 1 up"},
		{"count not a number", "fsm-apply@x", nil, "whole number from 1 up"},
		{"missing count", "fsm-apply@", nil, "whole number from 1 up"},
		{"zero probability", "fsm-apply%0", nil, "in (0, 1]"},
		{"probability above one", "fsm-apply%1.5", nil, "in (0, 1]"},
		{"NaN probability", "fsm-apply%NaN", nil, "in (0, 1]"},
		{"probability not a number", "fsm-apply%half", nil, "in (0, 1]"},
		{"both forms", "fsm-apply@2%0.5", nil, "whole number from 1 up"},
		{"armed twice", "fsm-apply,fsm-apply@2", nil, "armed twice"},
		{"empty name", "@2", nil, `unknown failpoint ""`},
		{"every error reported", "nope,fsm-apply@0", nil, "fsm-apply@0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFailpoints(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseFailpoints(%q) = %v, %v; want an error containing %q", tt.spec, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFailpoints(%q): %v", tt.spec, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parseFailpoints(%q) = %v, want %v", tt.spec, got, tt.want)
			}
			for n, a := range tt.want {
				if got[n] != a {
					t.Fatalf("parseFailpoints(%q)[%s] = %+v, want %+v", tt.spec, n, got[n], a)
				}
			}
		})
	}
}

func TestParseBugs(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		want    []string
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"one", "drop-acked-writes", []string{BugDropAckedWrites}, ""},
		{"both", "stale-linearizable-reads, drop-acked-writes", []string{BugStaleReads, BugDropAckedWrites}, ""},
		{"unknown", "stale-reads", nil, `unknown bug "stale-reads"`},
		{"failpoint is not a bug", "fsm-apply", nil, "unknown bug"},
		{"twice", "drop-acked-writes,drop-acked-writes", nil, "named twice"},
		{"empty entry", ",drop-acked-writes", nil, "entry 1 is empty"},
		{"count not allowed", "drop-acked-writes@2", nil, "unknown bug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBugs(tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseBugs(%q) = %v, %v; want an error containing %q", tt.spec, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseBugs(%q): %v", tt.spec, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parseBugs(%q) = %v, want %v", tt.spec, got, tt.want)
			}
			for _, n := range tt.want {
				if !got[n] {
					t.Fatalf("parseBugs(%q) lacks %s", tt.spec, n)
				}
			}
		})
	}
}

func TestParseSeed(t *testing.T) {
	tests := []struct {
		in     string
		want   uint64
		ok     bool
		hasErr bool
	}{
		{"", 0, false, false},
		{" ", 0, false, false},
		{"42", 42, true, false},
		{"-1", math.MaxUint64, true, false},
		{"0x10", 0, false, true},
		{"seed", 0, false, true},
		{"99999999999999999999", 0, false, true},
	}
	for _, tt := range tests {
		got, ok, err := parseSeed(tt.in)
		if (err != nil) != tt.hasErr || got != tt.want || ok != tt.ok {
			t.Errorf("parseSeed(%q) = %d, %v, %v; want %d, %v, error %v", tt.in, got, ok, err, tt.want, tt.ok, tt.hasErr)
		}
	}
}

func TestArm_Fires(t *testing.T) {
	at := arm{at: 3}
	for hit := uint64(1); hit <= 5; hit++ {
		if got := at.fires(1, FSMApply, hit); got != (hit == 3) {
			t.Errorf("@3 fires at hit %d: %v", hit, got)
		}
	}
	always := arm{prob: 1}
	for hit := uint64(1); hit <= 100; hit++ {
		if !always.fires(7, FSMApply, hit) {
			t.Fatalf("%%1 did not fire at hit %d", hit)
		}
	}
	// %P fires at about P of the hits, and the same hits for the same
	// seed and name.
	const hits = 20000
	half := arm{prob: 0.5}
	var fired []uint64
	for hit := uint64(1); hit <= hits; hit++ {
		if half.fires(7, FSMApply, hit) {
			fired = append(fired, hit)
		}
	}
	if n := len(fired); n < hits*45/100 || n > hits*55/100 {
		t.Fatalf("%%0.5 fired at %d of %d hits", n, hits)
	}
	var again, otherSeed, otherName []uint64
	for hit := uint64(1); hit <= hits; hit++ {
		if half.fires(7, FSMApply, hit) {
			again = append(again, hit)
		}
		if half.fires(8, FSMApply, hit) {
			otherSeed = append(otherSeed, hit)
		}
		if half.fires(7, RaftLogAppend, hit) {
			otherName = append(otherName, hit)
		}
	}
	if !slices.Equal(fired, again) {
		t.Fatal("the same seed fired at other hits")
	}
	if slices.Equal(fired, otherSeed) || slices.Equal(fired, otherName) {
		t.Fatal("another seed or point fired at the same hits")
	}
}

func TestParseCrash(t *testing.T) {
	tests := []struct {
		stderr string
		name   string
		hit    uint64
		ok     bool
	}{
		{crashLine(RaftLogAppend, 3), RaftLogAppend, 3, true},
		{"some log\n" + crashLine(FSMApply, 1) + "after\n", FSMApply, 1, true},
		{"caskade: failpoints armed: fsm-apply@1\n", "", 0, false},
		{"panic: runtime error\n", "", 0, false},
		{CrashMarker + " name=fsm-apply hit=x\n", "", 0, false},
		{"", "", 0, false},
	}
	for _, tt := range tests {
		name, hit, ok := ParseCrash(tt.stderr)
		if name != tt.name || hit != tt.hit || ok != tt.ok {
			t.Errorf("ParseCrash(%q) = %q, %d, %v; want %q, %d, %v", tt.stderr, name, hit, ok, tt.name, tt.hit, tt.ok)
		}
	}
}

func TestNames_Unique(t *testing.T) {
	all := append(Names(), BugNames()...)
	seen := map[string]bool{}
	for _, n := range all {
		if n == "" || strings.ContainsAny(n, "@%, ") || seen[n] {
			t.Errorf("bad or repeated name %q", n)
		}
		seen[n] = true
	}
	if len(Names()) != 8 || len(BugNames()) != 2 {
		t.Errorf("Names() = %v, BugNames() = %v", Names(), BugNames())
	}
}
