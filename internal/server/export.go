package server

import (
	"context"

	"github.com/metasrv/metasrv/internal/statemachine"
)

// ExportSource returns what a consistent dump is written from: the state
// machine, once a linearizable read barrier bounded by ctx has passed, so
// that a View taken from it holds every write acknowledged before the
// call; the cluster name; and the node's clock in Unix ms. The caller
// takes the View (O(1)) and writes it without holding any lock while
// applying goes on.
func (s *Server) ExportSource(ctx context.Context) (sm *statemachine.StateMachine, clusterName string, nowMs uint64, err error) {
	if err := s.linearizableRead(ctx); err != nil {
		return nil, "", 0, err
	}
	return s.sm, s.cfg.ClusterName, s.nowMs(), nil
}

// TermOf returns the raft term of the entry at index in this node's log,
// or of its snapshot when index is the snapshot's; 0 when index is 0 or
// the log no longer holds it. A Databend export names its last applied
// log id with it.
func (s *Server) TermOf(index uint64) uint64 { return s.termOf(index) }
