package server

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/raftnode"
)

// A node removed from the cluster stops (ErrRemoved), as an etcd member
// does, instead of serving reads of a state that no longer follows the
// cluster. Only the leader's answer to Peer.Members decides (askRemoved):
// its membership, as of an index this node has applied too, must leave
// this node out. The node asks (watchRemoval)
//
//   - one election timeout after it applies an entry that removes it
//     (noteRemoved), so that the reply to the leave request and the commit
//     of the removal go out first. The entry alone does not decide: a node
//     added back under the same id (raft_dir emptied, started with join)
//     replays its old removal before its new addition;
//   - when it has heard no leader for removalCheckElections election
//     timeouts: the usual case for a removed follower, since the leader
//     stops sending to it as soon as it applies the removal, often before
//     the follower learns that the entry committed.
//
// It asks only once it has been a member (mayAsk): a node that is joining
// is not in the leader's membership yet.

// removalCheckElections is how many election timeouts a member must go
// without a leader before it asks the leader whether it is still one.
const removalCheckElections = 2

// noteRemoved is called by the apply goroutine for an entry that removes
// this node: watchRemoval asks the leader after the grace period.
func (s *Server) noteRemoved(index uint64) {
	s.lg.Warn("applied this node's removal from the cluster; it stops unless the leader still lists it",
		"id", s.cfg.ID, "index", index, "check_in", s.electionTimeout())
	select {
	case s.removedC <- struct{}{}:
	default: // a check is already due
	}
}

// electionTimeout is ElectionTick ticks of TickInterval: the bound of the
// calls to the leader (the removal check, the address refresh, forwarded
// lease calls) and of a ReadIndex attempt.
func (s *Server) electionTimeout() time.Duration {
	return s.cfg.TickInterval * time.Duration(s.cfg.ElectionTick)
}

// watchRemoval asks the leader whether this node is still a member one
// election timeout after noteRemoved, and each time it has heard no
// leader at removalCheckElections checks in a row, one every election
// timeout; it stops the node when the leader's answer leaves it out. Its
// timers count raft's ticks (tickClock): an election timeout is
// ElectionTick ticks.
//
// t is its first timer, set when the node started, so that no tick goes
// uncounted; each next one is set before the last is released (renew).
func (s *Server) watchRemoval(t *tickTimer) {
	n := s.node.Load()
	leaderless := 0
	for {
		due := false
		select {
		case <-n.Done():
			s.clock.release(t)
			return
		case <-s.removedC:
			t = s.clock.renew(t, s.cfg.ElectionTick) // the grace period
			select {
			case <-n.Done():
				s.clock.release(t)
				return
			case <-t.C:
			}
			due = true
		case <-t.C:
			if n.Leader() != 0 {
				leaderless = 0
			} else {
				leaderless++
				due = leaderless >= removalCheckElections
			}
		}
		if due && s.mayAsk.Load() {
			leaderless = 0
			if s.checkRemoved(n) {
				s.clock.release(t)
				return
			}
		}
		t = s.clock.renew(t, s.cfg.ElectionTick)
	}
}

// checkRemoved asks the leader whether this node is still a member, and
// stops the node if it is not; it reports whether it did.
func (s *Server) checkRemoved(n *raftnode.Node) bool {
	ctx, cancel := context.WithTimeout(context.Background(), s.electionTimeout())
	defer cancel()
	leader, removed := s.askRemoved(ctx)
	if !removed {
		return false
	}
	s.lg.Warn("this node was removed from the cluster: the leader no longer lists it; it stops",
		"id", s.cfg.ID, "leader", leader)
	n.StopWith(fmt.Errorf("%w (the leader, node %d, no longer lists it)", ErrRemoved, leader))
	return true
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
// membership and its admin API address; another member forwards the
// request to the leader.
func (s *Server) LeaderMembers(ctx context.Context, req *peerpb.MembersRequest) (*peerpb.MembersReply, error) {
	if addr, err := s.forwardAddress(req.GetClusterName()); err != nil || addr != "" {
		if err != nil {
			return nil, err
		}
		if req.GetForwarded() {
			return nil, fmt.Errorf("%w: node %d was asked as the leader, but the leader is at %s; ask again",
				ErrNoLeader, s.cfg.ID, addr)
		}
		fwd := proto.Clone(req).(*peerpb.MembersRequest)
		fwd.Forwarded = true
		return s.cfg.PeerClient.Members(ctx, addr, fwd)
	}
	// The applied index first: the membership read after it is at least
	// as recent.
	applied := s.sm.AppliedIndex()
	return &peerpb.MembersReply{Nodes: s.sm.Nodes(), LeaderId: s.cfg.ID, AppliedIndex: applied, AdminAddress: s.cfg.AdminAddress}, nil
}
