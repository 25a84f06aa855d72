package metrics

import (
	"strings"
	"testing"

	"github.com/caskade/caskade/replication"
)

func TestCaughtUp(t *testing.T) {
	for _, tt := range []struct {
		name    string
		st      replication.Stats
		errPart string // "" means ready
	}{
		{"leader", replication.Stats{State: "Leader", LeaderID: "n1", CommitIndex: 10, AppliedIndex: 10}, ""},
		{"follower caught up", replication.Stats{State: "Follower", LeaderID: "n1", CommitIndex: 10, AppliedIndex: 10}, ""},
		{"follower within the lag", replication.Stats{State: "Follower", LeaderID: "n1", CommitIndex: 110, AppliedIndex: 10}, ""},
		{"follower at the lag", replication.Stats{State: "Follower", LeaderID: "n1", CommitIndex: 10 + ReadyMaxLag, AppliedIndex: 10}, ""},
		{"follower behind", replication.Stats{State: "Follower", LeaderID: "n1", CommitIndex: 11 + ReadyMaxLag, AppliedIndex: 10}, "catching up"},
		{"applied past commit", replication.Stats{State: "Follower", LeaderID: "n1", CommitIndex: 5, AppliedIndex: 10}, ""},
		{"no leader", replication.Stats{State: "Follower", Term: 3}, "no known leader"},
		{"candidate", replication.Stats{State: "Candidate", Term: 4}, "candidate"},
		{"shut down", replication.Stats{State: "Shutdown", LeaderID: "n1"}, "shut down"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CaughtUp(tt.st, ReadyMaxLag)
			switch {
			case tt.errPart == "" && err != nil:
				t.Fatalf("CaughtUp = %v, want ready", err)
			case tt.errPart != "" && (err == nil || !strings.Contains(err.Error(), tt.errPart)):
				t.Fatalf("CaughtUp = %v, want an error mentioning %q", err, tt.errPart)
			}
		})
	}
}
