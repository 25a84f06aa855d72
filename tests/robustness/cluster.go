package robustness

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	caskadev1 "github.com/caskade/caskade/api/v1"
	"github.com/caskade/caskade/certs"
	"github.com/caskade/caskade/client"
	"github.com/caskade/caskade/internal/failpoint"
)

// ClusterConfig configures StartCluster.
type ClusterConfig struct {
	// Binary is the caskade binary (built with -tags failpoints for
	// failpoints and bugs to work).
	Binary string
	// Dir holds the certificates and the nodes' data directories; the
	// caller removes it.
	Dir string
	// LogDir receives one log file per node (NODE.log).
	LogDir string
	// Size is the number of nodes; 0 means 3.
	Size int
	// Env adds environment variables to every start of a node, by node ID
	// (CASKADE_BUGS for the bug-mode tests).
	Env map[string][]string
	// Args are more `caskade serve` flags for every node.
	Args []string
}

// Bounds of cluster-wide waits.
const (
	// statusTimeout bounds one Status or GetServers call of the harness.
	statusTimeout = 2 * time.Second
	// formTimeout bounds the wait for a new cluster's leader and voters.
	formTimeout = 60 * time.Second
	// pollInterval is how often the harness polls the cluster's state.
	pollInterval = 100 * time.Millisecond
)

// Cluster is a set of Nodes forming one caskade cluster, with the TLS
// configuration of the harness's clients (identity root) and a direct
// (unproxied) admin connection to each node. Safe for concurrent use.
type Cluster struct {
	cfg   ClusterConfig
	Nodes []*Node
	// TLS is the clients' mutual-TLS configuration.
	TLS     *tls.Config
	admin   map[string]*grpc.ClientConn // by node ID, straight to its Listen
	proxies []*Proxy

	mu struct {
		sync.Mutex        // guards exits
		exits      []Exit // processes that ended without the harness asking
	}
}

// StartCluster makes certificates, picks addresses, starts a proxy and a
// process per node and waits until the cluster has a leader and every
// node is a voter. On error everything started is stopped.
func StartCluster(cfg ClusterConfig) (_ *Cluster, err error) {
	if cfg.Size == 0 {
		cfg.Size = 3
	}
	c := &Cluster{cfg: cfg, admin: make(map[string]*grpc.ClientConn)}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	ips := make([]string, cfg.Size)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.0.0.%d", 11+i)
	}
	certDir := filepath.Join(cfg.Dir, "certs")
	if _, err := certs.Init(certDir, &certs.Options{Hosts: append([]string{"localhost", "127.0.0.1"}, ips...)}); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	cf := func(name string) string { return filepath.Join(certDir, name) }
	if c.TLS, err = client.LoadTLSConfig(cf(certs.ClientFile(certs.RootIdentity)), cf(certs.ClientKeyFile(certs.RootIdentity)), cf(certs.CAFile)); err != nil {
		return nil, err
	}
	for i, ip := range ips {
		n := &Node{
			ID:      fmt.Sprintf("n%d", i+1),
			IP:      ip,
			LogPath: filepath.Join(cfg.LogDir, fmt.Sprintf("n%d.log", i+1)),
			bin:     cfg.Binary,
			onExit:  c.recordExit,
		}
		n.Dir = filepath.Join(cfg.Dir, n.ID)
		if err := c.pickPorts(n); err != nil {
			return nil, err
		}
		n.Proxy, err = NewProxy("127.0.0.1:0", n.Listen)
		if err != nil {
			return nil, err
		}
		c.proxies = append(c.proxies, n.Proxy)
		c.Nodes = append(c.Nodes, n)
	}
	for _, n := range c.Nodes {
		n.args = []string{"serve",
			"--node-id", n.ID,
			"--listen", n.Listen,
			"--advertise", n.Advertise(),
			"--serf-addr", n.Serf,
			"--bootstrap-expect", strconv.Itoa(cfg.Size),
			"--data-dir", n.Dir,
			"--tls-cert", cf(certs.ServerFile), "--tls-key", cf(certs.ServerKeyFile), "--tls-ca", cf(certs.CAFile),
			"--log-format", "json",
			"--shutdown-timeout", nodeShutdownTimeout.String(),
		}
		n.args = append(n.args, cfg.Args...)
		for _, o := range c.Nodes {
			if o != n {
				n.join = append(n.join, o.Serf)
			}
		}
		cc, err := grpc.NewClient(n.Listen,
			grpc.WithTransportCredentials(credentials.NewTLS(c.TLS)),
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 50 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: time.Second,
			}))
		if err != nil {
			return nil, fmt.Errorf("admin connection to %s: %w", n.ID, err)
		}
		c.admin[n.ID] = cc
	}
	if err := c.StartAll(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), formTimeout)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		return nil, fmt.Errorf("the cluster did not form within %v: %w", formTimeout, err)
	}
	return c, nil
}

// pickPorts gives n a gRPC and a Serf port on its IP that were free a
// moment ago (Serf needs the port for both TCP and UDP).
func (c *Cluster) pickPorts(n *Node) error {
	for attempt := 0; ; attempt++ {
		listen, err := freePort(n.IP, false)
		if err != nil {
			return err
		}
		serf, err := freePort(n.IP, true)
		if err != nil {
			return err
		}
		if listen != serf {
			n.Listen, n.Serf = listen, serf
			return nil
		}
		if attempt == 10 {
			return fmt.Errorf("no two free ports on %s", n.IP)
		}
	}
}

// freePort returns ip:port with a TCP port that was free a moment ago,
// and free for UDP too when udp.
func freePort(ip string, udp bool) (string, error) {
	for attempt := 0; attempt < 20; attempt++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return "", fmt.Errorf("pick a port on %s: %w (the suite needs Linux, where all of 127.0.0.0/8 is local)", ip, err)
		}
		addr := ln.Addr().String()
		if !udp {
			ln.Close()
			return addr, nil
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return addr, nil
	}
	return "", fmt.Errorf("pick a port on %s: no port free for TCP and UDP", ip)
}

// Close kills every node (SIGCONT first for a paused one, then SIGKILL),
// closes the proxies and the admin connections. Calling it again is
// harmless.
func (c *Cluster) Close() {
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Go(func() {
			_ = n.Resume()
			_ = n.Kill()
		})
	}
	wg.Wait()
	for _, p := range c.proxies {
		_ = p.Close()
	}
	for _, cc := range c.admin {
		_ = cc.Close()
	}
}

// Node returns the node with the given ID, or nil.
func (c *Cluster) Node(id string) *Node {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// recordExit is every node's onExit.
func (c *Cluster) recordExit(n *Node, e Exit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.exits = append(c.mu.exits, e)
}

// TakeExits returns the exits the harness did not cause since the last
// call.
func (c *Cluster) TakeExits() []Exit {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.mu.exits
	c.mu.exits = nil
	return e
}

// StartNode starts n with the cluster's environment for it plus env.
func (c *Cluster) StartNode(n *Node, env ...string) error {
	return n.Start(append(slices.Clone(c.cfg.Env[n.ID]), env...)...)
}

// StartAll starts every node that is not running, at once (a new
// cluster bootstraps only when all of them are up).
func (c *Cluster) StartAll() error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, n := range c.Nodes {
		if n.Running() {
			continue
		}
		wg.Go(func() {
			if err := c.StartNode(n); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// StopAll stops every node gracefully, at once, and reports those that
// did not stop cleanly.
func (c *Cluster) StopAll() error {
	return c.eachNode(func(n *Node) error { return n.Stop() })
}

// KillAll SIGKILLs every node at once.
func (c *Cluster) KillAll() error {
	return c.eachNode(func(n *Node) error { return n.Kill() })
}

// eachNode runs fn on every node concurrently.
func (c *Cluster) eachNode(fn func(n *Node) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, n := range c.Nodes {
		wg.Go(func() {
			if err := fn(n); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Isolate cuts n off with mode: from its peers only (peersOnly), or from
// its peers and the clients. Heal undoes it.
func (c *Cluster) Isolate(n *Node, mode CutMode, peersOnly bool) {
	var peers []string
	for _, o := range c.Nodes {
		if o != n {
			peers = append(peers, o.IP)
			o.Proxy.Cut(mode, n.IP)
		}
	}
	if peersOnly {
		n.Proxy.Cut(mode, peers...)
	} else {
		n.Proxy.Cut(mode)
	}
}

// Heal lets every connection through and resumes every paused node.
func (c *Cluster) Heal() error {
	var errs []error
	for _, n := range c.Nodes {
		n.Proxy.Heal()
		errs = append(errs, n.Resume())
	}
	return errors.Join(errs...)
}

// Status asks n for its status over the admin connection.
func (c *Cluster) Status(ctx context.Context, n *Node) (*caskadev1.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	st, err := caskadev1.NewClusterClient(c.admin[n.ID]).Status(ctx, &caskadev1.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("status of %s: %w", n.ID, err)
	}
	return st, nil
}

// Servers asks n for the Raft configuration as it knows it.
func (c *Cluster) Servers(ctx context.Context, n *Node) ([]*caskadev1.Server, error) {
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	r, err := caskadev1.NewClusterClient(c.admin[n.ID]).GetServers(ctx, &caskadev1.GetServersRequest{})
	if err != nil {
		return nil, fmt.Errorf("servers of %s: %w", n.ID, err)
	}
	return r.GetServers(), nil
}

// Statuses asks every running, unpaused node for its status at once.
// Nodes that do not answer are missing from the map.
func (c *Cluster) Statuses(ctx context.Context) map[string]*caskadev1.StatusResponse {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out = make(map[string]*caskadev1.StatusResponse)
	)
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		wg.Go(func() {
			if st, err := c.Status(ctx, n); err == nil {
				mu.Lock()
				out[n.ID] = st
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// Leader returns the node that says it leads, in the highest term when
// two do (a deposed leader that has not noticed yet); nil when none.
func (c *Cluster) Leader(ctx context.Context) *Node {
	var (
		best *Node
		term uint64
	)
	for id, st := range c.Statuses(ctx) {
		if st.GetIsLeader() && (best == nil || st.GetTerm() > term) {
			best, term = c.Node(id), st.GetTerm()
		}
	}
	return best
}

// health describes what keeps the cluster from being healthy; "" when
// it is: every node running and unpaused, a leader, and every node a
// voter in the leader's configuration.
func (c *Cluster) health(ctx context.Context) string {
	for _, n := range c.Nodes {
		switch {
		case !n.Running():
			return n.ID + " is not running"
		case n.Paused():
			return n.ID + " is paused"
		}
	}
	l := c.Leader(ctx)
	if l == nil {
		return "no leader"
	}
	srv, err := c.Servers(ctx, l)
	if err != nil {
		return err.Error()
	}
	voters := map[string]bool{}
	for _, s := range srv {
		if s.GetVoter() {
			voters[s.GetId()] = true
		}
	}
	var missing []string
	for _, n := range c.Nodes {
		if !voters[n.ID] {
			missing = append(missing, n.ID)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("leader %s: %s not voters yet (servers %s)", l.ID, strings.Join(missing, ", "), describeServers(srv))
	}
	return ""
}

// describeServers formats a configuration for messages.
func describeServers(srv []*caskadev1.Server) string {
	parts := make([]string, len(srv))
	for i, s := range srv {
		role := "nonvoter"
		if s.GetVoter() {
			role = "voter"
		}
		if s.GetIsLeader() {
			role += ",leader"
		}
		parts[i] = s.GetId() + "(" + role + ")"
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// WaitHealthy polls until the cluster is healthy (see health) or ctx
// ends; the error says what was still wrong.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	for {
		why := c.health(ctx)
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not healthy: %s", why)
		case <-time.After(pollInterval):
		}
	}
}

// Settle polls until every node answers, one leader leads, and every
// node has applied the leader's last index and holds the same next
// offset, twice in a row; or until ctx ends, with what was still
// unsettled.
func (c *Cluster) Settle(ctx context.Context) error {
	stable := 0
	var why string
	for {
		why = c.unsettled(ctx)
		if why == "" {
			stable++
			if stable == 2 {
				return nil
			}
		} else {
			stable = 0
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not settled: %s", why)
		case <-time.After(pollInterval):
		}
	}
}

// unsettled describes why the cluster is not settled; "" when it is.
func (c *Cluster) unsettled(ctx context.Context) string {
	sts := c.Statuses(ctx)
	if len(sts) < len(c.Nodes) {
		return fmt.Sprintf("%d of %d nodes answer", len(sts), len(c.Nodes))
	}
	var leader *caskadev1.StatusResponse
	for _, st := range sts {
		if st.GetIsLeader() {
			if leader != nil {
				return "two nodes say they lead"
			}
			leader = st
		}
	}
	if leader == nil {
		return "no leader"
	}
	var lag []string
	for id, st := range sts {
		if st.GetAppliedIndex() != leader.GetLastIndex() || st.GetNextOffset() != leader.GetNextOffset() {
			lag = append(lag, fmt.Sprintf("%s applied %d next offset %d", id, st.GetAppliedIndex(), st.GetNextOffset()))
		}
	}
	if len(lag) > 0 {
		slices.Sort(lag)
		return fmt.Sprintf("leader %s last index %d next offset %d; %s", leader.GetNodeId(), leader.GetLastIndex(), leader.GetNextOffset(), strings.Join(lag, "; "))
	}
	return ""
}

// RemoveServer asks the leader to remove node id from the Raft
// configuration.
func (c *Cluster) RemoveServer(ctx context.Context, id string) error {
	l := c.Leader(ctx)
	if l == nil {
		return errors.New("remove server: no leader")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := caskadev1.NewMaintenanceClient(c.admin[l.ID]).RemoveServer(ctx, &caskadev1.RemoveServerRequest{Id: id}); err != nil {
		return fmt.Errorf("remove server %s (leader %s): %w", id, l.ID, err)
	}
	return nil
}

// InConfig reports whether the leader's configuration lists node id;
// ok is false when no leader answered.
func (c *Cluster) InConfig(ctx context.Context, id string) (in, ok bool) {
	l := c.Leader(ctx)
	if l == nil {
		return false, false
	}
	srv, err := c.Servers(ctx, l)
	if err != nil {
		return false, false
	}
	for _, s := range srv {
		if s.GetId() == id {
			return true, true
		}
	}
	return false, true
}

// Dial returns a client of the cluster: through every proxy with
// discovery when node is nil, else through node's proxy only.
func (c *Cluster) Dial(ctx context.Context, node *Node, opts ...client.Option) (*client.Client, error) {
	eps := []string{}
	if node != nil {
		eps = append(eps, node.Advertise())
	} else {
		for _, n := range c.Nodes {
			eps = append(eps, n.Advertise())
		}
	}
	return client.Dial(ctx, eps, append([]client.Option{client.WithTLSConfig(c.TLS)}, opts...)...)
}

// DialDirect returns a client of node alone, bypassing its proxy.
func (c *Cluster) DialDirect(ctx context.Context, node *Node, opts ...client.Option) (*client.Client, error) {
	return client.Dial(ctx, []string{node.Listen}, append([]client.Option{client.WithTLSConfig(c.TLS)}, opts...)...)
}

// CrashOf returns the failpoint that crashed n's last process, from its
// log since the last start; ok is false when it did not crash at one.
func CrashOf(n *Node) (name string, hit uint64, ok bool) {
	b, err := os.ReadFile(n.LogPath)
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	if i := strings.LastIndex(s, "=== harness: start"); i >= 0 {
		s = s[i:]
	}
	return failpoint.ParseCrash(s)
}

// MoveLeadership makes sure node id does not lead: when it does, it hands
// leadership to another voter, and MoveLeadership waits for a leader
// other than id.
func (c *Cluster) MoveLeadership(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, formTimeout)
	defer cancel()
	for {
		l := c.Leader(ctx)
		switch {
		case l != nil && l.ID != id:
			return nil
		case l != nil:
			tctx, tcancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := caskadev1.NewMaintenanceClient(c.admin[l.ID]).TransferLeadership(tctx, &caskadev1.TransferLeadershipRequest{})
			tcancel()
			if err != nil && ctx.Err() != nil {
				return fmt.Errorf("move leadership off %s: %w", id, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("move leadership off %s: %w", id, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}
