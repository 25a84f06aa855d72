package compaction

// SegmentInfo describes one sealed segment to Pick.
type SegmentInfo struct {
	Bytes int64 // bytes of records in the segment
	// Dead estimates the bytes a merge would drop: superseded records,
	// keyless records past retention, expired TTL records.
	Dead int64
	// HeadDead is Dead for a merge that starts at the log's first
	// segment; it may be larger, because only such a merge may drop a
	// key's last record (a tombstone past its retention, an expired
	// value) without an older record of the key coming back.
	HeadDead int64
	// Mergeable is false for a sealed segment whose seal work is not done
	// yet; a run never crosses it.
	Mergeable bool
}

// Policy holds the thresholds that make a run of segments worth merging
// (Bitcask's fragmentation, dead-bytes and small-file triggers).
type Policy struct {
	// MinDeadFraction makes a segment a candidate when Dead/Bytes reaches
	// it (Bitcask's frag_merge_trigger).
	MinDeadFraction float64
	// MinDeadBytes makes every segment with dead bytes a candidate when
	// the dead bytes of all segments reach it (dead_bytes_merge_trigger).
	MinDeadBytes int64
	// SmallSegmentBytes: two or more adjacent segments smaller than this
	// are merged into one (small_file_threshold). 0 disables.
	SmallSegmentBytes int64
	// MaxMergeBytes bounds the input bytes of one merge, which bounds its
	// duration and the disk it needs meanwhile.
	MaxMergeBytes int64
	// Force makes every segment with any dead bytes a candidate (a merge
	// asked for by hand).
	Force bool
}

// Run is a range [Start, End) of segment indexes to merge.
type Run struct{ Start, End int }

// Len returns the number of segments in the run.
func (r Run) Len() int { return r.End - r.Start }

// dead returns the dead bytes of segment i within a run starting at start.
func dead(segs []SegmentInfo, i, start int) int64 {
	if start == 0 {
		return segs[i].HeadDead
	}
	return segs[i].Dead
}

// candidate reports whether segment i (in a run starting at start) is
// worth merging on its own account.
func (p Policy) candidate(segs []SegmentInfo, i, start int, total int64) bool {
	s := segs[i]
	d := dead(segs, i, start)
	if !s.Mergeable || d <= 0 {
		return false
	}
	switch {
	case p.Force:
		return true
	case s.Bytes > 0 && float64(d) >= p.MinDeadFraction*float64(s.Bytes):
		return true
	case p.MinDeadBytes > 0 && total >= p.MinDeadBytes:
		return true
	}
	return false
}

func (p Policy) small(s SegmentInfo) bool {
	return s.Mergeable && p.SmallSegmentBytes > 0 && s.Bytes < p.SmallSegmentBytes
}

// Pick returns the run of adjacent segments (indexes into segs, oldest
// first) to merge next, or false when nothing is worth merging.
//
// It seeds the run with the candidate of most dead bytes (the first
// segment counting its HeadDead), then grows it over neighbours that are
// candidates or small, within MaxMergeBytes, so that merged outputs come
// out full. Without a candidate it merges the longest run of small
// segments, if there are at least two.
func (p Policy) Pick(segs []SegmentInfo) (Run, bool) {
	var total int64
	for i := range segs {
		if segs[i].Mergeable {
			total += segs[i].Dead
		}
	}
	seed, best := -1, int64(0)
	for i := range segs {
		// A run seeded at i starts at i: the head rule holds for i == 0.
		if !p.candidate(segs, i, i, total) {
			continue
		}
		if d := dead(segs, i, i); d > best {
			seed, best = i, d
		}
	}
	if seed >= 0 {
		return p.grow(segs, seed, total), true
	}
	return p.smallRun(segs)
}

// grow extends the run around seed over neighbours worth taking.
func (p Policy) grow(segs []SegmentInfo, seed int, total int64) Run {
	r := Run{Start: seed, End: seed + 1}
	bytes := segs[seed].Bytes
	fits := func(i int) bool { return p.MaxMergeBytes <= 0 || bytes+segs[i].Bytes <= p.MaxMergeBytes }
	worth := func(i, start int) bool { return p.candidate(segs, i, start, total) || p.small(segs[i]) }
	for {
		grew := false
		if r.Start > 0 && worth(r.Start-1, r.Start-1) && fits(r.Start-1) {
			r.Start--
			bytes += segs[r.Start].Bytes
			grew = true
		}
		if r.End < len(segs) && worth(r.End, r.Start) && fits(r.End) {
			bytes += segs[r.End].Bytes
			r.End++
			grew = true
		}
		if !grew {
			return r
		}
	}
}

// smallRun returns the longest run of at least two adjacent small
// segments within MaxMergeBytes.
func (p Policy) smallRun(segs []SegmentInfo) (Run, bool) {
	var best Run
	for i := 0; i < len(segs); {
		if !p.small(segs[i]) {
			i++
			continue
		}
		r := Run{Start: i, End: i}
		var bytes int64
		for r.End < len(segs) && p.small(segs[r.End]) && (p.MaxMergeBytes <= 0 || bytes+segs[r.End].Bytes <= p.MaxMergeBytes) {
			bytes += segs[r.End].Bytes
			r.End++
		}
		if r.Len() > best.Len() {
			best = r
		}
		i = max(r.End, i+1)
	}
	return best, best.Len() >= 2
}
