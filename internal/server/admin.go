package server

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
)

// AdminStatus is this node's state as the admin API and the dashboard show
// it, read from one raft status. Indexes are raft log indexes.
type AdminStatus struct {
	ID          uint64
	Version     string
	ClusterName string
	// RaftAddress and GrpcAddress are this node's advertised addresses.
	RaftAddress, GrpcAddress string
	// State is leader, follower, learner, candidate, pre-candidate, or
	// stopped when the raft node is not running.
	State string
	// Term is the current raft term; Leader the leader this node knows
	// (0: none).
	Term, Leader uint64
	// CommitIndex is the newest index known committed; LastLogIndex the
	// newest in this node's log; Applied the newest the state machine holds.
	CommitIndex, LastLogIndex, Applied uint64
	// AppliedTerm is the term of the entry at Applied (0: unknown, or
	// nothing applied).
	AppliedTerm uint64
	// SnapshotIndex and SnapshotTerm are the log id of the newest snapshot
	// (0, 0: none yet).
	SnapshotIndex, SnapshotTerm uint64
	// Purged is the newest index no longer in the log (first index - 1):
	// a follower behind it needs a snapshot.
	Purged uint64
	// PurgedTerm is the term of the entry at Purged (0: none purged).
	PurgedTerm uint64
	// Snapshotting is true while a snapshot is being written.
	Snapshotting bool
	// LastSeq is the last seq handed out; Revision the revision of the
	// last entry that changed keys; KeyCount the keys held.
	LastSeq, Revision, KeyCount uint64
	// WALSize is the size in bytes of raft_dir/wal; -1 when the storage
	// does not tell.
	WALSize int64
	// Members are the cluster members as applied, voters and learners.
	Members []*metapb.Node
	// Progress is, on the leader only, the replication state of every
	// member (this node included), ordered by id.
	Progress []Progress
	// Join is where this node's join stands while it joins the cluster;
	// nil otherwise (joinStatus).
	Join *JoinStatus
}

// Progress is the replication state of one member, as the leader tracks it.
type Progress struct {
	ID uint64
	// Match is the newest index known to be in the member's log; Next the
	// next index the leader sends.
	Match, Next uint64
	// MatchTerm is the term of the entry at Match (0: unknown, or Match 0).
	MatchTerm uint64
	// State is probe, replicate or snapshot.
	State string
	// RecentActive: the leader heard from the member within an election
	// timeout.
	RecentActive bool
	Learner      bool
}

// walSizer is the optional part of Storage that reports the WAL's size
// (internal/storage implements it).
type walSizer interface{ WALSize() int64 }

// AdminStatus describes this node for the admin API. Safe to call from any
// goroutine; it costs one round trip to the raft goroutine.
func (s *Server) AdminStatus() AdminStatus {
	a := AdminStatus{
		ID:           s.cfg.ID,
		Version:      s.cfg.Version,
		ClusterName:  s.cfg.ClusterName,
		RaftAddress:  s.cfg.RaftAddress,
		GrpcAddress:  s.cfg.GrpcAddress,
		State:        "stopped",
		Applied:      s.sm.AppliedIndex(),
		LastSeq:      s.sm.LastSeq(),
		Revision:     s.sm.Revision(),
		KeyCount:     uint64(s.sm.KeyCount()),
		Snapshotting: s.snapshotting.Load(),
		WALSize:      -1,
		Members:      s.sm.Nodes(),
		Join:         s.joinStatus(),
	}
	if last, err := s.storage.LastIndex(); err == nil {
		a.LastLogIndex = last
	}
	if first, err := s.storage.FirstIndex(); err == nil && first > 0 {
		a.Purged = first - 1
		a.PurgedTerm = s.termOf(a.Purged)
	}
	a.AppliedTerm = s.termOf(a.Applied)
	if snap, err := s.storage.Snapshot(); err == nil {
		a.SnapshotIndex, a.SnapshotTerm = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetTerm()
	}
	if ws, ok := s.storage.(walSizer); ok {
		a.WALSize = ws.WALSize()
	}
	n := s.node.Load()
	if n == nil {
		return a
	}
	st := n.Status()
	if st.ID == 0 { // stopped
		return a
	}
	a.Term = st.HardState.GetTerm()
	a.CommitIndex = st.HardState.GetCommit()
	a.Leader = st.Lead
	a.State = stateName(st.RaftState)
	if m := s.member(s.cfg.ID); m != nil && !m.GetVoter() {
		a.State = "learner"
	}
	for id, pr := range st.Progress {
		a.Progress = append(a.Progress, Progress{
			ID: id, Match: pr.Match, MatchTerm: s.termOf(pr.Match), Next: pr.Next,
			State:        strings.ToLower(strings.TrimPrefix(pr.State.String(), "State")),
			RecentActive: pr.RecentActive, Learner: pr.IsLearner,
		})
	}
	slices.SortFunc(a.Progress, func(x, y Progress) int { return cmp.Compare(x.ID, y.ID) })
	return a
}

// termOf is the term of the entry at index i in this node's log, or of
// its snapshot when i is the snapshot's index; 0 when i is 0 or the log no
// longer holds it.
func (s *Server) termOf(i uint64) uint64 {
	if i == 0 {
		return 0
	}
	if t, err := s.storage.Term(i); err == nil {
		return t
	}
	if snap, err := s.storage.Snapshot(); err == nil && snap.GetMetadata().GetIndex() == i {
		return snap.GetMetadata().GetTerm()
	}
	return 0
}

// snapshotPoll is how often TriggerSnapshot checks whether its snapshot
// has been written; snapshotWake how often it proposes an empty entry to
// wake the apply goroutine while its request is pending.
const (
	snapshotPoll = 10 * time.Millisecond
	snapshotWake = 200 * time.Millisecond
)

// TriggerSnapshot takes a snapshot of this node's state machine now, rather
// than after snapshot_logs_since_last entries, and waits until it is
// written. It returns the index of the newest snapshot, which covers every
// entry this node had applied when TriggerSnapshot was called; if such a
// snapshot exists already it returns at once.
//
// The apply goroutine takes the snapshot (maybeSnapshot) with the next
// entry it applies, so TriggerSnapshot proposes empty entries to wake it:
// it needs a leader, and fails at once with ErrNoLeader when this node
// knows none. Other errors: ErrNotStarted, ErrStopped, and ErrTimeout when
// ctx ends first (the snapshot may still be taken).
func (s *Server) TriggerSnapshot(ctx context.Context) (uint64, error) {
	n := s.node.Load()
	if n == nil {
		return 0, ErrNotStarted
	}
	target := s.sm.AppliedIndex()
	var wake time.Time
	for {
		if idx := s.snapshotIndex(); idx >= target {
			return idx, nil
		}
		pending := s.snapshotRequested.Load()
		if !pending && !s.snapshotting.Load() {
			// Not asked yet, or a snapshot older than target took the
			// request: (re-)ask.
			s.lg.Info("snapshot requested", "applied", target)
			s.snapshotRequested.Store(true)
			pending, wake = true, time.Time{}
		}
		if pending && time.Since(wake) >= snapshotWake {
			wake = time.Now()
			// raft holds proposals while it knows no leader: do not wait.
			if n.Leader() == 0 {
				return 0, fmt.Errorf("%w: node %d knows no leader, and the snapshot waits for the next applied entry; retry when a leader is elected",
					ErrNoLeader, s.cfg.ID)
			}
			if err := n.Propose(ctx, nil); err != nil {
				return 0, fmt.Errorf("wake the apply loop to take a snapshot: %w", s.mapRaftErr(ctx, err))
			}
		}
		select {
		case <-n.Done():
			return 0, ErrStopped
		default:
		}
		if err := sleepCtx(ctx, snapshotPoll); err != nil {
			return 0, fmt.Errorf("%w: no snapshot at index %d yet: %v", ErrTimeout, target, err)
		}
	}
}

// snapshotIndex is the index of the newest snapshot in storage; 0: none.
func (s *Server) snapshotIndex() uint64 {
	snap, err := s.storage.Snapshot()
	if err != nil {
		return 0
	}
	return snap.GetMetadata().GetIndex()
}
