package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/server"
)

// nodeJSON is a member as the admin API shows it: databend-meta's Node
// (name, endpoint, grpc_api_advertise_address), then ours.
type nodeJSON struct {
	// Name is the node id in decimal, as databend-meta names its nodes.
	Name string `json:"name"`
	// Endpoint is the raft address split into host and port.
	Endpoint endpointJSON `json:"endpoint"`
	// GrpcAPIAdvertiseAddress is the gRPC API address; null when unknown.
	GrpcAPIAdvertiseAddress *string `json:"grpc_api_advertise_address"`

	ID          uint64 `json:"id"`
	RaftAddress string `json:"raft_address"`
	GrpcAddress string `json:"grpc_address"`
	Voter       bool   `json:"voter"`
}

// endpointJSON is databend-meta's Endpoint: {"addr":"localhost","port":28103}.
type endpointJSON struct {
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

// endpointOf splits a host:port address; an address without a valid port
// is all host and port 0.
func endpointOf(addr string) endpointJSON {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return endpointJSON{Addr: addr}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return endpointJSON{Addr: addr}
	}
	return endpointJSON{Addr: host, Port: uint16(p)}
}

func nodeOf(n *metapb.Node) nodeJSON {
	nj := nodeJSON{
		Name: strconv.FormatUint(n.GetId(), 10), Endpoint: endpointOf(n.GetRaftAddress()),
		ID: n.GetId(), RaftAddress: n.GetRaftAddress(), GrpcAddress: n.GetGrpcAddress(), Voter: n.GetVoter(),
	}
	if g := n.GetGrpcAddress(); g != "" {
		nj.GrpcAPIAdvertiseAddress = &g
	}
	return nj
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

// voterIDs are the ids of the voters, in the order of the member list.
func voterIDs(nodes []*metapb.Node) []uint64 {
	out := []uint64{}
	for _, n := range nodes {
		if n.GetVoter() {
			out = append(out, n.GetId())
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

// logIDJSON is databend-meta's (openraft's) log id:
// {"leader_id":{"term":1,"node_id":0},"index":83}. etcd raft does not
// record which node led a term, so node_id is always 0, as in the log ids
// databend-meta upgraded from its older format (docs/DATABEND.md, §4).
type logIDJSON struct {
	LeaderID leaderIDJSON `json:"leader_id"`
	Index    uint64       `json:"index"`
}

type leaderIDJSON struct {
	Term   uint64 `json:"term"`
	NodeID uint64 `json:"node_id"`
}

func logID(index, term uint64) logIDJSON {
	return logIDJSON{LeaderID: leaderIDJSON{Term: term}, Index: index}
}

// optLogID is nil for index 0: no such entry (no snapshot, nothing purged).
func optLogID(index, term uint64) *logIDJSON {
	if index == 0 {
		return nil
	}
	l := logID(index, term)
	return &l
}

// replicationMap is databend-meta's replication: on the leader, every
// voter's and learner's (itself included) newest log id known to be in its
// log, null when none, keyed by node id in ascending order (a Rust
// BTreeMap), e.g. {"1":{...},"2":null}.
type replicationMap []server.Progress

func (m replicationMap) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:", strconv.FormatUint(p.ID, 10))
		v, err := json.Marshal(optLogID(p.Match, p.MatchTerm))
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
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

// raftLogJSON is databend-meta's raft_log, with what metasrv knows of it:
// its WAL is etcd's, whose segments are preallocated, so databend-meta's
// per-chunk sizes have no counterpart and are left out.
type raftLogJSON struct {
	// CacheItems are the entries held in memory: every entry after the
	// last compaction (Purged).
	CacheItems uint64 `json:"cache_items"`
	// WALTotalSize is bytes in raft_dir/wal; -1: unknown.
	WALTotalSize int64 `json:"wal_total_size"`
}

// dataVersion is the version of databend-meta's data that metasrv serves,
// imports and exports.
const dataVersion = "V004"

// statusJSON is GET /v1/cluster/status: databend-meta's status (its
// MetaNodeStatus, every field with its name and shape), then ours. Ours
// keep the names of metapb.StatusReply in protojson (id, version,
// cluster_name, raft_state aside, leader_id, term, commit_index,
// applied_index, last_log_index, snapshot_index, last_seq, key_count,
// nodes, raft_address, grpc_address), so a client can decode it into one
// and read every field but state, which is databend-meta's here.
type statusJSON struct {
	ID            uint64 `json:"id"`
	BinaryVersion string `json:"binary_version"`
	DataVersion   string `json:"data_version"`
	// Endpoint is this node's raft address.
	Endpoint string      `json:"endpoint"`
	RaftLog  raftLogJSON `json:"raft_log"`
	// SnapshotKeyCount is the keys the state machine holds now (metasrv
	// snapshots the whole state; it keeps no count per snapshot).
	SnapshotKeyCount uint64 `json:"snapshot_key_count"`
	// State is openraft's: Leader, Follower, Candidate, Learner, Shutdown.
	State       string `json:"state"`
	IsLeader    bool   `json:"is_leader"`
	CurrentTerm uint64 `json:"current_term"`
	// LastLogIndex is the newest index in this node's log.
	LastLogIndex uint64 `json:"last_log_index"`
	// LastApplied is the log id of the newest applied entry.
	LastApplied logIDJSON `json:"last_applied"`
	// SnapshotLastLogID is the newest snapshot's log id (null: none).
	SnapshotLastLogID *logIDJSON `json:"snapshot_last_log_id"`
	// Purged is the log id of the newest entry gone from the log (null:
	// none).
	Purged *logIDJSON `json:"purged"`
	// Leader is the leader this node knows; null: none.
	Leader *nodeJSON `json:"leader"`
	// Replication is, on the leader, every member's matched log id; null
	// elsewhere.
	Replication replicationMap `json:"replication"`
	Voters      []nodeJSON     `json:"voters"`
	NonVoters   []nodeJSON     `json:"non_voters"`
	LastSeq     uint64         `json:"last_seq"`

	Version     string `json:"version"`
	ClusterName string `json:"cluster_name"`
	RaftAddress string `json:"raft_address"`
	GrpcAddress string `json:"grpc_address"`
	// RaftState is etcd raft's state: leader, follower, learner,
	// candidate, pre-candidate, stopped.
	RaftState string `json:"raft_state"`
	Term      uint64 `json:"term"` // = current_term
	// LeaderID is the leader this node knows; 0: none.
	LeaderID     uint64 `json:"leader_id"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"` // = last_applied.index
	// SnapshotIndex is the newest snapshot's index (0: none).
	SnapshotIndex uint64 `json:"snapshot_index"`
	// PurgedIndex: entries up to it are gone from the log (first index - 1).
	PurgedIndex  uint64 `json:"purged_index"`
	Snapshotting bool   `json:"snapshotting"`
	KeyCount     uint64 `json:"key_count"`
	// WALSize is bytes in raft_dir/wal; -1: unknown.
	WALSize int64      `json:"wal_size"`
	Nodes   []nodeJSON `json:"nodes"`
	// Progress is, on the leader, every other member's replication; null
	// elsewhere.
	Progress []replicationJSON `json:"progress"`
	// ReadsTotal counts reads served since start; absent when unknown.
	ReadsTotal *uint64 `json:"reads_total,omitempty"`
	// Join is where this node's join stands while it joins the cluster
	// (raft_config.join); absent otherwise.
	Join *joinJSON `json:"join,omitempty"`
}

// serverStates maps etcd raft's states to openraft's.
var serverStates = map[string]string{
	"leader": "Leader", "follower": "Follower", "learner": "Learner",
	"candidate": "Candidate", "pre-candidate": "Candidate", "stopped": "Shutdown",
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
	state, ok := serverStates[a.State]
	if !ok {
		state = a.State
	}
	st := statusJSON{
		ID: a.ID, BinaryVersion: a.Version, DataVersion: dataVersion, Endpoint: a.RaftAddress,
		RaftLog:          raftLogJSON{CacheItems: sub(a.LastLogIndex, a.Purged), WALTotalSize: a.WALSize},
		SnapshotKeyCount: a.KeyCount,
		State:            state, IsLeader: a.State == "leader", CurrentTerm: a.Term,
		LastLogIndex: a.LastLogIndex, LastApplied: logID(a.Applied, a.AppliedTerm),
		SnapshotLastLogID: optLogID(a.SnapshotIndex, a.SnapshotTerm), Purged: optLogID(a.Purged, a.PurgedTerm),
		Leader:    leaderOf(a),
		Voters:    nodesJSON(a.Members, (*metapb.Node).GetVoter),
		NonVoters: nodesJSON(a.Members, func(n *metapb.Node) bool { return !n.GetVoter() }),
		LastSeq:   a.LastSeq,

		Version: a.Version, ClusterName: a.ClusterName,
		RaftAddress: a.RaftAddress, GrpcAddress: a.GrpcAddress,
		RaftState: a.State, Term: a.Term, LeaderID: a.Leader,
		CommitIndex: a.CommitIndex, AppliedIndex: a.Applied,
		SnapshotIndex: a.SnapshotIndex, PurgedIndex: a.Purged, Snapshotting: a.Snapshotting,
		KeyCount: a.KeyCount, WALSize: a.WALSize,
		Nodes: nodesJSON(a.Members, nil),
		Join:  joinOf(a.Join),
	}
	if st.IsLeader {
		st.Replication = append(replicationMap{}, a.Progress...)
		st.Progress = []replicationJSON{}
		for _, p := range a.Progress {
			if p.ID == a.ID {
				continue
			}
			st.Progress = append(st.Progress, replicationJSON{
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

// healthJSON is GET /v1/health: databend-meta's {"status":"pass"} when
// healthy, then ours. databend-meta answers pass whenever its HTTP server
// runs; metasrv answers 503 with "fail" and the reason when the node cannot
// serve (health format of draft-inadarei-api-health-check: pass, fail).
type healthJSON struct {
	OK bool `json:"-"`
	// Status is "pass" or "fail"; Reason says why it fails.
	Status      string `json:"status"`
	Reason      string `json:"reason,omitempty"`
	ID          uint64 `json:"id"`
	LeaderID    uint64 `json:"leader_id"`
	CommitIndex uint64 `json:"commit_index"`
	LastApplied uint64 `json:"last_applied"`
}

// Health statuses.
const (
	healthPass = "pass"
	healthFail = "fail"
)

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
		h.OK, h.Status = true, healthPass
		return h
	}
	h.Status = healthFail
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
