package storage

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
)

// damagedError returns ErrCorrupt for raft_dir dir of node id, saying what
// is damaged and every way to recover, on one line (the server prints it as
// its only output before exiting).
func damagedError(dir string, id uint64, what string) error {
	return fmt.Errorf("%w: %s; the node cannot start without losing writes it has acknowledged. "+
		"To recover, do one of: "+
		"(1) rejoin the cluster as a new node: run `databend-meta --leave-id %d --leave-via HOST:RAFT_PORT` "+
		"with the raft address of a running member, then remove %s and start this node with an empty raft_dir, a new id and join = [\"HOST:RAFT_PORT\"]; "+
		"(2) restore a backup into an empty raft_dir with `databend-metactl import`; "+
		"(3) run `databend-metactl repair --raft-dir %s`, which keeps the intact part, sets the damaged files aside and says what is lost: "+
		"the entries after the damage are then lost on this node, which is safe only if it then rejoins a cluster that still has them "+
		"(as a new node, as in 1), or if it is a single node whose writes after the damage may go",
		ErrCorrupt, what, id, dir, dir)
}

// walDamageText describes damage found by scanWAL that is not a torn write.
func walDamageText(sc *walScan, d *walDamage) string {
	why := "it is in the middle of the log"
	switch {
	case d.Later >= 0:
		why = fmt.Sprintf("an intact record follows at offset %d, so it is not a write cut short by a crash", d.Later)
	case d.FileIndex < len(sc.Files)-1:
		why = fmt.Sprintf("%d newer WAL files follow it, so it is not a write cut short by a crash", len(sc.Files)-1-d.FileIndex)
	case d.inHead:
		why = "it is in the head of the file, which is written before the file is used"
	case !errors.Is(d.Err, errStrayBytes):
		why = "the record is complete but does not match its checksum: the data changed on disk after it was written"
	}
	return fmt.Sprintf("%v: %s", d, why)
}

// skippedSnap is a snapshot recorded in the WAL, newer than the one loaded,
// whose file is damaged or missing.
type skippedSnap struct {
	Name        string // the file name in snap/
	Index, Term uint64
	Err         error // why it was skipped
}

func snapFileName(term, index uint64) string {
	return fmt.Sprintf("%016x-%016x.snap", term, index)
}

// pickSnapshot returns the newest snapshot recorded in the WAL (walSnaps)
// whose file in snapDir reads back intact (read through once, streaming;
// the returned snapshot's Data refers to the file), or an empty snapshot when that
// is the WAL's start (index 0); and the newer recorded snapshots it passed
// over because their files are damaged or missing, newest first. It reads
// only. (Older recorded snapshots whose files were purged are only reached
// when every newer one is unusable.)
func pickSnapshot(fsys vfs, snapDir string, walSnaps []*walpb.Snapshot) (*raftpb.Snapshot, []skippedSnap, error) {
	byIndex := slices.Clone(walSnaps)
	slices.SortStableFunc(byIndex, func(a, b *walpb.Snapshot) int {
		return -cmpUint64(a.GetIndex(), b.GetIndex())
	})
	var skipped []skippedSnap
	for _, ws := range byIndex {
		index, term := ws.GetIndex(), ws.GetTerm()
		if index == 0 {
			return &raftpb.Snapshot{}, skipped, nil
		}
		name := snapFileName(term, index)
		hdr, err := readSnapFile(fsys, filepath.Join(snapDir, name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			skipped = append(skipped, skippedSnap{Name: name, Index: index, Term: term, Err: errors.New("the file is missing")})
			continue
		case errors.Is(err, errBadSnapFile):
			skipped = append(skipped, skippedSnap{Name: name, Index: index, Term: term, Err: err})
			continue
		case err != nil:
			// Not what the file holds but reading it: the file may well
			// be intact, so it must not be passed over and set aside.
			return nil, nil, fmt.Errorf("storage: read snapshot %s: %w", filepath.Join(snapDir, name), err)
		}
		if hdr.Index != index || hdr.Term != term {
			skipped = append(skipped, skippedSnap{Name: name, Index: index, Term: term,
				Err: fmt.Errorf("it holds the snapshot at index %d term %d instead", hdr.Index, hdr.Term)})
			continue
		}
		sn := &raftpb.Snapshot{
			Metadata: &raftpb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: hdr.ConfState},
			Data:     snapRef(name),
		}
		return sn, skipped, nil
	}
	// No snapshot record at all (the WAL's first file, which records
	// index 0, was purged and no later snapshot is readable).
	return &raftpb.Snapshot{}, skipped, nil
}

func cmpUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkFallback checks that the log replayed from an older snapshot can
// stand in for the newer snapshots passed over: for each, the WAL entries
// read after the loaded snapshot must hold the entry at its index with its
// term. Then, by raft's log matching, every entry up to it is the one the
// snapshot covers. Without it (a snapshot installed from the leader skips
// entries this node never had, and entries it had may be ones the leader
// overwrote) replaying would build a different state. It returns a
// description of the first snapshot that cannot be stood in for, or "".
func checkFallback(loaded *raftpb.Snapshot, ents []*raftpb.Entry, skipped []skippedSnap) string {
	from := loaded.GetMetadata().GetIndex()
	for _, sk := range skipped {
		i := sk.Index - from - 1 // ents[0] is the entry at from+1
		if sk.Index <= from || i >= uint64(len(ents)) || ents[i].GetIndex() != sk.Index || ents[i].GetTerm() != sk.Term {
			return fmt.Sprintf("snapshot file %s is unusable (%v) and the WAL cannot stand in for it: replaying from %s does not reach its entry %d at term %d",
				filepath.Join(snapDirName, sk.Name), sk.Err, describeSnap(loaded), sk.Index, sk.Term)
		}
	}
	return ""
}

func describeSnap(sn *raftpb.Snapshot) string {
	if sn.GetMetadata().GetIndex() == 0 {
		return "the start of the log"
	}
	return fmt.Sprintf("the older snapshot %s", filepath.Join(snapDirName, snapFileName(sn.GetMetadata().GetTerm(), sn.GetMetadata().GetIndex())))
}

// truncateWAL cuts WAL file p at off, after copying it whole to a new file
// beside it (p.broken, or p.broken.N) for inspection. It returns the
// copy's name. Both files and the directory are synced.
func truncateWAL(p string, off int64) (string, error) {
	to := brokenName(osFS{}, p)
	src, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(dst, src)
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(to)
		return "", err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	err = f.Truncate(off)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return to, osFS{}.SyncDir(filepath.Dir(p))
}

// brokenName returns p.broken, or p.broken.N if that exists.
func brokenName(fsys vfs, p string) string {
	to := p + ".broken"
	for n := 1; ; n++ {
		if _, err := fsys.Stat(to); errors.Is(err, os.ErrNotExist) {
			return to
		}
		to = fmt.Sprintf("%s.broken.%d", p, n)
	}
}

// setAside renames p to p.broken (or p.broken.N if that exists), keeping it
// for inspection where nothing reads it, and syncs its directory. It
// returns the new name.
func setAside(fsys vfs, p string) (string, error) {
	to := brokenName(fsys, p)
	if err := fsys.Rename(p, to); err != nil {
		return "", err
	}
	return to, fsys.SyncDir(filepath.Dir(p))
}

// isIOError reports whether err comes from the operating system (a failed
// open, read or write: permissions, I/O errors, a full disk) rather than
// from what the files hold.
func isIOError(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno)
}

// diskError marks an error from writing raft_dir that comes from a full
// disk (ENOSPC) with ErrDiskFull, naming raft_dir and what to do; other
// errors are returned as they are.
func diskError(dir string, err error) error {
	if err == nil || !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrDiskFull) {
		return err
	}
	return fmt.Errorf("%w %s: %w; free space on that file system and start the node again: every write it acknowledged is on disk",
		ErrDiskFull, dir, err)
}
