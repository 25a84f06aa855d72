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

// GetServers lists this node, as the leader.
func (c *clusterServer) GetServers(context.Context, *caskadev1.GetServersRequest) (*caskadev1.GetServersResponse, error) {
	o := &c.s.opts
	return &caskadev1.GetServersResponse{Servers: []*caskadev1.Server{
		{Id: o.NodeID, RpcAddr: o.Addr, IsLeader: true},
	}}, nil
}

// Status describes this node and its store.
func (c *clusterServer) Status(context.Context, *caskadev1.StatusRequest) (*caskadev1.StatusResponse, error) {
	o := &c.s.opts
	st := c.s.store.Stats()
	return &caskadev1.StatusResponse{
		NodeId:         o.NodeID,
		RpcAddr:        o.Addr,
		IsLeader:       true,
		LeaderAddr:     o.Addr,
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
