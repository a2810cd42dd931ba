package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/metasrv/metasrv/api/peerpb"
)

// TransferLeader hands leadership from this node to voter to, or, when to
// is 0, to the voter whose log is most caught up. It returns the new leader
// once it has taken over. Only the leader can transfer leadership:
// elsewhere it fails with a *NotLeaderError (ErrNotLeader) that names the
// leader. A target that is not another voter fails with
// ErrInvalidTransfer, listing the voters.
func (s *Server) TransferLeader(ctx context.Context, to uint64) (uint64, error) {
	n := s.node.Load()
	if n == nil {
		return 0, ErrNotStarted
	}
	if !n.IsLeader() {
		return 0, s.notLeader(ctx, n.Leader())
	}
	st := n.Status()
	var voters []uint64
	for id, pr := range st.Progress {
		if !pr.IsLearner {
			voters = append(voters, id)
		}
	}
	slices.Sort(voters)
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s; the voters are %s", ErrInvalidTransfer, fmt.Sprintf(format, args...), joinIDs(voters))
	}
	switch pr, ok := st.Progress[to]; {
	case to == 0:
		var best uint64
		for _, id := range voters {
			if id != s.cfg.ID && (best == 0 || st.Progress[id].Match > st.Progress[best].Match) {
				best = id
			}
		}
		if best == 0 {
			return 0, refuse("node %d is the only voter: there is no other to take over", s.cfg.ID)
		}
		to = best
	case to == s.cfg.ID:
		return 0, refuse("node %d is the leader already; name another voter, or none for the most caught-up one", to)
	case !ok:
		return 0, refuse("node %d is not a member of this cluster", to)
	case pr.IsLearner:
		return 0, refuse("node %d is a learner (still catching up), not a voter", to)
	}
	s.lg.Info("transferring leadership", "from", s.cfg.ID, "to", to)
	n.TransferLeadership(ctx, to)
	for n.Leader() != to {
		if err := sleepCtx(ctx, membershipPoll); err != nil {
			return 0, fmt.Errorf("%w: node %d did not take over leadership: %v", ErrTimeout, to, err)
		}
	}
	return to, nil
}

// joinIDs lists node ids for a message: "1, 2, 3".
func joinIDs(ids []uint64) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(parts, ", ")
}

// NotLeaderError is ErrNotLeader from a node asked to do what only the
// leader does, with where the leader is as far as this node knows.
type NotLeaderError struct {
	// ID is the node that refused; Leader the leader it knows (0: none).
	ID, Leader uint64
	// LeaderAdminAddress is the leader's admin API address, as the leader
	// told it (Peer.Members); "" when it could not be asked or runs a
	// version that does not tell. LeaderGrpcAddress is its public gRPC
	// address from the member table.
	LeaderAdminAddress, LeaderGrpcAddress string
}

func (e *NotLeaderError) Error() string {
	switch {
	case e.Leader == 0:
		return fmt.Sprintf("%v: node %d is not the leader, and knows none (an election is under way, or it is cut off); retry, or ask another node", ErrNotLeader, e.ID)
	case e.LeaderAdminAddress != "":
		return fmt.Sprintf("%v: node %d is not the leader; the leader is node %d, whose admin API is at %s: ask it", ErrNotLeader, e.ID, e.Leader, e.LeaderAdminAddress)
	}
	return fmt.Sprintf("%v: node %d is not the leader; the leader is node %d (gRPC %s): ask its admin API (its admin_api_address)", ErrNotLeader, e.ID, e.Leader, e.LeaderGrpcAddress)
}

// Unwrap makes a NotLeaderError match ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return ErrNotLeader }

// notLeaderAsk bounds how long a follower asks the leader for its admin
// address when it refuses a leader-only request.
const notLeaderAsk = 3 * time.Second

// notLeader is the error of a leader-only request on this node, which
// knows leader (0: none). It asks the leader for its admin API address.
func (s *Server) notLeader(ctx context.Context, leader uint64) *NotLeaderError {
	e := &NotLeaderError{ID: s.cfg.ID, Leader: leader}
	if leader == 0 {
		return e
	}
	e.LeaderGrpcAddress = s.member(leader).GetGrpcAddress()
	ctx, cancel := context.WithTimeout(ctx, notLeaderAsk)
	defer cancel()
	reply, err := s.LeaderMembers(ctx, &peerpb.MembersRequest{ClusterName: s.cfg.ClusterName, From: s.cfg.ID})
	if err != nil {
		s.lg.Debug("cannot ask the leader for its admin address", "leader", leader, "err", err)
		return e
	}
	if lead := reply.GetLeaderId(); lead != 0 && lead != s.cfg.ID { // the leader now, which answered
		e.Leader, e.LeaderAdminAddress = lead, reply.GetAdminAddress()
		e.LeaderGrpcAddress = s.member(lead).GetGrpcAddress()
	}
	return e
}

// Shutdown prepares a graceful stop: a leader hands leadership to the most
// caught-up voter first, so the cluster does not wait for an election
// timeout. It does not stop the server; call Stop after it.
func (s *Server) Shutdown(timeout time.Duration) {
	n := s.node.Load()
	if n == nil || !n.IsLeader() || len(s.sm.Nodes()) < 2 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if to, err := s.TransferLeader(ctx, 0); err != nil {
		s.lg.Warn("could not hand over leadership before stopping", "err", err)
	} else {
		s.lg.Info("handed over leadership before stopping", "to", to)
	}
}
