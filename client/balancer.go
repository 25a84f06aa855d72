package client

import (
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/resolver"
)

// balancerName is the load-balancing policy of every Client, named in the
// service config dial.go sets.
const balancerName = "caskade_leader"

// gRPC finds load-balancing policies by name in one process-wide registry
// (there is no per-connection option as grpc.WithResolvers is for
// resolvers). The builder registered here is stateless: everything that
// belongs to one Client reaches its balancer through the resolver's
// state (the view attribute).
func init() {
	balancer.Register(leaderBuilder{})
}

// leaderBuilder builds leaderBalancers.
type leaderBuilder struct{}

// Build implements balancer.Builder: gRPC's base balancer (one SubConn
// per address, kept connected), whose picker knows the leader.
func (leaderBuilder) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	pb := &pickerBuilder{}
	return &leaderBalancer{
		Balancer: base.NewBalancerBuilder(balancerName, pb, base.Config{}).Build(cc, opts),
		pb:       pb,
	}
}

// Name implements balancer.Builder.
func (leaderBuilder) Name() string { return balancerName }

// leaderBalancer is the base balancer with a picker builder that learns
// the leader from each resolver update. gRPC serializes the calls of a
// balancer, so pb needs no lock.
type leaderBalancer struct {
	balancer.Balancer
	pb *pickerBuilder
}

// UpdateClientConnState implements balancer.Balancer. The base balancer
// keys its connections by address without BalancerAttributes and builds a
// picker after every update, so the leader is read here, from the fresh
// addresses, before the update is passed on.
func (b *leaderBalancer) UpdateClientConnState(s balancer.ClientConnState) error {
	b.pb.view = viewOf(s.ResolverState.Attributes)
	b.pb.leader = ""
	for _, a := range s.ResolverState.Addresses {
		if isLeader(a) {
			b.pb.leader = a.Addr
		}
	}
	b.pb.authoritative = authoritative(s.ResolverState.Attributes)
	return b.Balancer.UpdateClientConnState(s)
}

// Attribute keys of resolver states and addresses.
type (
	leaderKey        struct{} // address BalancerAttributes: true on the leader
	viewKey          struct{} // state Attributes: the Client's *view
	authoritativeKey struct{} // state Attributes: true when a node answered GetServers
)

// leaderAttr marks the leader's address.
var leaderAttr = attributes.New(leaderKey{}, true)

// isLeader reports whether the resolver marked a as the leader.
func isLeader(a resolver.Address) bool {
	v, _ := a.BalancerAttributes.Value(leaderKey{}).(bool)
	return v
}

// viewOf returns the view the state attributes carry, or nil.
func viewOf(attrs *attributes.Attributes) *view {
	v, _ := attrs.Value(viewKey{}).(*view)
	return v
}

// authoritative reports whether the state came from a GetServers answer.
func authoritative(attrs *attributes.Attributes) bool {
	v, _ := attrs.Value(authoritativeKey{}).(bool)
	return v
}
