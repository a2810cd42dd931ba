package admin

import (
	"fmt"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/server"
)

// nodeJSON is a member as the admin API shows it.
type nodeJSON struct {
	ID          uint64 `json:"id"`
	RaftAddress string `json:"raft_address"`
	GrpcAddress string `json:"grpc_address"`
	Voter       bool   `json:"voter"`
}

func nodeOf(n *metapb.Node) nodeJSON {
	return nodeJSON{ID: n.GetId(), RaftAddress: n.GetRaftAddress(), GrpcAddress: n.GetGrpcAddress(), Voter: n.GetVoter()}
}

// nodesJSON lists the members for which keep holds (nil: all); never null.
func nodesJSON(nodes []*metapb.Node, keep func(*metapb.Node) bool) []nodeJSON {
	out := []nodeJSON{}
	for _, n := range nodes {
		if keep == nil || keep(n) {
			out = append(out, nodeOf(n))
		}
	}
	return out
}

// leaderOf is the leader this node knows, or nil.
func leaderOf(a server.AdminStatus) *nodeJSON {
	for _, n := range a.Members {
		if a.Leader != 0 && n.GetId() == a.Leader {
			nj := nodeOf(n)
			return &nj
		}
	}
	return nil
}

// logIDJSON is a raft log id.
type logIDJSON struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
}

// logIDOf is nil for the zero log id: no snapshot yet.
func logIDOf(index, term uint64) *logIDJSON {
	if index == 0 {
		return nil
	}
	return &logIDJSON{Index: index, Term: term}
}

// replicationJSON is a follower's replication, as the leader tracks it.
type replicationJSON struct {
	ID uint64 `json:"id"`
	// Matched is the newest index known to be in the follower's log; Lag
	// how far that is behind the leader's last log index.
	Matched uint64 `json:"matched"`
	Lag     uint64 `json:"lag"`
	Next    uint64 `json:"next"`
	// State is raft's: probe, replicate or snapshot.
	State  string `json:"state"`
	Active bool   `json:"active"`
	Voter  bool   `json:"voter"`
}

// statusJSON is GET /v1/cluster/status. It is a superset of
// metapb.StatusReply in protojson (term, applied_index, snapshot_index,
// leader_id, nodes keep its names), so a client can decode it into one.
type statusJSON struct {
	ID          uint64 `json:"id"`
	Version     string `json:"version"`
	ClusterName string `json:"cluster_name"`
	RaftAddress string `json:"raft_address"`
	GrpcAddress string `json:"grpc_address"`
	// State: leader, follower, learner, candidate, pre-candidate, stopped.
	State       string `json:"state"`
	IsLeader    bool   `json:"is_leader"`
	CurrentTerm uint64 `json:"current_term"`
	Term        uint64 `json:"term"` // = current_term
	// LeaderID and Leader: the leader this node knows; 0 and null: none.
	LeaderID     uint64    `json:"leader_id"`
	Leader       *nodeJSON `json:"leader"`
	CommitIndex  uint64    `json:"commit_index"`
	LastLogIndex uint64    `json:"last_log_index"`
	LastApplied  uint64    `json:"last_applied"`
	AppliedIndex uint64    `json:"applied_index"` // = last_applied
	// SnapshotLastLogID is the newest snapshot's log id (null: none);
	// SnapshotIndex its index (0: none).
	SnapshotLastLogID *logIDJSON `json:"snapshot_last_log_id"`
	SnapshotIndex     uint64     `json:"snapshot_index"`
	// Purged: entries up to it are gone from the log (first index - 1).
	Purged       uint64 `json:"purged"`
	Snapshotting bool   `json:"snapshotting"`
	LastSeq      uint64 `json:"last_seq"`
	KeyCount     uint64 `json:"key_count"`
	// WALSize is bytes in raft_dir/wal; -1: unknown.
	WALSize   int64      `json:"wal_size"`
	Nodes     []nodeJSON `json:"nodes"`
	Voters    []nodeJSON `json:"voters"`
	NonVoters []nodeJSON `json:"non_voters"`
	// Replication is, on the leader, every other member's; null elsewhere.
	Replication []replicationJSON `json:"replication"`
	// ReadsTotal counts reads served since start; absent when unknown.
	ReadsTotal *uint64 `json:"reads_total,omitempty"`
	// Join is where this node's join stands while it joins the cluster
	// (raft_config.join); absent otherwise.
	Join *joinJSON `json:"join,omitempty"`
}

// joinJSON is server.JoinStatus.
type joinJSON struct {
	// Via are the addresses of raft_config.join; Until is when the node
	// gives up (RFC 3339).
	Via   []string `json:"via"`
	Until string   `json:"until"`
	// Attempt counts the failed attempts through LastVia (0: the first
	// is under way); LastError is why the last one failed.
	Attempt   int    `json:"attempt"`
	LastVia   string `json:"last_via,omitempty"`
	LastError string `json:"last_error,omitempty"`
	// Failed is why the node gave up; it stops.
	Failed string `json:"failed,omitempty"`
	// Message says all of it in one line, as /v1/health's reason does.
	Message string `json:"message"`
}

func joinOf(j *server.JoinStatus) *joinJSON {
	if j == nil {
		return nil
	}
	out := &joinJSON{Via: j.Via, Until: j.Until.Format(time.RFC3339), Message: j.String()}
	if r := j.Last; r != nil {
		out.Attempt, out.LastVia, out.LastError = r.Attempt, r.Via, r.Err.Error()
	}
	if j.Failed != nil {
		out.Failed = j.Failed.Error()
	}
	return out
}

func newStatusJSON(a server.AdminStatus) statusJSON {
	st := statusJSON{
		ID: a.ID, Version: a.Version, ClusterName: a.ClusterName,
		RaftAddress: a.RaftAddress, GrpcAddress: a.GrpcAddress,
		State: a.State, IsLeader: a.State == "leader",
		CurrentTerm: a.Term, Term: a.Term,
		LeaderID: a.Leader, Leader: leaderOf(a),
		CommitIndex: a.CommitIndex, LastLogIndex: a.LastLogIndex,
		LastApplied: a.Applied, AppliedIndex: a.Applied,
		SnapshotLastLogID: logIDOf(a.SnapshotIndex, a.SnapshotTerm), SnapshotIndex: a.SnapshotIndex,
		Purged: a.Purged, Snapshotting: a.Snapshotting,
		LastSeq: a.LastSeq, KeyCount: a.KeyCount, WALSize: a.WALSize,
		Nodes:     nodesJSON(a.Members, nil),
		Voters:    nodesJSON(a.Members, (*metapb.Node).GetVoter),
		NonVoters: nodesJSON(a.Members, func(n *metapb.Node) bool { return !n.GetVoter() }),
		Join:      joinOf(a.Join),
	}
	if st.IsLeader {
		st.Replication = []replicationJSON{}
		for _, p := range a.Progress {
			if p.ID == a.ID {
				continue
			}
			st.Replication = append(st.Replication, replicationJSON{
				ID: p.ID, Matched: p.Match, Lag: sub(a.LastLogIndex, p.Match), Next: p.Next,
				State: p.State, Active: p.RecentActive, Voter: !p.Learner,
			})
		}
	}
	return st
}

// sub is a - b, or 0 when b is ahead.
func sub(a, b uint64) uint64 {
	if b >= a {
		return 0
	}
	return a - b
}

// healthJSON is GET /v1/health.
type healthJSON struct {
	OK bool `json:"-"`
	// Status is "ok" or "unhealthy"; Reason says why it is unhealthy.
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
	ID          uint64 `json:"id"`
	LeaderID    uint64 `json:"leader_id"`
	CommitIndex uint64 `json:"commit_index"`
	LastApplied uint64 `json:"last_applied"`
}

// healthOf: healthy when the node runs, is not joining the cluster, knows
// a leader, and has applied all but at most maxLag committed entries.
func healthOf(a server.AdminStatus, maxLag uint64) healthJSON {
	h := healthJSON{ID: a.ID, LeaderID: a.Leader, CommitIndex: a.CommitIndex, LastApplied: a.Applied}
	switch lag := sub(a.CommitIndex, a.Applied); {
	case a.State == "stopped":
		h.Reason = "the raft node is not running"
	case a.Join != nil:
		h.Reason = fmt.Sprintf("node %d is not a member yet: %s", a.ID, a.Join)
	case a.Leader == 0:
		h.Reason = fmt.Sprintf("node %d sees no leader (state %s): an election is under way, or it is cut off from a majority of voters", a.ID, a.State)
	case lag > maxLag:
		h.Reason = fmt.Sprintf("applied index %d is %d entries behind commit index %d (at most %d allowed): the node is catching up", a.Applied, lag, a.CommitIndex, maxLag)
	default:
		h.OK, h.Status = true, "ok"
		return h
	}
	h.Status = "unhealthy"
	return h
}

// overviewJSON is GET /v1/cluster/overview: what the dashboard shows,
// gathered on this node.
type overviewJSON struct {
	// TimeMs is the server's clock (Unix ms) when the overview was taken:
	// rates are computed against it.
	TimeMs int64              `json:"time_ms"`
	Status statusJSON         `json:"status"`
	Health healthJSON         `json:"health"`
	Nodes  []overviewNodeJSON `json:"nodes"`
}

// overviewNodeJSON is one member as this node sees it.
type overviewNodeJSON struct {
	nodeJSON
	// Role: this node's own state for itself; leader for the leader it
	// knows; follower or learner for the others.
	Role string `json:"role"`
	Self bool   `json:"self"`
	// Matched, Lag, State and Active are known on the leader only (null
	// elsewhere), except that a node's own Matched is its last log index.
	Matched *uint64 `json:"matched"`
	Lag     *uint64 `json:"lag"`
	State   string  `json:"state,omitempty"`
	Active  *bool   `json:"active"`
}

func overviewNodes(a server.AdminStatus) []overviewNodeJSON {
	progress := map[uint64]server.Progress{}
	for _, p := range a.Progress {
		progress[p.ID] = p
	}
	out := []overviewNodeJSON{}
	for _, m := range a.Members {
		o := overviewNodeJSON{nodeJSON: nodeOf(m), Self: m.GetId() == a.ID}
		switch {
		case o.Self:
			o.Role = a.State
		case m.GetId() == a.Leader:
			o.Role = "leader"
		case m.GetVoter():
			o.Role = "follower"
		default:
			o.Role = "learner"
		}
		if p, ok := progress[m.GetId()]; ok {
			match, lag, active := p.Match, sub(a.LastLogIndex, p.Match), p.RecentActive
			if o.Self {
				match, lag = a.LastLogIndex, 0
			}
			o.Matched, o.Lag, o.State, o.Active = &match, &lag, p.State, &active
		} else if o.Self {
			match := a.LastLogIndex
			o.Matched = &match
		}
		out = append(out, o)
	}
	return out
}
