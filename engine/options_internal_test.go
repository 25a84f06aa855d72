package engine

import (
	"testing"
	"time"
)

func TestCompactionOptions_InWindow(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 30, 0, 0, time.Local) }
	tests := []struct {
		start, end, hour int
		want             bool
	}{
		{0, 0, 13, true}, // no window: always
		{1, 5, 0, false},
		{1, 5, 1, true},
		{1, 5, 4, true},
		{1, 5, 5, false},
		{22, 6, 23, true}, // wraps midnight
		{22, 6, 3, true},
		{22, 6, 6, false},
		{22, 6, 12, false},
	}
	for _, tt := range tests {
		c := CompactionOptions{WindowStart: tt.start, WindowEnd: tt.end}
		if got := c.inWindow(at(tt.hour)); got != tt.want {
			t.Errorf("window %d-%d at %d:30 = %v, want %v", tt.start, tt.end, tt.hour, got, tt.want)
		}
	}
}
