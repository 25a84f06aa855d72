package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/caskade/caskade/replication"
)

// bootstrapRetryInterval is how often a node waiting for BootstrapExpect
// members looks again even without a member event (a peer's Raft stats
// query may have gone unanswered).
const bootstrapRetryInterval = time.Second

// statsQueryTimeout bounds the Serf query that asks the expected members
// whether they already have Raft state.
const statsQueryTimeout = 2 * time.Second

// startMembership starts Serf (tags carry the node's RPC and Raft
// addresses, which share the one port), autopilot, and, with
// BootstrapExpect, the goroutine that bootstraps a new cluster. On error
// it stops what it started.
func (a *Agent) startMembership() error {
	cfg := a.cfg
	host, portStr, err := net.SplitHostPort(cfg.SerfAddr)
	if err != nil {
		return fmt.Errorf("agent: serf address %q: %w", cfg.SerfAddr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("agent: serf address %q: port: %w", cfg.SerfAddr, err)
	}
	node := a.node
	a.mem, err = replication.StartMembership(replication.MembershipConfig{
		NodeName: node.ID(),
		BindAddr: host,
		BindPort: port,
		Tags: map[string]string{
			replication.TagID:       node.ID(),
			replication.TagRPCAddr:  a.addr,
			replication.TagRaftAddr: node.Addr(),
		},
		EncryptKey: cfg.GossipKey,
		Join:       cfg.Join,
		Logger:     cfg.Logger,
		Timing:     cfg.SerfTiming,
		RaftStats:  func() (replication.RaftStats, error) { return replication.RaftStatsOf(node.Raft()) },
	})
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	ac := replication.AutopilotConfig{
		Raft:       node.Raft(),
		Membership: a.mem,
		LocalID:    raft.ServerID(node.ID()),
		MinQuorum:  uint(cfg.BootstrapExpect),
		Logger:     cfg.Logger,
	}
	if cfg.TuneAutopilot != nil {
		cfg.TuneAutopilot(&ac)
	}
	a.ap, err = replication.StartAutopilot(ac)
	if err != nil {
		a.mem.Close()
		return fmt.Errorf("agent: %w", err)
	}
	if cfg.BootstrapExpect > 0 {
		ctx, cancel := context.WithCancel(context.Background())
		a.stopBootstrap = cancel
		a.bootWG.Go(func() { a.bootstrapLoop(ctx) })
	}
	return nil
}

// bootstrapLoop tries to bootstrap at every member event (and every
// bootstrapRetryInterval) until the node has Raft state — its own
// bootstrap, or entries from a leader that added it — or ctx is done.
func (a *Agent) bootstrapLoop(ctx context.Context) {
	t := time.NewTicker(bootstrapRetryInterval)
	defer t.Stop()
	for {
		changed := a.mem.Changed()
		done, err := a.tryBootstrap(ctx)
		if err != nil {
			a.cfg.Logger.Warn("bootstrap attempt failed; will retry", "err", err)
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-t.C:
		}
	}
}

// tryBootstrap makes one attempt; it reports whether the node is done
// waiting (it has Raft state now, or the cluster already exists). The
// configuration is the BootstrapExpect alive members with the lowest IDs,
// all voters, so every node that bootstraps gives Raft the same one, as
// hashicorp/raft recommends; a node outside it waits to be added. It does
// not bootstrap when any of those members already has Raft state: the
// cluster exists, and its leader adds this node.
func (a *Agent) tryBootstrap(ctx context.Context) (bool, error) {
	r := a.node.Raft()
	if r.LastIndex() > 0 {
		return true, nil
	}
	var alive []replication.Member
	for _, m := range a.mem.Members() {
		if m.Status == replication.MemberAlive && m.RaftAddr != "" {
			alive = append(alive, m)
		}
	}
	want := a.cfg.BootstrapExpect
	if len(alive) < want {
		return false, nil
	}
	slices.SortFunc(alive, func(x, y replication.Member) int { return cmp.Compare(x.ID, y.ID) })
	alive = alive[:want]
	self := raft.ServerID(a.node.ID())
	var others []string
	conf := raft.Configuration{}
	for _, m := range alive {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: m.ID, Address: m.RaftAddr})
		if m.ID != self {
			others = append(others, m.Name)
		}
	}
	if len(others) == len(alive) {
		return false, nil // not among the first BootstrapExpect: wait to be added
	}
	qctx, cancel := context.WithTimeout(ctx, statsQueryTimeout)
	defer cancel()
	stats, err := a.mem.QueryRaftStats(qctx, others)
	if err != nil {
		return false, fmt.Errorf("agent: bootstrap: %w", err)
	}
	for _, name := range others {
		st, ok := stats[name]
		if !ok {
			return false, nil // no answer yet: ask again
		}
		if st.LastIndex > 0 {
			a.cfg.Logger.Info("not bootstrapping: a member already has Raft state; waiting to be added", "member", name)
			return true, nil
		}
	}
	if r.LastIndex() > 0 {
		return true, nil
	}
	a.cfg.Logger.Info("bootstrapping the cluster", "servers", conf.Servers)
	if err := r.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return false, fmt.Errorf("agent: bootstrap: %w", err)
	}
	return true, nil
}

// leaveCluster is the membership part of Close: it stops the bootstrap
// goroutine; a leader with other voters hands over leadership (best
// effort: else the others elect one after a timeout); autopilot stops;
// and the node leaves Serf, so that the (new) leader removes it from the
// Raft configuration.
func (a *Agent) leaveCluster() error {
	if a.stopBootstrap != nil {
		a.stopBootstrap()
		a.bootWG.Wait()
	}
	if a.node.IsLeader() {
		if srv, err := a.node.Servers(); err == nil && otherVoters(srv, a.node.ID()) > 0 {
			if err := a.node.TransferLeadership(); err != nil {
				a.cfg.Logger.Warn("leadership transfer before leaving failed", "err", err)
			}
		}
	}
	var errs []error
	if err := a.ap.Close(); err != nil {
		errs = append(errs, fmt.Errorf("agent: %w", err))
	}
	if err := a.mem.Leave(); err != nil {
		errs = append(errs, fmt.Errorf("agent: %w", err))
	}
	return errors.Join(errs...)
}

// otherVoters counts the voters in srv other than id.
func otherVoters(srv []replication.Server, id string) int {
	n := 0
	for _, s := range srv {
		if s.Voter && s.ID != id {
			n++
		}
	}
	return n
}
