package rpc

import (
	"context"

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
			resp.Servers = append(resp.Servers, &caskadev1.Server{Id: sv.ID, RpcAddr: sv.Addr, IsLeader: sv.Leader})
		}
		return resp, nil
	}
	return &caskadev1.GetServersResponse{Servers: []*caskadev1.Server{
		{Id: o.NodeID, RpcAddr: o.Addr, IsLeader: true},
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
	return &caskadev1.StatusResponse{
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
	}, nil
}
