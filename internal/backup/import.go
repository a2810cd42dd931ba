package backup

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/internal/statemachine"
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
	// ID is the new node's id; it must be one of the members. 0 takes
	// the id of the node a Databend dump was taken from (its NodeId);
	// metasrv dumps name none.
	ID uint64
	// ClusterName is the new cluster's name; "" takes the dump's, and
	// DefaultClusterName when the dump names none (Databend's dumps). The
	// node's configuration must use the same.
	ClusterName        string
	DefaultClusterName string
	// InitialCluster lists every node of the new cluster, each with its
	// id and raft address; all of them become voters. GrpcAddress may be
	// empty (see Import). Give every node the same list. Empty: the
	// dump's members are kept, voters and learners (a metasrv dump's
	// header nodes; a Databend dump's Nodes table, the voters of its last
	// membership).
	InitialCluster []Node
	// Logger may be nil.
	Logger *slog.Logger
}

// ImportResult describes what Import wrote.
type ImportResult struct {
	ClusterName string
	// ID is the node's id.
	ID uint64
	// Format is the dump's: "metasrv" or "databend V004" (its data
	// version).
	Format string
	// Keys and LastSeq are the restored state's; the new cluster's next
	// write takes seq LastSeq + 1.
	Keys, LastSeq uint64
	// Index and Term are the raft snapshot's: ImportIndex and ImportTerm
	// for a metasrv dump, the last applied log id of a Databend dump.
	Index, Term uint64
	// Voters and Learners are the ids of the new cluster.
	Voters, Learners []uint64
	// LogEntries is the number of raft log entries a Databend dump holds:
	// all already in its state machine, so none is imported.
	LogEntries int
}

// importedDump is a dump read for Import: its format, what it says of the
// cluster, the state around its keys and the keys.
type importedDump struct {
	format      string
	clusterName string
	// nodeID is the node the dump was taken from, 0 when unknown.
	nodeID  uint64
	members []Node
	state   stateHeader
	term    uint64
	keys    keySource
	// lastSeq returns the state's last seq once keys is read.
	lastSeq    func() uint64
	logEntries int
}

// Import builds the raft_dir of one node of a new cluster whose state is
// the dump read from r, so that the new cluster starts with exactly the
// exported keys, seqs, expiries and last seq. The dump is a metasrv dump
// (see the package doc) or a databend-metactl export (data version V002,
// V003 or V004: its state_machine section; see docs/DATABEND.md and
// databend.go for what is kept); the first line tells which. Run it once
// per node, with the same dump and InitialCluster, then start every node
// with plain databend-meta: its raft_dir is bootstrapped, so single and
// join are ignored, and the nodes elect a leader among the voters.
//
// The directory gets:
//   - a WAL with metadata {"id":ID,"cluster_name":...};
//   - a raft snapshot whose ConfState has the voters and learners of the
//     members and whose data is the state machine snapshot of the dump
//     with the member table = the members (their last change at the log
//     id of a Databend dump's LastMembership when its members are kept,
//     else at the snapshot's log id, as databend-metactl import
//     --initial-cluster records it): at index ImportIndex, term
//     ImportTerm for a metasrv dump; at the last applied log id of a
//     Databend dump, so that the log goes on from its index;
//   - the hard state {term: the snapshot's, vote: none, commit: its index}.
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
	if len(cfg.InitialCluster) > 0 {
		if _, err := checkMembers(cfg.ID, cfg.InitialCluster, true); err != nil {
			return nil, err
		}
	}
	created, err := checkEmptyDir(cfg.Dir)
	if err != nil {
		return nil, err
	}

	dump, err := readImport(r)
	if err != nil {
		return nil, err
	}
	id, members := cfg.ID, cfg.InitialCluster
	if len(members) == 0 {
		if id == 0 {
			id = dump.nodeID
		}
		if id == 0 {
			return nil, fmt.Errorf("%w: the dump does not say which node it was taken from: give the node's id", ErrInvalidCluster)
		}
		if len(dump.members) == 0 {
			return nil, fmt.Errorf("%w: the dump lists no members: give the initial cluster", ErrInvalidCluster)
		}
		members = dump.members
	} else {
		// The new cluster's members, set where its log starts (as
		// databend-metactl import --initial-cluster records them).
		dump.state.membership = statemachine.LogID{Index: dump.state.index, Term: dump.term}
	}
	members, err = checkMembers(id, members, len(cfg.InitialCluster) > 0)
	if err != nil {
		return nil, err
	}
	name := cmp.Or(cfg.ClusterName, dump.clusterName, cfg.DefaultClusterName)
	if name == "" {
		return nil, errors.New("backup: the dump names no cluster; give a cluster name")
	}
	var data bytes.Buffer
	keys, err := encodeState(&data, dump.state, members, dump.keys)
	if err != nil {
		return nil, err
	}

	res := &ImportResult{
		ClusterName: name, ID: id, Format: dump.format,
		Keys: keys, LastSeq: dump.lastSeq(),
		Index: dump.state.index, Term: dump.term,
		LogEntries: dump.logEntries,
	}
	cs := &raftpb.ConfState{}
	for _, m := range members {
		if m.Voter {
			res.Voters = append(res.Voters, m.ID)
		} else {
			res.Learners = append(res.Learners, m.ID)
		}
	}
	cs.Voters, cs.Learners = res.Voters, res.Learners
	snap := &raftpb.Snapshot{
		Data: data.Bytes(),
		Metadata: &raftpb.SnapshotMetadata{
			Index:     proto.Uint64(res.Index),
			Term:      proto.Uint64(res.Term),
			ConfState: cs,
		},
	}
	hs := &raftpb.HardState{Term: proto.Uint64(res.Term), Commit: proto.Uint64(res.Index)}
	if err := writeNodeDir(cfg.Dir, id, name, hs, snap, lg); err != nil {
		cleanup(cfg.Dir, created)
		return nil, err
	}
	return res, nil
}

// readImport reads the start of a dump and returns it for Import: a
// Databend dump is read whole (its keys need sorting and checking against
// its expiry index), a metasrv dump as its keys are encoded.
func readImport(r io.Reader) (*importedDump, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.Peek(1)
	if err == io.EOF {
		return nil, &LineError{Msg: "empty input: no header line; is this a dump?"}
	}
	if err != nil {
		return nil, err
	}
	if first[0] == '[' {
		d, err := readDatabendDump(br)
		if err != nil {
			return nil, err
		}
		members, err := d.members()
		if err != nil {
			return nil, err
		}
		index, term := uint64(ImportIndex), uint64(ImportTerm)
		if d.lastApplied != nil && d.lastApplied.Index > 0 {
			index, term = d.lastApplied.Index, max(d.lastApplied.LeaderID.Term, 1)
		}
		state := stateHeader{index: index, lastSeq: d.lastSeq, clockMs: d.clockMs(), membership: d.membershipLogID()}
		return &importedDump{
			format:     "databend " + string(d.version),
			nodeID:     d.nodeID,
			members:    members,
			state:      state,
			term:       term,
			keys:       d.keys(),
			lastSeq:    func() uint64 { return d.lastSeq },
			logEntries: len(d.entries),
		}, nil
	}
	rd, err := NewReader(br)
	if err != nil {
		return nil, err
	}
	h := rd.Header()
	return &importedDump{
		format:      "metasrv",
		clusterName: h.ClusterName,
		members:     h.Nodes,
		// A metasrv dump keeps no log ids: its members are taken to be
		// set where the new log starts.
		state: stateHeader{index: ImportIndex, lastSeq: h.LastSeq, clockMs: h.ClockMs,
			membership: statemachine.LogID{Index: ImportIndex, Term: ImportTerm}},
		term:    ImportTerm,
		keys:    rd,
		lastSeq: func() uint64 { return h.LastSeq },
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

// checkMembers validates the members and returns them sorted by id, all
// voters when allVoters (an initial cluster), else as they are (at least
// one voter).
func checkMembers(id uint64, nodes []Node, allVoters bool) ([]Node, error) {
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
		if allVoters {
			m.Voter = true
		}
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
		if allVoters {
			return nil, fmt.Errorf("%w: node id %d is not in the initial cluster; list it there too", ErrInvalidCluster, id)
		}
		return nil, fmt.Errorf("%w: node id %d is not a member of the dump's cluster (%s): give one of them, or an initial cluster", ErrInvalidCluster, id, memberIDs(members))
	}
	if !slices.ContainsFunc(members, func(m Node) bool { return m.Voter }) {
		return nil, fmt.Errorf("%w: no voter among the members: give an initial cluster", ErrInvalidCluster)
	}
	return members, nil
}

func memberIDs(members []Node) string {
	ids := make([]string, len(members))
	for i, m := range members {
		ids[i] = strconv.FormatUint(m.ID, 10)
	}
	return strings.Join(ids, ", ")
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
