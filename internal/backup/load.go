package backup

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/storage"
)

// ExportStateMachine writes the dump of sm's current state to w: an O(1)
// copy taken at once, written without holding any lock while sm goes on
// applying. exportedAtMs is the caller's wall clock (Unix ms).
//
// The header's clock is read just before the copy is taken: the state
// machine's clock only grows, so it is at most the copy's own clock, and a
// restored cluster's clock starts no later than the exported one's. The
// header's nodes are read just after it (informational; a membership change
// in between may show).
func ExportStateMachine(w io.Writer, sm *statemachine.StateMachine, clusterName string, exportedAtMs uint64) error {
	clock := sm.NowMs()
	view := sm.View()
	h := Header{
		ClusterName:  clusterName,
		ExportedAtMs: exportedAtMs,
		ClockMs:      clock,
		Nodes:        NodesFromProto(sm.Nodes()),
	}
	return Export(w, h, view)
}

// Loaded is the state held in the raft_dir of a stopped node.
type Loaded struct {
	// ID and ClusterName are the node's, from its WAL metadata.
	ID          uint64
	ClusterName string
	// SM holds the newest snapshot with the committed WAL entries after it
	// applied: the state this node would serve on restart once it has
	// applied what it knows to be committed.
	SM *statemachine.StateMachine
	// Commit is the commit index recorded in the WAL (lazily synced, so it
	// may lag what the cluster had committed).
	Commit uint64
	// AppliedTerm is the raft term of the entry at SM.AppliedIndex() (0
	// when nothing is applied).
	AppliedTerm uint64
}

// TermOf returns the term of the entry at index when it is the applied
// one, else 0: what ExportDatabend asks.
func (l *Loaded) TermOf(index uint64) uint64 {
	if index == l.SM.AppliedIndex() {
		return l.AppliedTerm
	}
	return 0
}

// LoadDir rebuilds the state machine of the stopped node whose raft_dir is
// dir, reading it read-only (storage.OpenReadOnly): the newest snapshot,
// then the WAL entries after it up to the recorded commit index, applied
// as the server applies them. A directory in use by a running node is
// refused (storage.ErrLocked). lg may be nil.
func LoadDir(dir string, lg *slog.Logger) (*Loaded, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	ro, err := storage.OpenReadOnly(dir, lg)
	if err != nil {
		return nil, err
	}
	defer ro.Close()

	sm := statemachine.New()
	var term uint64
	if !raft.IsEmptySnap(ro.Snapshot) {
		term = ro.Snapshot.GetMetadata().GetTerm()
		rc, err := ro.OpenSnapshotData()
		if err == nil {
			err = sm.Restore(rc)
			rc.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("backup: restore snapshot at index %d of %s: %w",
				ro.Snapshot.GetMetadata().GetIndex(), dir, err)
		}
	}
	commit := ro.HardState.GetCommit()
	for _, e := range ro.Entries {
		if e.GetIndex() > commit {
			break // not known to be committed
		}
		if e.GetIndex() <= sm.AppliedIndex() {
			continue
		}
		if err := applyEntry(sm, e, lg); err != nil {
			return nil, fmt.Errorf("backup: replay %s: %w", dir, err)
		}
		term = e.GetTerm()
	}
	return &Loaded{ID: ro.ID, ClusterName: ro.ClusterName, SM: sm, Commit: commit, AppliedTerm: term}, nil
}

// applyEntry applies one committed entry as internal/server's apply loop
// does.
func applyEntry(sm *statemachine.StateMachine, e *raftpb.Entry, lg *slog.Logger) error {
	switch e.GetType() {
	case raftpb.EntryNormal:
		if len(e.GetData()) == 0 {
			sm.ApplyEmpty(e.GetIndex())
			return nil
		}
		timeMs, cmd, err := statemachine.DecodeEntry(e.GetData())
		if errors.Is(err, statemachine.ErrUnknownEntryVersion) {
			return fmt.Errorf("log entry %d was written by a newer metasrv; use a matching databend-metactl: %w", e.GetIndex(), err)
		}
		if err != nil {
			// The server skips it too (deterministically, on every node).
			lg.Warn("skipping undecodable log entry", "index", e.GetIndex(), "err", err)
			sm.ApplyEmpty(e.GetIndex())
			return nil
		}
		sm.Apply(e.GetIndex(), timeMs, cmd)
		return nil
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
		}
		return confChangeErr(sm.ApplyConfChange(e.GetIndex(), e.GetTerm(), cc.AsV2()), lg)
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("decode conf change at index %d: %w", e.GetIndex(), err)
		}
		return confChangeErr(sm.ApplyConfChange(e.GetIndex(), e.GetTerm(), &cc), lg)
	default:
		return fmt.Errorf("log entry %d has unknown type %v", e.GetIndex(), e.GetType())
	}
}

// confChangeErr keeps going past an undecodable context, as the server
// does; the member table then keeps its addresses.
func confChangeErr(err error, lg *slog.Logger) error {
	if errors.Is(err, statemachine.ErrInvalidConfChange) {
		lg.Warn("conf change context undecodable; member addresses unchanged", "err", err)
		return nil
	}
	return err
}
