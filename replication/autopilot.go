package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	autopilot "github.com/hashicorp/raft-autopilot"
)

// RaftMembership is the part of *raft.Raft that membership
// reconciliation and autopilot drive. *raft.Raft implements it; tests may
// substitute a fake.
type RaftMembership interface {
	autopilot.Raft
}

var _ RaftMembership = (*raft.Raft)(nil)

// AutopilotConfig configures StartAutopilot. Zero durations take the
// defaults named beside them.
type AutopilotConfig struct {
	Raft       RaftMembership // this node's Raft; required
	Membership *Membership    // this node's Serf agent; required
	// LocalID is this node's Raft server ID; "" means the Membership's
	// TagID.
	LocalID raft.ServerID

	// FailTimeout is how long a server must stay failed (in Serf, or
	// absent from Serf while in the Raft configuration) before the leader
	// removes it from Raft; 0 means 30 s. Servers that leave gracefully
	// are removed at once.
	FailTimeout time.Duration
	// KeepDeadServers turns off the removal of failed servers.
	KeepDeadServers bool
	// MinQuorum is the number of voters autopilot never removes failed
	// servers below; 0 means no floor beyond keeping a majority.
	MinQuorum uint
	// LastContactThreshold: a server that has not heard from the leader
	// for longer is unhealthy; 0 means 200 ms.
	LastContactThreshold time.Duration
	// MaxTrailingLogs: a server further behind the leader's last index is
	// unhealthy; 0 means 250.
	MaxTrailingLogs uint64
	// ServerStabilizationTime: a non-voter is promoted after being healthy
	// this long; 0 means 10 s.
	ServerStabilizationTime time.Duration
	// UpdateInterval is how often server health is sampled; 0 means 2 s.
	// Stats are fetched with a deadline of half of it.
	UpdateInterval time.Duration
	// ReconcileInterval is how often Serf members are reconciled with the
	// Raft configuration and promotions applied (member events also
	// trigger a pass); 0 means 1 s.
	ReconcileInterval time.Duration
	// FetchStats returns the Raft progress of the given servers (all but
	// this node). nil means ask them over Serf (Membership.QueryRaftStats),
	// which needs MembershipConfig.RaftStats set on every node.
	FetchStats func(ctx context.Context, servers []Member) map[raft.ServerID]RaftStats
	Logger     *slog.Logger // nil means discard
}

func (c *AutopilotConfig) withDefaults() {
	if c.FailTimeout == 0 {
		c.FailTimeout = 30 * time.Second
	}
	if c.LastContactThreshold == 0 {
		c.LastContactThreshold = 200 * time.Millisecond
	}
	if c.MaxTrailingLogs == 0 {
		c.MaxTrailingLogs = 250
	}
	if c.ServerStabilizationTime == 0 {
		c.ServerStabilizationTime = 10 * time.Second
	}
	if c.UpdateInterval == 0 {
		c.UpdateInterval = 2 * time.Second
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Autopilot keeps the Raft configuration in step with Serf membership
// while this node leads. It adds members that join as non-voters,
// lets hashicorp/raft-autopilot promote them to voters once they have
// been healthy for ServerStabilizationTime, removes members that leave at
// once, and removes members that stay failed for FailTimeout (never so
// many that the voters lose their majority). On followers it only waits
// for leadership. It is safe for concurrent use.
type Autopilot struct {
	cfg AutopilotConfig // immutable after StartAutopilot
	ap  *autopilot.Autopilot
	log *slog.Logger

	kick   chan struct{}      // wakes the loop; buffered, size 1
	cancel context.CancelFunc // stops the loop
	wg     sync.WaitGroup     // the loop goroutine

	mu struct {
		sync.Mutex // guards the fields below; never held across a Raft call
		// failedSince is when each server was first seen failed or missing
		// from Serf; an entry goes when the server is seen alive or left.
		failedSince map[raft.ServerID]time.Time
		// removals are servers the leader must remove from Raft.
		removals map[raft.ServerID]bool
		closed   bool
	}
}

// StartAutopilot starts the reconciliation goroutine. Every node runs
// one; it acts only while its node is the Raft leader. Close stops it.
func StartAutopilot(cfg AutopilotConfig) (*Autopilot, error) {
	if cfg.Raft == nil || cfg.Membership == nil {
		return nil, errors.New("replication: autopilot needs Raft and Membership")
	}
	cfg.withDefaults()
	if cfg.LocalID == "" {
		cfg.LocalID = cfg.Membership.LocalMember().ID
	}
	a := &Autopilot{
		cfg:  cfg,
		log:  cfg.Logger.With("component", "autopilot", "id", cfg.LocalID),
		kick: make(chan struct{}, 1),
	}
	a.mu.failedSince = make(map[raft.ServerID]time.Time)
	a.mu.removals = make(map[raft.ServerID]bool)
	hl := hclog.New(&hclog.LoggerOptions{
		Name:        "autopilot",
		Level:       hclog.Debug,
		Output:      &slogLineWriter{log: a.log},
		DisableTime: true,
	})
	a.ap = autopilot.New(cfg.Raft, delegate{a},
		autopilot.WithLogger(hl),
		autopilot.WithPromoter(autopilot.DefaultPromoter()),
		autopilot.WithUpdateInterval(cfg.UpdateInterval),
		autopilot.WithReconcileInterval(cfg.ReconcileInterval),
	)
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go a.run(ctx)
	return a, nil
}

// State returns autopilot's latest view of the servers (health, voter or
// not, failure tolerance). It is empty unless this node leads; callers
// must not modify it.
func (a *Autopilot) State() *autopilot.State { return a.ap.GetState() }

// Healthy reports whether autopilot last found server id healthy. Only
// meaningful on the leader.
func (a *Autopilot) Healthy(id raft.ServerID) bool {
	h := a.ap.GetServerHealth(id)
	return h != nil && h.Healthy
}

// Close stops reconciliation and autopilot and waits for them. It does
// not change the Raft configuration. Closing twice is a no-op.
func (a *Autopilot) Close() error {
	a.mu.Lock()
	if a.mu.closed {
		a.mu.Unlock()
		return nil
	}
	a.mu.closed = true
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	return nil
}

func (a *Autopilot) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// run is the loop: it follows leadership, starting autopilot on gaining
// it and stopping it on losing it, and reconciles on every tick, member
// event and removal request.
func (a *Autopilot) run(ctx context.Context) {
	defer a.wg.Done()
	ticker := time.NewTicker(a.cfg.ReconcileInterval)
	defer ticker.Stop()
	running := false
	defer func() {
		if running {
			<-a.ap.Stop()
		}
	}()
	for {
		changed := a.cfg.Membership.Changed()
		leader := a.cfg.Raft.State() == raft.Leader
		switch {
		case leader && !running:
			a.log.Info("leading: reconciling membership")
			a.ap.Start(ctx)
			running = true
		case !leader && running:
			<-a.ap.Stop()
			running = false
			a.mu.Lock()
			clear(a.mu.removals)
			a.mu.Unlock()
		}
		if leader {
			if err := a.reconcile(); err != nil {
				a.log.Warn("membership reconciliation failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-changed:
		case <-a.kick:
		}
	}
}

// reconcile makes one pass on the leader: alive members missing from the
// Raft configuration are added as non-voters, members that left are
// removed, and queued removals of failed servers are carried out.
func (a *Autopilot) reconcile() error {
	f := a.cfg.Raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("get raft configuration: %w", err)
	}
	inConf := make(map[raft.ServerID]raft.Server)
	for _, s := range f.Configuration().Servers {
		inConf[s.ID] = s
	}
	var errs []error
	anyFailed := false
	for _, m := range a.cfg.Membership.Members() {
		if m.RaftAddr == "" || m.ID == a.cfg.LocalID {
			continue
		}
		s, ok := inConf[m.ID]
		switch m.Status {
		case MemberAlive:
			if !ok || s.Address != m.RaftAddr {
				a.log.Info("adding server as non-voter", "server", m.ID, "addr", m.RaftAddr)
				srv := &autopilot.Server{ID: m.ID, Name: m.Name, Address: m.RaftAddr, NodeStatus: autopilot.NodeAlive, Meta: m.Tags, RaftVersion: int(raft.ProtocolVersionMax)}
				if err := a.ap.AddServer(srv); err != nil {
					errs = append(errs, fmt.Errorf("add server %s: %w", m.ID, err))
				}
			}
		case MemberLeaving, MemberLeft:
			if ok {
				a.mu.Lock()
				a.mu.removals[m.ID] = true
				a.mu.Unlock()
			}
		case MemberFailed:
			anyFailed = anyFailed || ok
		}
	}
	if anyFailed && !a.cfg.KeepDeadServers {
		a.ap.RemoveDeadServers()
	}

	a.mu.Lock()
	var ids []raft.ServerID
	for id := range a.mu.removals {
		ids = append(ids, id)
	}
	clear(a.mu.removals)
	a.mu.Unlock()
	for _, id := range ids {
		if id == a.cfg.LocalID {
			continue // a leader does not remove itself; it transfers leadership first
		}
		if _, ok := inConf[id]; !ok {
			continue
		}
		a.log.Info("removing server", "server", id)
		if err := a.cfg.Raft.RemoveServer(id, 0, 5*time.Second).Error(); err != nil {
			errs = append(errs, fmt.Errorf("remove server %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// nodeStatus maps Serf's view to autopilot's.
func nodeStatus(s MemberStatus) autopilot.NodeStatus {
	switch s {
	case MemberAlive:
		return autopilot.NodeAlive
	case MemberLeaving, MemberLeft:
		return autopilot.NodeLeft
	case MemberFailed:
		return autopilot.NodeFailed
	default:
		return autopilot.NodeUnknown
	}
}

// delegate is Autopilot's autopilot.ApplicationIntegration; a separate
// type so its methods stay out of Autopilot's API.
type delegate struct{ a *Autopilot }

var _ autopilot.ApplicationIntegration = delegate{}

// AutopilotConfig implements autopilot.ApplicationIntegration.
func (d delegate) AutopilotConfig() *autopilot.Config {
	c := d.a.cfg
	return &autopilot.Config{
		CleanupDeadServers:      !c.KeepDeadServers,
		LastContactThreshold:    c.LastContactThreshold,
		MaxTrailingLogs:         c.MaxTrailingLogs,
		MinQuorum:               c.MinQuorum,
		ServerStabilizationTime: c.ServerStabilizationTime,
	}
}

// NotifyState implements autopilot.ApplicationIntegration.
func (d delegate) NotifyState(s *autopilot.State) {
	d.a.log.Debug("autopilot state", "healthy", s.Healthy, "failure_tolerance", s.FailureTolerance, "voters", len(s.Voters))
}

// KnownServers implements autopilot.ApplicationIntegration: the Serf
// members that carry a Raft address, plus any server of the Raft
// configuration Serf does not know, reported as failed so that it goes
// through FailTimeout rather than being dropped as stale at once.
func (d delegate) KnownServers() map[raft.ServerID]*autopilot.Server {
	a := d.a
	leader := a.cfg.Raft.State() == raft.Leader
	var conf []raft.Server
	if f := a.cfg.Raft.GetConfiguration(); f.Error() == nil {
		conf = f.Configuration().Servers
	}
	members := a.cfg.Membership.Members()
	now := time.Now()

	out := make(map[raft.ServerID]*autopilot.Server, len(members))
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range members {
		if m.RaftAddr == "" {
			continue
		}
		st := nodeStatus(m.Status)
		a.trackFailedLocked(m.ID, st, now)
		out[m.ID] = &autopilot.Server{
			ID:          m.ID,
			Name:        m.Name,
			Address:     m.RaftAddr,
			NodeStatus:  st,
			Meta:        m.Tags,
			RaftVersion: int(raft.ProtocolVersionMax),
			IsLeader:    leader && m.ID == a.cfg.LocalID,
			// Every caskade server may vote; without this the promoter
			// counts no potential voters and refuses every removal.
			NodeType: autopilot.NodeVoter,
		}
	}
	for _, s := range conf {
		if _, ok := out[s.ID]; ok {
			continue
		}
		a.trackFailedLocked(s.ID, autopilot.NodeFailed, now)
		out[s.ID] = &autopilot.Server{ID: s.ID, Name: string(s.ID), Address: s.Address, NodeStatus: autopilot.NodeFailed, RaftVersion: int(raft.ProtocolVersionMax), NodeType: autopilot.NodeVoter}
	}
	return out
}

// trackFailedLocked records when id was first seen failed. Caller holds a.mu.
func (a *Autopilot) trackFailedLocked(id raft.ServerID, st autopilot.NodeStatus, now time.Time) {
	if st != autopilot.NodeFailed {
		delete(a.mu.failedSince, id)
		return
	}
	if _, ok := a.mu.failedSince[id]; !ok {
		a.mu.failedSince[id] = now
	}
}

// FetchServerStats implements autopilot.ApplicationIntegration: this
// node's stats come from its Raft, the others' from FetchStats or a Serf
// query, bounded by ctx.
func (d delegate) FetchServerStats(ctx context.Context, servers map[raft.ServerID]*autopilot.Server) map[raft.ServerID]*autopilot.ServerStats {
	a := d.a
	out := make(map[raft.ServerID]*autopilot.ServerStats, len(servers))
	var remote []Member
	for id, s := range servers {
		if id == a.cfg.LocalID {
			if st, err := RaftStatsOf(a.cfg.Raft); err == nil {
				out[id] = &autopilot.ServerStats{LastContact: st.LastContact, LastTerm: st.LastTerm, LastIndex: st.LastIndex}
			} else {
				a.log.Warn("own raft stats", "err", err)
			}
			continue
		}
		if s.NodeStatus == autopilot.NodeAlive {
			remote = append(remote, Member{Name: s.Name, ID: id, RaftAddr: s.Address})
		}
	}
	if len(remote) == 0 {
		return out
	}
	var got map[raft.ServerID]RaftStats
	if a.cfg.FetchStats != nil {
		got = a.cfg.FetchStats(ctx, remote)
	} else {
		names := make([]string, len(remote))
		byName := make(map[string]raft.ServerID, len(remote))
		for i, m := range remote {
			names[i] = m.Name
			byName[m.Name] = m.ID
		}
		answers, err := a.cfg.Membership.QueryRaftStats(ctx, names)
		if err != nil {
			a.log.Warn("fetch raft stats", "err", err)
		}
		got = make(map[raft.ServerID]RaftStats, len(answers))
		for name, st := range answers {
			got[byName[name]] = st
		}
	}
	for id, st := range got {
		out[id] = &autopilot.ServerStats{LastContact: st.LastContact, LastTerm: st.LastTerm, LastIndex: st.LastIndex}
	}
	return out
}

// RemoveFailedServer implements autopilot.ApplicationIntegration. Autopilot
// has checked that the removal keeps a majority; a server that left is
// queued for removal at once, a failed one only after FailTimeout (autopilot
// asks again on its next pass). The loop carries removals out.
func (d delegate) RemoveFailedServer(s *autopilot.Server) {
	a := d.a
	a.mu.Lock()
	remove := s.NodeStatus == autopilot.NodeLeft
	if since, ok := a.mu.failedSince[s.ID]; ok && time.Since(since) >= a.cfg.FailTimeout {
		remove = true
	}
	if remove {
		a.mu.removals[s.ID] = true
	}
	a.mu.Unlock()
	if remove {
		a.wake()
	}
}
