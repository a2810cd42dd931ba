package server

import (
	"strings"

	"go.etcd.io/raft/v3"

	"github.com/metasrv/metasrv/api/metapb"
)

// Members lists the cluster members as this node has applied them.
func (s *Server) Members() []*metapb.Node { return s.sm.Nodes() }

// Status describes this node: its raft role and indexes and its data.
func (s *Server) Status() *metapb.StatusReply {
	r := &metapb.StatusReply{
		Id:           s.cfg.ID,
		Version:      s.cfg.Version,
		ClusterName:  s.cfg.ClusterName,
		State:        "stopped",
		AppliedIndex: s.sm.AppliedIndex(),
		LastSeq:      s.sm.LastSeq(),
		Revision:     s.sm.Revision(),
		KeyCount:     uint64(s.sm.KeyCount()),
		Nodes:        s.sm.Nodes(),
		RaftAddress:  s.cfg.RaftAddress,
		GrpcAddress:  s.cfg.GrpcAddress,
	}
	if last, err := s.storage.LastIndex(); err == nil {
		r.LastLogIndex = last
	}
	if first, err := s.storage.FirstIndex(); err == nil && first > 0 {
		r.SnapshotIndex = first - 1
	}
	n := s.node.Load()
	if n == nil {
		return r
	}
	st := n.Status()
	if st.HardState != nil {
		r.Term = st.HardState.GetTerm()
		r.CommitIndex = st.HardState.GetCommit()
	}
	r.LeaderId = st.Lead
	r.State = stateName(st.RaftState)
	if m := s.member(s.cfg.ID); m != nil && !m.GetVoter() {
		r.State = "learner"
	}
	return r
}

func stateName(t raft.StateType) string {
	switch t {
	case raft.StatePreCandidate:
		return "pre-candidate"
	default:
		return strings.ToLower(strings.TrimPrefix(t.String(), "State"))
	}
}

// LeaderGrpcAddress returns the public gRPC address of the leader, from
// the member table, when this node is not the leader; "" on the leader,
// when no leader is known or its address is not. On the leader it costs
// one atomic load. Safe from any goroutine.
func (s *Server) LeaderGrpcAddress() string {
	n := s.node.Load()
	if n == nil || n.IsLeader() {
		return ""
	}
	lead := n.Leader()
	if lead == 0 || lead == s.cfg.ID {
		return ""
	}
	return s.member(lead).GetGrpcAddress()
}
