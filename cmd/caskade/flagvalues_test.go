package main

import (
	"testing"

	"github.com/caskade/caskade/engine"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "4096", want: 4096},
		{in: "4096B", want: 4096},
		{in: "4k", want: 4 << 10},
		{in: "4KiB", want: 4 << 10},
		{in: "64MiB", want: 64 << 20},
		{in: "64 mib", want: 64 << 20},
		{in: "1G", want: 1 << 30},
		{in: " 2gib ", want: 2 << 30},
		{in: "", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "abc", wantErr: true},
		{in: "64MB", wantErr: true},
		{in: "1.5MiB", wantErr: true},
		{in: "99999999999999999999", wantErr: true},
		{in: "9999999999999GiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseBytes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseBytes(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("parseBytes(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestByteSize_SetRange(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "4KiB", want: 4096},
		{in: "1MiB", want: 1 << 20},
		{in: "4095", wantErr: true},
		{in: "2MiB", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			b := byteSize{n: 8192, min: 4096, max: 1 << 20}
			err := b.Set(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr && b.n != 8192 {
				t.Fatalf("refused Set(%q) changed the value to %d", tt.in, b.n)
			}
			if !tt.wantErr && b.n != tt.want {
				t.Fatalf("Set(%q) = %d, want %d", tt.in, b.n, tt.want)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 100: "100", 4096: "4KiB", 4097: "4097", 64 << 20: "64MiB", 1 << 30: "1GiB", 1536 << 10: "1536KiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSyncFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    engine.SyncMode
		wantErr bool
	}{
		{in: "always", want: engine.SyncAlways},
		{in: "interval", want: engine.SyncInterval},
		{in: "NEVER", want: engine.SyncNever},
		{in: "sometimes", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var s syncFlag
			err := s.Set(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && s.mode != tt.want {
				t.Fatalf("Set(%q) = %v, want %v", tt.in, s.mode, tt.want)
			}
		})
	}
}

func TestHourWindow(t *testing.T) {
	tests := []struct {
		in         string
		start, end int
		wantErr    bool
	}{
		{in: "", start: 0, end: 0},
		{in: "22-6", start: 22, end: 6},
		{in: " 1 - 5 ", start: 1, end: 5},
		{in: "0-23", start: 0, end: 23},
		{in: "24-1", wantErr: true},
		{in: "5", wantErr: true},
		{in: "a-b", wantErr: true},
		{in: "-1-3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var w hourWindow
			err := w.Set(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Set(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if !tt.wantErr && (w.start != tt.start || w.end != tt.end) {
				t.Fatalf("Set(%q) = %d-%d, want %d-%d", tt.in, w.start, w.end, tt.start, tt.end)
			}
		})
	}
}
