package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/metasrv/metasrv/internal/storage"
)

// repairJSON is the report printed by repair --output json.
type repairJSON struct {
	RaftDir       string      `json:"raft_dir"`
	Damage        string      `json:"damage,omitempty"`
	Torn          bool        `json:"torn"`
	Lost          bool        `json:"entries_lost"`
	LostUpTo      uint64      `json:"lost_up_to_index,omitempty"`
	OldFilesOnly  bool        `json:"old_files_only"`
	Truncated     string      `json:"truncated,omitempty"`
	TruncatedAt   int64       `json:"truncated_at,omitempty"`
	KeptCopy      string      `json:"kept_copy,omitempty"`
	Moved         [][2]string `json:"moved"`
	ID            uint64      `json:"id"`
	Peers         []uint64    `json:"peers"`
	SnapshotIndex uint64      `json:"snapshot_index"`
	LastIndex     uint64      `json:"last_index"`
	LastTerm      uint64      `json:"last_term"`
	Term          uint64      `json:"term"`
	Vote          uint64      `json:"vote"`
	Commit        uint64      `json:"commit"`
	Warning       string      `json:"warning,omitempty"`
	Error         string      `json:"error,omitempty"`
}

func newRepairCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repair --raft-dir D",
		Short: "Make a stopped node's damaged raft_dir start again, keeping its intact part",
		Long: `Repair the raft_dir of a stopped node that databend-meta refused to start
because its WAL or a snapshot file is damaged. It keeps what is intact:

  - the WAL is cut at its first damaged record (the original file is kept as
    *.wal.broken) and the WAL files after it are set aside (*.wal.broken);
    if the damage lies in WAL files wholly before an intact snapshot, those
    old files are set aside instead and nothing is lost;
  - damaged snapshot files, and snapshot files the WAL no longer records,
    are set aside (*.snap.broken).

Nothing is deleted. It prints what it found and changed, and what the node
now holds.

WARNING: the log entries after the damage are lost on this node, and so may
be the term and vote it recorded; they may have been acknowledged to clients.
That is safe only for a single node that accepts the loss, or if the node
then rejoins a cluster that still has them as a new node: a cluster member
must not start again under its old id with entries missing (raft stops it,
and a write it acknowledged could be lost). The report says which case
applies. Repairs that lose nothing (a torn write at the end, damaged WAL files
older than an intact snapshot, a damaged snapshot the log stands in for) are
safe to start from as before.

A raft_dir that cannot be repaired (nothing intact is left, or a damaged
snapshot the WAL cannot stand in for) is reported with exit status 1.`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("raft-dir", "", "the stopped node's raft_dir (required)")
	cmd.RunE = runE(func(cmd *cobra.Command) error {
		dir, err := requireString(cmd, "raft-dir")
		if err != nil {
			return err
		}
		rep, rerr := storage.Repair(dir, nil)
		out := cmd.OutOrStdout()
		if a.output == "json" {
			if err := writeJSON(out, newRepairJSON(dir, rep, rerr)); err != nil {
				return err
			}
			return rerr
		}
		if rep != nil {
			printRepair(out, dir, rep, rerr == nil)
		}
		if errors.Is(rerr, storage.ErrLocked) {
			return fmt.Errorf("%w (repair works on a stopped node only)", rerr)
		}
		return rerr
	})
	return cmd
}

// lostWarning says what a repair that dropped entries means for the node.
func lostWarning(rep *storage.RepairReport) string {
	if !rep.Lost {
		return ""
	}
	upTo := ""
	if rep.LostUpTo > rep.LastIndex {
		upTo = fmt.Sprintf(" up to index %d", rep.LostUpTo)
	}
	lost := fmt.Sprintf("the log entries after index %d%s are lost on this node (id %d), and its recorded term and vote may be older than they were; "+
		"clients may have seen those writes acknowledged. ", rep.LastIndex, upTo, rep.ID)
	if len(rep.Peers) > 0 {
		return lost + fmt.Sprintf("This node has been a member of a cluster with nodes %v: do not start it again under id %d. "+
			"The leader counts those entries as stored here: raft stops such a node (\"tocommit out of range\"), "+
			"and a write this node acknowledged may be lost after a change of leader. "+
			"This is safe only if the node rejoins a cluster that still has them, as a new node: "+
			"run `databend-meta --leave-id %d --leave-via HOST:RAFT_PORT` with the raft address of a running member, "+
			"then start this node with an empty raft_dir, a new id and join = [\"HOST:RAFT_PORT\"]",
			rep.Peers, rep.ID, rep.ID)
	}
	return lost + fmt.Sprintf("This node is a single-node cluster: started now, it serves the state as of index %d and those writes are gone, "+
		"unless you restore a backup with `databend-metactl import` instead. "+
		"If another cluster still has them, rejoin that cluster as a new node instead", rep.LastIndex)
}

func printRepair(w io.Writer, dir string, rep *storage.RepairReport, done bool) {
	switch {
	case rep.Damage != "":
		fmt.Fprintf(w, "damage: %s\n", rep.Damage)
	case done && !rep.Changed():
		fmt.Fprintf(w, "%s is intact: nothing to repair\n", dir)
	}
	if rep.Truncated != "" {
		fmt.Fprintf(w, "cut %s at offset %d (the original is kept as %s)\n", rep.Truncated, rep.TruncatedAt, rep.KeptCopy)
	}
	for _, m := range rep.Moved {
		fmt.Fprintf(w, "set aside %s as %s\n", m[0], m[1])
	}
	if !done {
		return
	}
	hs := rep.HardState
	fmt.Fprintf(w, "%s now holds node %d: snapshot at index %d, log up to index %d (term %d), term %d, vote %d, commit %d\n",
		dir, rep.ID, rep.SnapshotIndex, rep.LastIndex, rep.LastTerm, hs.GetTerm(), hs.GetVote(), hs.GetCommit())
	switch {
	case rep.Lost:
		fmt.Fprintf(w, "WARNING: %s\n", lostWarning(rep))
	case rep.Torn:
		fmt.Fprintln(w, "the WAL ended with a write cut short by a crash, which was never acknowledged: nothing acknowledged is lost")
	case rep.OldFilesOnly:
		fmt.Fprintf(w, "the damaged WAL files lay wholly before the snapshot at index %d: nothing is lost\n", rep.SnapshotIndex)
	}
}

func newRepairJSON(dir string, rep *storage.RepairReport, err error) repairJSON {
	j := repairJSON{RaftDir: dir, Moved: [][2]string{}}
	if err != nil {
		j.Error = err.Error()
	}
	if rep == nil {
		return j
	}
	j.Damage, j.Torn, j.Lost, j.LostUpTo, j.OldFilesOnly = rep.Damage, rep.Torn, rep.Lost, rep.LostUpTo, rep.OldFilesOnly
	j.Truncated, j.TruncatedAt, j.KeptCopy = rep.Truncated, rep.TruncatedAt, rep.KeptCopy
	if rep.Moved != nil {
		j.Moved = rep.Moved
	}
	if err == nil {
		j.SnapshotIndex, j.LastIndex, j.LastTerm = rep.SnapshotIndex, rep.LastIndex, rep.LastTerm
		j.Term, j.Vote, j.Commit = rep.HardState.GetTerm(), rep.HardState.GetVote(), rep.HardState.GetCommit()
		j.ID, j.Peers = rep.ID, rep.Peers
		j.Warning = lostWarning(rep)
	}
	return j
}
