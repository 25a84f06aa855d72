package segment

import (
	"os"
	"sync"
	"sync/atomic"
)

// Zero-filling the active segment ahead of the writer.
//
// The active .log is preallocated with fallocate, which reserves blocks
// but marks them unwritten. The first write into an unwritten block turns
// it into a written one, a metadata change, so on ext4 and XFS every
// fdatasync after an append into fresh space commits the journal too:
// measured here, about four times the cost of an fdatasync that flushes
// data into blocks already written. Options.ZeroFill makes a background
// goroutine write zeros a little ahead of the appends (and fdatasync them
// through its own file descriptor), so that the Syncs of a log that syncs
// every append (Sync=always, the Raft log) flush data only.
//
// Safety. Zeros never land on records: the zero-filler writes only at or
// after max(zeroed, wend), under zeroFill.mu, and an append that ends past
// zeroed holds that mutex while it writes (and moves wend). An append that
// ends at or before zeroed needs no lock: zeroed only grows. Zero-filling never
// changes the file's size (it stays within the preallocated capacity), so
// recovery sees the same file either way: a zero tail.
//
// Errors. The zero-filler fsyncs through its own file descriptor: on
// Linux an fsync error is reported once per open file, and it must not
// consume an error the appender's own Sync has to see. On any error it
// stops; appends go on into unwritten space, which is only slower.

const (
	zeroFillChunk = 256 << 10 // bytes zeroed per write (and per fdatasync)
	zeroFillLead  = 4 << 20   // how far ahead of the appends to stay
)

// zeroChunk is zeroFillChunk zero bytes, the source of every zero write.
var zeroChunk = make([]byte, zeroFillChunk)

// zeroFill is the state of one active segment's zero-filler.
type zeroFill struct {
	// mu orders the zero-filler's writes with appends past zeroed: the
	// zero-filler holds it while it writes a chunk (and moves zeroed), an
	// append that ends past zeroed while it writes (and moves wend).
	// Never held across an fsync.
	mu sync.Mutex
	// wend is the end of the last append. Stored after each append (under
	// mu when the append ended past zeroed), so under mu it is exact about
	// every byte past zeroed.
	wend atomic.Int64
	// zeroed: the bytes in [wend, zeroed) are written zeros. Only grows;
	// stored under mu.
	zeroed atomic.Int64

	wake     chan struct{} // capacity 1: an append came within half the lead of zeroed
	stop     chan struct{} // closed by halt
	done     chan struct{} // closed when the goroutine has returned
	haltOnce sync.Once
}

// startZeroFill starts zero-filling s from its current size on. s must be
// active (mapped with room to grow) and not yet shared with other
// goroutines.
func (s *Segment) startZeroFill() {
	f, err := os.OpenFile(s.Path(LogExt), os.O_WRONLY, 0)
	if err != nil {
		return // zero-filling is an optimization; appends work without it
	}
	z := &zeroFill{
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	size := s.size.Load()
	z.wend.Store(size)
	z.zeroed.Store(size)
	z.wake <- struct{}{}
	s.zf = z
	go s.runZeroFill(z, f, int64(len(s.data)))
}

// runZeroFill writes zeros ahead of the appends until halted, the end of
// the segment is reached or a write fails.
func (s *Segment) runZeroFill(z *zeroFill, f *os.File, capacity int64) {
	defer close(z.done)
	defer f.Close()
	for {
		select {
		case <-z.stop:
			return
		case <-z.wake:
		}
		for {
			select {
			case <-z.stop:
				return
			default:
			}
			z.mu.Lock()
			wend := z.wend.Load()
			lo := max(z.zeroed.Load(), roundUpPage(wend))
			if lo >= capacity {
				z.mu.Unlock()
				return // the whole segment is written or zeroed
			}
			if lo >= wend+zeroFillLead {
				z.mu.Unlock()
				break // far enough ahead: wait for the appends
			}
			hi := min(lo+zeroFillChunk, capacity)
			_, err := f.WriteAt(zeroChunk[:hi-lo], lo)
			if err == nil {
				z.zeroed.Store(hi)
			}
			z.mu.Unlock()
			if err != nil || fdatasync(f) != nil {
				return
			}
		}
	}
}

// halt stops the zero-filler and waits until it has returned, so that
// the segment's file may be cut or reopened. Safe to call more than once.
func (z *zeroFill) halt() {
	z.haltOnce.Do(func() { close(z.stop) })
	<-z.done
}

// writeAt writes b at position pos of the .log of a zero-filled segment
// (a system call: the bytes are in the page cache when it returns, so a
// crash of the process loses nothing, and readers of the mapping see
// them). Such a segment's appends write this way, not through the
// mapping: on ext4 a write fault on a mapped page that writeback cleaned
// costs a journal transaction, and a log synced after every append would
// pay it at every Sync.
func (s *Segment) writeAt(b []byte, pos int64) error {
	z := s.zf
	end := pos + int64(len(b))
	zeroed := z.zeroed.Load()
	var err error
	if end <= zeroed {
		_, err = s.f.WriteAt(b, pos)
		z.wend.Store(end)
	} else {
		z.mu.Lock()
		_, err = s.f.WriteAt(b, pos)
		z.wend.Store(end)
		zeroed = z.zeroed.Load()
		z.mu.Unlock()
	}
	if zeroed-end < zeroFillLead/2 {
		select {
		case z.wake <- struct{}{}:
		default:
		}
	}
	return err
}

// haltZeroFill stops s's zero-filler, if it has one, and waits for it.
func (s *Segment) haltZeroFill() {
	if s.zf != nil {
		s.zf.halt()
	}
}

func roundUpPage(n int64) int64 {
	const page = 4096
	return (n + page - 1) &^ (page - 1)
}
