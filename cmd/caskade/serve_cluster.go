package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/caskade/caskade/agent"
	"github.com/caskade/caskade/metrics"
	"github.com/caskade/caskade/replication"
)

// clusterFlags are the flags of "serve" that make it a node of a Raft
// cluster with Serf membership.
type clusterFlags struct {
	serfAddr        string   // "" means the --listen host, port + 1
	join            []string // Serf addresses
	bootstrapExpect int
	gossipKey       string // base64
	// Raft snapshots; zeros mean hashicorp/raft's defaults.
	snapshotThreshold uint64
	snapshotInterval  time.Duration
	trailingLogs      uint64
}

// addFlags defines the flags on f.
func (c *clusterFlags) addFlags(f *pflag.FlagSet) {
	f.StringVar(&c.serfAddr, "serf-addr", "", "address of this node's Serf gossip, host:port (default: the --listen host, port + 1); turns on cluster mode")
	f.StringSliceVar(&c.join, "join", nil, "Serf addresses (host:port, comma-separated) of cluster members to join; turns on cluster mode")
	f.IntVar(&c.bootstrapExpect, "bootstrap-expect", 1, "voters of a new cluster: bootstrap it once this many nodes (this one included) see each other; 1 is a single node; with --join and not set, 0: wait to be added to an existing cluster")
	f.StringVar(&c.gossipKey, "gossip-key", "", "base64 key (16, 24 or 32 bytes) encrypting Serf gossip; the same on every node")
	f.Uint64Var(&c.snapshotThreshold, "raft-snapshot-threshold", 0, "in cluster mode, take a Raft snapshot once this many log entries were added since the last one; 0 means 8192")
	f.DurationVar(&c.snapshotInterval, "raft-snapshot-interval", 0, "in cluster mode, how often to check whether a Raft snapshot is due; 0 means 2m")
	f.Uint64Var(&c.trailingLogs, "raft-trailing-logs", 0, "in cluster mode, log entries kept after a Raft snapshot for followers that lag (a follower further behind gets the snapshot); 0 means 10240")
}

// tune applies the Raft snapshot flags to a node's replication config
// (zeros keep its defaults).
func (c *clusterFlags) tune(rc *replication.Config) {
	rc.SnapshotThreshold = c.snapshotThreshold
	rc.SnapshotInterval = c.snapshotInterval
	rc.TrailingLogs = c.trailingLogs
}

// on reports whether serve runs as a cluster node: any cluster flag set,
// --bootstrap-expect to other than 1.
func (c *clusterFlags) on() bool {
	return c.serfAddr != "" || len(c.join) > 0 || c.bootstrapExpect != 1 || c.gossipKey != ""
}

// expect is the effective --bootstrap-expect: a node told to --join
// without an explicit --bootstrap-expect joins an existing cluster (0)
// instead of bootstrapping one of its own.
func (c *clusterFlags) expect(f *pflag.FlagSet) int {
	if len(c.join) > 0 && !f.Changed("bootstrap-expect") {
		return 0
	}
	return c.bootstrapExpect
}

// validate checks the cluster flags against listen; the messages name
// the flags.
func (c *clusterFlags) validate(listen string) error {
	if c.bootstrapExpect < 0 {
		return usageErrorf("--bootstrap-expect %d: must be 0 or more", c.bootstrapExpect)
	}
	if c.snapshotInterval != 0 && c.snapshotInterval < 5*time.Millisecond {
		return usageErrorf("--raft-snapshot-interval %v: must be 0 (the default) or at least 5ms", c.snapshotInterval)
	}
	for _, j := range c.join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			return usageErrorf("--join %q: %w", j, err)
		}
	}
	if c.serfAddr != "" {
		if _, p, err := net.SplitHostPort(c.serfAddr); err != nil {
			return usageErrorf("--serf-addr %q: %w", c.serfAddr, err)
		} else if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return usageErrorf("--serf-addr %q: bad port: %w", c.serfAddr, err)
		}
	}
	if _, err := c.key(); err != nil {
		return err
	}
	if c.serfAddr == "" {
		if _, err := defaultSerfAddr(listen); err != nil {
			return err
		}
	}
	return nil
}

// key decodes --gossip-key; nil when it is not set.
func (c *clusterFlags) key() ([]byte, error) {
	if c.gossipKey == "" {
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(c.gossipKey)
	if err != nil {
		return nil, usageErrorf("--gossip-key: not base64: %w", err)
	}
	if n := len(k); n != 16 && n != 24 && n != 32 {
		return nil, usageErrorf("--gossip-key: %d bytes, want 16, 24 or 32", n)
	}
	return k, nil
}

// defaultSerfAddr is the --listen host with the next port (0 stays 0).
func defaultSerfAddr(listen string) (string, error) {
	host, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", usageErrorf("--listen %q: %w", listen, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", usageErrorf("--listen %q: bad port: %w", listen, err)
	}
	if port == 0 {
		return net.JoinHostPort(host, "0"), nil
	}
	if port == 65535 {
		return "", usageErrorf("--listen %q: no next port for the default --serf-addr; give --serf-addr", listen)
	}
	return net.JoinHostPort(host, strconv.FormatUint(port+1, 10)), nil
}

// raftDirName and dataDirName are what a cluster node keeps in --data-dir
// (see replication.Config.Dir). restoreDirName and oldDirName are the
// directories its store (replication.FSM) uses while it restores a Raft
// snapshot, and removes when it opens: a node that crashed during a
// restore leaves them behind.
const (
	raftDirName    = "raft"
	dataDirName    = "data"
	restoreDirName = "data.restore"
	oldDirName     = "data.old"
)

// checkClusterDir refuses a --data-dir that holds anything but a cluster
// node's raft/ and data/: in particular a single node's store, whose
// files sit in the directory itself. A cluster node rebuilds data/ from
// the Raft log at every start, so it cannot adopt such a store; it is
// refused rather than migrated. What a snapshot restore cut short by a
// crash leaves (data.restore/, data.old/) belongs to the node, which
// removes it when it opens. A missing directory is created.
func checkClusterDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return failuref("create --data-dir: %w", err)
		}
		return nil
	case err != nil:
		return failuref("--data-dir: %w", err)
	}
	for _, e := range entries {
		if n := e.Name(); e.IsDir() && (n == raftDirName || n == dataDirName || n == restoreDirName || n == oldDirName) {
			continue
		}
		return usageErrorf("--data-dir %s holds %s, not only a cluster node's raft/ and data/: it looks like a single node's store "+
			"(written by caskade serve without cluster flags), which a cluster node cannot adopt: give cluster mode an empty or new --data-dir "+
			"(and load the old data through a client), or serve it without --join, --serf-addr, --bootstrap-expect and --gossip-key",
			dir, e.Name())
	}
	return nil
}

// refuseClusterDir refuses to open a cluster node's --data-dir as a single
// node's store.
func refuseClusterDir(dir string) error {
	if fi, err := os.Stat(filepath.Join(dir, raftDirName)); err == nil && fi.IsDir() {
		return usageErrorf("--data-dir %s holds a cluster node's Raft state (raft/ and data/): serve it with the cluster flags "+
			"(--join, --serf-addr, --bootstrap-expect) it was started with; its store is rebuilt from the Raft log and cannot be opened as a single node's", dir)
	}
	return nil
}

// serveCluster runs a cluster node until ctx ends, then shuts it down:
// gRPC gracefully, a leader hands over leadership, the node leaves Serf
// (the leader removes it from Raft) and closes.
func (a *app) serveCluster(ctx context.Context, c *serveConfig, f *pflag.FlagSet, settings map[string]any) (err error) {
	logger := newServeLogger(a, c)
	tlsConfig, auth, err := c.tls.load()
	if err != nil {
		return err
	}
	key, err := c.cluster.key()
	if err != nil {
		return err
	}
	serfAddr := c.cluster.serfAddr
	if serfAddr == "" {
		if serfAddr, err = defaultSerfAddr(c.listen); err != nil {
			return err
		}
	}
	if err := checkClusterDir(c.store.dataDir); err != nil {
		return err
	}
	nodeID := c.nodeID
	if nodeID == "" {
		nodeID = c.advertise
	}
	if _, p, _ := net.SplitHostPort(c.listen); nodeID == "" && p != "0" {
		nodeID = c.listen
	}
	if nodeID == "" {
		if nodeID, err = os.Hostname(); err != nil {
			return usageErrorf("--node-id: not given, and no host name: %w", err)
		}
	}
	// Metrics before the node: /readyz says "starting" until it runs.
	var rd readiness
	var started atomic.Pointer[agent.Agent]
	var metricsReg prometheus.Registerer // nil without --metrics-addr
	if c.metricsAddr != "" {
		reg := metrics.NewRegistry(version())
		metricsReg = reg
		stopMetrics, err := a.startMetrics(c, logger, reg, func() error {
			if err := rd.check(); err != nil {
				return err
			}
			return started.Load().Ready()
		})
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	opts := c.store.options(logger)
	ag, err := agent.Start(agent.Config{
		NodeID:          nodeID,
		Addr:            c.listen,
		AdvertiseAddr:   c.advertise,
		Dir:             c.store.dataDir,
		TLS:             tlsConfig,
		Authorizer:      auth,
		Engine:          opts,
		Version:         version(),
		Logger:          logger,
		SerfAddr:        serfAddr,
		Join:            c.cluster.join,
		GossipKey:       key,
		BootstrapExpect: c.cluster.expect(f),
		SerfTiming:      replication.TimingLAN,
		Tune:            c.cluster.tune,
		ShutdownTimeout: c.shutdownTimeout,
		Metrics:         metricsReg,
	})
	if err != nil {
		return failuref("start node: %w", err)
	}
	started.Store(ag)
	rd.set(stateServing)
	stopHangups := c.tls.handleHangups(logger, ag.RPC(), auth)
	defer stopHangups()
	c.tls.logMode(logger, auth)
	logger.Info("serving", "addr", ag.Addr(), "node_id", nodeID, "serf_addr", ag.Membership().Addr(),
		"join", c.cluster.join, "bootstrap_expect", c.cluster.expect(f), "data_dir", c.store.dataDir,
		"version", version(), "settings", settings)
	fmt.Fprintf(a.stdout, "listening on %s\n", ag.Addr())
	<-ctx.Done()
	rd.set(stateStopping)
	logger.Info("shutting down", "timeout", c.shutdownTimeout)
	start := time.Now()
	if err := ag.Close(); err != nil {
		return failuref("shut down node %s: %w", nodeID, err)
	}
	logger.Info("node stopped", "data_dir", c.store.dataDir, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
