package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/raftnode"
)

// A node removed from the cluster stops (ErrRemoved), as an etcd member
// does, instead of serving reads of a state that no longer follows the
// cluster. It learns of its removal in one of two ways:
//
//   - it applies the entry that removes it (retire): the usual case for a
//     leader that removes itself;
//   - it hears no leader any more and the leader, asked with Peer.Members,
//     no longer lists it (watchRemoval): the usual case for a follower,
//     since the leader stops sending to it as soon as it applies the
//     removal, often before the follower learns that the entry committed.

// removalCheckElections is how many election timeouts a member must go
// without a leader before it asks the leader whether it is still one.
const removalCheckElections = 2

// retire stops this node, removed from the cluster by the entry at index,
// one election timeout later: the reply to the leave request that removed
// it, and the commit of its removal to the other nodes, go out first.
func (s *Server) retire(n *raftnode.Node, index uint64) {
	grace := s.electionTimeout()
	s.lg.Warn("this node was removed from the cluster; it stops", "id", s.cfg.ID, "index", index, "in", grace)
	time.AfterFunc(grace, func() {
		n.StopWith(fmt.Errorf("%w (at log index %d)", ErrRemoved, index))
	})
}

func (s *Server) electionTimeout() time.Duration {
	return s.cfg.TickInterval * time.Duration(s.cfg.ElectionTick)
}

// watchRemoval asks the leader whether this node is still a member each
// time it has heard no leader for removalCheckElections election timeouts,
// and stops the node when the leader's membership, as of an index this
// node has applied too, no longer lists it.
func (s *Server) watchRemoval() {
	n := s.node.Load()
	every := s.electionTimeout()
	leaderless := 0
	for {
		select {
		case <-n.Done():
			return
		case <-time.After(every):
		}
		if n.Leader() != 0 {
			leaderless = 0
			continue
		}
		if leaderless++; leaderless < removalCheckElections || s.member(s.cfg.ID) == nil {
			continue // a short election, or not a member yet (joining)
		}
		leaderless = 0
		ctx, cancel := context.WithTimeout(context.Background(), every)
		leader, removed := s.askRemoved(ctx)
		cancel()
		if removed {
			s.lg.Warn("this node was removed from the cluster: the leader no longer lists it; it stops",
				"id", s.cfg.ID, "leader", leader)
			n.StopWith(fmt.Errorf("%w (the leader, node %d, no longer lists it)", ErrRemoved, leader))
			return
		}
	}
}

// askRemoved asks the other members, in turn, for the leader's
// membership. It reports whether the first answer (from the leader, which
// every member forwards to) leaves this node out, and who answered. An
// answer as of an index before this node's applied one proves nothing.
func (s *Server) askRemoved(ctx context.Context) (leader uint64, removed bool) {
	req := &peerpb.MembersRequest{ClusterName: s.cfg.ClusterName, From: s.cfg.ID}
	for _, m := range s.sm.Nodes() {
		if m.GetId() == s.cfg.ID || m.GetRaftAddress() == "" {
			continue
		}
		reply, err := s.cfg.PeerClient.Members(ctx, m.GetRaftAddress(), req)
		if err != nil {
			s.lg.Debug("cannot ask a member for the leader's membership", "member", m.GetId(), "err", err)
			continue
		}
		if reply.GetAppliedIndex() < s.sm.AppliedIndex() {
			return reply.GetLeaderId(), false
		}
		listed := slices.ContainsFunc(reply.GetNodes(), func(m *metapb.Node) bool { return m.GetId() == s.cfg.ID })
		return reply.GetLeaderId(), !listed
	}
	return 0, false
}

// LeaderMembers serves Peer.Members: the leader answers with its applied
// membership; another member forwards the request to the leader.
func (s *Server) LeaderMembers(ctx context.Context, req *peerpb.MembersRequest) (*peerpb.MembersReply, error) {
	if addr, err := s.forwardAddress(req.GetClusterName()); err != nil || addr != "" {
		if err != nil {
			return nil, err
		}
		return s.cfg.PeerClient.Members(ctx, addr, req)
	}
	// The applied index first: the membership read after it is at least
	// as recent.
	applied := s.sm.AppliedIndex()
	return &peerpb.MembersReply{Nodes: s.sm.Nodes(), LeaderId: s.cfg.ID, AppliedIndex: applied}, nil
}
