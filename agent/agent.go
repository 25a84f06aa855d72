package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/soheilhy/cmux"
	"google.golang.org/grpc"

	"github.com/caskade/caskade/engine"
	"github.com/caskade/caskade/replication"
	"github.com/caskade/caskade/rpc"
)

// Config configures an Agent.
type Config struct {
	// NodeID names the node in the cluster; required.
	NodeID string
	// Addr is the TCP address to listen on (host:port; port 0 picks one).
	Addr string
	// AdvertiseAddr is the address other nodes and clients reach this node
	// at; "" means the listener's address.
	AdvertiseAddr string
	// Dir holds the node's Raft state and store.
	Dir string
	// Bootstrap and Peers: see replication.Config.
	Bootstrap bool
	Peers     []replication.Server
	// TLS is the node's mutual-TLS configuration (certs.ServerTLSConfig):
	// it serves gRPC and Raft and, as a client, dials peers' Raft. nil
	// speaks plaintext.
	TLS *tls.Config
	// Authorizer authorizes gRPC calls (rpc.Options.Authorizer).
	Authorizer *rpc.Authorizer
	// DisableForwarding makes followers answer writes with NOT_LEADER and
	// the leader's address instead of forwarding them.
	DisableForwarding bool
	// Engine configures the store (Sync is ignored: see
	// replication.Config.Engine).
	Engine engine.Options
	// Tune, when set, adjusts the replication config before the node
	// opens (tests lower Raft's timeouts).
	Tune func(*replication.Config)
	// Version is reported by Status.
	Version string

	// SerfAddr is the node's own gossip address (host:port, TCP and UDP,
	// apart from Addr); "" runs no membership: the node is then managed
	// by hand (Bootstrap, Peers, Node().AddVoter). With it the node runs
	// Serf and autopilot (see cluster.go).
	SerfAddr string
	// Join lists Serf addresses of members to join at start (retried in
	// the background).
	Join []string
	// GossipKey encrypts Serf gossip (16, 24 or 32 bytes); nil means
	// plaintext gossip.
	GossipKey []byte
	// BootstrapExpect, with SerfAddr, is the number of voters of a new
	// cluster: a node without Raft state bootstraps once it sees that many
	// alive Serf members (itself included) and none of them has Raft state
	// yet. Every node started with the same value computes the same
	// configuration (the BootstrapExpect members with the lowest IDs).
	// 0 means do not bootstrap (join an existing cluster). It is also
	// autopilot's MinQuorum.
	BootstrapExpect int
	// SerfTiming selects Serf's failure detection timing.
	SerfTiming replication.Timing
	// TuneAutopilot, when set, adjusts the autopilot config before it
	// starts (tests shorten its intervals).
	TuneAutopilot func(*replication.AutopilotConfig)
	// ShutdownTimeout bounds the wait for calls in flight at Close; 0
	// means 5 s.
	ShutdownTimeout time.Duration
	// Logger receives the node's logs; nil discards.
	Logger *slog.Logger
	// Metrics, when set, receives the node's Prometheus collectors: its
	// gRPC calls (rpc.Metrics), store (metrics.Engine, with the fsync
	// histogram), Raft (metrics.Raft), Serf members (metrics.Members,
	// with SerfAddr) and hashicorp's go-metrics (metrics.Hashicorp). Give
	// each agent a registry of its own. nil collects nothing.
	Metrics prometheus.Registerer
}

// defaultShutdownTimeout bounds the wait for calls in flight at Close
// when Config.ShutdownTimeout is 0.
const defaultShutdownTimeout = 5 * time.Second

// Agent is one running node.
type Agent struct {
	cfg  Config // immutable after Start
	addr string // advertised address

	ln    net.Listener
	mux   cmux.CMux
	node  *replication.Node
	store *Store // the gRPC services' view of the node
	rpc   *rpc.Server
	gs    *grpc.Server
	mem   *replication.Membership // nil without Config.SerfAddr
	ap    *replication.Autopilot  // nil without Config.SerfAddr
	met   *nodeMetrics            // nil without Config.Metrics

	stopBootstrap context.CancelFunc // stops the bootstrap goroutine; nil when none runs
	bootWG        sync.WaitGroup     // the bootstrap goroutine

	wg        sync.WaitGroup // the mux and gRPC serve goroutines
	closing   atomic.Bool    // set when Close or Kill begins
	closeOnce sync.Once
	closeErr  error // set by closeOnce
}

// Start listens on cfg.Addr, opens the Raft node and serves gRPC and Raft
// on the one port. It does not wait for a leader.
func Start(cfg Config) (*Agent, error) {
	if cfg.NodeID == "" || cfg.Dir == "" {
		return nil, errors.New("agent: NodeID and Dir are required")
	}
	if cfg.BootstrapExpect < 0 {
		return nil, fmt.Errorf("agent: BootstrapExpect %d: must not be negative", cfg.BootstrapExpect)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = defaultShutdownTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("agent: listen: %w", err)
	}
	a := &Agent{cfg: cfg, ln: ln, addr: cfg.AdvertiseAddr}
	if a.addr == "" {
		a.addr = ln.Addr().String()
	}
	a.mux = cmux.New(ln)
	raftL := a.mux.Match(func(r io.Reader) bool {
		var b [1]byte
		n, _ := io.ReadFull(r, b[:])
		return n == 1 && b[0] == replication.RaftByte
	})
	var grpcL net.Listener
	if cfg.TLS != nil {
		// The HTTP/2 preface is inside TLS, where cmux cannot see it:
		// everything that is not Raft is gRPC.
		grpcL = a.mux.Match(cmux.Any())
	} else {
		grpcL = a.mux.MatchWithWriters(cmux.HTTP2MatchHeaderFieldSendSettings("content-type", "application/grpc"))
	}

	rc := replication.Config{
		NodeID:    cfg.NodeID,
		RaftAddr:  a.addr,
		Dir:       cfg.Dir,
		Listener:  raftL,
		TLS:       cfg.TLS,
		Bootstrap: cfg.Bootstrap,
		Peers:     cfg.Peers,
		Engine:    cfg.Engine,
		Logger:    cfg.Logger,
	}
	if cfg.Tune != nil {
		cfg.Tune(&rc)
	}
	a.met = newNodeMetrics(cfg, &rc)
	a.node, err = replication.Open(rc)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	if a.met != nil {
		if err := a.met.register(cfg.Metrics, a.node, cfg.SerfAddr != ""); err != nil {
			a.node.Close()
			ln.Close()
			return nil, err
		}
	}
	ro := rpc.Options{
		Addr:         a.addr,
		NodeID:       cfg.NodeID,
		MaxKeySize:   cfg.Engine.MaxKeySize,
		MaxValueSize: cfg.Engine.MaxValueSize,
		Version:      cfg.Version,
		Logger:       cfg.Logger,
		TLS:          cfg.TLS,
		Authorizer:   cfg.Authorizer,
	}
	if a.met != nil {
		ro.Metrics = a.met.rpc
	}
	if cfg.SerfAddr != "" {
		if err := a.startMembership(); err != nil {
			a.met.close()
			a.node.Close()
			ln.Close()
			return nil, err
		}
		if a.met != nil {
			a.met.mem.Store(a.mem)
		}
	}
	so := StoreOptions{DisableForwarding: cfg.DisableForwarding}
	if a.mem != nil {
		so.Members = a.mem.Members
		so.Healthy = func(id string) bool { return a.ap.Healthy(raft.ServerID(id)) }
	}
	a.store = NewStoreWithOptions(a.node, so)
	// Forwarded writes and ReadIndex calls leave from the listen IP, as
	// Raft's connections do (replication.SourceAddr).
	a.store.conns.listen = ln.Addr()
	a.rpc = rpc.NewServer(a.store, ro)
	a.gs = grpc.NewServer(rpc.ServerOptions(ro)...)
	a.rpc.Register(a.gs)

	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		// Serve returns when the listener closes (at Close).
		_ = a.gs.Serve(grpcL)
	}()
	go func() {
		defer a.wg.Done()
		_ = a.mux.Serve()
	}()
	return a, nil
}

// Addr returns the node's advertised address (gRPC and Raft).
func (a *Agent) Addr() string { return a.addr }

// ID returns the node's ID.
func (a *Agent) ID() string { return a.cfg.NodeID }

// Node returns the node's Raft side.
func (a *Agent) Node() *replication.Node { return a.node }

// RPC returns the node's gRPC services (for Reload of the authorization
// policy).
func (a *Agent) RPC() *rpc.Server { return a.rpc }

// Membership returns the node's Serf agent; nil without Config.SerfAddr.
func (a *Agent) Membership() *replication.Membership { return a.mem }

// Close stops the node: gRPC gracefully (bounded by ShutdownTimeout);
// then, with membership, a leader hands over leadership, autopilot
// stops and the node leaves Serf (so the leader removes it from Raft);
// then Raft and the store, then the listener. It waits for the
// goroutines it started. Calling it again returns the first result.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		a.closing.Store(true)
		var errs []error
		a.rpc.Close()
		stopped := make(chan struct{})
		go func() {
			a.gs.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(a.cfg.ShutdownTimeout):
			a.gs.Stop()
			<-stopped
		}
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("agent: close leader connections: %w", err))
		}
		if a.mem != nil {
			errs = append(errs, a.leaveCluster())
		}
		if err := a.node.Close(); err != nil {
			errs = append(errs, fmt.Errorf("agent: %w", err))
		}
		a.mux.Close()
		if cerr := a.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("agent: close listener: %w", cerr))
		}
		a.wg.Wait()
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// Kill stops the node as abruptly as it can from inside its process, to
// stand in for kill -9 in tests and benchmarks: it closes the listener,
// drops every gRPC connection with calls still in flight (their callers
// see the connection fail, and a write's outcome is unknown to them),
// shuts Raft down without handing over leadership (the others notice the
// silence and elect a new leader) and closes Raft's transport and stores.
// With membership, Serf stops without leaving, so the others see the node
// fail rather than leave and keep it in the Raft configuration until
// autopilot's failure threshold.
//
// The store's files are closed rather than abandoned, but nothing Kill
// does makes a write durable that was not already: a restarted node
// recovers from its Raft log and snapshots alone, as after a crash. It
// waits for the goroutines Start started. After Kill, Close returns Kill's
// result.
func (a *Agent) Kill() error {
	a.closeOnce.Do(func() {
		a.closing.Store(true)
		var errs []error
		a.mux.Close()
		if err := a.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("agent: close listener: %w", err))
		}
		a.gs.Stop()
		a.rpc.Close()
		if a.stopBootstrap != nil {
			a.stopBootstrap()
			a.bootWG.Wait()
		}
		if a.ap != nil {
			if err := a.ap.Close(); err != nil {
				errs = append(errs, fmt.Errorf("agent: %w", err))
			}
		}
		if err := a.node.Kill(); err != nil {
			errs = append(errs, fmt.Errorf("agent: %w", err))
		}
		if a.mem != nil {
			if err := a.mem.Close(); err != nil {
				errs = append(errs, fmt.Errorf("agent: %w", err))
			}
		}
		if err := a.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("agent: close leader connections: %w", err))
		}
		a.wg.Wait()
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
