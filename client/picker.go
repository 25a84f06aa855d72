package client

import (
	"errors"
	"sync/atomic"

	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/base"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errNoLeader fails a call that must go to the leader while no ready
// connection to a leader is known (an election, or the leader just died).
// Nothing was sent, so the retry interceptor may try again once the
// resolver has found the new leader.
var errNoLeader = status.Error(codes.Unavailable, "client: no leader is reachable (election in progress or leader lost)")

// pickConn is one ready connection as the picker sees it.
type pickConn struct {
	sc    balancer.SubConn
	addr  string
	picks *atomic.Uint64 // calls picked for addr; shared with the view
}

// pickerBuilder builds the pickers of one balancer. Its fields are set by
// the balancer before each Build; gRPC serializes both, so no lock.
type pickerBuilder struct {
	view   *view  // the Client's view of the cluster; nil before the first resolution
	leader string // the leader's address per the resolver; "" when none is known
	// authoritative is true when a node answered GetServers: then no
	// leader means an election, not that the resolver does not know.
	authoritative bool
}

// Build implements base.PickerBuilder: the leader and the followers among
// the ready connections.
func (pb *pickerBuilder) Build(info base.PickerBuildInfo) balancer.Picker {
	p := &picker{view: pb.view, authoritative: pb.authoritative}
	for sc, sci := range info.ReadySCs {
		pc := &pickConn{sc: sc, addr: sci.Address.Addr, picks: pb.view.counter(sci.Address.Addr)}
		p.all = append(p.all, pc)
		if pb.leader != "" && pc.addr == pb.leader {
			p.leader = pc
		} else {
			p.followers = append(p.followers, pc)
		}
	}
	if len(p.followers) == 0 && p.leader != nil {
		p.followers = []*pickConn{p.leader}
	}
	if pb.authoritative && p.leader == nil && len(p.all) > 0 {
		// The leader is unknown or its connection is down: ask again
		// now rather than at the next tick.
		pb.view.refresh()
	}
	return p
}

// picker sends each call where its route says (routes.go). It is
// immutable after Build except for the round-robin counter, so Pick is
// safe for concurrent use without a lock.
type picker struct {
	view          *view
	leader        *pickConn   // nil: no ready leader
	followers     []*pickConn // ready non-leaders; just the leader when there are none
	all           []*pickConn // every ready connection
	authoritative bool        // see pickerBuilder
	next          atomic.Uint32
}

// Pick implements balancer.Picker.
func (p *picker) Pick(info balancer.PickInfo) (balancer.PickResult, error) {
	if len(p.all) == 0 {
		return balancer.PickResult{}, balancer.ErrNoSubConnAvailable
	}
	ci := callInfoFrom(info.Ctx)
	r := routeOf(info.FullMethodName)
	var pc *pickConn
	switch {
	case r == routeAny:
		pc = p.roundRobin(p.all)
	case r == routeRead && ci.consistency(info.Ctx) == ConsistencyStale:
		pc = p.roundRobin(p.followers)
		if pc == nil {
			pc = p.roundRobin(p.all)
		}
	default: // writes, linearizable reads, leader-preferred calls
		pc = p.leader
		if pc == nil && (r == routeLeaderPreferred || !p.authoritative) {
			// Leader-preferred calls go anywhere; without an answer
			// from the cluster, any node may be the leader (a wrong one
			// answers NOT_LEADER, which is safe to retry).
			pc = p.roundRobin(p.all)
		}
	}
	if pc == nil {
		if ci != nil {
			ci.noLeader.Store(true)
		}
		return balancer.PickResult{}, errNoLeader
	}
	pc.picks.Add(1)
	ci.picked(pc.addr)
	return balancer.PickResult{SubConn: pc.sc, Done: p.done(ci)}, nil
}

// roundRobin returns the next of conns in turn; nil if there are none.
func (p *picker) roundRobin(conns []*pickConn) *pickConn {
	if len(conns) == 0 {
		return nil
	}
	return conns[int(p.next.Add(1)-1)%len(conns)]
}

// done returns the Done callback of a pick: it records whether the
// request reached the wire (for the retry interceptor) and asks the
// resolver again when the answer says the cluster changed.
func (p *picker) done(ci *callInfo) func(balancer.DoneInfo) {
	return func(di balancer.DoneInfo) {
		ci.finished(di.BytesSent)
		if di.Err != nil && staleView(di.Err) {
			p.view.refresh()
		}
	}
}

// staleView reports whether err suggests that the resolver's view of the
// cluster is out of date: a node is unreachable or is not the leader.
func staleView(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable:
		return true
	case codes.OK:
		return false
	}
	return errors.Is(FromError(err), ErrNotLeader)
}
