package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/internal/testutil"
)

// TestDB_Compact_Overwrite: after overwrites and deletes, Compact keeps
// exactly the live data, reports what it reclaimed, and the store reopens
// the same.
func TestDB_Compact_Overwrite(t *testing.T) {
	dir := t.TempDir()
	opts := &engine.Options{SegmentBytes: 16 << 10, Sync: engine.SyncNever, TombstoneRetention: -1,
		Compaction: engine.CompactionOptions{Disabled: true}}
	db := testutil.OpenDBAt(t, dir, opts)
	const keys = 500
	for round := range 3 {
		for i := range keys {
			if _, err := db.Put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d-%d", round, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < keys; i += 10 {
		if _, err := db.Delete(fmt.Appendf(nil, "k%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// Roll the active segment so that every record is in a sealed one.
	for i := range 200 {
		if _, err := db.Produce(fmt.Appendf(nil, "filler-%d-%0200d", i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	before := db.Stats()
	res, err := db.Compact(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	after := db.Stats()
	if res.Merges == 0 || res.Reclaimed <= 0 || res.Reclaimed != before.Bytes-after.Bytes {
		t.Fatalf("Compact = %+v; bytes %d -> %d", res, before.Bytes, after.Bytes)
	}
	if after.Compaction.Merges != int64(res.Merges) || after.Compaction.Reclaimed != res.Reclaimed {
		t.Fatalf("Stats.Compaction = %+v, Compact returned %+v", after.Compaction, res)
	}
	// Only the active segment may still hold dead bytes.
	for _, s := range after.Segments {
		if s.Sealed && s.DeadBytes != 0 {
			t.Fatalf("sealed segment %d still has %d dead bytes", s.Base, s.DeadBytes)
		}
	}
	check := func(db *engine.DB) {
		t.Helper()
		for i := range keys {
			it, err := db.Get(fmt.Appendf(nil, "k%04d", i))
			if i%10 == 0 {
				if !errors.Is(err, engine.ErrNotFound) {
					t.Fatalf("deleted k%04d: %v", i, err)
				}
				continue
			}
			if err != nil || string(it.Value) != fmt.Sprintf("v2-%d", i) {
				t.Fatalf("k%04d = %q, %v", i, it.Value, err)
			}
		}
		res, err := db.Scan(engine.ScanOptions{Prefix: []byte("k"), KeysOnly: true})
		if err != nil || len(res.Items) != keys-keys/10 {
			t.Fatalf("scan: %d keys, %v", len(res.Items), err)
		}
	}
	check(db)
	// Every keyless record is still there, at its offset, in order.
	recs, _, err := db.ReadFrom(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var messages int
	for _, r := range recs {
		if len(r.Key) == 0 {
			messages++
		}
	}
	if messages != 200 {
		t.Fatalf("%d keyless records after compaction, want 200", messages)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = testutil.OpenDBAt(t, dir, opts)
	check(db)
	if st := db.Stats(); st.Bytes != after.Bytes || st.LiveBytes != after.LiveBytes {
		t.Fatalf("reopened: bytes %d live %d, before close %d %d", st.Bytes, st.LiveBytes, after.Bytes, after.LiveBytes)
	}
}

// TestDB_Compact_TTLAndRetention: expired keys and keyless records past
// retention go at the next merge; ReadFrom below the new log start
// reports the earliest offset.
func TestDB_Compact_TTLAndRetention(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	opts := &engine.Options{
		SegmentBytes: 8 << 10, Sync: engine.SyncNever, Retention: time.Hour,
		Clock:      func() time.Time { return time.Unix(0, now.Load()) },
		Compaction: engine.CompactionOptions{Disabled: true},
	}
	db := testutil.OpenDB(t, opts)
	exp := time.Unix(0, now.Load()).Add(time.Minute)
	for i := range 100 {
		if _, err := db.PutWithExpiry(fmt.Appendf(nil, "ttl%03d", i), make([]byte, 100), exp); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Produce(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	keep, err := db.Put([]byte("keep"), []byte("forever"))
	if err != nil {
		t.Fatal(err)
	}
	now.Add(int64(2 * time.Hour))
	for i := range 100 { // newer messages, inside retention; they also seal the rest
		if _, err := db.Produce(fmt.Appendf(nil, "new-%d-%0100d", i, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Get([]byte("ttl000")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("expired key before the merge: %v", err)
	}
	if _, err := db.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := db.Stats()
	if st.Keys != 1 {
		t.Fatalf("%d keys after the merge, want 1 (expired keys dropped)", st.Keys)
	}
	if st.Earliest != keep {
		t.Fatalf("log start %d, want %d (the first record still needed)", st.Earliest, keep)
	}
	_, _, err = db.ReadFrom(1, 10)
	var oe *engine.OffsetError
	if !errors.As(err, &oe) || oe.Earliest != keep || !errors.Is(err, engine.ErrOutOfRange) {
		t.Fatalf("ReadFrom below the start: %v", err)
	}
	recs, _, err := db.ReadFrom(0, 1000)
	if err != nil || len(recs) != 101 || recs[0].Offset != keep {
		t.Fatalf("ReadFrom(0): %d records from %d, %v", len(recs), recs[0].Offset, err)
	}
}

// TestDB_Compact_Concurrent runs writers, readers, a consumer and merges
// (background and by hand) together, bounded, for -race: every read sees a
// value at least as new as the last one it saw, the consumer sees offsets
// in order, and at the end every acknowledged write is there.
func TestDB_Compact_Concurrent(t *testing.T) {
	dir := t.TempDir()
	opts := &engine.Options{SegmentBytes: 8 << 10, Sync: engine.SyncNever, TombstoneRetention: -1,
		Compaction: engine.CompactionOptions{Interval: time.Millisecond, MinDeadFraction: 0.2, SmallSegmentBytes: 4 << 10, MaxMergeBytes: 64 << 10}}
	db := testutil.OpenDBAt(t, dir, opts)
	const writers, perWriter, keysPerWriter = 2, 3000, 40
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				k := fmt.Appendf(nil, "w%d-%02d", w, i%keysPerWriter)
				if _, err := db.Put(k, fmt.Appendf(nil, "%d-%050d", i, 0)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	var others sync.WaitGroup
	errs := make(chan error, 8)
	// Readers: per key, the sequence number never goes back.
	for r := range 2 {
		others.Add(1)
		go func() {
			defer others.Done()
			seen := map[string]int{}
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%02d", (n+r)%writers, n%keysPerWriter)
				it, err := db.Get([]byte(k))
				if errors.Is(err, engine.ErrNotFound) {
					if seen[k] > 0 {
						errs <- fmt.Errorf("%s vanished", k)
						return
					}
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				seq, _ := strconv.Atoi(string(bytes.SplitN(it.Value, []byte("-"), 2)[0]))
				if seq+1 < seen[k] {
					errs <- fmt.Errorf("%s went back from %d to %d", k, seen[k]-1, seq)
					return
				}
				seen[k] = seq + 1
			}
		}()
	}
	// A consumer following the log: offsets only go up.
	others.Add(1)
	go func() {
		defer others.Done()
		var next uint64
		for {
			select {
			case <-done:
				return
			default:
			}
			recs, _, err := db.ReadFrom(next, 100)
			var oe *engine.OffsetError
			if errors.As(err, &oe) && next < oe.Earliest {
				next = oe.Earliest // compaction moved the start past us
				continue
			}
			if err != nil {
				errs <- err
				return
			}
			for _, r := range recs {
				if r.Offset < next {
					errs <- fmt.Errorf("consumer: offset %d after %d", r.Offset, next)
					return
				}
				next = r.Offset + 1
			}
		}
	}()
	// Merges by hand as well.
	others.Add(1)
	go func() {
		defer others.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := db.Compact(context.Background()); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	others.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if db.Stats().Compaction.Merges == 0 {
		t.Fatal("no merge ran")
	}
	check := func(db *engine.DB) {
		t.Helper()
		for w := range writers {
			for i := perWriter - keysPerWriter; i < perWriter; i++ {
				k := fmt.Appendf(nil, "w%d-%02d", w, i%keysPerWriter)
				it, err := db.Get(k)
				if err != nil || string(it.Value) != fmt.Sprintf("%d-%050d", i, 0) {
					t.Fatalf("%s = %q, %v", k, it.Value, err)
				}
			}
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check(testutil.OpenDBAt(t, dir, opts))
}

// TestDB_Compact_SyncsBeforeCommit: a merge drops records that later ones
// supersede, so it makes the later ones durable before it commits (under
// any Sync mode); otherwise a machine crash could bring an older value
// back.
func TestDB_Compact_SyncsBeforeCommit(t *testing.T) {
	db := testutil.OpenDB(t, &engine.Options{SegmentBytes: 4 << 10, Sync: engine.SyncNever,
		Compaction: engine.CompactionOptions{Disabled: true}})
	for i := range 200 {
		if _, err := db.Put(fmt.Appendf(nil, "k%d", i%10), make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Put([]byte("k1"), []byte("unsynced")); err != nil {
		t.Fatal(err)
	}
	before := db.Stats().Syncs
	res, err := db.Compact(context.Background())
	if err != nil || res.Merges == 0 {
		t.Fatalf("compact: %+v, %v", res, err)
	}
	if db.Stats().Syncs == before {
		t.Fatal("the merge committed without syncing the records that supersede what it dropped")
	}
}

// TestDB_Replicated_ExpiryIsDeterministic: a replicated store judges
// expiry only at each op's own time, whenever it was reopened or merged,
// so replicas agree on a later CompareAndSwap.
func TestDB_Replicated_ExpiryIsDeterministic(t *testing.T) {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var cur atomic.Int64
	cur.Store(ts.UnixNano())
	opts := &engine.Options{Sync: engine.SyncNever, Replicated: true, SegmentBytes: 4 << 10,
		Clock:      func() time.Time { return time.Unix(0, cur.Load()) },
		Compaction: engine.CompactionOptions{Disabled: true}}
	run := func(reopen, compact bool) engine.Result {
		dir := t.TempDir()
		db, err := engine.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		r, err := db.Apply([]engine.Op{{Kind: engine.OpPut, Key: []byte("k"), Value: []byte("v"),
			Timestamp: ts.UnixNano(), Expiry: ts.Add(time.Hour).UnixNano()}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 { // seal the segment holding k
			db.Apply([]engine.Op{{Kind: engine.OpProduce, Value: make([]byte, 100), Timestamp: ts.UnixNano() + int64(i)}})
		}
		cur.Store(ts.Add(2 * time.Hour).UnixNano()) // k has expired by the wall clock
		if compact {
			if _, err := db.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if reopen {
			db.Close()
			if db, err = engine.Open(dir, opts); err != nil {
				t.Fatal(err)
			}
		}
		defer db.Close()
		// A CAS the leader accepted 30 minutes in: k was live then.
		r2, err := db.Apply([]engine.Op{{Kind: engine.OpCAS, Key: []byte("k"), Expected: r[0].Offset,
			Value: []byte("w"), Timestamp: ts.Add(30 * time.Minute).UnixNano()}})
		if err != nil {
			t.Fatal(err)
		}
		cur.Store(ts.UnixNano())
		return r2[0]
	}
	base := run(false, false)
	if base.Err != nil {
		t.Fatalf("CAS on a value live at the op's time: %v", base.Err)
	}
	for _, c := range []struct{ reopen, compact bool }{{true, false}, {false, true}, {true, true}} {
		if got := run(c.reopen, c.compact); got.Offset != base.Offset || got.Err != nil {
			t.Fatalf("reopen=%v compact=%v: %+v, want %+v", c.reopen, c.compact, got, base)
		}
	}
}
