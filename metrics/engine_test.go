package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/metricstest"
)

func TestEngine_ReportsStatsAndFsyncs(t *testing.T) {
	e := NewEngine()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e)
	db, err := engine.Open(t.TempDir(), &engine.Options{SegmentBytes: 64 << 10, OnSync: e.ObserveSync})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Before Attach: the fsync histogram only (the open fsynced nothing new).
	f := metricstest.Gather(t, reg)
	if _, ok := f.Value("caskade_engine_keys"); ok {
		t.Error("caskade_engine_keys reported before Attach")
	}
	if _, ok := f.Count("caskade_engine_fsync_seconds"); !ok {
		t.Error("no caskade_engine_fsync_seconds before Attach")
	}

	e.Attach(db.Stats)
	for _, k := range []string{"a", "b", "c", "a"} {
		if _, err := db.Put([]byte(k), []byte("value")); err != nil {
			t.Fatal(err)
		}
	}
	st := db.Stats()
	f = metricstest.Gather(t, reg)
	for _, tt := range []struct {
		name string
		want float64
	}{
		{"caskade_engine_keys", 3},
		{"caskade_engine_next_offset", 5},
		{"caskade_engine_earliest_offset", 1},
		{"caskade_engine_segments", float64(len(st.Segments))},
		{"caskade_engine_log_bytes", float64(st.Bytes)},
		{"caskade_engine_live_bytes", float64(st.LiveBytes)},
		{"caskade_engine_dead_bytes", float64(st.DeadBytes)},
		{"caskade_engine_keydir_bytes", float64(st.KeydirBytes)},
		{"caskade_engine_compactions_total", 0},
		{"caskade_engine_compaction_reclaimed_bytes_total", 0},
		{"caskade_engine_fsyncs_total", float64(st.Syncs)},
	} {
		if got, ok := f.Value(tt.name); !ok || got != tt.want {
			t.Errorf("%s = %v (found %v), want %v", tt.name, got, ok, tt.want)
		}
	}
	if st.DeadBytes <= 0 || st.Syncs < 4 {
		t.Errorf("stats %+v: want dead bytes (a overwritten) and an fsync per Put", st)
	}
	if n, _ := f.Count("caskade_engine_fsync_seconds"); n != st.Syncs {
		t.Errorf("fsync histogram holds %d samples, want %d (Stats.Syncs)", n, st.Syncs)
	}
}
