package compaction

import "testing"

func seg(bytes, dead int64) SegmentInfo {
	return SegmentInfo{Bytes: bytes, Dead: dead, HeadDead: dead, Mergeable: true}
}

func TestPolicy_Pick(t *testing.T) {
	base := Policy{MinDeadFraction: 0.5, MinDeadBytes: 1000, SmallSegmentBytes: 100, MaxMergeBytes: 1000}
	headOnly := seg(400, 0)
	headOnly.HeadDead = 300
	unsealed := seg(400, 390)
	unsealed.Mergeable = false
	tests := []struct {
		name   string
		p      Policy
		segs   []SegmentInfo
		want   Run
		wantOK bool
	}{
		{"nothing", base, nil, Run{}, false},
		{"all live", base, []SegmentInfo{seg(400, 0), seg(400, 10)}, Run{}, false},
		{"one fragmented", base, []SegmentInfo{seg(400, 0), seg(400, 300), seg(400, 0)}, Run{1, 2}, true},
		{"neighbours grow the run", base, []SegmentInfo{seg(400, 250), seg(400, 300), seg(400, 0)}, Run{0, 2}, true},
		{"bounded by MaxMergeBytes", base, []SegmentInfo{seg(400, 250), seg(400, 300), seg(400, 390)}, Run{1, 3}, true},
		{"most dead seeds", base, []SegmentInfo{seg(400, 210), seg(400, 0), seg(400, 390)}, Run{2, 3}, true},
		{"dead bytes trigger", Policy{MinDeadFraction: 0.9, MinDeadBytes: 300, MaxMergeBytes: 2000},
			[]SegmentInfo{seg(400, 100), seg(400, 150), seg(400, 100)}, Run{0, 3}, true},
		{"dead bytes trigger off", Policy{MinDeadFraction: 0.9, MaxMergeBytes: 2000},
			[]SegmentInfo{seg(400, 100), seg(400, 150), seg(400, 100)}, Run{}, false},
		{"head run counts tombstones", base, []SegmentInfo{headOnly, seg(400, 0)}, Run{0, 1}, true},
		{"head dead elsewhere is not dead", base, []SegmentInfo{seg(400, 0), headOnly}, Run{}, false},
		{"not mergeable blocks the run", base, []SegmentInfo{unsealed, seg(400, 300)}, Run{1, 2}, true},
		{"small segments merge", base, []SegmentInfo{seg(400, 0), seg(50, 0), seg(60, 0), seg(70, 0), seg(400, 0), seg(50, 0)}, Run{1, 4}, true},
		{"one small segment alone stays", base, []SegmentInfo{seg(400, 0), seg(50, 0), seg(400, 0)}, Run{}, false},
		{"small segments join a merge", base, []SegmentInfo{seg(50, 0), seg(400, 300), seg(60, 0)}, Run{0, 3}, true},
		{"force takes any dead bytes", Policy{Force: true, MaxMergeBytes: 1000}, []SegmentInfo{seg(400, 1), seg(400, 0), seg(400, 2)}, Run{2, 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.p.Pick(tt.segs)
			if ok != tt.wantOK || ok && got != tt.want {
				t.Fatalf("Pick = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
