package storage

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// RepairReport says what Repair found and changed in a raft_dir.
type RepairReport struct {
	// Damage describes the damage found in the WAL; "" if it read cleanly.
	Damage string
	// Torn: the damage was only a write cut short by a crash, never
	// acknowledged; nothing that was acknowledged is lost.
	Torn bool
	// Lost: entries after the damage are gone from this node (they may
	// have been acknowledged). LostUpTo is the highest entry index found
	// in the dropped bytes, 0 if none could be read.
	Lost     bool
	LostUpTo uint64
	// OldFilesOnly: the damage was in WAL files wholly before a snapshot
	// that is intact; those files were set aside and nothing is lost.
	OldFilesOnly bool

	// Truncated is the WAL file cut at TruncatedAt; its original is kept
	// as KeptCopy.
	Truncated   string
	TruncatedAt int64
	KeptCopy    string
	// Moved lists the files renamed aside, each as [from, to]: later WAL
	// files, damaged snapshot files, and snapshot files the repaired WAL
	// no longer records.
	Moved [][2]string

	// What raft_dir holds now, as the node will load it. ID is the node's
	// id; Peers are the other nodes its snapshot and log name as members
	// (at any time): if there are any, the node belongs to a cluster.
	ID                          uint64
	Peers                       []uint64
	SnapshotIndex, SnapshotTerm uint64
	LastIndex, LastTerm         uint64
	HardState                   *raftpb.HardState
}

// Changed reports whether Repair changed anything on disk.
func (r *RepairReport) Changed() bool { return r.Truncated != "" || len(r.Moved) > 0 }

// Repair makes the raft_dir (dir) of a stopped node loadable again by
// keeping what is intact: it cuts the WAL at its first damaged record and
// sets aside the WAL files after it (or, when the damage lies in WAL files
// wholly before an intact snapshot, sets aside those old files instead and
// loses nothing), sets aside damaged snapshot files and snapshot files the
// WAL no longer records, and then checks that the directory loads as Open
// would load it. Nothing is deleted: a cut file is copied to *.broken
// first and set-aside files are renamed *.broken (or *.broken.N).
//
// Entries after the damage are lost on this node, and so may be the term
// and vote it had recorded. The report says whether anything was lost.
// Losing entries is safe only for a single node that accepts the loss, or
// for a node that then rejoins a cluster holding them as a new node (a new
// id, an empty raft_dir): a cluster member must not come back under its
// old id with entries missing. The leader counts them as stored on it
// (raft stops such a follower: "tocommit out of range"), and a quorum that
// counted its acknowledgement may no longer hold a write.
//
// Errors: ErrNotRaftDir, ErrLocked (the node is running), ErrCorrupt when
// nothing usable is left (no intact WAL record, or a damaged snapshot the
// WAL cannot stand in for: remove raft_dir and rejoin, or import a
// backup), or an I/O error. The report is returned with the error, saying
// what was changed before it. lg may be nil.
func Repair(dir string, lg *slog.Logger) (*RepairReport, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	zlg := newZapLogger(lg)
	walDir := filepath.Join(dir, walDirName)
	snapDir := filepath.Join(dir, snapDirName)
	if !wal.Exist(walDir) {
		return nil, fmt.Errorf("%w: %s holds no WAL files; give the raft_dir of a node that has run", ErrNotRaftDir, dir)
	}
	lock, err := lockReadOnly(dir)
	if err != nil {
		return nil, err
	}
	if lock != nil {
		defer lock.Close()
	}

	rep := &RepairReport{}
	sc, err := scanWAL(walDir)
	if err != nil {
		return nil, fmt.Errorf("storage: read WAL in %s: %w", walDir, err)
	}
	if d := sc.Damage; d != nil {
		rep.Damage = walDamageText(sc, d)
		rep.Torn = d.Torn
		if d.Torn {
			rep.Damage = fmt.Sprintf("%v: a write cut short by a crash, never acknowledged", d)
		}
		if err := repairWAL(walDir, snapDir, sc, rep, zlg); err != nil {
			return rep, err
		}
	}

	// Snapshots: set aside every snap file that is damaged, or that the
	// WAL does not record (it was cut away, or a crash came between the
	// file and its record), once the WAL is known to stand in for it.
	walSnaps, err := wal.ValidSnapshotEntries(zlg, walDir)
	if err != nil {
		return rep, fmt.Errorf("%w: after repair, the WAL's snapshot records are unreadable: %v", ErrCorrupt, err)
	}
	loaded, skipped, err := pickSnapshot(osFS{}, snapDir, walSnaps)
	if err != nil {
		return rep, err
	}
	ro, err := replay(dir, loaded, zlg)
	if err != nil {
		return rep, fmt.Errorf("%w: after repair, the WAL cannot be replayed from %s: %v; remove raft_dir and rejoin the cluster as a new node, or import a backup",
			ErrCorrupt, describeSnap(loaded), err)
	}
	if msg := checkFallback(loaded, ro.Entries, skipped); msg != "" {
		return rep, fmt.Errorf("%w: %s; repair cannot fix this: remove raft_dir and rejoin the cluster as a new node, or import a backup", ErrCorrupt, msg)
	}
	recorded := map[string]bool{}
	for _, ws := range walSnaps {
		recorded[snapFileName(ws.GetTerm(), ws.GetIndex())] = true
	}
	names, err := listExt(osFS{}, snapDir, ".snap")
	if err != nil {
		return rep, err
	}
	for _, name := range names {
		p := filepath.Join(snapDir, name)
		keep := recorded[name]
		if keep {
			_, rerr := readSnapFile(osFS{}, p)
			keep = rerr == nil
		}
		if keep {
			continue
		}
		to, err := setAside(osFS{}, p)
		if err != nil {
			return rep, err
		}
		rep.Moved = append(rep.Moved, [2]string{p, to})
	}

	// Load it as the node will.
	ro, err = readDir(dir, zlg)
	if err != nil {
		return rep, fmt.Errorf("after repair: %w", err)
	}
	rep.SnapshotIndex, rep.SnapshotTerm = ro.Snapshot.GetMetadata().GetIndex(), ro.Snapshot.GetMetadata().GetTerm()
	rep.LastIndex, rep.LastTerm = rep.SnapshotIndex, rep.SnapshotTerm
	if n := len(ro.Entries); n > 0 {
		rep.LastIndex, rep.LastTerm = ro.Entries[n-1].GetIndex(), ro.Entries[n-1].GetTerm()
	}
	rep.HardState = ro.HardState
	rep.ID = ro.ID
	rep.Peers = peers(ro)
	lg.Info("repaired raft_dir", "dir", dir, "damage", rep.Damage, "moved", len(rep.Moved), "truncated", rep.Truncated)
	return rep, nil
}

// repairWAL removes the damage sc found from the WAL, recording what it
// did in rep.
func repairWAL(walDir, snapDir string, sc *walScan, rep *RepairReport, zlg *zap.Logger) error {
	d := sc.Damage
	if !d.Torn && d.FileIndex < len(sc.Files)-1 {
		ok, err := dropOldFiles(walDir, snapDir, sc, rep, zlg)
		if ok || err != nil {
			return err
		}
	}
	cutFrom := d.FileIndex // the first file set aside whole
	if d.Offset > 0 && !d.inHead {
		p := filepath.Join(walDir, d.File)
		rep.LostUpTo = max(rep.LostUpTo, highestEntryFrom(p, d.Offset))
		kept, err := truncateWAL(p, d.Offset)
		if err != nil {
			return fmt.Errorf("storage: cut %s at offset %d: %w", p, d.Offset, err)
		}
		rep.Truncated, rep.TruncatedAt, rep.KeptCopy = p, d.Offset, kept
		cutFrom++
	} else if d.FileIndex == 0 {
		return fmt.Errorf("%w: %s: no intact WAL record is left; remove raft_dir and rejoin the cluster as a new node, or import a backup",
			ErrCorrupt, walDamageText(sc, d))
	}
	for _, name := range sc.Files[cutFrom:] {
		p := filepath.Join(walDir, name)
		rep.LostUpTo = max(rep.LostUpTo, highestEntryFrom(p, 0))
		to, err := setAside(osFS{}, p)
		if err != nil {
			return err
		}
		rep.Moved = append(rep.Moved, [2]string{p, to})
	}
	rep.Lost = !d.Torn
	return nil
}

// dropOldFiles handles damage in a WAL file that is not the newest: if the
// files after it read cleanly (or end torn) and record an intact snapshot
// from which the WAL can be replayed without the damaged file, it sets
// aside the damaged file and every older one, and reports true.
func dropOldFiles(walDir, snapDir string, sc *walScan, rep *RepairReport, zlg *zap.Logger) (bool, error) {
	d := sc.Damage
	rest, err := scanWALFiles(walDir, sc.Files[d.FileIndex+1:])
	if err != nil {
		return false, err
	}
	if rest.Damage != nil && !rest.Damage.Torn {
		return false, nil
	}
	// The newest committed snapshot recorded after the damage.
	var newest *scannedSnap
	for i := range rest.Snapshots {
		if s := &rest.Snapshots[i]; s.Index <= rest.HardState.GetCommit() && s.Index > 0 {
			newest = s
		}
	}
	if newest == nil {
		return false, nil
	}
	hdr, err := readSnapFile(osFS{}, filepath.Join(snapDir, snapFileName(newest.Term, newest.Index)))
	if err != nil || hdr.Index != newest.Index || hdr.Term != newest.Term {
		return false, nil
	}
	// wal.Open starts at the last file whose first index is at or below
	// the snapshot's: it must come after the damaged file.
	start := -1
	for i, name := range sc.Files {
		if _, first, err := parseWALName(name); err == nil && first <= newest.Index {
			start = i
		}
	}
	if start <= d.FileIndex {
		return false, nil
	}
	if rd := rest.Damage; rd != nil { // torn end of the newest file
		p := filepath.Join(walDir, rd.File)
		kept, err := truncateWAL(p, rd.Offset)
		if err != nil {
			return true, fmt.Errorf("storage: cut %s at offset %d: %w", p, rd.Offset, err)
		}
		rep.Truncated, rep.TruncatedAt, rep.KeptCopy = p, rd.Offset, kept
	}
	for _, name := range sc.Files[:d.FileIndex+1] {
		p := filepath.Join(walDir, name)
		to, err := setAside(osFS{}, p)
		if err != nil {
			return true, err
		}
		rep.Moved = append(rep.Moved, [2]string{p, to})
	}
	rep.OldFilesOnly = true
	return true, nil
}

// highestEntryFrom returns the highest index of the entry records that
// parse in WAL file p from offset off on (best effort: damaged bytes are
// skipped, and entries a later leader overwrote count too).
func highestEntryFrom(p string, off int64) uint64 {
	b, err := os.ReadFile(p)
	if err != nil || off >= int64(len(b)) {
		return 0
	}
	b = b[off:]
	var top uint64
	for q := int((walFrameBytes - off%walFrameBytes) % walFrameBytes); q+walFrameBytes <= len(b); q += walFrameBytes {
		rec, _, ok := parseRecord(b, q)
		if !ok || rec.GetType() != wal.EntryType {
			continue
		}
		var e raftpb.Entry
		if proto.Unmarshal(rec.GetData(), &e) == nil {
			top = max(top, e.GetIndex())
		}
	}
	return top
}

// replay reads the WAL of dir from snapshot sn, as readDir does.
func replay(dir string, sn *raftpb.Snapshot, zlg *zap.Logger) (*ReadOnly, error) {
	w, err := wal.OpenForRead(zlg, filepath.Join(dir, walDirName), walSnapshot(sn.GetMetadata()))
	if err != nil {
		return nil, err
	}
	defer w.Close()
	_, hs, ents, err := w.ReadAll()
	if err != nil {
		return nil, err
	}
	return &ReadOnly{Snapshot: sn, HardState: hs, Entries: ents}, nil
}

// peers returns the ids of the nodes other than ro.ID that ro's snapshot
// and log name as members, sorted.
func peers(ro *ReadOnly) []uint64 {
	seen := map[uint64]bool{}
	cs := ro.Snapshot.GetMetadata().GetConfState()
	for _, ids := range [][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()} {
		for _, id := range ids {
			seen[id] = true
		}
	}
	for _, e := range ro.Entries {
		switch e.GetType() {
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if proto.Unmarshal(e.GetData(), &cc) == nil {
				seen[cc.GetNodeId()] = true
			}
		case raftpb.EntryConfChangeV2:
			var cc raftpb.ConfChangeV2
			if proto.Unmarshal(e.GetData(), &cc) == nil {
				for _, c := range cc.GetChanges() {
					seen[c.GetNodeId()] = true
				}
			}
		}
	}
	delete(seen, ro.ID)
	delete(seen, 0)
	return slices.Sorted(maps.Keys(seen))
}
