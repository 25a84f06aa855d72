package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/toml/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	"github.com/caskade/caskade/metrics"
	"github.com/caskade/caskade/rpc"
)

// serveConfig holds the flags of "serve".
type serveConfig struct {
	store           localConfig // --data-dir and the engine flags, as under "local"
	listen          string
	advertise       string
	nodeID          string
	insecure        bool
	tls             tlsFlags // mutual TLS and authorization; all empty: plaintext
	logLevel        logLevelFlag
	logFormat       logFormatFlag
	shutdownTimeout time.Duration
	config          string // the config file; "" for none
	cluster         clusterFlags
	metricsAddr     string // "" serves no metrics
}

func (a *app) newServeCmd() *cobra.Command {
	c := &serveConfig{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a caskade server (one node)",
		Long: `Run a single caskade node: a store in --data-dir served over gRPC at
--listen. With no flags it stores in ./caskade-data and listens on
127.0.0.1:7070. It prints "listening on ADDRESS" once it accepts calls.

With --tls-cert, --tls-key and --tls-ca it serves mutual TLS (1.2 or
newer): every caller must present a client certificate signed by the CA,
and every call is authorized by the certificate's common name with a
Casbin model and policy (--auth-model, --auth-policy; built-in defaults
otherwise, the same files "caskade certs init" writes as examples).
SIGHUP reloads the model and policy without a restart; if they do not
load, the policy in use stays. "caskade certs init" makes the
certificates.

Without TLS, gRPC is plaintext, no caller is authenticated and every call
is allowed (the server logs a warning): served only on a loopback address
unless --insecure is given.

Every flag can also be set in the environment (--data-dir as
CASKADE_DATA_DIR, --listen as CASKADE_LISTEN, and so on) and in a config
file given with --config (YAML, or TOML for a .toml file) under the flag's
own name:

    listen: 127.0.0.1:7070
    data-dir: /var/lib/caskade
    sync: always

A flag on the command line wins over the environment, which wins over the
file.

Cluster mode: with --join, --serf-addr or --bootstrap-expect other than 1,
the node is replicated with Raft and finds its peers with Serf gossip on
its own port (--serf-addr, default the --listen port plus one). Three
nodes started with --bootstrap-expect 3 (the later two with --join of the
first's Serf address) form a cluster once they see each other; a node
started later with --join only is added by the leader. Its --data-dir then
holds raft/ (the Raft log, state and snapshots) and data/ (the store,
rebuilt from them at every start); a directory written by a single node
(no cluster flags) is refused, and the other way round. With the TLS
flags the nodes speak mutual TLS to each other with the same certificate.
--gossip-key (base64 of 16, 24 or 32 bytes) encrypts the gossip.

With --metrics-addr HOST:PORT (port 0 picks one) it also serves plain
HTTP there, on a listener of its own, and prints "metrics on ADDRESS":
/metrics (Prometheus: gRPC calls by method and code with latencies, the
store's keys, bytes, segments, compactions and fsync latency, and in a
cluster Raft's state, indexes and timings and Serf's members; all named
caskade_*), /livez (200 while the process serves) and /readyz (200 once
the node should get traffic: a single node while it serves, a cluster
node once it knows a leader and has applied what it knows committed;
else 503 with the reason). It holds no keys or values and needs no
certificate, so keep it off untrusted networks.

SIGTERM or SIGINT shuts the server down gracefully: it stops accepting
calls, ends following streams, waits up to --shutdown-timeout for calls in
flight, and closes the store (which syncs it), so no acknowledged write is
lost.`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	addEngineFlags(f, &c.store)
	c.logLevel.level = slog.LevelInfo
	c.logFormat.format = "text"
	f.StringVar(&c.listen, "listen", rpc.DefaultAddr, "address to serve gRPC on (host:port; port 0 picks a free one)")
	f.StringVar(&c.advertise, "advertise", "", "address clients reach this node at (default: the listening address)")
	f.StringVar(&c.nodeID, "node-id", "", "name of this node (default: the advertised address; in a cluster, the host name when the port is 0)")
	f.BoolVar(&c.insecure, "insecure", false, "allow plaintext gRPC on a non-loopback address")
	c.tls.addFlags(f)
	c.cluster.addFlags(f)
	f.Var(&c.logLevel, "log-level", "least severe log level: debug, info, warn or error")
	f.Var(&c.logFormat, "log-format", "log format: text or json")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a shutdown waits for calls in flight before cutting them off")
	f.StringVar(&c.config, "config", "", "config file (YAML, or TOML if it ends in .toml) setting flags by name")
	f.StringVar(&c.metricsAddr, "metrics-addr", "", "address to serve HTTP /metrics, /livez and /readyz on (host:port; port 0 picks a free one); empty: off")
	annotateEnv(f)
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		eff, err := resolveServeFlags(f, a.lookupEnv, &c.config)
		if err != nil {
			return err
		}
		if err := c.validate(); err != nil {
			return err
		}
		if c.cluster.on() {
			return a.serveCluster(cmd.Context(), c, f, eff)
		}
		return a.serve(cmd.Context(), c, eff)
	})
	return cmd
}

// resolveServeFlags gives each flag of fs its value: the command line,
// else the environment (bindEnv, as for "local"), else the config file
// named by *config once those two are applied, else the default. It
// returns the effective settings, for the startup log.
func resolveServeFlags(fs *pflag.FlagSet, lookupEnv func(string) (string, bool), config *string) (map[string]any, error) {
	if err := bindEnv(fs, lookupEnv); err != nil {
		return nil, err
	}
	k := koanf.New(".")
	if *config != "" {
		if err := loadConfigFile(k, fs, *config); err != nil {
			return nil, err
		}
	}
	// The command line and the environment (flags marked changed) win over
	// the file; defaults fill what none of them set.
	if err := k.Load(posflag.Provider(fs, ".", k), nil); err != nil {
		return nil, usageErrorf("flags: %w", err)
	}
	all := k.All()
	delete(all, "help")
	return all, nil
}

// loadConfigFile loads the file at path into k and sets each flag of fs
// that the command line and environment left alone from it. Its keys are
// flag names; any other key is refused, as is a value the flag refuses.
func loadConfigFile(k *koanf.Koanf, fs *pflag.FlagSet, path string) error {
	var parser koanf.Parser = yaml.Parser()
	if strings.EqualFold(filepath.Ext(path), ".toml") {
		parser = toml.Parser()
	}
	if err := k.Load(file.Provider(path), parser); err != nil {
		return usageErrorf("--config %s: %w", path, err)
	}
	var errs []error
	for _, key := range k.Keys() {
		fl := fs.Lookup(key)
		if fl == nil || key == "config" {
			errs = append(errs, usageErrorf("--config %s: unknown setting %q", path, key))
			continue
		}
		if fl.Changed {
			continue // the command line or the environment wins
		}
		v := fmt.Sprint(k.Get(key))
		if err := fs.Set(key, v); err != nil {
			var ive *pflag.InvalidValueError
			if errors.As(err, &ive) {
				err = ive.Unwrap()
			}
			errs = append(errs, usageErrorf("--config %s: %s: %q: %w", path, key, v, err))
		}
	}
	return errors.Join(errs...)
}

// validate checks what the flag types cannot: a usable --data-dir and
// --listen, and plaintext only on loopback without --insecure.
func (c *serveConfig) validate() error {
	if err := c.store.check(); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(c.listen)
	if err != nil {
		return usageErrorf("--listen %q: %w", c.listen, err)
	}
	if c.shutdownTimeout <= 0 {
		return usageErrorf("--shutdown-timeout %v: must be positive", c.shutdownTimeout)
	}
	if err := validateMetricsAddr(c.metricsAddr); err != nil {
		return err
	}
	if err := c.tls.validate(c.insecure); err != nil {
		return err
	}
	if err := c.cluster.validate(c.listen); err != nil {
		return err
	}
	if !c.tls.on() && !c.insecure && !isLoopback(host) {
		return usageErrorf("--listen %s: plaintext gRPC is served only on a loopback address (127.0.0.1, ::1, localhost); serve TLS with --tls-cert, --tls-key and --tls-ca, or pass --insecure to serve plaintext on other interfaces", c.listen)
	}
	return nil
}

// isLoopback reports whether host names only loopback addresses. An empty
// host (all interfaces) does not.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve runs the server until ctx ends, then shuts it down gracefully.
func (a *app) serve(ctx context.Context, c *serveConfig, settings map[string]any) (err error) {
	logger := newServeLogger(a, c)
	// Certificates and policy first: a bad file must not touch the store.
	tlsConfig, auth, err := c.tls.load()
	if err != nil {
		return err
	}
	opts := c.store.options(logger)
	var rd readiness
	var eng *metrics.Engine     // nil without --metrics-addr
	var rpcMetrics *rpc.Metrics // nil without --metrics-addr
	if c.metricsAddr != "" {
		// Before the store opens, which may take a while: meanwhile
		// /livez answers and /readyz says "starting".
		eng, rpcMetrics = metrics.NewEngine(), rpc.NewMetrics()
		opts.OnSync = eng.ObserveSync
		reg := metrics.NewRegistry(version())
		reg.MustRegister(eng, rpcMetrics)
		stopMetrics, err := a.startMetrics(c, logger, reg, rd.check)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	s, err := openStoreIn(c.store.dataDir, true, opts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = failuref("close %s: %w", c.store.dataDir, cerr)
		}
		if err == nil {
			logger.Info("store closed", "data_dir", c.store.dataDir)
		}
	}()
	if eng != nil {
		eng.Attach(s.DB.Stats)
	}
	lis, err := net.Listen("tcp", c.listen)
	if err != nil {
		return failuref("--listen %s: %w", c.listen, err)
	}
	addr := lis.Addr().String()
	advertise := c.advertise
	if advertise == "" {
		advertise = addr
	}
	ro := rpc.Options{
		Addr:         advertise,
		NodeID:       c.nodeID,
		MaxKeySize:   opts.MaxKeySize,
		MaxValueSize: opts.MaxValueSize,
		Version:      version(),
		Logger:       logger,
		TLS:          tlsConfig,
		Authorizer:   auth,
		Metrics:      rpcMetrics,
	}
	srv := rpc.NewServer(s.DB, ro)
	gs := grpc.NewServer(rpc.ServerOptions(ro)...)
	srv.Register(gs)
	stopHangups := c.tls.handleHangups(logger, srv, auth)
	defer stopHangups()
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	rd.set(stateServing)

	c.tls.logMode(logger, auth)
	logger.Info("serving", "addr", addr, "advertise", advertise, "data_dir", c.store.dataDir,
		"sync", opts.Sync.String(), "version", ro.Version, "settings", settings)
	fmt.Fprintf(a.stdout, "listening on %s\n", addr)

	select {
	case <-ctx.Done():
		rd.set(stateStopping)
		logger.Info("shutting down", "timeout", c.shutdownTimeout)
	case err := <-served:
		// Serve returns before Stop only when accepting failed.
		srv.Close()
		gs.Stop()
		return failuref("serve %s: %w", addr, err)
	}
	// Stop taking calls, end follow streams, let calls in flight finish.
	srv.Close()
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(c.shutdownTimeout)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		logger.Warn("calls still in flight after the shutdown timeout; cutting them off", "timeout", c.shutdownTimeout)
		gs.Stop()
		<-stopped
	}
	if err := <-served; err != nil {
		logger.Warn("serve ended with an error", "err", err)
	}
	return nil
}

// newServeLogger returns the structured logger of the server, writing to
// stderr in the chosen format from the chosen level up.
func newServeLogger(a *app, c *serveConfig) *slog.Logger {
	ho := &slog.HandlerOptions{Level: c.logLevel.level}
	if c.logFormat.format == "json" {
		return slog.New(slog.NewJSONHandler(a.stderr, ho))
	}
	return slog.New(slog.NewTextHandler(a.stderr, ho))
}

// version is the module version the binary was built from, or "dev".
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// logLevelFlag is a pflag.Value holding a slog level.
type logLevelFlag struct{ level slog.Level }

func (l *logLevelFlag) Set(v string) error {
	switch strings.ToLower(v) {
	case "debug":
		l.level = slog.LevelDebug
	case "info":
		l.level = slog.LevelInfo
	case "warn", "warning":
		l.level = slog.LevelWarn
	case "error":
		l.level = slog.LevelError
	default:
		return fmt.Errorf("unknown log level %q (want debug, info, warn or error)", v)
	}
	return nil
}

func (l *logLevelFlag) String() string { return strings.ToLower(l.level.String()) }
func (l *logLevelFlag) Type() string   { return "level" }

// logFormatFlag is a pflag.Value holding "text" or "json".
type logFormatFlag struct{ format string }

func (l *logFormatFlag) Set(v string) error {
	switch strings.ToLower(v) {
	case "text", "json":
		l.format = strings.ToLower(v)
		return nil
	}
	return fmt.Errorf("unknown log format %q (want text or json)", v)
}

func (l *logFormatFlag) String() string { return l.format }
func (l *logFormatFlag) Type() string   { return "format" }
