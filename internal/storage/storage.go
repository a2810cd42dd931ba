package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

const (
	walDirName  = "wal"
	snapDirName = "snap"
	// keepSnapFiles is how many snap files a purge keeps. The older one is a
	// fallback if the newest turns out unreadable on the next start.
	keepSnapFiles = 2
)

// Storage is the durable raft log of one node: an etcd WAL and snap
// directory on disk, mirrored in a raft.MemoryStorage that raft reads.
//
// The snapshots it holds and hands to raft (Snapshot, LoadedSnapshot)
// keep the state machine's data in their file: their Data is a short
// reference to it. Read the data with OpenSnapshotData; the transport
// streams the file with OpenSnapshot and ReceiveSnapshot.
//
// Goroutines: Save is called by one goroutine (raftnode's append
// goroutine); CreateSnapshot may run at the same time from one background
// goroutine (a snapshot goroutine of the server, one at a time); raft
// reads the MemoryStorage methods from raftnode's Ready loop meanwhile;
// the transport calls OpenSnapshot and ReceiveSnapshot, and anything may
// call the accessors and WALSize, from any goroutine. Close waits for a
// running CreateSnapshot.
type Storage struct {
	*raft.MemoryStorage

	dir     string
	walDir  string
	snapDir string
	lg      *slog.Logger
	zlg     *zap.Logger
	fs      vfs
	// walFault, if not nil, is called around every WAL write (tests).
	walFault walFault

	// Loaded by Open, read-only afterwards.
	loadedSnap   *raftpb.Snapshot
	loadedHS     *raftpb.HardState
	bootstrapped bool

	// createMu serializes CreateSnapshot and lets Close wait for it. It is
	// taken before mu.
	createMu sync.Mutex

	// mu guards the WAL, which Save and CreateSnapshot both write.
	mu struct {
		sync.Mutex
		wal    walLog
		lock   *dirLock
		closed bool
	}

	// snapSize is the size of the newest snapshot's file.
	snapSize atomic.Int64
}

// Open locks raft_dir (dir), creating it and its wal/ and snap/
// subdirectories if needed, and loads what it holds into a MemoryStorage:
// the newest snapshot that the WAL knows of, then the hard state and the
// entries the WAL holds after it.
//
// If dir holds no WAL, a new one is created with metadata
// {"id":id,"cluster_name":clusterName}; Bootstrapped then reports false.
// If it holds one, its metadata must match id and clusterName, else Open
// returns ErrIDMismatch or ErrClusterMismatch and changes nothing on disk.
// A WAL whose last record is torn (a crash during a write) is repaired by
// truncating that record, as etcd does; the original file is kept beside
// it as *.wal.broken.
//
// Before anything is written, the whole WAL is read and checked
// (scanWAL): damage other than a torn last write is refused with
// ErrCorrupt, whose message names the damaged file and how to recover. If
// the newest snapshot file is damaged or missing, the newest older one is
// loaded instead only if the WAL replays the log from it through the
// skipped snapshot's own entry (checkFallback); the damaged file is then
// renamed *.snap.broken. Otherwise that too is ErrCorrupt.
//
// Errors: ErrLocked, ErrIDMismatch, ErrClusterMismatch, ErrCorrupt,
// ErrDiskFull (all wrapped), or an I/O error. lg may be nil.
func Open(dir string, id uint64, clusterName string, lg *slog.Logger) (*Storage, error) {
	return open(dir, id, clusterName, lg, osFS{}, nil)
}

// open is Open on the file system fsys, with walFault (if not nil) called
// around every WAL write.
func open(dir string, id uint64, clusterName string, lg *slog.Logger, fsys vfs, fault walFault) (*Storage, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	if id == 0 || raft.IsLocalMsgTarget(id) {
		return nil, fmt.Errorf("storage: node id %d: raft keeps 0 and the two largest uint64 for itself", id)
	}
	start := time.Now()
	s := &Storage{
		MemoryStorage: raft.NewMemoryStorage(),
		dir:           dir,
		walDir:        filepath.Join(dir, walDirName),
		snapDir:       filepath.Join(dir, snapDirName),
		lg:            lg,
		zlg:           newZapLogger(lg),
		fs:            fsys,
		walFault:      fault,
		loadedSnap:    &raftpb.Snapshot{},
		loadedHS:      &raftpb.HardState{},
	}
	if err := makeDir(fsys, dir); err != nil {
		return nil, fmt.Errorf("storage: create raft_dir: %w", err)
	}
	lock, err := lockDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	s.mu.lock = lock
	err = s.load(id, clusterName)
	if err == nil {
		err = lock.writePid()
	}
	if err = diskError(dir, err); err != nil {
		if s.mu.wal != nil {
			s.mu.wal.Close()
		}
		lock.release()
		return nil, err
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	lg.Info("opened raft storage",
		"dir", dir,
		"bootstrapped", s.bootstrapped,
		"snapshot_index", s.loadedSnap.GetMetadata().GetIndex(),
		"term", s.loadedHS.GetTerm(),
		"vote", s.loadedHS.GetVote(),
		"commit", s.loadedHS.GetCommit(),
		"first_index", first,
		"last_index", last,
		"took", time.Since(start))
	return s, nil
}

// load does the work of Open once the lock is held.
func (s *Storage) load(id uint64, clusterName string) error {
	if err := s.fs.MkdirAll(s.snapDir); err != nil {
		return fmt.Errorf("storage: create %s: %w", s.snapDir, err)
	}
	// Make the snap directory's own entry durable before any file in it
	// counts on it.
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("storage: sync %s: %w", s.dir, err)
	}
	meta := metadata{ID: id, ClusterName: clusterName}

	if !wal.Exist(s.walDir) {
		names, err := listExt(s.fs, s.snapDir, ".snap")
		if err != nil {
			return fmt.Errorf("storage: list %s: %w", s.snapDir, err)
		}
		if len(names) > 0 {
			return fmt.Errorf("%w: %s holds snapshots but %s holds no WAL", ErrCorrupt, s.snapDir, s.walDir)
		}
		w, err := wal.Create(s.zlg, s.walDir, encodeMetadata(meta))
		if err != nil {
			return fmt.Errorf("storage: create WAL in %s: %w", s.walDir, err)
		}
		s.setWAL(w, nil)
		return nil
	}

	// Check the ids before anything can write to raft_dir, if the newest
	// file's head reads (if not, the scan below names the damage).
	b, merr := readWALMetadata(s.walDir)
	if merr == nil {
		stored, err := decodeMetadata(b)
		if err != nil {
			merr = err
		} else if err := stored.check(s.dir, id, clusterName); err != nil {
			return err
		}
	}

	// Read the whole WAL, changing nothing: damage other than a write
	// cut short by a crash is refused here, before etcd's reader could
	// take it for a torn tail and truncate acknowledged records.
	sc, err := scanWAL(s.walDir)
	if err != nil {
		return fmt.Errorf("storage: read WAL in %s: %w", s.walDir, err)
	}
	if d := sc.Damage; d != nil {
		if !d.Torn {
			return damagedError(s.dir, id, walDamageText(sc, d))
		}
		p := filepath.Join(s.walDir, d.File)
		kept, err := truncateWAL(p, d.Offset)
		if err != nil {
			return fmt.Errorf("storage: drop the torn end of %s: %w", p, err)
		}
		s.lg.Warn("the WAL ended with a write cut short by a crash; dropped it (it was never acknowledged)",
			"file", p, "offset", d.Offset, "err", d.Err, "original_kept_as", kept)
	}
	if merr != nil {
		return damagedError(s.dir, id, fmt.Sprintf("the head of the newest WAL file is unreadable: %v", merr))
	}

	walSnaps, err := wal.ValidSnapshotEntries(s.zlg, s.walDir)
	if isIOError(err) {
		return fmt.Errorf("storage: read the snapshot records of the WAL in %s: %w", s.walDir, err)
	}
	if err != nil {
		return damagedError(s.dir, id, fmt.Sprintf("cannot read the snapshot records of the WAL in %s: %v", s.walDir, err))
	}
	loaded, skipped, err := pickSnapshot(s.fs, s.snapDir, walSnaps)
	if err != nil {
		return err
	}

	w, hs, ents, err := s.openWAL(loaded, meta)
	if err != nil {
		if len(skipped) > 0 && errors.Is(err, ErrCorrupt) {
			sk := skipped[0]
			return damagedError(s.dir, id, fmt.Sprintf("snapshot file %s is unusable (%v) and the WAL cannot replay the log from %s instead: %v",
				filepath.Join(snapDirName, sk.Name), sk.Err, describeSnap(loaded), err))
		}
		if errors.Is(err, ErrCorrupt) {
			return damagedError(s.dir, id, err.Error())
		}
		return err
	}
	if msg := checkFallback(loaded, ents, skipped); msg != "" {
		w.Close()
		return damagedError(s.dir, id, msg)
	}
	s.setWAL(w, hs)
	// The log stands in for the skipped snapshots: set their files aside,
	// so that nothing reads them again and the purge does not count them
	// among the snapshots it keeps.
	for _, sk := range skipped {
		p := filepath.Join(s.snapDir, sk.Name)
		if _, err := s.fs.Stat(p); err != nil {
			continue // missing
		}
		to, err := setAside(s.fs, p)
		if err != nil {
			return fmt.Errorf("storage: set aside damaged snapshot %s: %w", p, err)
		}
		s.lg.Warn("snapshot file is damaged; loaded an older snapshot and replayed the log from it instead",
			"file", p, "moved_to", to, "err", sk.Err, "loaded_index", loaded.GetMetadata().GetIndex())
	}

	if err := removeSnapTemps(s.fs, s.snapDir, s.lg); err != nil {
		return fmt.Errorf("storage: remove unfinished snapshot files: %w", err)
	}
	if !raft.IsEmptySnap(loaded) {
		p := filepath.Join(s.snapDir, snapFileName(loaded.GetMetadata().GetTerm(), loaded.GetMetadata().GetIndex()))
		fi, err := s.fs.Stat(p)
		if err != nil {
			return fmt.Errorf("storage: snapshot %s: %w", p, err)
		}
		size := fi.Size()
		if err := s.applySnapshot(loaded, size); err != nil {
			return fmt.Errorf("storage: apply loaded snapshot: %w", err)
		}
	}
	if err := s.MemoryStorage.SetHardState(hs); err != nil {
		return err
	}
	if err := s.MemoryStorage.Append(ents); err != nil {
		return err
	}
	s.loadedSnap = loaded
	s.loadedHS = hs
	s.bootstrapped = !raft.IsEmptyHardState(hs) || len(ents) > 0 || !raft.IsEmptySnap(loaded)
	return nil
}

// openWAL opens the WAL for appending at snapshot sn and reads everything
// after it.
func (s *Storage) openWAL(sn *raftpb.Snapshot, want metadata) (*wal.WAL, *raftpb.HardState, []*raftpb.Entry, error) {
	start := &walpb.Snapshot{Index: new(sn.GetMetadata().GetIndex()), Term: new(sn.GetMetadata().GetTerm())}
	w, err := wal.Open(s.zlg, s.walDir, start)
	if isIOError(err) {
		return nil, nil, nil, fmt.Errorf("storage: open WAL in %s: %w", s.walDir, err)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: open WAL at snapshot index %d: %v", ErrCorrupt, start.GetIndex(), err)
	}
	b, hs, ents, err := w.ReadAll()
	if err != nil {
		w.Close()
		if isIOError(err) {
			return nil, nil, nil, fmt.Errorf("storage: read WAL in %s: %w", s.walDir, err)
		}
		return nil, nil, nil, fmt.Errorf("%w: read WAL from snapshot index %d: %v", ErrCorrupt, start.GetIndex(), err)
	}
	stored, err := decodeMetadata(b)
	if err != nil {
		w.Close()
		return nil, nil, nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	// readWALMetadata checked the newest file and ReadAll that all files
	// agree with it; this only guards against that changing.
	if err := stored.check(s.dir, want.ID, want.ClusterName); err != nil {
		w.Close()
		return nil, nil, nil, err
	}
	return w, hs, ents, nil
}

// Bootstrapped reports whether raft_dir already held raft state when it was
// opened: a non-empty hard state, an entry or a snapshot. Such a node
// restarts with raft.RestartNode and ignores single/join; one that is not
// bootstrapped starts a new cluster or joins one.
func (s *Storage) Bootstrapped() bool { return s.bootstrapped }

// LoadedSnapshot returns the snapshot Open loaded, or an empty snapshot
// (raft.IsEmptySnap) if there was none. Its Data refers to its file: the
// state machine restores from OpenSnapshotData. Do not modify it.
func (s *Storage) LoadedSnapshot() *raftpb.Snapshot { return s.loadedSnap }

// HardState returns the hard state Open loaded (empty, not nil, if none).
// Do not modify it.
func (s *Storage) HardState() *raftpb.HardState { return s.loadedHS }

// Dir returns raft_dir.
func (s *Storage) Dir() string { return s.dir }

// WALSize returns the total size in bytes of the files in raft_dir/wal.
// Segment files are preallocated (64 MB each, plus one spare segment), so
// this grows in steps, not record by record. It returns 0 on error.
func (s *Storage) WALSize() int64 {
	var n int64
	_ = filepath.WalkDir(s.walDir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file purged while walking
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// Close waits for a running CreateSnapshot, syncs and closes the WAL and
// releases the raft_dir lock. Later calls return nil.
func (s *Storage) Close() error {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil
	}
	s.mu.closed = true
	var errs []error
	if err := s.mu.wal.Close(); err != nil {
		errs = append(errs, fmt.Errorf("storage: close WAL: %w", err))
	}
	if err := s.mu.lock.release(); err != nil {
		errs = append(errs, fmt.Errorf("storage: release lock: %w", err))
	}
	return errors.Join(errs...)
}

// setWAL makes w, opened or created by load with hs its last hard state,
// the WAL that Save and CreateSnapshot write.
func (s *Storage) setWAL(w *wal.WAL, hs *raftpb.HardState) {
	if s.walFault == nil {
		s.mu.wal = w
		return
	}
	s.mu.wal = &faultyWAL{walLog: w, fault: s.walFault, hs: hs}
}

// makeDir creates dir if it does not exist and makes its entry in its
// parent durable: a raft_dir that vanished on power loss after the node had
// voted would let it vote twice in a term.
func makeDir(fsys vfs, dir string) error {
	if _, err := fsys.Stat(dir); err == nil {
		return nil
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return err
	}
	return fsys.SyncDir(filepath.Dir(filepath.Clean(dir)))
}
