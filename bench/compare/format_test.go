package main

import "testing"

func TestFormat(t *testing.T) {
	tests := []struct{ got, want string }{
		{fmtDur(812), "812 ns"},
		{fmtDur(1_600), "1.60 µs"},
		{fmtDur(55_100), "55.1 µs"},
		{fmtDur(225e6), "225 ms"},
		{fmtDur(1.8e9), "1.80 s"},
		{fmtBytes(999), "999 B"},
		{fmtBytes(26.4e6), "26.4 MB"},
		{fmtBytes(246e6), "246 MB"},
		{fmtBytes(2.1e9), "2.10 GB"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
