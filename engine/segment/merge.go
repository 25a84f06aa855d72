package segment

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/caskade/caskade/internal/failpoint"
)

// A merge replaces a run of adjacent sealed segments (the inputs) with new
// segments (the outputs) that hold a subset of the inputs' records at
// their original offsets. It is crash-safe in four steps:
//
//  1. A Builder writes the outputs under temporary names
//     (<base>.log.merge, .idx.merge, .hint.merge) and fsyncs them and the
//     directory.
//  2. Install writes the merge marker (MarkerName) listing the input and
//     output bases, through a temporary file, and fsyncs it: the commit
//     point. Before it, Open removes the temporaries (the inputs stay);
//     after it, Open finishes the merge (the outputs win).
//  3. Install removes the inputs' files (an input whose base an output
//     takes is replaced by the rename instead) and renames the outputs
//     into place, then fsyncs the directory. Readers holding an input
//     keep reading its mapping; the data goes with the last reference.
//  4. Swap.Finish replaces the inputs by the outputs in the view and
//     removes the marker.
//
// Finishing a merge (applyMarker) is idempotent, so a crash during step 3
// or 4 is finished again by the next Open.

const (
	// MarkerName is the merge marker's file name in the log directory.
	MarkerName = "MERGE"
	// mergeExt ends the names of a merge's output files until the merge
	// commits.
	mergeExt = ".merge"
	// markerMagic begins the marker ("CSKMERG1" read as little endian).
	markerMagic = 0x314752454d4b5343
)

// MergeStep names a point in a merge where a test hook may stop it, as a
// crash there would.
type MergeStep string

// The steps a merge hook sees, in order.
const (
	StepOutputsWritten MergeStep = "outputs-written" // temporaries written, not yet fsynced
	StepOutputsSynced  MergeStep = "outputs-synced"  // temporaries and directory fsynced
	StepMarkerWritten  MergeStep = "marker-written"  // commit point passed
	StepRenamed        MergeStep = "renamed"         // inputs removed, outputs in place
	StepSwapped        MergeStep = "swapped"         // view switched, marker not yet removed
)

// Builder writes the output segments of a merge under temporary names.
// Records must be added in offset order. Not safe for concurrent use.
type Builder struct {
	dir      string
	maxBytes int64
	outs     []*output
	done     bool
}

// output is one segment a Builder writes.
type output struct {
	base    uint64
	f       *os.File
	w       *bufio.Writer
	size    int64
	behind  int64 // bytes handed to writeBehind
	last    uint64
	keyless int64
	idx     []byte
	hints   []HintEntry
	keys    [][]byte // chunks holding the hint keys (never reallocated)
	buf     []byte   // encoding scratch
}

// writeBehindBytes is how much a merge output writes before it starts the
// write-back of those bytes (RocksDB's bytes_per_sync).
const writeBehindBytes = 1 << 20

// NewBuilder returns a Builder for outputs of at most the log's
// SegmentBytes each.
func (l *Log) NewBuilder() *Builder {
	return &Builder{dir: l.dir, maxBytes: l.opts.SegmentBytes}
}

// BuiltLoc says where a Builder put a record: output number Out (in the
// order of Outputs) and its position there.
type BuiltLoc struct {
	Out  int
	Pos  uint32
	Size uint32
}

// Add appends r to the current output, starting a new one when it would
// pass the size limit. r's offset must be above every offset added before.
func (b *Builder) Add(r *Record) (BuiltLoc, error) {
	if b.done {
		return BuiltLoc{}, errors.New("segment: builder already finished")
	}
	size := int64(r.Size())
	o := b.cur()
	if o != nil && r.Offset <= o.last {
		return BuiltLoc{}, fmt.Errorf("segment: merge record offset %d not above %d", r.Offset, o.last)
	}
	if o == nil || o.size > 0 && o.size+size > b.maxBytes {
		var err error
		if o, err = b.start(r.Offset); err != nil {
			return BuiltLoc{}, err
		}
	}
	pos := o.size
	o.buf = AppendRecord(o.buf[:0], r)
	if _, err := o.w.Write(o.buf); err != nil {
		return BuiltLoc{}, &FileError{Op: "write merge output", Path: o.f.Name(), Position: pos, Err: err}
	}
	o.idx = binary.LittleEndian.AppendUint64(o.idx, r.Offset)
	o.idx = binary.LittleEndian.AppendUint64(o.idx, uint64(pos))
	if len(r.Key) == 0 {
		o.keyless += size
	} else {
		o.hints = append(o.hints, HintEntry{
			Key: o.keep(r.Key), Offset: r.Offset, Position: uint32(pos), Size: uint32(size),
			Timestamp: r.Timestamp, Expiry: r.Expiry, Flags: r.Flags,
		})
	}
	o.size += size
	o.last = r.Offset
	if o.size-o.behind >= writeBehindBytes {
		if err := o.w.Flush(); err != nil {
			return BuiltLoc{}, &FileError{Op: "write merge output", Path: o.f.Name(), Position: -1, Err: err}
		}
		writeBehind(o.f, o.behind, o.size-o.behind)
		o.behind = o.size
	}
	return BuiltLoc{Out: len(b.outs) - 1, Pos: uint32(pos), Size: uint32(size)}, nil
}

// keep copies key into the output's key chunks.
func (o *output) keep(key []byte) []byte {
	const chunk = 1 << 20
	n := len(o.keys)
	if n == 0 || cap(o.keys[n-1])-len(o.keys[n-1]) < len(key) {
		o.keys = append(o.keys, make([]byte, 0, max(chunk, len(key))))
		n++
	}
	c := o.keys[n-1]
	start := len(c)
	c = append(c, key...)
	o.keys[n-1] = c
	return c[start:len(c):len(c)]
}

func (b *Builder) cur() *output {
	if len(b.outs) == 0 {
		return nil
	}
	return b.outs[len(b.outs)-1]
}

// start finishes the current output's log and begins a new one at base.
func (b *Builder) start(base uint64) (*output, error) {
	if o := b.cur(); o != nil {
		if err := o.w.Flush(); err != nil {
			return nil, &FileError{Op: "write merge output", Path: o.f.Name(), Position: -1, Err: err}
		}
	}
	path := Path(b.dir, base, LogExt) + mergeExt
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	o := &output{base: base, f: f, w: bufio.NewWriterSize(f, 1<<20)}
	b.outs = append(b.outs, o)
	return o, nil
}

// Len returns the number of outputs started so far.
func (b *Builder) Len() int { return len(b.outs) }

// Bytes returns the bytes written to the outputs so far.
func (b *Builder) Bytes() int64 {
	var n int64
	for _, o := range b.outs {
		n += o.size
	}
	return n
}

// Finish writes each output's index and hint file and makes all of them
// durable (files, then the directory). hook, if not nil, runs after the
// files are written and again after they are synced; an error from it
// stops Finish there (the temporaries stay, as a crash would leave them).
func (b *Builder) Finish(hook func(MergeStep) error) error {
	if b.done {
		return errors.New("segment: builder already finished")
	}
	b.done = true
	for _, o := range b.outs {
		if err := o.w.Flush(); err != nil {
			return &FileError{Op: "write merge output", Path: o.f.Name(), Position: -1, Err: err}
		}
		idxPath := Path(b.dir, o.base, IndexExt) + mergeExt
		if err := writeFileSync(idxPath, o.idx, false); err != nil {
			return err
		}
		if err := writeHints(Path(b.dir, o.base, HintExt)+mergeExt, latestPerKey(o.hints), o.size, o.keyless, o.idx); err != nil {
			return err
		}
		o.hints, o.keys = nil, nil
	}
	if err := runHook(hook, StepOutputsWritten); err != nil {
		return err
	}
	for _, o := range b.outs {
		if err := fdatasync(o.f); err != nil {
			return &FileError{Op: "sync merge output", Path: o.f.Name(), Position: -1, Err: err}
		}
		if err := o.f.Close(); err != nil {
			return err
		}
		o.f = nil
		idx, err := os.Open(Path(b.dir, o.base, IndexExt) + mergeExt)
		if err != nil {
			return err
		}
		err = fdatasync(idx)
		idx.Close()
		if err != nil {
			return &FileError{Op: "sync merge index", Path: idx.Name(), Position: -1, Err: err}
		}
	}
	if err := syncDir(b.dir); err != nil {
		return err
	}
	failpoint.Hit(failpoint.CompactionOutputs)
	return runHook(hook, StepOutputsSynced)
}

// Abort removes the Builder's temporary files. Safe after a failed Finish
// or Install; a no-op for outputs Install already renamed.
func (b *Builder) Abort() {
	b.done = true
	for _, o := range b.outs {
		if o.f != nil {
			o.f.Close()
			o.f = nil
		}
		for _, ext := range []string{LogExt, IndexExt, HintExt} {
			_ = os.Remove(Path(b.dir, o.base, ext) + mergeExt)
		}
	}
}

func runHook(hook func(MergeStep) error, step MergeStep) error {
	if hook == nil {
		return nil
	}
	return hook(step)
}

// writeFileSync writes data to path and fdatasyncs it unless lazy.
func writeFileSync(path string, data []byte, lazy bool) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return &FileError{Op: "write", Path: path, Position: -1, Err: err}
	}
	if !lazy {
		if err := fdatasync(f); err != nil {
			f.Close()
			return &FileError{Op: "sync", Path: path, Position: -1, Err: err}
		}
	}
	return f.Close()
}

// marker is the content of the merge marker.
type marker struct {
	inputs, outputs []uint64
}

func (m marker) encode() []byte {
	b := binary.LittleEndian.AppendUint64(nil, markerMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.inputs)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.outputs)))
	for _, x := range m.inputs {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	for _, x := range m.outputs {
		b = binary.LittleEndian.AppendUint64(b, x)
	}
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

// decodeMarker parses a marker file. Malformed input is ErrCorrupt.
func decodeMarker(b []byte) (marker, error) {
	if len(b) < 24 || binary.LittleEndian.Uint64(b) != markerMagic {
		return marker{}, fmt.Errorf("%w: bad merge marker", ErrCorrupt)
	}
	ni, no := uint64(binary.LittleEndian.Uint32(b[8:])), uint64(binary.LittleEndian.Uint32(b[12:]))
	if uint64(len(b)) != 16+8*(ni+no)+8 {
		return marker{}, fmt.Errorf("%w: merge marker length", ErrCorrupt)
	}
	if xxhash.Sum64(b[:len(b)-8]) != binary.LittleEndian.Uint64(b[len(b)-8:]) {
		return marker{}, fmt.Errorf("%w: merge marker checksum", ErrCorrupt)
	}
	var m marker
	p := b[16:]
	for i := uint64(0); i < ni+no; i++ {
		x := binary.LittleEndian.Uint64(p[8*i:])
		if i < ni {
			m.inputs = append(m.inputs, x)
		} else {
			m.outputs = append(m.outputs, x)
		}
	}
	return m, nil
}

// writeMarker writes the marker durably (temporary file, fsync, rename,
// directory fsync).
func writeMarker(dir string, m marker) error {
	path := filepath.Join(dir, MarkerName)
	if err := writeFileSync(path+".tmp", m.encode(), false); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	return syncDir(dir)
}

// applyMarker finishes the merge m describes: removes the inputs no output
// replaces and renames the outputs into place. Idempotent.
func applyMarker(dir string, m marker) error {
	// Every output must be there, as a temporary or already renamed,
	// before any input goes.
	for _, base := range m.outputs {
		p := Path(dir, base, LogExt)
		if _, err := os.Stat(p + mergeExt); err == nil {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return &FileError{Op: "finish merge", Path: p, Position: -1,
				Err: fmt.Errorf("%w: the merge marker names an output that is missing", ErrCorrupt)}
		}
	}
	for _, base := range m.inputs {
		if slices.Contains(m.outputs, base) {
			continue // the rename below replaces it
		}
		for _, ext := range []string{LogExt, IndexExt, HintExt} {
			if err := os.Remove(Path(dir, base, ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			failpoint.Hit(failpoint.CompactionRename)
		}
	}
	for _, base := range m.outputs {
		// The hint last: a .hint in place vouches for its .log and .idx.
		for _, ext := range []string{LogExt, IndexExt, HintExt} {
			p := Path(dir, base, ext)
			if err := os.Rename(p+mergeExt, p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			failpoint.Hit(failpoint.CompactionRename)
		}
	}
	return syncDir(dir)
}

// recoverMerge runs at Open, before the segments are listed: with a valid
// marker it finishes the merge and removes the marker; without one it
// removes a merge's temporaries (the merge never committed).
func recoverMerge(dir string) error {
	path := filepath.Join(dir, MarkerName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		m, err := decodeMarker(b)
		if err != nil {
			// The marker is renamed into place whole, so a bad one is
			// damage, not a torn write: refuse to guess.
			return &FileError{Op: "read merge marker", Path: path, Position: -1, Err: err}
		}
		if err := applyMarker(dir, m); err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		return syncDir(dir)
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), mergeExt) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Swap is an installed merge whose outputs readers can already reach by id
// (Acquire) while the inputs are still in the view: the caller moves its
// references from input to output segments, then calls Finish. Until
// Finish, no other merge or truncation runs.
type Swap struct {
	l       *Log
	inputs  []*Segment
	outputs []*Segment
	hook    func(MergeStep) error
	done    bool
}

// Outputs returns the new segments in offset order. Their Hints hold the
// latest record of each key in them, until the caller drops them.
func (sw *Swap) Outputs() []*Segment { return sw.outputs }

// Install commits the merge of inputs (adjacent sealed segments of this
// log, oldest first) into b's outputs: it finishes b if needed, writes the
// marker, moves the files into place and opens the outputs. On error the
// log is unchanged in memory; on disk the merge either never committed
// (the temporaries were removed) or did (the next Open finishes it).
func (l *Log) Install(inputs []*Segment, b *Builder, hook func(MergeStep) error) (*Swap, error) {
	l.maint.Lock()
	sw, err := l.install(inputs, b, hook)
	if err != nil {
		l.maint.Unlock()
		return nil, err
	}
	return sw, nil
}

func (l *Log) install(inputs []*Segment, b *Builder, hook func(MergeStep) error) (*Swap, error) {
	if len(inputs) == 0 {
		b.Abort()
		return nil, errors.New("segment: merge without inputs")
	}
	if l.mergeFailed != nil {
		b.Abort()
		return nil, fmt.Errorf("segment: an earlier merge failed after its commit point (reopen to finish it): %w", l.mergeFailed)
	}
	if err := l.checkRun(inputs); err != nil {
		b.Abort()
		return nil, err
	}
	if !b.done {
		if err := b.Finish(hook); err != nil {
			b.Abort()
			return nil, err
		}
	}
	m := marker{}
	for _, s := range inputs {
		m.inputs = append(m.inputs, s.base)
	}
	for _, o := range b.outs {
		m.outputs = append(m.outputs, o.base)
	}
	if err := writeMarker(l.dir, m); err != nil {
		// The marker may be in place already (a failed directory fsync
		// after the rename): remove it, durably, before the outputs it
		// names, or an Open would finish a merge without its outputs.
		if rerr := os.Remove(filepath.Join(l.dir, MarkerName)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			l.mergeFailed = rerr
			return nil, fmt.Errorf("write merge marker: %w (and removing it: %w)", err, rerr)
		}
		if serr := syncDir(l.dir); serr != nil {
			l.mergeFailed = serr
			return nil, fmt.Errorf("write merge marker: %w (and syncing its removal: %w)", err, serr)
		}
		b.Abort()
		return nil, err
	}
	// Committed: from here a failure leaves the marker for Open, and no
	// other merge may start in this process.
	committed := func(err error) error {
		l.mergeFailed = err
		return fmt.Errorf("finish merge (the next open completes it): %w", err)
	}
	failpoint.Hit(failpoint.CompactionMarker)
	if err := runHook(hook, StepMarkerWritten); err != nil {
		return nil, committed(err)
	}
	for _, s := range inputs {
		s.retired.Store(true) // no more path-based work on the input files
	}
	if err := applyMarker(l.dir, m); err != nil {
		return nil, committed(err)
	}
	if err := runHook(hook, StepRenamed); err != nil {
		return nil, committed(err)
	}
	sw := &Swap{l: l, inputs: inputs, hook: hook}
	// Ids are taken under mu; the files are opened (hints read and
	// checked) without it, so appends do not wait for that.
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil, committed(ErrClosed)
	}
	firstID := l.mu.nextID
	l.mu.nextID += uint32(len(m.outputs))
	l.mu.Unlock()
	for i, base := range m.outputs {
		s, err := openSegment(l.dir, base, openOptions{id: firstID + uint32(i)})
		if err != nil {
			closeAll(sw.outputs)
			return nil, committed(fmt.Errorf("open merged segment %d: %w", base, err))
		}
		s.finished.Store(true)
		sw.outputs = append(sw.outputs, s)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.closed {
		closeAll(sw.outputs)
		return nil, committed(ErrClosed)
	}
	// Outputs become reachable by id; the view's order is unchanged.
	cur := l.v.Load()
	nv := &view{segs: cur.segs, byID: make(map[uint32]*Segment, len(cur.byID)+len(sw.outputs))}
	for id, s := range cur.byID {
		nv.byID[id] = s
	}
	for _, s := range sw.outputs {
		nv.byID[s.id] = s
	}
	l.v.Store(nv)
	return sw, nil
}

// checkRun verifies that inputs are adjacent, finished sealed segments of
// the current view. Caller holds maint.
func (l *Log) checkRun(inputs []*Segment) error {
	v := l.v.Load()
	i := slices.Index(v.segs, inputs[0])
	if i < 0 || i+len(inputs) > len(v.segs)-1 {
		return errors.New("segment: merge inputs are not sealed segments of the log")
	}
	for j, s := range inputs {
		if v.segs[i+j] != s || !s.finished.Load() {
			return errors.New("segment: merge inputs are not adjacent, finished segments")
		}
	}
	return nil
}

// Finish puts the outputs in the inputs' place in the view, releases the
// inputs (their memory goes with the last reader) and removes the marker.
func (sw *Swap) Finish() error {
	if sw.done {
		return nil
	}
	sw.done = true
	l := sw.l
	defer l.maint.Unlock()
	l.mu.Lock()
	cur := l.v.Load()
	nv := &view{byID: make(map[uint32]*Segment, len(cur.byID))}
	for _, s := range cur.segs {
		if s == sw.inputs[0] {
			nv.segs = append(nv.segs, sw.outputs...)
		}
		if !slices.Contains(sw.inputs, s) {
			nv.segs = append(nv.segs, s)
		}
	}
	for _, s := range nv.segs {
		nv.byID[s.id] = s
	}
	l.v.Store(nv)
	l.mu.Unlock()
	for _, s := range sw.inputs {
		s.Release()
	}
	failpoint.Hit(failpoint.CompactionSwap)
	if err := runHook(sw.hook, StepSwapped); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(l.dir, MarkerName)); err != nil {
		return err
	}
	return syncDir(l.dir)
}
