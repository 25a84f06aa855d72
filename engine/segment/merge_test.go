package segment

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// mergeLog appends n records to a log of small segments, waits for their
// seals, and returns the log with its records.
func mergeLog(t *testing.T, dir string, n int) (*Log, []Record) {
	t.Helper()
	l := openLog(t, dir, &Options{SegmentBytes: 2048, Hints: true})
	recs := appendN(t, l, n, 60)
	if err := l.WaitSealed(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l, recs
}

// keep is the test's merge rule: even offsets stay.
func keep(r *Record) bool { return r.Offset%2 == 0 }

// runMerge merges segments [from, to) of l with keep and returns the
// records the log should then hold.
func runMerge(t *testing.T, l *Log, all []Record, from, to int, hook func(MergeStep) error) (*Swap, []Record, error) {
	t.Helper()
	segs := l.Segments()
	defer closeAll(segs)
	inputs := segs[from:to]
	lo, hi := inputs[0].Base(), inputs[len(inputs)-1].LastOffset()
	b := l.NewBuilder()
	for _, s := range inputs {
		err := s.Scan(0, func(r *Record, _ int64) error {
			if keep(r) {
				_, err := b.Add(r)
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var want []Record
	for _, r := range all {
		if r.Offset < lo || r.Offset > hi || keep(&r) {
			want = append(want, r)
		}
	}
	sw, err := l.Install(inputs, b, hook)
	return sw, want, err
}

func TestLog_Merge(t *testing.T) {
	dir := t.TempDir()
	l, all := mergeLog(t, dir, 200)
	if n := len(segmentBases(l)); n < 6 {
		t.Fatalf("only %d segments", n)
	}
	sw, want, err := runMerge(t, l, all, 1, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Before Finish the old records are still what ReadFrom serves, and
	// the outputs can already be reached by id.
	assertRecords(t, readAll(t, l), all)
	for _, o := range sw.Outputs() {
		if s, ok := l.Acquire(o.ID()); !ok {
			t.Fatalf("output %d not reachable by id", o.Base())
		} else {
			s.Release()
		}
		checkSegmentHints(t, o)
	}
	if err := sw.Finish(); err != nil {
		t.Fatal(err)
	}
	assertRecords(t, readAll(t, l), want)
	// Offsets that fell into the gaps read the next record kept.
	r, err := l.Read(all[len(all)/4].Offset | 1)
	if err != nil || r.Offset%2 != 0 && r.Offset <= sw.Outputs()[len(sw.Outputs())-1].LastOffset() {
		t.Fatalf("read in a gap: offset %d, %v", r.Offset, err)
	}
	if _, err := os.Stat(filepath.Join(dir, MarkerName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("marker left after Finish: %v", err)
	}
	closeLog(t, l)
	l = openLog(t, dir, &Options{SegmentBytes: 2048, Hints: true})
	assertRecords(t, readAll(t, l), want)
}

func TestLog_Merge_HeadAndEverything(t *testing.T) {
	dir := t.TempDir()
	l, all := mergeLog(t, dir, 120)
	n := len(segmentBases(l))
	sw, want, err := runMerge(t, l, all, 0, n-1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Finish(); err != nil {
		t.Fatal(err)
	}
	assertRecords(t, readAll(t, l), want)
	// The log start is now the first record kept.
	if e := l.Earliest(); e != want[0].Offset {
		t.Fatalf("Earliest %d, want %d", e, want[0].Offset)
	}
	if _, err := l.Read(1); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("read below the new start: %v", err)
	}
}

// TestLog_Merge_Crash stops a merge at each step, as a crash would, and
// reopens: before the commit point the old records, after it the new.
func TestLog_Merge_Crash(t *testing.T) {
	steps := []MergeStep{StepOutputsWritten, StepOutputsSynced, StepMarkerWritten, StepRenamed, StepSwapped}
	for _, step := range steps {
		t.Run(string(step), func(t *testing.T) {
			dir := t.TempDir()
			l, all := mergeLog(t, dir, 200)
			crash := errors.New("crash")
			hook := func(s MergeStep) error {
				if s == step {
					return crash
				}
				return nil
			}
			sw, want, err := runMerge(t, l, all, 1, 4, hook)
			if err == nil {
				err = sw.Finish()
			}
			if !errors.Is(err, crash) {
				t.Fatalf("merge stopped at %s: %v", step, err)
			}
			committed := step != StepOutputsWritten && step != StepOutputsSynced
			if !committed {
				// A failure before the commit point cleans up at once.
				if left := mergeFiles(t, dir); len(left) > 0 {
					t.Fatalf("temporaries left: %v", left)
				}
				assertRecords(t, readAll(t, l), all)
			} else if step != StepSwapped {
				// After it (files half moved), no other merge may start
				// in this process.
				if _, _, err := runMerge(t, l, all, 4, 5, nil); err == nil {
					t.Fatal("a second merge started after a failed commit")
				}
			}
			l.Close()
			l = openLog(t, dir, &Options{SegmentBytes: 2048, Hints: true})
			if committed {
				assertRecords(t, readAll(t, l), want)
			} else {
				assertRecords(t, readAll(t, l), all)
			}
			if left := mergeFiles(t, dir); len(left) > 0 {
				t.Fatalf("after reopen: %v left", left)
			}
		})
	}
}

func mergeFiles(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), mergeExt) || e.Name() == MarkerName {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestLog_Install_Refused(t *testing.T) {
	l, _ := mergeLog(t, t.TempDir(), 200)
	segs := l.Segments()
	defer closeAll(segs)
	tests := []struct {
		name   string
		inputs []*Segment
	}{
		{"none", nil},
		{"active", segs[len(segs)-1:]},
		{"not adjacent", []*Segment{segs[0], segs[2]}},
		{"out of order", []*Segment{segs[1], segs[0]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := l.NewBuilder()
			if _, err := l.Install(tt.inputs, b, nil); err == nil {
				t.Fatal("Install accepted")
			}
		})
	}
	// A refused merge leaves the log able to merge.
	b := l.NewBuilder()
	sw, err := l.Install(segs[:1], b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestBuilder_AddOrder(t *testing.T) {
	l := openLog(t, t.TempDir(), &Options{SegmentBytes: 2048, Hints: true})
	b := l.NewBuilder()
	defer b.Abort()
	r := testRecord(10, 10)
	r.Offset = 10
	if _, err := b.Add(&r); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(&r); err == nil {
		t.Fatal("Add accepted an offset not above the last")
	}
}

func TestMarker_RoundTrip(t *testing.T) {
	m := marker{inputs: []uint64{1, 50, 90}, outputs: []uint64{1, 70}}
	got, err := decodeMarker(m.encode())
	if err != nil || !slices.Equal(got.inputs, m.inputs) || !slices.Equal(got.outputs, m.outputs) {
		t.Fatalf("decode = %+v, %v", got, err)
	}
	b := m.encode()
	for i := range b {
		c := slices.Clone(b)
		c[i] ^= 0x10
		if _, err := decodeMarker(c); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
}

func FuzzDecodeMarker(f *testing.F) {
	f.Add(marker{inputs: []uint64{1, 2}, outputs: []uint64{1}}.encode())
	f.Add(marker{}.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMarker(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		again, err := decodeMarker(m.encode())
		if err != nil || !slices.Equal(again.inputs, m.inputs) || !slices.Equal(again.outputs, m.outputs) {
			t.Fatalf("re-encoding does not round-trip: %+v, %v", again, err)
		}
	})
}
