package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/caskade/caskade/agent"
	"github.com/caskade/caskade/certs"
	"github.com/caskade/caskade/replication"
	"github.com/caskade/caskade/rpc"
)

// devNodes is the size of the "dev" cluster.
const devNodes = 3

// devLeaderTimeout bounds the wait for the dev cluster's first leader.
const devLeaderTimeout = 30 * time.Second

// devConfig holds the flags of "dev".
type devConfig struct {
	basePort int
	dataDir  string // "" means a temporary directory, removed at exit
	insecure bool
	logLevel logLevelFlag
}

func (a *app) newDevCmd() *cobra.Command {
	c := &devConfig{}
	c.logLevel.level = slog.LevelWarn
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a local 3-node cluster in one process, for trying things out",
		Long: `Run three caskade nodes in this process on 127.0.0.1: gRPC (and Raft) on
--base-port and the next two ports, Serf gossip on the three after those.
They find each other through Serf and bootstrap a Raft cluster. The nodes
speak mutual TLS with certificates made in a temporary directory (or in
--data-dir/certs), unless --insecure. Data goes to a temporary directory
removed at exit, or to --data-dir (one subdirectory per node).

It prints the endpoints and the command line to connect with, then runs
until Ctrl-C, and shuts the nodes down one by one.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.IntVar(&c.basePort, "base-port", 7071, "first gRPC port; the nodes use it and the next 5 ports (0 picks free ports)")
	f.StringVar(&c.dataDir, "data-dir", "", "directory for the nodes' data and certificates (default: a temporary directory, removed at exit)")
	f.BoolVar(&c.insecure, "insecure", false, "serve plaintext instead of mutual TLS")
	f.Var(&c.logLevel, "log-level", "least severe log level of the nodes: debug, info, warn or error")
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		if c.basePort < 0 || c.basePort > 65535-2*devNodes {
			return usageErrorf("--base-port %d: want 0, or 1 to %d", c.basePort, 65535-2*devNodes)
		}
		return a.dev(cmd.Context(), c)
	})
	return cmd
}

// addrs returns node i's gRPC and Serf addresses.
func (c *devConfig) addrs(i int) (rpcAddr, serfAddr string) {
	if c.basePort == 0 {
		return "127.0.0.1:0", "127.0.0.1:0"
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.basePort+i)),
		net.JoinHostPort("127.0.0.1", strconv.Itoa(c.basePort+devNodes+i))
}

// dev runs the cluster until ctx ends.
func (a *app) dev(ctx context.Context, c *devConfig) (err error) {
	logger := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: c.logLevel.level}))
	dir := c.dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "caskade-dev-"); err != nil {
			return failuref("dev: temporary directory: %w", err)
		}
		defer os.RemoveAll(dir)
	}
	var clientFlags string
	cfg := agent.Config{
		Version:         version(),
		Logger:          logger,
		BootstrapExpect: devNodes,
		SerfTiming:      replication.TimingLocal,
	}
	if !c.insecure {
		certDir := filepath.Join(dir, "certs")
		if _, err := certs.Init(certDir, &certs.Options{Hosts: certs.DefaultHosts()}); err != nil {
			return failuref("dev: make certificates in %s: %w", certDir, err)
		}
		p := func(name string) string { return filepath.Join(certDir, name) }
		if cfg.TLS, err = certs.ServerTLSConfig(p(certs.ServerFile), p(certs.ServerKeyFile), p(certs.CAFile)); err != nil {
			return failuref("dev: %w", err)
		}
		if cfg.Authorizer, err = rpc.OpenAuthorizer("", ""); err != nil {
			return failuref("dev: %w", err)
		}
		clientFlags = fmt.Sprintf(" --cert %s --key %s --ca %s",
			p(certs.ClientFile(certs.RootIdentity)), p(certs.ClientKeyFile(certs.RootIdentity)), p(certs.CAFile))
	}

	agents := make([]*agent.Agent, 0, devNodes)
	defer func() {
		// Followers first, so that the leader hands over at most once.
		for i := len(agents) - 1; i >= 0; i-- {
			if cerr := agents[i].Close(); cerr != nil {
				err = errors.Join(err, failuref("dev: stop %s: %w", agents[i].ID(), cerr))
			}
		}
	}()
	var join []string
	for i := range devNodes {
		nc := cfg
		nc.NodeID = "n" + strconv.Itoa(i+1)
		nc.Dir = filepath.Join(dir, nc.NodeID)
		nc.Addr, nc.SerfAddr = c.addrs(i)
		nc.Join = join
		ag, err := agent.Start(nc)
		if err != nil {
			return failuref("dev: start %s: %w", nc.NodeID, err)
		}
		agents = append(agents, ag)
		if join == nil {
			join = []string{ag.Membership().Addr()}
		}
	}
	fmt.Fprintf(a.stdout, "caskade dev: %d nodes, data in %s\n", devNodes, dir)
	for _, ag := range agents {
		fmt.Fprintf(a.stdout, "  %s  grpc %s  serf %s\n", ag.ID(), ag.Addr(), ag.Membership().Addr())
	}
	leader, err := waitDevLeader(ctx, agents)
	if err != nil {
		return err
	}
	// The leader first: a client that sends to its first endpoint then
	// reaches the leader.
	endpoints := []string{leader.Addr()}
	for _, ag := range agents {
		if ag != leader {
			endpoints = append(endpoints, ag.Addr())
		}
	}
	fmt.Fprintf(a.stdout, "connect with:\n  caskade status --endpoints %s%s\n", strings.Join(endpoints, ","), clientFlags)
	fmt.Fprintf(a.stdout, "cluster ready: leader %s at %s; Ctrl-C stops it\n", leader.ID(), leader.Addr())
	<-ctx.Done()
	fmt.Fprintln(a.stdout, "caskade dev: shutting down")
	return nil
}

// waitDevLeader waits until one of agents leads a configuration of all
// of them, bounded by devLeaderTimeout and ctx.
func waitDevLeader(ctx context.Context, agents []*agent.Agent) (*agent.Agent, error) {
	ctx, cancel := context.WithTimeout(ctx, devLeaderTimeout)
	defer cancel()
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		for _, ag := range agents {
			if !ag.Node().IsLeader() {
				continue
			}
			if srv, err := ag.Node().Servers(); err == nil && len(srv) == len(agents) {
				return ag, nil
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, failuref("dev: no leader of all %d nodes after %v", len(agents), devLeaderTimeout)
			}
			return nil, fmt.Errorf("dev: %w", ctx.Err())
		case <-t.C:
		}
	}
}
