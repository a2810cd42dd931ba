package backup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"unicode/utf8"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/internal/storage"
)

// The raft position of an imported node: every node of the new cluster
// starts from a snapshot at (ImportTerm, ImportIndex), so all of them hold
// the same log, and the first leader is elected in term ImportTerm + 1 and
// appends from ImportIndex + 1. The exported cluster's applied index is not
// reused: the new cluster starts a new log.
const (
	ImportIndex = 1
	ImportTerm  = 1
)

// ImportConfig describes the node directory that Import builds.
type ImportConfig struct {
	// Dir is the new node's raft_dir. It must be missing or empty.
	Dir string
	// ID is the new node's id; it must be one of InitialCluster.
	ID uint64
	// ClusterName is the new cluster's name; "" takes the dump's. The
	// node's configuration must use the same.
	ClusterName string
	// InitialCluster lists every node of the new cluster, each with its
	// id and raft address; all of them become voters. GrpcAddress may be
	// empty (see Import). Give every node the same list.
	InitialCluster []Node
	// Logger may be nil.
	Logger *slog.Logger
}

// ImportResult describes what Import wrote.
type ImportResult struct {
	ClusterName string
	// Keys and LastSeq are the restored state's; the new cluster's next
	// write takes seq LastSeq + 1.
	Keys, LastSeq uint64
	// Index and Term are the raft snapshot's (ImportIndex, ImportTerm).
	Index, Term uint64
	// Voters are the ids of the new cluster.
	Voters []uint64
}

// Import builds the raft_dir of one node of a new cluster whose state is
// the dump read from r, so that the new cluster starts with exactly the
// exported keys, seqs, expiries and last seq. Run it once per node, with
// the same dump and InitialCluster, then start every node with plain
// databend-meta: its raft_dir is bootstrapped, so single and join are
// ignored, and the nodes elect a leader among InitialCluster.
//
// The directory gets:
//   - a WAL with metadata {"id":ID,"cluster_name":...};
//   - a raft snapshot at index ImportIndex, term ImportTerm, whose
//     ConfState has the InitialCluster ids as voters and whose data is
//     the state machine snapshot of the dump (EncodeSnapshot) with
//     applied index ImportIndex and the member table = InitialCluster;
//   - the hard state {term: ImportTerm, vote: none, commit: ImportIndex}.
//
// Member grpc addresses come from InitialCluster and may be empty: the
// member table then lacks them (member-list shows none) until the server
// records them (see the package doc).
//
// The whole dump is read and checked before anything is written. On an
// error nothing is left in Dir (a directory Import created is removed).
func Import(cfg ImportConfig, r io.Reader) (*ImportResult, error) {
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	members, err := checkInitialCluster(cfg.ID, cfg.InitialCluster)
	if err != nil {
		return nil, err
	}
	created, err := checkEmptyDir(cfg.Dir)
	if err != nil {
		return nil, err
	}

	dump, err := NewReader(r)
	if err != nil {
		return nil, err
	}
	name := cfg.ClusterName
	if name == "" {
		name = dump.Header().ClusterName
	}
	if name == "" {
		return nil, errors.New("backup: the dump names no cluster; give a cluster name")
	}
	var data bytes.Buffer
	footer, err := EncodeSnapshot(&data, dump, ImportIndex, members)
	if err != nil {
		return nil, err
	}

	voters := make([]uint64, len(members))
	for i, m := range members {
		voters[i] = m.ID
	}
	snap := &raftpb.Snapshot{
		Data: data.Bytes(),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     proto.Uint64(ImportIndex),
			Term:      proto.Uint64(ImportTerm),
			ConfState: &raftpb.ConfState{Voters: voters},
		},
	}
	hs := &raftpb.HardState{Term: proto.Uint64(ImportTerm), Commit: proto.Uint64(ImportIndex)}
	if err := writeNodeDir(cfg.Dir, cfg.ID, name, hs, snap, lg); err != nil {
		cleanup(cfg.Dir, created)
		return nil, err
	}
	return &ImportResult{
		ClusterName: name,
		Keys:        footer.Keys,
		LastSeq:     footer.LastSeq,
		Index:       ImportIndex,
		Term:        ImportTerm,
		Voters:      voters,
	}, nil
}

func writeNodeDir(dir string, id uint64, clusterName string, hs *raftpb.HardState, snap *raftpb.Snapshot, lg *slog.Logger) error {
	st, err := storage.Open(dir, id, clusterName, lg)
	if err != nil {
		return fmt.Errorf("backup: create raft_dir: %w", err)
	}
	if err := st.Save(hs, nil, snap); err != nil {
		st.Close()
		return fmt.Errorf("backup: write raft_dir: %w", err)
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("backup: close raft_dir: %w", err)
	}
	return nil
}

// checkInitialCluster validates the members and returns them sorted by id,
// all voters.
func checkInitialCluster(id uint64, nodes []Node) ([]Node, error) {
	if id == 0 {
		return nil, fmt.Errorf("%w: node id must not be 0", ErrInvalidCluster)
	}
	if raft.IsLocalMsgTarget(id) {
		return nil, fmt.Errorf("%w: node id %d: raft keeps the two largest uint64 for itself", ErrInvalidCluster, id)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%w: no members: list every node of the new cluster as id=host:raft_port", ErrInvalidCluster)
	}
	members := slices.Clone(nodes)
	slices.SortFunc(members, func(a, b Node) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	addrs := map[string]uint64{}
	for i := range members {
		m := &members[i]
		m.Voter = true
		switch {
		case m.ID == 0:
			return nil, fmt.Errorf("%w: member id 0: ids start at 1", ErrInvalidCluster)
		case raft.IsLocalMsgTarget(m.ID):
			return nil, fmt.Errorf("%w: member id %d: raft keeps the two largest uint64 for itself", ErrInvalidCluster, m.ID)
		case i > 0 && m.ID == members[i-1].ID:
			return nil, fmt.Errorf("%w: member id %d is listed twice", ErrInvalidCluster, m.ID)
		case m.RaftAddress == "":
			return nil, fmt.Errorf("%w: member %d has no raft address", ErrInvalidCluster, m.ID)
		case !utf8.ValidString(m.RaftAddress) || !utf8.ValidString(m.GrpcAddress):
			return nil, fmt.Errorf("%w: member %d: address is not valid UTF-8", ErrInvalidCluster, m.ID)
		}
		if other, dup := addrs[m.RaftAddress]; dup {
			return nil, fmt.Errorf("%w: raft address %s is given to both %d and %d", ErrInvalidCluster, m.RaftAddress, other, m.ID)
		}
		addrs[m.RaftAddress] = m.ID
	}
	if !slices.ContainsFunc(members, func(m Node) bool { return m.ID == id }) {
		return nil, fmt.Errorf("%w: node id %d is not in the initial cluster; list it there too", ErrInvalidCluster, id)
	}
	return members, nil
}

// checkEmptyDir checks that dir is missing or an empty directory, and
// reports whether it is missing (Import then creates it).
func checkEmptyDir(dir string) (missing bool, err error) {
	if dir == "" {
		return false, errors.New("backup: no raft_dir given")
	}
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("backup: read %s: %w", dir, err)
	case len(entries) > 0:
		return false, fmt.Errorf("%w: %s holds %s; import only builds a new node directory: give a missing or empty one",
			ErrDirNotEmpty, dir, entries[0].Name())
	}
	return false, nil
}

// cleanup removes what a failed Import wrote: the directory if Import
// created it, else its contents (it was empty before).
func cleanup(dir string, created bool) {
	if created {
		_ = os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
