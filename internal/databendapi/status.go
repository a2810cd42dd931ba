package databendapi

import (
	"context"
	"fmt"
	"strconv"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
)

// DataVersion is what GetClusterStatus answers as data_version: the
// Databend data version whose data model metasrv keeps (GenericKV with one
// seq counter, expiry, the node table) and whose dumps it imports and
// exports.
const DataVersion = "V004"

// raftStates maps our raft states to the names of openraft's
// ServerState, which databend-meta answers.
var raftStates = map[string]string{
	"leader":        "Leader",
	"follower":      "Follower",
	"candidate":     "Candidate",
	"pre-candidate": "Candidate",
	"learner":       "Learner",
	"stopped":       "Shutdown",
}

// GetClusterStatus describes this node in Databend's ClusterStatus, from
// server.AdminStatus:
//
//   - endpoint is the raft address; binary_version our version;
//     data_version DataVersion.
//   - Log ids are written as openraft writes them, T{term}-N{node}.{index}.
//     We keep the term of an entry but not the node that proposed it:
//     last_applied carries the current term and leader, the snapshot's its
//     term and node 0, purged term 0 and node 0; replication (leader only)
//     the current term and this node.
//   - Nodes (leader, voters, non_voters) are written as databend-meta
//     writes them, "id={id} raft={raft address} grpc={grpc address}".
//   - raft_log_size and raft_log_status.wal_total_size are the size of the
//     WAL; the other raft_log_status fields describe databend-meta's own
//     log store and are 0. snapshot_key_count is the number of keys.
func (s *Service) GetClusterStatus(context.Context, *databendpb.Empty) (*databendpb.ClusterStatus, error) {
	a := s.srv.AdminStatus()
	out := &databendpb.ClusterStatus{
		Id:               a.ID,
		BinaryVersion:    a.Version,
		DataVersion:      DataVersion,
		Endpoint:         a.RaftAddress,
		State:            raftStates[a.State],
		IsLeader:         a.State == "leader",
		CurrentTerm:      a.Term,
		LastLogIndex:     a.LastLogIndex,
		LastApplied:      logID(a.Term, a.Leader, a.Applied),
		LastSeq:          a.LastSeq,
		SnapshotKeyCount: a.KeyCount,
		RaftLogStatus:    &databendpb.RaftLogStatus{},
	}
	if a.WALSize > 0 {
		out.RaftLogSize = uint64(a.WALSize)
		out.RaftLogStatus.WalTotalSize = uint64(a.WALSize)
	}
	if a.SnapshotIndex > 0 {
		id := logID(a.SnapshotTerm, 0, a.SnapshotIndex)
		out.SnapshotLastLogId = &id
	}
	if a.Purged > 0 {
		id := logID(0, 0, a.Purged)
		out.Purged = &id
	}
	for _, m := range a.Members {
		if m.GetId() == a.Leader {
			n := nodeString(m)
			out.Leader = &n
		}
		if m.GetVoter() {
			out.Voters = append(out.Voters, nodeString(m))
		} else {
			out.NonVoters = append(out.NonVoters, nodeString(m))
		}
	}
	if len(a.Progress) > 0 {
		out.Replication = make(map[uint64]string, len(a.Progress))
		for _, p := range a.Progress {
			out.Replication[p.ID] = logID(a.Term, a.ID, p.Match)
		}
	}
	return out, nil
}

// logID writes a log id as openraft does.
func logID(term, node, index uint64) string {
	return fmt.Sprintf("T%d-N%d.%d", term, node, index)
}

// nodeString writes a member as databend-meta writes a Node; its name is
// its id.
func nodeString(n *metapb.Node) string {
	return "id=" + strconv.FormatUint(n.GetId(), 10) + " raft=" + n.GetRaftAddress() + " grpc=" + n.GetGrpcAddress()
}
