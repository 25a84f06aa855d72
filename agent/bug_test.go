//go:build failpoints

package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/internal/failpoint"
)

// enableBug turns a deliberate bug on in this process until the test
// ends. Call it before starting nodes: a node looks at some bugs when it
// opens.
func enableBug(t *testing.T, bug string) {
	t.Helper()
	restore, err := failpoint.Configure("", bug, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restore)
}

// With stale-linearizable-reads, a follower answers a LINEARIZABLE Get at
// once from a store that trails the leader: a write the leader has
// acknowledged is missing from the read that follows it.
func TestBug_StaleLinearizableReads(t *testing.T) {
	enableBug(t, failpoint.BugStaleReads)
	c := newCluster(t, nil, nil)
	leader := c.leader(nil)
	lc := c.client(leader)
	follower := c.followers(leader)[0]
	fkv := caskadev1.NewKVClient(rawConn(t, follower.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stale := 0
	var last string
	for i := 0; i < 20 && stale < 3; i++ {
		k := fmt.Sprintf("s%02d", i)
		if _, err := lc.Put(ctx, []byte(k), []byte("v")); err != nil {
			continue // an election on a loaded machine: only acknowledged puts count
		}
		last = k
		_, err := fkv.Get(ctx, &caskadev1.GetRequest{Key: []byte(k), Consistency: caskadev1.Consistency_LINEARIZABLE})
		switch status.Code(err) {
		case codes.NotFound:
			stale++
		case codes.OK:
		default:
			t.Fatalf("linearizable get %s on the follower: %v", k, err)
		}
	}
	if last == "" {
		t.Fatal("no put was acknowledged")
	}
	if stale == 0 {
		t.Fatal("every linearizable read on the follower saw the write before it: the bug did not act")
	}
	// The follower is late, not wrong: it applies the writes in the end.
	waitFor(t, 10*time.Second, "the follower to apply the last write", func() bool {
		_, err := follower.Node().DB().Get([]byte(last))
		return err == nil
	})
}

// With drop-acked-writes, the leader acknowledges every fifth Put without
// writing it: the Put succeeds and a linearizable Get misses it.
func TestBug_DropAckedWrites(t *testing.T) {
	enableBug(t, failpoint.BugDropAckedWrites)
	c := newCluster(t, nil, nil)
	leader := c.leader(nil)
	lc := c.client(leader)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	term := leader.Node().Term()
	const puts = 4 * failpoint.DropEvery
	var acked []string
	for i := range puts {
		k := fmt.Sprintf("d%02d", i)
		if _, err := lc.Put(ctx, []byte(k), []byte("v")); err == nil {
			acked = append(acked, k) // an election may fail a put on a loaded machine
		}
	}
	var missing []string
	for _, k := range acked {
		var err error
		for range 20 { // retry what an election may fail
			if _, err = lc.Get(ctx, []byte(k)); err == nil || errors.Is(err, client.ErrNotFound) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		switch {
		case errors.Is(err, client.ErrNotFound):
			missing = append(missing, k)
		case err != nil:
			t.Fatalf("get %s: %v", k, err)
		}
	}
	// One leader throughout drops exactly the 5th, 10th, ... put; a change
	// of leader restarts the count (and a put that failed counts too), so
	// then ask only for some.
	if len(missing) == 0 {
		t.Fatalf("every acknowledged put %v is there: the bug did not act", acked)
	}
	if len(acked) == puts && leader.Node().IsLeader() && leader.Node().Term() == term {
		want := []string{"d04", "d09", "d14", "d19"}
		if !slices.Equal(missing, want) {
			t.Fatalf("missing %v, want %v", missing, want)
		}
	}
}
