package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckClusterDir(t *testing.T) {
	tests := []struct {
		name    string
		dirs    []string // subdirectories to make
		files   []string // files to make
		wantErr string   // "" means accepted
	}{
		{name: "empty"},
		{name: "a node's raft and data", dirs: []string{"raft", "data"}},
		{name: "a restore cut short by a crash", dirs: []string{"raft", "data.restore", "data.old"}},
		{name: "a single node's store", files: []string{"00000000000000000001.log"}, wantErr: "single node's store"},
		{name: "a file named like a node directory", dirs: []string{"raft"}, files: []string{"data"}, wantErr: "holds data"},
		{name: "another directory", dirs: []string{"raft", "backup"}, wantErr: "holds backup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range tt.dirs {
				if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := checkClusterDir(dir)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "new")
		if err := checkClusterDir(dir); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			t.Fatalf("not created: %v", err)
		}
	})
}
