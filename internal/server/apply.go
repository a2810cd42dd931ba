package server

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/raftnode"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// applyLoop is the only goroutine that changes the state machine. It applies
// what the raft node commits, in order, hands results to waiting proposals,
// and starts background snapshots.
func (s *Server) applyLoop() {
	n := s.node.Load()
	// Nothing more will be applied: end the watch streams.
	defer s.hub.Close()
	// A snapshot that is due but could not start (another one was being
	// written) must not wait for the next write: check again on a timer.
	retry := time.NewTicker(snapshotRetryInterval)
	defer retry.Stop()
	for {
		select {
		case ap, ok := <-n.ApplyC():
			if !ok {
				return
			}
			if err := s.applyBatch(n, ap); err != nil {
				// The state machine can no longer follow the log: stop
				// rather than serve a state that diverges from the others.
				n.Fail(fmt.Errorf("apply: %w", err))
				return
			}
			s.stats.entriesApplied.Add(uint64(len(ap.Entries)))
			s.countLog(ap.Entries)
			s.applied.trigger(s.sm.AppliedIndex())
			s.maybeSnapshot()
		case <-retry.C:
			s.maybeSnapshot()
		}
	}
}

// snapshotRetryInterval is how often the apply loop re-checks for a due
// snapshot when nothing is being applied.
const snapshotRetryInterval = 100 * time.Millisecond

func (s *Server) applyBatch(n *raftnode.Node, ap raftnode.Apply) error {
	if ap.Snapshot != nil {
		if err := s.installSnapshot(ap.Snapshot); err != nil {
			return fmt.Errorf("restore snapshot at index %d: %w", ap.Snapshot.GetMetadata().GetIndex(), err)
		}
		s.lg.Info("installed snapshot from leader", "index", s.sm.AppliedIndex(),
			"keys", s.sm.KeyCount(), "last_seq", s.sm.LastSeq())
	}
	if k := len(ap.Entries); k > 0 {
		// Proposals are failed only after the batch is applied, so that
		// the ones it holds get their own results first.
		defer s.noteTerm(ap.Entries[k-1].GetTerm())
	}
	for _, e := range ap.Entries {
		if e.GetIndex() <= s.sm.AppliedIndex() {
			continue // already in the restored snapshot
		}
		switch e.GetType() {
		case raftpb.EntryNormal:
			if err := s.applyNormal(e); err != nil {
				return err
			}
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
				return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
			}
			s.applyConfChange(n, e.GetIndex(), e.GetTerm(), cc.AsV2())
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
				return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
			}
			s.applyConfChange(n, e.GetIndex(), e.GetTerm(), &cc)
		}
	}
	return nil
}

// applyNormal applies one normal entry. An error means the node cannot
// follow the log (an entry of a newer format, or one that does not decode)
// and must stop.
func (s *Server) applyNormal(e *raftpb.Entry) error {
	if len(e.GetData()) == 0 {
		s.sm.ApplyEmpty(e.GetIndex())
		return nil
	}
	timeMs, cmd, err := statemachine.DecodeEntry(e.GetData())
	if errors.Is(err, statemachine.ErrUnknownEntryVersion) {
		return fmt.Errorf("log entry %d was written by a newer metasrv; upgrade this node: %w", e.GetIndex(), err)
	}
	if err != nil {
		// Skipping it would keep the nodes identical, but its proposer
		// would wait out its deadline for a write that never comes, and a
		// bug or a damaged log would go on unseen.
		return fmt.Errorf("log entry %d cannot be decoded (a damaged log, or a bug in the metasrv that wrote it); the node stops rather than skip it: %w", e.GetIndex(), err)
	}
	mine := cmd.GetProposer() == s.cfg.ID
	s.applyMu.Lock()
	// Watchers register under applyMu (watch.go): with none now, no one
	// can miss these events, which the history keeps anyway.
	res := s.sm.ApplyWith(e.GetIndex(), timeMs, cmd, statemachine.ApplyOptions{NoReply: !mine, NoEvents: s.hub.Count() == 0})
	s.hub.Publish(res.Events)
	s.applyMu.Unlock()
	if mine {
		s.proposals.trigger(cmd.GetRequestId(), res)
	}
	return nil
}

func (s *Server) applyConfChange(n *raftnode.Node, index, term uint64, cc *raftpb.ConfChangeV2) {
	s.confState = n.ApplyConfChange(cc)
	if err := s.sm.ApplyConfChange(index, term, cc); err != nil {
		s.lg.Error("conf change context undecodable; membership addresses unchanged", "index", index, "err", err)
	}
	var ctx peerpb.ConfChangeContext
	_ = proto.Unmarshal(cc.GetContext(), &ctx) // already reported by ApplyConfChange
	for _, c := range cc.GetChanges() {
		s.lg.Info("membership changed", "index", index, "change", c.GetType().String(),
			"node", c.GetNodeId(), "raft_address", ctx.GetNode().GetRaftAddress(),
			"voters", s.confState.GetVoters(), "learners", s.confState.GetLearners())
		if t := c.GetType(); (t == raftpb.ConfChangeAddNode || t == raftpb.ConfChangeAddLearnerNode) && c.GetNodeId() != s.cfg.ID {
			// A snapshot taken before this change does not list the new
			// node, and raft on the new node refuses such a snapshot: take
			// a fresh one if the node will need a snapshot at all.
			s.snapshotWanted = true
		}
		if c.GetNodeId() == s.cfg.ID {
			switch c.GetType() {
			case raftpb.ConfChangeRemoveNode:
				s.noteRemoved(index)
			case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
				s.mayAsk.Store(true) // a member now: see removal.go
			}
		}
	}
	s.syncPeers()
}

// noteTerm fails the proposals of earlier terms once an entry of a newer
// term is applied (see proposals.failBefore).
func (s *Server) noteTerm(term uint64) {
	if term <= s.appliedTerm {
		return
	}
	s.appliedTerm = term
	s.proposals.failBefore(term, fmt.Errorf("%w: the leader changed while the write was in flight; it may or may not have been applied", ErrLeaderChanged))
}

// syncPeers makes the transport's address book follow the member table:
// members are added (or their address updated), removed members dropped.
// Called from the apply goroutine (or from Start before it runs).
func (s *Server) syncPeers() {
	if s.peers == nil {
		return
	}
	current := map[uint64]bool{}
	for _, nd := range s.sm.Nodes() {
		if nd.GetId() != s.cfg.ID && nd.GetRaftAddress() != "" {
			current[nd.GetId()] = true
			s.peers.AddPeer(nd.GetId(), nd.GetRaftAddress())
		}
	}
	for id := range s.knownPeers {
		if !current[id] {
			s.peers.RemovePeer(id)
		}
	}
	s.knownPeers = current
}
