package engine_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/engine/segment"
	"github.com/caskade/caskade/internal/testutil"
)

func TestDB_BackupRestore(t *testing.T) {
	opts := &engine.Options{SegmentBytes: 8 << 10, Sync: engine.SyncNever}
	db := testutil.OpenDB(t, opts)
	for i := range 600 {
		if _, err := db.Put(fmt.Appendf(nil, "k%03d", i%150), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			if _, err := db.Produce(fmt.Appendf(nil, "m%d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.Delete([]byte("k007")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := db.Backup(context.Background(), &buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup = %d, %v (buffer %d)", n, err, buf.Len())
	}
	// Writes after the backup are not in it.
	if _, err := db.Put([]byte("later"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "restored")
	m, err := engine.RestoreBackup(context.Background(), dir, bytes.NewReader(buf.Bytes()), opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.Earliest != 1 || m.Next != db.NextOffset()-1 || m.Keys == nil || *m.Keys != 149 {
		t.Fatalf("manifest: earliest %d, next %d, keys %v", m.Earliest, m.Next, m.Keys)
	}
	if vm, err := engine.VerifyBackup(context.Background(), bytes.NewReader(buf.Bytes())); err != nil || vm.Checksum != m.Checksum {
		t.Fatalf("VerifyBackup = %+v, %v", vm, err)
	}
	rdb := testutil.OpenDBAt(t, dir, opts)
	if st := rdb.Stats(); st.Keys != 149 || st.Earliest != m.Earliest {
		t.Fatalf("restored store: %d keys, earliest %d", st.Keys, st.Earliest)
	}
	if rdb.NextOffset() != db.NextOffset()-1 {
		t.Fatalf("restored next offset %d, want %d", rdb.NextOffset(), db.NextOffset()-1)
	}
	for i := 450; i < 600; i++ {
		k := fmt.Appendf(nil, "k%03d", i%150)
		it, err := rdb.Get(k)
		if i%150 == 7 {
			if !errors.Is(err, engine.ErrNotFound) {
				t.Fatalf("deleted key restored: %v", err)
			}
			continue
		}
		if err != nil || string(it.Value) != fmt.Sprintf("v%d", i) {
			t.Fatalf("restored %s = %q, %v", k, it.Value, err)
		}
	}
	if _, err := rdb.Get([]byte("later")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("write after the backup restored: %v", err)
	}
	want, _, _ := db.ReadFrom(0, 1<<20)
	got, _, _ := rdb.ReadFrom(0, 1<<20)
	if len(got) != len(want)-1 {
		t.Fatalf("restored log has %d records, want %d", len(got), len(want)-1)
	}
	// Restore refuses a directory in use and garbage input, and leaves
	// nothing behind.
	if err := engine.Restore(context.Background(), dir, bytes.NewReader(buf.Bytes()), opts); err == nil {
		t.Fatal("restore over a store accepted")
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := engine.Restore(context.Background(), bad, bytes.NewReader([]byte("not a tar")), opts); err == nil {
		t.Fatal("restore of garbage accepted")
	}
	if m, _ := filepath.Glob(bad + "*"); len(m) != 0 {
		t.Fatalf("failed restore left %v", m)
	}
}

// TestDB_Checkpoint: a checkpoint holds exactly the records before it,
// however many are written while it is being written out, and restores
// with the same next offset even when its newest segment is empty.
func TestDB_Checkpoint(t *testing.T) {
	opts := &engine.Options{SegmentBytes: 4 << 10, Sync: engine.SyncNever}
	db := testutil.OpenDB(t, opts)
	for i := range 300 {
		if _, err := db.Put(fmt.Appendf(nil, "k%d", i%40), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := db.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if cp.NextOffset() != 301 {
		t.Fatalf("checkpoint next %d", cp.NextOffset())
	}
	for i := range 100 { // after the checkpoint: not in it
		if _, err := db.Put([]byte("later"), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := cp.WriteTo(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	cp.Release()
	dir := filepath.Join(t.TempDir(), "r")
	if err := engine.Restore(context.Background(), dir, &buf, opts); err != nil {
		t.Fatal(err)
	}
	r := testutil.OpenDBAt(t, dir, opts)
	if r.NextOffset() != 301 {
		t.Fatalf("restored next %d, want 301", r.NextOffset())
	}
	if _, err := r.Get([]byte("later")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a write after the checkpoint is in it: %v", err)
	}
	it, err := r.Get([]byte("k19"))
	if err != nil || string(it.Value) != "v299" {
		t.Fatalf("k19 = %q, %v", it.Value, err)
	}
}

// TestDB_Backup_KeysUnderWrites: a manifest made while writes go on
// counts exactly the keys its records hold, or leaves the count out.
func TestDB_Backup_KeysUnderWrites(t *testing.T) {
	opts := &engine.Options{SegmentBytes: 64 << 10, Sync: engine.SyncNever}
	db := testutil.OpenDB(t, opts)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() { // at most 50000 keys: a few MiB
		for i := range 50000 {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := db.Put(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	check := func(wantKeys bool) {
		t.Helper()
		var buf bytes.Buffer
		if _, err := db.Backup(context.Background(), &buf); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "r")
		m, err := engine.RestoreBackup(context.Background(), dir, &buf, opts)
		if err != nil {
			t.Fatal(err)
		}
		if m.Keys == nil {
			if wantKeys {
				t.Fatal("no key count in the manifest of an idle store")
			}
			return
		}
		r, err := engine.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if got := r.Stats().Keys; uint64(got) != *m.Keys {
			t.Fatalf("manifest counts %d keys, the restored store holds %d (next offset %d)", *m.Keys, got, m.Next)
		}
	}
	for range 5 {
		check(false)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	check(true)
}

// TestDB_Restore_OffsetsChecked: a manifest whose offsets do not match
// the store its files make (here: a next offset past the last record,
// with a checksum to match) is refused, and nothing is left.
func TestDB_Restore_OffsetsChecked(t *testing.T) {
	db := testutil.OpenDB(t, &engine.Options{Sync: engine.SyncNever})
	for i := range 10 {
		if _, err := db.Put(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := db.Backup(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == segment.ManifestName {
			m, err := segment.DecodeManifest(data)
			if err != nil {
				t.Fatal(err)
			}
			m.Next += 5
			if data, err = m.Encode(); err != nil {
				t.Fatal(err)
			}
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "r")
	err := engine.Restore(context.Background(), dir, &out, nil)
	if !errors.Is(err, engine.ErrCorrupt) || !strings.Contains(err.Error(), "its manifest says [1, 16)") {
		t.Fatalf("restore = %v, want ErrCorrupt about the offsets", err)
	}
	if m, _ := filepath.Glob(dir + "*"); len(m) != 0 {
		t.Fatalf("a refused restore left %v", m)
	}
}
