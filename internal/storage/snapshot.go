package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Snapshot implements raft.Storage. It returns the newest snapshot with its
// data shared, not copied: MemoryStorage.Snapshot deep-copies (proto.Clone)
// the data on every call, and the data can be hundreds of MB. Neither raft
// nor the transport modifies it; nobody may.
//
// MemoryStorage itself holds the snapshot metadata only (its Data is nil),
// so do not call s.MemoryStorage.Snapshot directly.
func (s *Storage) Snapshot() (*raftpb.Snapshot, error) {
	s.snapMu.RLock()
	defer s.snapMu.RUnlock()
	sn, err := s.MemoryStorage.Snapshot() // cheap: no data to clone
	if err != nil {
		return nil, err
	}
	sn.Data = s.snapMu.data
	return sn, nil
}

// SnapshotSize returns the size in bytes of the newest snapshot's data, 0
// if there is none.
func (s *Storage) SnapshotSize() int64 {
	s.snapMu.RLock()
	defer s.snapMu.RUnlock()
	return int64(len(s.snapMu.data))
}

// applySnapshot replaces the MemoryStorage contents with sn, keeping sn.Data
// by reference.
func (s *Storage) applySnapshot(sn *raftpb.Snapshot) error {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	// MemoryStorage clones what it is given: give it the metadata only.
	if err := s.MemoryStorage.ApplySnapshot(&raftpb.Snapshot{Metadata: sn.GetMetadata()}); err != nil {
		return err
	}
	s.snapMu.data = sn.GetData()
	return nil
}

// CreateSnapshot persists a snapshot of this node's state machine taken at
// applied index index, with cs the ConfState as of index and data the
// encoded state machine (kept by reference: do not modify it afterwards).
//
// It may run from one background goroutine at the same time as Save; it
// holds the WAL lock only to write the snapshot record, not while the
// snapshot file is written, so a large snapshot does not stall the Ready
// loop.
//
// Steps: make the snapshot the one raft sends to slow followers; write the
// snap file (fsync'd, with the directory); record it in the WAL (fsync'd);
// release WAL files before it; compact the MemoryStorage to index-keep, so
// that followers at most keep entries behind still get entries rather than
// a snapshot; purge: keep the 2 newest snap files and delete the WAL files
// that lie wholly before the older of them.
//
// An index at or below the current snapshot's is a no-op (raft may have
// installed a newer snapshot from the leader meanwhile). An index beyond the
// last log entry is an error. Other errors come from the disk: stop the
// node as for Save (ErrDiskFull when the disk is full).
func (s *Storage) CreateSnapshot(index uint64, cs *raftpb.ConfState, data []byte, keep uint64) error {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	return diskError(s.dir, s.createSnapshot(index, cs, data, keep))
}

func (s *Storage) createSnapshot(index uint64, cs *raftpb.ConfState, data []byte, keep uint64) error {
	if s.isClosed() {
		return ErrClosed
	}
	if last, _ := s.MemoryStorage.LastIndex(); index > last {
		return fmt.Errorf("storage: snapshot index %d is beyond the last log index %d", index, last)
	}

	s.snapMu.Lock()
	meta, err := s.MemoryStorage.CreateSnapshot(index, cs, nil)
	if err != nil {
		s.snapMu.Unlock()
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return nil
		}
		return fmt.Errorf("storage: create snapshot %d: %w", index, err)
	}
	s.snapMu.data = data
	s.snapMu.Unlock()

	sn := &raftpb.Snapshot{Metadata: meta.GetMetadata(), Data: data}
	if err := s.saveSnapFile(sn); err != nil {
		return err
	}
	if err := s.recordSnapshot(sn.GetMetadata()); err != nil {
		return err
	}
	if index > keep {
		if err := s.MemoryStorage.Compact(index - keep); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("storage: compact log to %d: %w", index-keep, err)
		}
	}
	if err := s.purge(); err != nil {
		return fmt.Errorf("storage: purge old files: %w", err)
	}
	s.lg.Info("created snapshot", "index", index, "term", sn.GetMetadata().GetTerm(), "bytes", len(data))
	return nil
}

func (s *Storage) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

// recordSnapshot writes the WAL snapshot record for m and lets the WAL drop
// its locks on the files before it.
func (s *Storage) recordSnapshot(m *raftpb.SnapshotMetadata) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrClosed
	}
	if err := s.mu.wal.SaveSnapshot(walSnapshot(m)); err != nil {
		return fmt.Errorf("storage: record snapshot %d in WAL: %w", m.GetIndex(), err)
	}
	if err := s.mu.wal.ReleaseLockTo(m.GetIndex()); err != nil {
		return fmt.Errorf("storage: release WAL files before %d: %w", m.GetIndex(), err)
	}
	return nil
}

// saveSnapFile writes sn to snap/ and makes the new file's directory entry
// durable, so the WAL record written next never refers to a file that a
// power loss could take away.
func (s *Storage) saveSnapFile(sn *raftpb.Snapshot) error {
	if err := s.snapshotter.SaveSnap(sn); err != nil {
		return fmt.Errorf("storage: write snapshot %d to %s: %w", sn.GetMetadata().GetIndex(), s.snapDir, err)
	}
	if err := fsyncDir(s.snapDir); err != nil {
		return fmt.Errorf("storage: sync %s: %w", s.snapDir, err)
	}
	return nil
}

func walSnapshot(m *raftpb.SnapshotMetadata) *walpb.Snapshot {
	return &walpb.Snapshot{
		Index:     new(m.GetIndex()),
		Term:      new(m.GetTerm()),
		ConfState: raftpb.EnsureConfState(m.GetConfState()),
	}
}

// purge keeps the keepSnapFiles newest snap files and deletes the older
// ones, then deletes the WAL files that lie wholly before the oldest kept
// snapshot: those before the last file whose first index is at or below
// the snapshot index, which is where wal.Open starts reading for it.
// A WAL file the WAL still holds a lock on is never deleted.
func (s *Storage) purge() error {
	names, err := fileutil.ReadDir(s.snapDir, fileutil.WithExt(".snap"))
	if err != nil {
		return err
	}
	// Sorted by name, that is by term then index: oldest first. A file
	// named otherwise is not ours; leave it alone.
	var snaps []string
	var indexes []uint64
	for _, name := range names {
		var term, index uint64
		if _, err := fmt.Sscanf(name, "%016x-%016x.snap", &term, &index); err != nil {
			continue
		}
		snaps = append(snaps, name)
		indexes = append(indexes, index)
	}
	if len(snaps) == 0 {
		return nil
	}
	if n := len(snaps) - keepSnapFiles; n > 0 {
		for _, name := range snaps[:n] {
			if err := os.Remove(filepath.Join(s.snapDir, name)); err != nil && !os.IsNotExist(err) {
				return err
			}
			s.lg.Info("purged snapshot file", "file", name)
		}
		indexes = indexes[n:]
	}
	oldest := indexes[0]

	wals, err := fileutil.ReadDir(s.walDir, fileutil.WithExt(".wal"))
	if err != nil {
		return err
	}
	keepFrom := 0
	for i, name := range wals {
		_, first, err := parseWALName(name)
		if err != nil {
			return err
		}
		if first > oldest {
			break
		}
		keepFrom = i
	}
	for _, name := range wals[:keepFrom] {
		p := filepath.Join(s.walDir, name)
		l, err := fileutil.TryLockFile(p, os.O_WRONLY, fileutil.PrivateFileMode)
		if errors.Is(err, fileutil.ErrLocked) {
			break // still in use by the WAL; so are the ones after it
		}
		if err != nil {
			return err
		}
		rerr := os.Remove(p)
		cerr := l.Close()
		if rerr != nil {
			return rerr
		}
		if cerr != nil {
			return cerr
		}
		s.lg.Info("purged WAL file", "file", name, "oldest_kept_snapshot", oldest)
	}
	return nil
}

// parseWALName parses the etcd WAL file name seq-index.wal (16 hex digits
// each); index is the raft index of the first entry the file may hold.
func parseWALName(name string) (seq, index uint64, err error) {
	if !strings.HasSuffix(name, ".wal") {
		return 0, 0, fmt.Errorf("bad WAL file name %q", name)
	}
	if _, err := fmt.Sscanf(name, "%016x-%016x.wal", &seq, &index); err != nil {
		return 0, 0, fmt.Errorf("bad WAL file name %q: %w", name, err)
	}
	return seq, index, nil
}
