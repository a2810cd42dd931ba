package server

import (
	"context"
	"fmt"
	"time"
)

// TransferLeader hands leadership from this node to voter to, or, when to
// is 0, to the voter whose log is most caught up. It returns the new leader
// once it has taken over. Only the leader can transfer leadership.
func (s *Server) TransferLeader(ctx context.Context, to uint64) (uint64, error) {
	n := s.node.Load()
	if n == nil {
		return 0, ErrNotStarted
	}
	if !n.IsLeader() {
		return 0, fmt.Errorf("%w: node %d is not the leader (the leader is node %d); ask the leader",
			ErrNotLeader, s.cfg.ID, n.Leader())
	}
	st := n.Status()
	if to == 0 {
		var best uint64
		for id, pr := range st.Progress {
			if id == s.cfg.ID || pr.IsLearner {
				continue
			}
			if best == 0 || pr.Match > st.Progress[best].Match {
				best = id
			}
		}
		if best == 0 {
			return 0, fmt.Errorf("%w: there is no other voter to take over", ErrInvalidMember)
		}
		to = best
	} else if pr, ok := st.Progress[to]; !ok || pr.IsLearner || to == s.cfg.ID {
		return 0, fmt.Errorf("%w: node %d is not another voter of this cluster", ErrInvalidMember, to)
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
