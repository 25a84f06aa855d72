package main

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/caskade/caskade/engine"
)

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"data-dir":       "CASKADE_DATA_DIR",
		"sync":           "CASKADE_SYNC",
		"segment-bytes":  "CASKADE_SEGMENT_BYTES",
		"max-key-size":   "CASKADE_MAX_KEY_SIZE",
		"max-value-size": "CASKADE_MAX_VALUE_SIZE",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// TestBindEnv checks the precedence flag > environment > default over the
// real global flags of "local".
func TestBindEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantDir string
		want    engine.Options // only SegmentBytes, Sync, MaxKeySize, MaxValueSize
		wantErr string         // part of the error; "" means none
	}{
		{
			name:    "defaults",
			wantDir: "./caskade-data",
			want:    engine.Options{SegmentBytes: 64 << 20, Sync: engine.SyncAlways, MaxKeySize: 4 << 10, MaxValueSize: 8 << 20},
		},
		{
			name: "environment",
			env: map[string]string{
				"CASKADE_DATA_DIR": "/d", "CASKADE_SYNC": "never", "CASKADE_SEGMENT_BYTES": "1MiB",
				"CASKADE_MAX_KEY_SIZE": "100", "CASKADE_MAX_VALUE_SIZE": "1k",
			},
			wantDir: "/d",
			want:    engine.Options{SegmentBytes: 1 << 20, Sync: engine.SyncNever, MaxKeySize: 100, MaxValueSize: 1024},
		},
		{
			name:    "flag wins over environment",
			args:    []string{"--data-dir", "/flag", "--sync", "interval", "--max-key-size", "7"},
			env:     map[string]string{"CASKADE_DATA_DIR": "/env", "CASKADE_SYNC": "never", "CASKADE_MAX_KEY_SIZE": "not a size"},
			wantDir: "/flag",
			want:    engine.Options{SegmentBytes: 64 << 20, Sync: engine.SyncInterval, MaxKeySize: 7, MaxValueSize: 8 << 20},
		},
		{
			name:    "empty variable is unset",
			env:     map[string]string{"CASKADE_DATA_DIR": "", "CASKADE_SYNC": ""},
			wantDir: "./caskade-data",
			want:    engine.Options{SegmentBytes: 64 << 20, Sync: engine.SyncAlways, MaxKeySize: 4 << 10, MaxValueSize: 8 << 20},
		},
		{
			name:    "other variables are ignored",
			env:     map[string]string{"CASKADE_LIMIT": "-5", "CASKADE_JSON": "maybe", "DATA_DIR": "/x"},
			wantDir: "./caskade-data",
			want:    engine.Options{SegmentBytes: 64 << 20, Sync: engine.SyncAlways, MaxKeySize: 4 << 10, MaxValueSize: 8 << 20},
		},
		{name: "bad sync names the variable", env: map[string]string{"CASKADE_SYNC": "often"}, wantErr: `$CASKADE_SYNC="often": unknown sync mode`},
		{name: "bad size names the variable", env: map[string]string{"CASKADE_SEGMENT_BYTES": "10"}, wantErr: `$CASKADE_SEGMENT_BYTES="10": 10 is outside`},
		{name: "bad unit names the variable", env: map[string]string{"CASKADE_MAX_VALUE_SIZE": "1TB"}, wantErr: `$CASKADE_MAX_VALUE_SIZE="1TB"`},
		{name: "negative size names the variable", env: map[string]string{"CASKADE_MAX_KEY_SIZE": "-1"}, wantErr: `$CASKADE_MAX_KEY_SIZE="-1"`},
		{name: "every bad variable is reported", env: map[string]string{"CASKADE_SYNC": "x", "CASKADE_MAX_KEY_SIZE": "0"}, wantErr: "$CASKADE_MAX_KEY_SIZE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &app{lookupEnv: func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }}
			local := a.newLocalCmd()
			fs := local.PersistentFlags()
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := bindEnv(fs, a.lookupEnv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("bindEnv error %v, want one containing %q", err, tt.wantErr)
				}
				if exitCode(err) != exitUsage {
					t.Fatalf("exit code %d, want %d", exitCode(err), exitUsage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := a.options()
			if a.local.dataDir != tt.wantDir {
				t.Errorf("data dir %q, want %q", a.local.dataDir, tt.wantDir)
			}
			if got.SegmentBytes != tt.want.SegmentBytes || got.Sync != tt.want.Sync ||
				got.MaxKeySize != tt.want.MaxKeySize || got.MaxValueSize != tt.want.MaxValueSize {
				t.Errorf("options %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBindEnv_MarksChanged(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.String("sync", "always", "")
	fs.String("data-dir", "d", "")
	env := map[string]string{"CASKADE_SYNC": "never"}
	if err := bindEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if !fs.Changed("sync") || fs.Changed("data-dir") {
		t.Fatalf("changed: sync %v, data-dir %v; want true, false", fs.Changed("sync"), fs.Changed("data-dir"))
	}
}

func TestAnnotateEnv(t *testing.T) {
	a := &app{}
	local := a.newLocalCmd()
	local.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !strings.HasSuffix(f.Usage, "[$"+envName(f.Name)+"]") {
			t.Errorf("usage of --%s does not name its variable: %q", f.Name, f.Usage)
		}
	})
}
