package server

import (
	"sync/atomic"
)

// stats are the server's counters, read by Stats for metrics.
type stats struct {
	proposalsPending atomic.Int64
	proposalsFailed  atomic.Uint64
	readFailed       atomic.Uint64
	entriesApplied   atomic.Uint64
}

// Stats is a point-in-time view of the node for metrics.
type Stats struct {
	ID, LeaderID     uint64
	IsLeader         bool
	Healthy          bool
	ApplyingSnapshot bool
	LeaderChanges    uint64
	EntriesApplied   uint64
	ProposalsPending uint64
	ProposalsFailed  uint64
	ReadFailed       uint64
	LastLogIndex     uint64
	LastSeq          uint64
	Term             uint64
	Watchers         uint64
	KeyCount         uint64
}

// MaxHealthyLag is how far, in entries, the applied index may trail the
// commit index for the node to count as healthy.
const MaxHealthyLag = 1000

// Stats reads the node's counters and state. Safe from any goroutine.
func (s *Server) Stats() Stats {
	st := Stats{
		ID:               s.cfg.ID,
		EntriesApplied:   s.stats.entriesApplied.Load(),
		ProposalsPending: uint64(max(s.stats.proposalsPending.Load(), 0)),
		ProposalsFailed:  s.stats.proposalsFailed.Load(),
		ReadFailed:       s.stats.readFailed.Load(),
		ApplyingSnapshot: s.snapshotting.Load(),
		LastSeq:          s.sm.LastSeq(),
		KeyCount:         uint64(s.sm.KeyCount()),
		Watchers:         uint64(s.WatcherCount()),
	}
	if last, err := s.storage.LastIndex(); err == nil {
		st.LastLogIndex = last
	}
	n := s.node.Load()
	if n == nil {
		return st
	}
	st.LeaderID = n.Leader()
	st.IsLeader = n.IsLeader()
	st.Term = n.Term()
	st.LeaderChanges = n.LeaderChanges()
	rs := n.Status()
	if rs.HardState != nil {
		commit := rs.HardState.GetCommit()
		applied := s.sm.AppliedIndex()
		st.Healthy = st.LeaderID != 0 && (applied >= commit || commit-applied <= MaxHealthyLag)
	}
	return st
}
