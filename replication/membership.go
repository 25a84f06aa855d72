package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/serf/serf"
)

// Tags every caskade node puts on its Serf member.
const (
	// TagID holds the node's Raft server ID.
	TagID = "id"
	// TagRPCAddr holds the node's gRPC address (host:port).
	TagRPCAddr = "rpc_addr"
	// TagRaftAddr holds the node's Raft address (host:port).
	TagRaftAddr = "raft_addr"
)

// statsQuery is the Serf query a leader sends to learn a node's Raft
// progress (see QueryRaftStats). Part of the wire contract between nodes:
// never change it.
const statsQuery = "caskade-raft-stats"

// Errors of the membership layer.
var (
	// ErrMembershipClosed is returned by calls on a closed Membership.
	ErrMembershipClosed = errors.New("replication: membership closed")
	// ErrBadEncryptKey is returned for a gossip key that is not 16, 24 or 32 bytes.
	ErrBadEncryptKey = errors.New("replication: gossip encryption key must be 16, 24 or 32 bytes")
)

// MemberStatus is what Serf knows of a member's liveness.
type MemberStatus int

// Member statuses.
const (
	// MemberUnknown is a status Serf did not report.
	MemberUnknown MemberStatus = iota
	// MemberAlive members answer gossip.
	MemberAlive
	// MemberLeaving members announced a graceful leave that is in progress.
	MemberLeaving
	// MemberLeft members left gracefully.
	MemberLeft
	// MemberFailed members stopped answering without leaving.
	MemberFailed
)

// String returns the lower-case name of the status.
func (s MemberStatus) String() string {
	switch s {
	case MemberAlive:
		return "alive"
	case MemberLeaving:
		return "leaving"
	case MemberLeft:
		return "left"
	case MemberFailed:
		return "failed"
	default:
		return "unknown"
	}
}

func memberStatusOf(s serf.MemberStatus) MemberStatus {
	switch s {
	case serf.StatusAlive:
		return MemberAlive
	case serf.StatusLeaving:
		return MemberLeaving
	case serf.StatusLeft:
		return MemberLeft
	case serf.StatusFailed:
		return MemberFailed
	default:
		return MemberUnknown
	}
}

// Member is one node as Serf sees it.
type Member struct {
	Name       string             // Serf node name
	ID         raft.ServerID      // Raft server ID (tag "id"; the node name when absent)
	RPCAddr    string             // gRPC address (tag "rpc_addr")
	RaftAddr   raft.ServerAddress // Raft address (tag "raft_addr")
	GossipAddr string             // Serf address, host:port
	Tags       map[string]string  // all tags, a copy
	Status     MemberStatus
}

func memberOf(m serf.Member) Member {
	tags := make(map[string]string, len(m.Tags))
	for k, v := range m.Tags {
		tags[k] = v
	}
	id := tags[TagID]
	if id == "" {
		id = m.Name
	}
	return Member{
		Name:       m.Name,
		ID:         raft.ServerID(id),
		RPCAddr:    tags[TagRPCAddr],
		RaftAddr:   raft.ServerAddress(tags[TagRaftAddr]),
		GossipAddr: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))),
		Tags:       tags,
		Status:     memberStatusOf(m.Status),
	}
}

// Handler receives membership changes. Its methods run on the
// Membership's event goroutine, one at a time, and must return quickly:
// Serf's events queue up behind them.
type Handler interface {
	Join(Member)
	Leave(Member)
	Fail(Member)
}

// Timing selects Serf and memberlist timeouts.
type Timing int

const (
	// TimingLAN is memberlist's LAN profile: failures are detected in
	// a few seconds. The default.
	TimingLAN Timing = iota
	// TimingLocal is for loopback clusters (tests, `caskade dev`):
	// failures are detected in well under a second.
	TimingLocal
)

// RaftStats is a node's Raft progress, as autopilot needs it.
type RaftStats struct {
	LastContact time.Duration `json:"last_contact"` // since the last contact with the leader; 0 on the leader, < 0 for never
	LastTerm    uint64        `json:"last_term"`    // term of the last entry in the node's log
	LastIndex   uint64        `json:"last_index"`   // index of the last entry in the node's log
}

// RaftStatsOf reads r's own progress from r.Stats (a *raft.Raft does).
func RaftStatsOf(r RaftMembership) (RaftStats, error) {
	st := r.Stats()
	var s RaftStats
	var err error
	if s.LastTerm, err = strconv.ParseUint(st["last_log_term"], 10, 64); err != nil {
		return RaftStats{}, fmt.Errorf("parse raft last_log_term: %w", err)
	}
	if s.LastIndex, err = strconv.ParseUint(st["last_log_index"], 10, 64); err != nil {
		return RaftStats{}, fmt.Errorf("parse raft last_log_index: %w", err)
	}
	switch lc := st["last_contact"]; lc {
	case "0":
		s.LastContact = 0
	case "never", "":
		s.LastContact = -1
	default:
		if s.LastContact, err = time.ParseDuration(lc); err != nil {
			return RaftStats{}, fmt.Errorf("parse raft last_contact: %w", err)
		}
	}
	if r.State() == raft.Leader {
		s.LastContact = 0
	}
	return s, nil
}

// MembershipConfig configures StartMembership.
type MembershipConfig struct {
	NodeName   string            // unique Serf node name; required
	BindAddr   string            // gossip address; "" means 127.0.0.1
	BindPort   int               // gossip port (TCP and UDP); 0 picks a free one
	Tags       map[string]string // at least TagID, TagRPCAddr and TagRaftAddr
	EncryptKey []byte            // gossip encryption key (AES 16, 24 or 32 bytes); nil means plaintext
	Join       []string          // gossip addresses to join at start, retried in the background
	// JoinTimeout bounds the background join retries; 0 means 1 minute.
	JoinTimeout time.Duration
	Handler     Handler // nil means no callbacks
	// RaftStats answers other nodes' QueryRaftStats; nil means this node
	// does not answer (it is then never healthy to autopilot).
	RaftStats func() (RaftStats, error)
	Timing    Timing       // gossip timeouts; TimingLAN by default
	Logger    *slog.Logger // nil means discard
}

// Membership is this node's Serf agent. It is safe for concurrent use.
type Membership struct {
	cfg    MembershipConfig // immutable after StartMembership
	serf   *serf.Serf
	events chan serf.Event
	log    *slog.Logger

	cancel context.CancelFunc // stops the join and event goroutines
	wg     sync.WaitGroup     // the join and event goroutines

	mu struct {
		sync.Mutex               // guards the fields below
		changed    chan struct{} // closed and replaced on every member event
		closed     bool
	}
}

// StartMembership creates the Serf agent, starts its event goroutine and,
// when cfg.Join is set, a goroutine that joins those addresses with
// bounded backoff. It returns once Serf listens.
func StartMembership(cfg MembershipConfig) (*Membership, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("replication: membership: NodeName is required")
	}
	if cfg.BindAddr == "" {
		cfg.BindAddr = "127.0.0.1"
	}
	if cfg.JoinTimeout == 0 {
		cfg.JoinTimeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if n := len(cfg.EncryptKey); n != 0 && n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("membership %s: %w (got %d)", cfg.NodeName, ErrBadEncryptKey, n)
	}
	tags := make(map[string]string, len(cfg.Tags)+1)
	for k, v := range cfg.Tags {
		tags[k] = v
	}
	if tags[TagID] == "" {
		tags[TagID] = cfg.NodeName
	}
	cfg.Tags = tags

	m := &Membership{
		cfg:    cfg,
		events: make(chan serf.Event, 256),
		log:    cfg.Logger.With("component", "serf", "node", cfg.NodeName),
	}
	m.mu.changed = make(chan struct{})

	sc := serf.DefaultConfig()
	sc.Init()
	sc.NodeName = cfg.NodeName
	sc.Tags = tags
	sc.EventCh = m.events
	stdlog := log.New(&slogLineWriter{log: m.log}, "", 0)
	sc.Logger = stdlog
	ml := sc.MemberlistConfig
	ml.Logger = stdlog
	ml.BindAddr = cfg.BindAddr
	ml.BindPort = cfg.BindPort
	ml.AdvertisePort = cfg.BindPort
	if len(cfg.EncryptKey) > 0 {
		ml.SecretKey = append([]byte(nil), cfg.EncryptKey...)
		ml.GossipVerifyIncoming = true
		ml.GossipVerifyOutgoing = true
	}
	if cfg.Timing == TimingLocal {
		ml.ProbeInterval = 100 * time.Millisecond
		ml.ProbeTimeout = 50 * time.Millisecond
		ml.GossipInterval = 20 * time.Millisecond
		ml.GossipToTheDeadTime = 2 * time.Second
		ml.SuspicionMult = 2
		ml.SuspicionMaxTimeoutMult = 2
		ml.PushPullInterval = 2 * time.Second
		ml.TCPTimeout = time.Second
		ml.IndirectChecks = 1
		sc.ReapInterval = time.Second
		sc.ReconnectInterval = 500 * time.Millisecond
		sc.ReconnectTimeout = 30 * time.Second
		sc.TombstoneTimeout = 30 * time.Second
		sc.LeavePropagateDelay = 100 * time.Millisecond
		sc.BroadcastTimeout = 2 * time.Second
		sc.QueryTimeoutMult = 4
	}

	s, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("membership %s: start serf on %s:%d: %w", cfg.NodeName, cfg.BindAddr, cfg.BindPort, err)
	}
	m.serf = s

	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(1)
	go m.eventLoop(ctx)
	if len(cfg.Join) > 0 {
		m.wg.Add(1)
		go m.joinLoop(ctx, cfg.Join)
	}
	return m, nil
}

// Addr returns the address other nodes join this one at (host:port).
func (m *Membership) Addr() string {
	lm := m.serf.LocalMember()
	return net.JoinHostPort(lm.Addr.String(), strconv.Itoa(int(lm.Port)))
}

// LocalMember returns this node as Serf sees it.
func (m *Membership) LocalMember() Member { return memberOf(m.serf.LocalMember()) }

// Join contacts the given gossip addresses once and returns how many it
// reached. It fails only when it reached none.
func (m *Membership) Join(addrs []string) (int, error) {
	n, err := m.serf.Join(addrs, true)
	if err != nil {
		return n, fmt.Errorf("membership %s: join %v: %w", m.cfg.NodeName, addrs, err)
	}
	return n, nil
}

// Members returns every member Serf knows, this node included, alive or
// not; left and failed members stay until Serf reaps them.
func (m *Membership) Members() []Member {
	sm := m.serf.Members()
	out := make([]Member, 0, len(sm))
	for _, x := range sm {
		out = append(out, memberOf(x))
	}
	return out
}

// Changed returns a channel that is closed at the next member event
// (join, leave, failure, update or reap). Call it again for the one after.
func (m *Membership) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.changed
}

// QueryRaftStats asks the named members for their Raft progress with a
// Serf query and returns the answers that arrive before ctx is done (a
// deadline is required to bound the wait) or all named members answered.
func (m *Membership) QueryRaftStats(ctx context.Context, names []string) (map[string]RaftStats, error) {
	out := make(map[string]RaftStats, len(names))
	if len(names) == 0 {
		return out, nil
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil, errors.New("replication: QueryRaftStats needs a context with a deadline")
	}
	timeout := time.Until(deadline)
	if timeout <= 0 {
		return out, ctx.Err()
	}
	resp, err := m.serf.Query(statsQuery, nil, &serf.QueryParam{FilterNodes: names, Timeout: timeout})
	if err != nil {
		return nil, fmt.Errorf("membership %s: query raft stats: %w", m.cfg.NodeName, err)
	}
	defer resp.Close()
	ch := resp.ResponseCh()
	for len(out) < len(names) {
		select {
		case <-ctx.Done():
			return out, nil
		case r, ok := <-ch:
			if !ok {
				return out, nil
			}
			var s RaftStats
			if err := json.Unmarshal(r.Payload, &s); err != nil {
				m.log.Warn("bad raft stats answer", "from", r.From, "err", err)
				continue
			}
			out[r.From] = s
		}
	}
	return out, nil
}

// Leave announces a graceful leave and waits for it to spread (bounded by
// Serf's broadcast timeout), then closes the Membership. Other nodes see
// this node as left, and a leader removes it from Raft at once.
func (m *Membership) Leave() error {
	if m.isClosed() {
		return ErrMembershipClosed
	}
	var errs []error
	if err := m.serf.Leave(); err != nil {
		errs = append(errs, fmt.Errorf("membership %s: leave: %w", m.cfg.NodeName, err))
	}
	if err := m.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Close stops Serf without leaving (others will see this node fail) and
// waits for the Membership's goroutines. Closing twice is a no-op.
func (m *Membership) Close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	m.mu.Unlock()

	err := m.serf.Shutdown()
	m.cancel()
	m.wg.Wait()
	if err != nil {
		return fmt.Errorf("membership %s: shutdown serf: %w", m.cfg.NodeName, err)
	}
	return nil
}

func (m *Membership) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mu.closed
}

// joinLoop joins addrs, retrying with exponential backoff (100 ms up to
// 5 s) until another member is known, ctx is done or JoinTimeout passes.
// Reaching only this node (a --join list that names it, its peers not up
// yet) is not joined: it would leave the node alone for good.
func (m *Membership) joinLoop(ctx context.Context, addrs []string) {
	defer m.wg.Done()
	deadline := time.Now().Add(m.cfg.JoinTimeout)
	backoff := 100 * time.Millisecond
	for {
		n, err := m.serf.Join(addrs, true)
		if err == nil && m.serf.NumNodes() > 1 {
			m.log.Info("joined cluster", "contacted", n, "addrs", addrs)
			return
		}
		if err == nil {
			err = errors.New("reached no member but this node")
		}
		if time.Now().Add(backoff).After(deadline) {
			m.log.Error("giving up joining cluster", "addrs", addrs, "err", err)
			return
		}
		m.log.Debug("join failed, will retry", "addrs", addrs, "in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// eventLoop hands Serf's events to the Handler and answers stats queries.
func (m *Membership) eventLoop(ctx context.Context) {
	defer m.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-m.events:
			switch e := e.(type) {
			case serf.MemberEvent:
				m.handleMemberEvent(e)
			case *serf.Query:
				m.answerQuery(e)
			}
		}
	}
}

func (m *Membership) handleMemberEvent(e serf.MemberEvent) {
	m.mu.Lock()
	close(m.mu.changed)
	m.mu.changed = make(chan struct{})
	m.mu.Unlock()

	h := m.cfg.Handler
	if h == nil {
		return
	}
	for _, sm := range e.Members {
		if sm.Name == m.cfg.NodeName {
			continue
		}
		mem := memberOf(sm)
		switch e.Type {
		case serf.EventMemberJoin:
			h.Join(mem)
		case serf.EventMemberLeave:
			h.Leave(mem)
		case serf.EventMemberFailed:
			h.Fail(mem)
		}
	}
}

func (m *Membership) answerQuery(q *serf.Query) {
	if q.Name != statsQuery || m.cfg.RaftStats == nil {
		return
	}
	s, err := m.cfg.RaftStats()
	if err != nil {
		m.log.Warn("cannot answer raft stats query", "err", err)
		return
	}
	b, err := json.Marshal(s)
	if err != nil {
		m.log.Warn("cannot encode raft stats", "err", err)
		return
	}
	if err := q.Respond(b); err != nil {
		m.log.Debug("raft stats answer not sent", "err", err)
	}
}

// slogLineWriter turns the lines Serf, memberlist and hclog write
// ("[INFO] serf: text") into slog records at the matching level.
type slogLineWriter struct {
	log *slog.Logger
}

var levelTags = []struct {
	tag   string
	level slog.Level
}{
	{"[TRACE]", slog.LevelDebug - 4},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

func (w *slogLineWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		msg := string(line)
		level := slog.LevelInfo
		for _, lt := range levelTags {
			if i := strings.Index(msg, lt.tag); i >= 0 {
				level = lt.level
				msg = strings.TrimSpace(msg[i+len(lt.tag):])
				break
			}
		}
		if msg != "" && w.log.Enabled(context.Background(), level) {
			w.log.Log(context.Background(), level, msg)
		}
	}
	return len(p), nil
}
