package client

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// Resolution timing.
const (
	// DefaultRefreshInterval is how often a Client asks the cluster for its
	// servers when nothing else made it ask (WithRefreshInterval).
	DefaultRefreshInterval = 5 * time.Second
	// fetchTimeout bounds one GetServers call of the resolver.
	fetchTimeout = time.Second
	// minFetchInterval spaces the resolver's asks, however many calls fail
	// at once.
	minFetchInterval = 50 * time.Millisecond
	// leaderlessInterval is the wait before asking again while no leader
	// is known or no node answered.
	leaderlessInterval = 200 * time.Millisecond
)

// view is what one Client knows of its cluster: shared by the resolver
// (which updates it), the picker (which counts picks and asks for a
// refresh) and the retry interceptor (which waits for a new leader). It is
// safe for concurrent use.
type view struct {
	refreshCh chan struct{} // capacity 1: a pending ask for a refresh
	static    bool          // no discovery: the seeds are all there is; immutable

	mu struct {
		sync.Mutex
		gen     uint64        // resolutions published so far
		leader  string        // the leader's address at gen; "" none known
		changed chan struct{} // closed (and replaced) at each publication
		picks   map[string]*atomic.Uint64
	}
}

// newView returns an empty view; a static one when the Client does not
// discover the cluster.
func newView(static bool) *view {
	v := &view{refreshCh: make(chan struct{}, 1), static: static}
	v.mu.changed = make(chan struct{})
	v.mu.picks = make(map[string]*atomic.Uint64)
	return v
}

// refresh asks the resolver to ask the cluster again. It never blocks, so
// pickers and balancers may call it.
func (v *view) refresh() {
	if v == nil {
		return
	}
	select {
	case v.refreshCh <- struct{}{}:
	default: // one ask is pending already
	}
}

// counter returns the pick counter of addr.
func (v *view) counter(addr string) *atomic.Uint64 {
	if v == nil {
		return new(atomic.Uint64)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.mu.picks[addr]
	if !ok {
		c = new(atomic.Uint64)
		v.mu.picks[addr] = c
	}
	return c
}

// pickCounts returns the calls picked per address so far.
func (v *view) pickCounts() map[string]uint64 {
	out := map[string]uint64{}
	if v == nil {
		return out
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for a, c := range v.mu.picks {
		out[a] = c.Load()
	}
	return out
}

// published records a new resolution and wakes its waiters.
func (v *view) published(leader string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.mu.gen++
	v.mu.leader = leader
	close(v.mu.changed)
	v.mu.changed = make(chan struct{})
}

// current returns the leader of the latest resolution and a channel
// closed at the next one.
func (v *view) current() (leader string, next <-chan struct{}) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.mu.leader, v.mu.changed
}

// resolverBuilder builds the resolver of one Client; it is registered on
// that Client's connection only (grpc.WithResolvers).
type resolverBuilder struct {
	view     *view
	discover bool // ask the cluster for its servers; false: the seeds only
	interval time.Duration
	// dialOpts make the resolver's own connections to the nodes: the
	// Client's credentials and authority.
	dialOpts []grpc.DialOption
}

// Scheme implements resolver.Builder.
func (*resolverBuilder) Scheme() string { return scheme }

// Build implements resolver.Builder. Without discovery it publishes the
// seed endpoints at once; with it, a goroutine that Close stops publishes
// the servers the cluster names (the seeds while no node answers).
func (b *resolverBuilder) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	seeds := strings.Split(t.Endpoint(), ",")
	if err := checkEndpoints(seeds); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &clusterResolver{
		b:     b,
		cc:    cc,
		seeds: seeds,
		ctx:   ctx,
		stop:  cancel,
		conns: make(map[string]*grpc.ClientConn),
	}
	if b.discover {
		// Calls wait for the first answer (or, if no seed answers, the
		// seeds), rather than go to a seed that is not the leader.
		r.wg.Add(1)
		go r.run()
		return r, nil
	}
	if err := r.publish(nil, false); err != nil {
		cancel()
		return nil, fmt.Errorf("resolve %s: %w", t.Endpoint(), err)
	}
	return r, nil
}

// clusterResolver resolves caskade:///h1,h2,... to the cluster's servers.
// Its fields are used by its run goroutine only, after Build.
type clusterResolver struct {
	b     *resolverBuilder
	cc    resolver.ClientConn
	seeds []string

	ctx  context.Context // ends at Close
	stop context.CancelFunc
	wg   sync.WaitGroup // the run goroutine

	conns   map[string]*grpc.ClientConn // the resolver's own, by address; run's only
	servers []Server                    // the last answer; run's only
}

// ResolveNow implements resolver.Resolver.
func (r *clusterResolver) ResolveNow(resolver.ResolveNowOptions) { r.b.view.refresh() }

// Close implements resolver.Resolver: it stops the goroutine and closes
// the resolver's connections.
func (r *clusterResolver) Close() {
	r.stop()
	r.wg.Wait()
	for _, c := range r.conns {
		_ = c.Close() // a close error of a connection only used for GetServers changes nothing
	}
}

// run asks the cluster for its servers at start, every interval, and on
// each refresh, at most once per minFetchInterval.
func (r *clusterResolver) run() {
	defer r.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-timer.C:
		case <-r.b.view.refreshCh:
		}
		start := time.Now()
		servers, err := r.fetch()
		wait := r.b.interval
		if err != nil || !hasLeader(servers) {
			wait = min(wait, leaderlessInterval)
		}
		if err == nil {
			r.servers = servers
		}
		// An error leaves the last answer (or the seeds) published:
		// the balancer keeps whatever connections still work.
		_ = r.publish(r.servers, r.servers != nil)
		r.prune()
		timer.Reset(wait)
		if d := minFetchInterval - time.Since(start); d > 0 {
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(d):
			}
		}
	}
}

// hasLeader reports whether one of servers is the leader.
func hasLeader(servers []Server) bool {
	return slices.ContainsFunc(servers, func(s Server) bool { return s.IsLeader })
}

// fetch asks the nodes for GetServers, the last known leader first, then
// the other known servers, then the seeds, and returns the first answer.
func (r *clusterResolver) fetch() ([]Server, error) {
	var order []string
	for _, s := range r.servers {
		if s.IsLeader {
			order = append(order, s.RPCAddr)
		}
	}
	for _, s := range r.servers {
		order = append(order, s.RPCAddr)
	}
	order = append(order, r.seeds...)
	tried := map[string]bool{}
	var lastErr error
	for _, addr := range order {
		if tried[addr] || addr == "" {
			continue
		}
		tried[addr] = true
		servers, err := r.ask(addr)
		if err == nil {
			return servers, nil
		}
		lastErr = err
		if r.ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("resolve: no node answered: %w", lastErr)
}

// ask asks the node at addr for the servers; an answer without a usable
// address is an error.
func (r *clusterResolver) ask(addr string) ([]Server, error) {
	conn, ok := r.conns[addr]
	if !ok {
		var err error
		conn, err = grpc.NewClient("passthrough:///"+addr, r.b.dialOpts...)
		if err != nil {
			return nil, fmt.Errorf("connect %s: %w", addr, err)
		}
		r.conns[addr] = conn
	}
	ctx, cancel := context.WithTimeout(r.ctx, fetchTimeout)
	defer cancel()
	resp, err := caskadev1.NewClusterClient(conn).GetServers(ctx, &caskadev1.GetServersRequest{})
	if err != nil {
		return nil, fmt.Errorf("get servers from %s: %w", addr, FromError(err))
	}
	var out []Server
	for _, s := range resp.GetServers() {
		if _, _, err := net.SplitHostPort(s.GetRpcAddr()); err != nil {
			continue // a member without an RPC address cannot serve calls
		}
		out = append(out, Server{ID: s.GetId(), RPCAddr: s.GetRpcAddr(), IsLeader: s.GetIsLeader()})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("get servers from %s: no server with an RPC address", addr)
	}
	return out, nil
}

// prune closes the resolver's connections to nodes that are neither
// servers nor seeds any more.
func (r *clusterResolver) prune() {
	keep := map[string]bool{}
	for _, s := range r.seeds {
		keep[s] = true
	}
	for _, s := range r.servers {
		keep[s.RPCAddr] = true
	}
	for addr, c := range r.conns {
		if !keep[addr] {
			_ = c.Close() // see Close
			delete(r.conns, addr)
		}
	}
}

// publish hands the servers (the seeds when servers is nil) to the
// balancer, the leader marked, and records the resolution in the view.
func (r *clusterResolver) publish(servers []Server, fromCluster bool) error {
	if servers == nil {
		for _, s := range r.seeds {
			servers = append(servers, Server{RPCAddr: s})
		}
	}
	st := resolver.State{
		Attributes: attributes.New(viewKey{}, r.b.view).WithValue(authoritativeKey{}, fromCluster),
	}
	leader := ""
	for _, s := range servers {
		// With TLS, each server's certificate is verified for its host
		// (unless WithTLSConfig names one server for all).
		host, _, err := net.SplitHostPort(s.RPCAddr)
		if err != nil {
			return fmt.Errorf("server %s: %w", s.RPCAddr, err)
		}
		a := resolver.Address{Addr: s.RPCAddr, ServerName: host}
		if s.IsLeader {
			a.BalancerAttributes = leaderAttr
			leader = s.RPCAddr
		}
		st.Addresses = append(st.Addresses, a)
		st.Endpoints = append(st.Endpoints, resolver.Endpoint{Addresses: []resolver.Address{a}})
	}
	err := r.cc.UpdateState(st)
	r.b.view.published(leader)
	if err != nil {
		return fmt.Errorf("update state: %w", err)
	}
	return nil
}
