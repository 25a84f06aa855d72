package rpc

import (
	"context"
	"time"

	caskadev1 "github.com/caskade/caskade/api/v1"
)

// clusterServer serves the Cluster service. A single node is its own
// leader.
type clusterServer struct {
	caskadev1.UnimplementedClusterServer
	s *Server
}

// GetServers lists the cluster's members (a replicated store's Cluster),
// or this node alone, as the leader.
func (c *clusterServer) GetServers(context.Context, *caskadev1.GetServersRequest) (*caskadev1.GetServersResponse, error) {
	o := &c.s.opts
	if cl := c.s.maint.cluster; cl != nil {
		servers, err := cl.Servers()
		if err != nil {
			return nil, c.s.toStatus("GetServers", err)
		}
		resp := &caskadev1.GetServersResponse{}
		for _, sv := range servers {
			raftAddr := sv.RaftAddr
			if raftAddr == "" {
				raftAddr = sv.Addr
			}
			resp.Servers = append(resp.Servers, &caskadev1.Server{
				Id: sv.ID, RpcAddr: sv.Addr, IsLeader: sv.Leader,
				Voter: sv.Voter, Healthy: sv.Healthy, RaftAddr: raftAddr,
			})
		}
		return resp, nil
	}
	return &caskadev1.GetServersResponse{Servers: []*caskadev1.Server{
		{Id: o.NodeID, RpcAddr: o.Addr, IsLeader: true, Voter: true},
	}}, nil
}

// Status describes this node and its store.
func (c *clusterServer) Status(context.Context, *caskadev1.StatusRequest) (*caskadev1.StatusResponse, error) {
	o := &c.s.opts
	st := c.s.store.Stats()
	isLeader, leaderAddr := true, o.Addr
	if cl := c.s.maint.cluster; cl != nil {
		id, addr := cl.Leader()
		isLeader, leaderAddr = id == o.NodeID, addr
	}
	resp := &caskadev1.StatusResponse{
		NodeId:         o.NodeID,
		RpcAddr:        o.Addr,
		IsLeader:       isLeader,
		LeaderAddr:     leaderAddr,
		NextOffset:     st.NextOffset,
		EarliestOffset: st.Earliest,
		Keys:           uint64(st.Keys),
		Bytes:          st.Bytes,
		LiveBytes:      st.LiveBytes,
		Segments:       uint32(len(st.Segments)),
		SyncMode:       st.Sync.String(),
		Version:        o.Version,
		KeydirBytes:    st.KeydirBytes,
		Syncs:          st.Syncs,
	}
	if r := c.s.maint.raft; r != nil {
		rs := r.RaftStatus()
		resp.RaftState = rs.State
		resp.Term = rs.Term
		resp.CommitIndex = rs.CommitIndex
		resp.AppliedIndex = rs.AppliedIndex
		resp.LastIndex = rs.LastIndex
		resp.LastContactMs = lastContactMs(rs, time.Now())
	}
	return resp, nil
}

// lastContactMs is StatusResponse.last_contact_ms: 0 on the leader, -1
// when the node never heard from a leader, else the age of the last
// contact.
func lastContactMs(rs RaftStatus, now time.Time) int64 {
	switch {
	case rs.State == "Leader":
		return 0
	case rs.LastContact.IsZero():
		return -1
	}
	return max(now.Sub(rs.LastContact).Milliseconds(), 0)
}

// Members lists the nodes of the membership layer, or answers
// UNIMPLEMENTED without one.
func (c *clusterServer) Members(context.Context, *caskadev1.MembersRequest) (*caskadev1.MembersResponse, error) {
	const method = "Members"
	m := c.s.maint.members
	if m == nil {
		return nil, c.s.toStatus(method, ErrNotSupported)
	}
	members, err := m.Members()
	if err != nil {
		return nil, c.s.toStatus(method, err)
	}
	resp := &caskadev1.MembersResponse{Members: make([]*caskadev1.Member, len(members))}
	for i, mb := range members {
		resp.Members[i] = &caskadev1.Member{Name: mb.Name, RpcAddr: mb.RPCAddr, Status: mb.Status}
	}
	return resp, nil
}

// ReadIndex serves a follower's linearizable read: the leader's commit
// index once it confirmed its leadership.
func (c *clusterServer) ReadIndex(ctx context.Context, _ *caskadev1.ReadIndexRequest) (*caskadev1.ReadIndexResponse, error) {
	const method = "ReadIndex"
	ri := c.s.maint.readIndexer
	if ri == nil {
		return nil, c.s.toStatus(method, ErrNotSupported)
	}
	index, term, err := ri.ReadIndex(ctx)
	if err != nil {
		return nil, c.s.toStatus(method, err)
	}
	return &caskadev1.ReadIndexResponse{ReadIndex: index, Term: term}, nil
}
