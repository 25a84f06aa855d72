package replication

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingHandler remembers the events it was given.
type recordingHandler struct {
	mu     sync.Mutex // guards events
	events []string   // "join a", "leave b", "fail c"
}

func (h *recordingHandler) add(kind string, m Member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, kind+" "+m.Name)
}

func (h *recordingHandler) Join(m Member)  { h.add("join", m) }
func (h *recordingHandler) Leave(m Member) { h.add("leave", m) }
func (h *recordingHandler) Fail(m Member)  { h.add("fail", m) }

func (h *recordingHandler) has(event string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.events {
		if e == event {
			return true
		}
	}
	return false
}

// startTestMembership starts a Membership on 127.0.0.1 with a free port
// and local timings, and closes it at the end of the test.
func startTestMembership(t *testing.T, name string, key []byte, join []string, h Handler) *Membership {
	t.Helper()
	m, err := StartMembership(MembershipConfig{
		NodeName:   name,
		Tags:       map[string]string{TagRPCAddr: "127.0.0.1:9" + name, TagRaftAddr: "raft-" + name},
		EncryptKey: key,
		Join:       join,
		Handler:    h,
		Timing:     TimingLocal,
		Logger:     testLogger(t),
	})
	if err != nil {
		t.Fatalf("start membership %s: %v", name, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// testLogger logs at Warn and above through t.Log until the test ends
// (memberlist's probe goroutines may still log briefly after Shutdown).
func testLogger(t *testing.T) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct {
	t  *testing.T
	mu sync.Mutex // guards done
	// done is set when the test ends; t.Log must not be called after it.
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// statusOf returns name's status as m sees it.
func statusOf(m *Membership, name string) MemberStatus {
	for _, x := range m.Members() {
		if x.Name == name {
			return x.Status
		}
	}
	return MemberUnknown
}

func aliveCount(m *Membership) int {
	n := 0
	for _, x := range m.Members() {
		if x.Status == MemberAlive {
			n++
		}
	}
	return n
}

func TestMembership_JoinTags(t *testing.T) {
	h := &recordingHandler{}
	a := startTestMembership(t, "a", nil, nil, h)
	b := startTestMembership(t, "b", nil, []string{a.Addr()}, nil)
	c := startTestMembership(t, "c", nil, []string{b.Addr()}, nil)
	for _, m := range []*Membership{a, b, c} {
		waitFor(t, "three alive members", func() bool { return aliveCount(m) == 3 })
	}
	for _, x := range a.Members() {
		if string(x.ID) != x.Name || x.RPCAddr != "127.0.0.1:9"+x.Name || string(x.RaftAddr) != "raft-"+x.Name {
			t.Errorf("member %s: id %q rpc %q raft %q", x.Name, x.ID, x.RPCAddr, x.RaftAddr)
		}
		if x.GossipAddr == "" || !strings.HasPrefix(x.GossipAddr, "127.0.0.1:") {
			t.Errorf("member %s: gossip address %q", x.Name, x.GossipAddr)
		}
	}
	waitFor(t, "join events at a", func() bool { return h.has("join b") && h.has("join c") })
	if h.has("join a") {
		t.Errorf("handler told of its own node joining")
	}
}

func TestMembership_EncryptKeyMismatch(t *testing.T) {
	key1 := bytes.Repeat([]byte{1}, 32)
	key2 := bytes.Repeat([]byte{2}, 32)
	a := startTestMembership(t, "a", key1, nil, nil)
	b := startTestMembership(t, "b", key1, nil, nil)
	if _, err := b.Join([]string{a.Addr()}); err != nil {
		t.Fatalf("join with the same key: %v", err)
	}
	waitFor(t, "a and b together", func() bool { return aliveCount(a) == 2 && aliveCount(b) == 2 })

	c := startTestMembership(t, "c", key2, nil, nil)
	if _, err := c.Join([]string{a.Addr()}); err == nil {
		t.Fatalf("join with a different key succeeded")
	}
	p := startTestMembership(t, "p", nil, nil, nil)
	if _, err := p.Join([]string{a.Addr()}); err == nil {
		t.Fatalf("plaintext join of an encrypted cluster succeeded")
	}
	// Give gossip a moment to leak, then check nobody learned of c or p.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if aliveCount(c) != 1 || statusOf(a, "c") != MemberUnknown || statusOf(a, "p") != MemberUnknown {
			t.Fatalf("mismatched key let a node in: a sees %v, c sees %d alive", a.Members(), aliveCount(c))
		}
		time.Sleep(20 * time.Millisecond)
	}

	if _, err := StartMembership(MembershipConfig{NodeName: "x", EncryptKey: []byte("short")}); err == nil {
		t.Fatalf("a 5-byte key was accepted")
	}
}

func TestMembership_LeaveAndFail(t *testing.T) {
	h := &recordingHandler{}
	a := startTestMembership(t, "a", nil, nil, h)
	b := startTestMembership(t, "b", nil, []string{a.Addr()}, nil)
	c := startTestMembership(t, "c", nil, []string{a.Addr()}, nil)
	d := startTestMembership(t, "d", nil, []string{a.Addr()}, nil)
	for _, m := range []*Membership{a, b, c, d} {
		waitFor(t, "four alive members", func() bool { return aliveCount(m) == 4 })
	}

	if err := b.Leave(); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if err := b.Leave(); err == nil {
		t.Fatalf("second leave succeeded")
	}
	for _, m := range []*Membership{a, c, d} {
		waitFor(t, "b left", func() bool { return statusOf(m, "b") == MemberLeft })
	}
	waitFor(t, "leave event", func() bool { return h.has("leave b") })

	changed := a.Changed()
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, m := range []*Membership{a, d} {
		waitFor(t, "c failed", func() bool { return statusOf(m, "c") == MemberFailed })
	}
	waitFor(t, "fail event", func() bool { return h.has("fail c") })
	// Under load Serf may have suspected c and reported it failed before
	// it closed (an earlier "fail c"): wait for the event of its closing.
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatalf("Changed channel not closed after a failure")
	}
	if h.has("fail b") || h.has("leave c") {
		t.Fatalf("wrong events: %v", h.events)
	}
}

func TestMembership_QueryRaftStats(t *testing.T) {
	var ms []*Membership
	for i, name := range []string{"a", "b", "c"} {
		var join []string
		if i > 0 {
			join = []string{ms[0].Addr()}
		}
		m, err := StartMembership(MembershipConfig{
			NodeName: name,
			Join:     join,
			Timing:   TimingLocal,
			Logger:   testLogger(t),
			RaftStats: func() (RaftStats, error) {
				return RaftStats{LastContact: time.Duration(i) * time.Millisecond, LastTerm: 7, LastIndex: uint64(100 + i)}, nil
			},
		})
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		t.Cleanup(func() { _ = m.Close() })
		ms = append(ms, m)
	}
	waitFor(t, "three alive members", func() bool { return aliveCount(ms[0]) == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	got, err := ms[0].QueryRaftStats(ctx, []string{"b", "c"})
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	for i, name := range []string{"b", "c"} {
		want := RaftStats{LastContact: time.Duration(i+1) * time.Millisecond, LastTerm: 7, LastIndex: uint64(101 + i)}
		if got[name] != want {
			t.Errorf("stats of %s = %+v, want %+v", name, got[name], want)
		}
	}
	if len(got) != 2 {
		t.Errorf("answers from %v, want b and c only", fmt.Sprint(got))
	}
}
