package clienttest

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// LeaderTrailer is the trailer in which a metasrv follower names the
// leader's address on its answers to Upsert and Txn (client.LeaderTrailer;
// this package cannot import client, whose tests import it).
const LeaderTrailer = "metasrv-leader"

// SetLeader makes server id (1-based, as Server.ID) the leader: Status
// reports it, and from now on every other server names its Addr in
// LeaderTrailer on its answers to Upsert and Txn, successes and errors, as
// metasrv's followers do; the leader names none. id 0 means no leader is
// known: no server names one. Until SetLeader is called the cluster
// behaves as a metasrv without the trailer: Status reports server 1 as
// the leader and no server names it.
func (c *Cluster) SetLeader(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.leader, c.mu.nameLeader = id, true
}

// leader returns the leader's id (0: none) and whether followers name it.
func (c *Cluster) leader() (id uint64, named bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.leader, c.mu.nameLeader
}

// setLeaderTrailer sets LeaderTrailer on a write call to s when s is a
// follower that names the leader.
func (s *Server) setLeaderTrailer(ctx context.Context) {
	id, named := s.cluster.leader()
	if !named || id == 0 || id == s.id || int(id) > len(s.cluster.Servers) {
		return
	}
	_ = grpc.SetTrailer(ctx, metadata.Pairs(LeaderTrailer, s.cluster.Servers[id-1].Addr))
}
