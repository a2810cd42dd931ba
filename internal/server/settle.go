package server

import "context"

// Settle returns once the raft node holds no work, the apply goroutine
// has applied everything it was handed (raftnode.Node.Settle), and what
// the ticks so far set off on the tick clock (the removal check, the
// address refresh: tickclock.go) is done, and the node holds no work
// again after it: the server's half of the barrier of tests that move
// raft's time by hand (clustertest's manual ticks). The read, join and
// snapshot goroutines, which have timers of their own, are not waited
// for.
func (s *Server) Settle(ctx context.Context) error {
	n := s.node.Load()
	if n == nil {
		return ErrNotStarted
	}
	for {
		if err := n.Settle(ctx, s.applied.wait); err != nil {
			return err
		}
		idleC := s.clock.idle()
		if idleC == nil {
			return nil
		}
		select {
		case <-idleC:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.Done():
			return n.Settle(ctx, nil) // the node's ErrStopped
		}
	}
}
