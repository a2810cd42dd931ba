package server

import "context"

// Settle returns once the raft node holds no work and the apply goroutine
// has applied everything it was handed (raftnode.Node.Settle): the
// server's half of the barrier of tests that move raft's time by hand
// (clustertest's manual ticks). The read, join, removal and snapshot
// goroutines, which have timers of their own, are not waited for.
func (s *Server) Settle(ctx context.Context) error {
	n := s.node.Load()
	if n == nil {
		return ErrNotStarted
	}
	return n.Settle(ctx, s.applied.wait)
}
