package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// SnapshotSize returns the size in bytes of the newest snapshot's file, 0
// if there is none.
func (s *Storage) SnapshotSize() int64 { return s.snapSize.Load() }

// applySnapshot replaces the MemoryStorage contents with sn (whose Data
// refers to its file) and records the file's size.
func (s *Storage) applySnapshot(sn *raftpb.Snapshot, size int64) error {
	if err := s.MemoryStorage.ApplySnapshot(sn); err != nil {
		return err
	}
	s.snapSize.Store(size)
	return nil
}

// CreateSnapshot persists a snapshot of this node's state machine taken at
// applied index index, with cs the ConfState as of index and src the
// state machine's snapshot (statemachine.Snapshot), which it streams into
// the snap file: no copy of the data is held in memory.
//
// It may run from one background goroutine at the same time as Save; it
// holds the WAL lock only to write the snapshot record, not while the
// snapshot file is written, so a large snapshot does not stall raftnode's
// append goroutine (nor, behind it, acknowledgements and commits).
//
// Steps: write the snap file (fsync'd, renamed into place, the directory
// fsync'd); make the snapshot the one raft sends to slow followers (see
// Snapshot); record it in the WAL (fsync'd); release WAL files before it;
// compact the MemoryStorage to index-keep, so that followers at most keep
// entries behind still get entries rather than a snapshot; purge: keep
// the 2 newest snap files and delete the WAL files that lie wholly before
// the older of them.
//
// An index at or below the current snapshot's is a no-op (raft may have
// installed a newer snapshot from the leader meanwhile). An index beyond the
// last log entry is an error. Other errors come from the disk or from src:
// stop the node as for Save (ErrDiskFull when the disk is full).
func (s *Storage) CreateSnapshot(index uint64, cs *raftpb.ConfState, src io.WriterTo, keep uint64) error {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	return diskError(s.dir, s.createSnapshot(index, cs, src, keep))
}

func (s *Storage) createSnapshot(index uint64, cs *raftpb.ConfState, src io.WriterTo, keep uint64) error {
	if s.isClosed() {
		return ErrClosed
	}
	if last, _ := s.MemoryStorage.LastIndex(); index > last {
		return fmt.Errorf("storage: snapshot index %d is beyond the last log index %d", index, last)
	}
	if cur, _ := s.MemoryStorage.Snapshot(); index <= cur.GetMetadata().GetIndex() {
		return nil
	}
	term, err := s.MemoryStorage.Term(index)
	if errors.Is(err, raft.ErrCompacted) {
		return nil // a newer snapshot was installed meanwhile
	}
	if err != nil {
		return fmt.Errorf("storage: term of snapshot index %d: %w", index, err)
	}
	md := &raftpb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: cs}
	name := snapFileName(term, index)
	start := time.Now()
	size, err := writeSnapFile(s.fs, s.snapDir, name, md, src)
	if err != nil {
		return fmt.Errorf("storage: write snapshot %d to %s: %w", index, s.snapDir, err)
	}
	if _, err := s.MemoryStorage.CreateSnapshot(index, cs, snapRef(name)); err != nil {
		s.fs.Remove(filepath.Join(s.snapDir, name))
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return nil
		}
		return fmt.Errorf("storage: create snapshot %d: %w", index, err)
	}
	s.snapSize.Store(size)
	if err := s.recordSnapshot(md); err != nil {
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
	s.lg.Info("created snapshot", "index", index, "term", term, "bytes", size, "took", time.Since(start))
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

// saveSnapFile makes sn, a snapshot raft hands to Save, a file of snap/
// named for its term and index, and returns the file's size. Its Data
// either refers to a file that ReceiveSnapshot wrote and verified (it is
// checked against sn's metadata, then renamed), or holds the state
// machine's bytes (an import, or a caller that is not the transport),
// which are written to a new file. Either way the file and the directory
// are fsync'd, so the WAL record written next never refers to a file that
// a power loss could take away.
func (s *Storage) saveSnapFile(sn *raftpb.Snapshot) (int64, error) {
	md := sn.GetMetadata()
	name := snapFileName(md.GetTerm(), md.GetIndex())
	recv, ok := parseSnapRef(sn.GetData())
	if !ok {
		size, err := writeSnapFile(s.fs, s.snapDir, name, md, bytes.NewReader(sn.GetData()))
		if err != nil {
			return 0, fmt.Errorf("storage: write snapshot %d to %s: %w", md.GetIndex(), s.snapDir, err)
		}
		return size, nil
	}
	p := filepath.Join(s.snapDir, recv)
	f, err := s.fs.Open(p)
	if err != nil {
		return 0, fmt.Errorf("storage: open received snapshot %d: %w", md.GetIndex(), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if recv != name {
		// ReceiveSnapshot verified the whole file and fsync'd it; check
		// that it is the one raft took, then put it in place.
		sr, err := newSnapReader(bufio.NewReader(f), fi.Size())
		if err == nil {
			err = sr.hdr.matches(md)
		}
		if err != nil {
			return 0, fmt.Errorf("storage: received snapshot file %s: %w", p, err)
		}
		if err := s.fs.Rename(p, filepath.Join(s.snapDir, name)); err != nil {
			return 0, fmt.Errorf("storage: install received snapshot %d: %w", md.GetIndex(), err)
		}
	}
	if err := s.fs.SyncDir(s.snapDir); err != nil {
		return 0, fmt.Errorf("storage: sync %s: %w", s.snapDir, err)
	}
	return fi.Size(), nil
}

// ReceiveSnapshot writes the snap file of the snapshot md, size bytes read
// from r (a peer's stream of its file, see OpenSnapshot), to a new file of
// snap/, verifying it as it is written, and fsyncs it. It returns the Data
// of the MsgSnap to step: a reference to that file, which Save puts in
// place if raft takes the snapshot. A file raft does not take is deleted
// by a later purge, or on the next Open.
//
// Errors: a stream that is not an intact snap file of exactly size bytes
// for md, or an I/O error. Called by the transport, from any goroutine.
func (s *Storage) ReceiveSnapshot(md *raftpb.SnapshotMetadata, r io.Reader, size int64) ([]byte, error) {
	data, err := s.newSnapshotFile(md, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, snapBufSize)
		hdr, err := verifySnap(io.TeeReader(r, bw), size)
		if err == nil {
			err = hdr.matches(md)
		}
		if err == nil {
			err = bw.Flush()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage: receive snapshot %d: %w", md.GetIndex(), err)
	}
	return data, nil
}

// newSnapshotFile creates a file for snapshot md in snap/ that Save can
// install (TERM-INDEX.snap.recv-*), has fill write it, fsyncs it and
// returns the Data that refers to it. On error the file is removed.
func (s *Storage) newSnapshotFile(md *raftpb.SnapshotMetadata, fill func(w io.Writer) error) ([]byte, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	f, err := s.fs.CreateTemp(s.snapDir, snapFileName(md.GetTerm(), md.GetIndex())+recvInfix+"*")
	if err != nil {
		return nil, diskError(s.dir, err)
	}
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.fs.Remove(f.Name())
		return nil, diskError(s.dir, err)
	}
	return snapRef(filepath.Base(f.Name())), nil
}

// recvInfix marks the name of a received snap file not yet installed:
// TERM-INDEX.snap.recv-RANDOM.
const recvInfix = ".recv-"

// OpenSnapshot opens the file of sn, a snapshot Snapshot returned (raft
// sends it in a MsgSnap), to stream it to a peer, and returns its size.
// The file stays readable until closed even if a purge deletes it
// meanwhile. Called by the transport, from any goroutine.
func (s *Storage) OpenSnapshot(sn *raftpb.Snapshot) (io.ReadCloser, int64, error) {
	md := sn.GetMetadata()
	f, err := s.fs.Open(filepath.Join(s.snapDir, snapFileName(md.GetTerm(), md.GetIndex())))
	if err != nil {
		return nil, 0, fmt.Errorf("storage: open snapshot %d: %w", md.GetIndex(), err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// OpenSnapshotData returns the state machine data of sn, the loaded
// snapshot or one Save installed, streamed from its file: the reader
// checks the file's CRC as it goes and fails at the end (an error wrapping
// ErrCorrupt, not io.EOF) if the file is not intact. Close it.
func (s *Storage) OpenSnapshotData(sn *raftpb.Snapshot) (io.ReadCloser, error) {
	return openSnapshotData(s.fs, s.snapDir, sn.GetMetadata())
}

// openSnapshotData opens the data of snapshot md in snapDir for
// OpenSnapshotData.
func openSnapshotData(fsys vfs, snapDir string, md *raftpb.SnapshotMetadata) (io.ReadCloser, error) {
	rc, hdr, err := openSnapData(fsys, filepath.Join(snapDir, snapFileName(md.GetTerm(), md.GetIndex())))
	if err == nil {
		if err = hdr.matches(md); err != nil {
			rc.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open snapshot %d: %w", md.GetIndex(), corruptIfBad(err))
	}
	return readCloser{corruptReader{rc}, rc}, nil
}

// corruptIfBad wraps errBadSnapFile in ErrCorrupt.
func corruptIfBad(err error) error {
	if errors.Is(err, errBadSnapFile) {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// corruptReader reports a damaged snap file as ErrCorrupt.
type corruptReader struct{ r io.Reader }

func (c corruptReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = corruptIfBad(err)
	}
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
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
// A WAL file the WAL still holds a lock on is never deleted. Received
// snapshot files that raft did not take and no longer can (their index is
// at or below the current snapshot's) are deleted too.
func (s *Storage) purge() error {
	if err := s.purgeReceived(); err != nil {
		return err
	}
	names, err := listExt(s.fs, s.snapDir, ".snap")
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
			if err := s.fs.Remove(filepath.Join(s.snapDir, name)); err != nil && !os.IsNotExist(err) {
				return err
			}
			s.lg.Info("purged snapshot file", "file", name)
		}
		indexes = indexes[n:]
	}
	oldest := indexes[0]

	wals, err := listExt(s.fs, s.walDir, ".wal")
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
		l, err := s.fs.Lock(p)
		if errors.Is(err, fileutil.ErrLocked) {
			break // still in use by the WAL; so are the ones after it
		}
		if err != nil {
			return err
		}
		rerr := s.fs.Remove(p)
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

// purgeReceived deletes the received snap files (TERM-INDEX.snap.recv-*)
// whose index is at or below the current snapshot's: raft refuses a
// snapshot that is not past its commit index, so none of them can be
// installed any more.
func (s *Storage) purgeReceived() error {
	cur, _ := s.MemoryStorage.Snapshot()
	names, err := s.fs.List(s.snapDir)
	if err != nil {
		return err
	}
	for _, name := range names {
		var term, index uint64
		if !strings.Contains(name, ".snap"+recvInfix) {
			continue
		}
		if _, err := fmt.Sscanf(name, "%016x-%016x.snap", &term, &index); err != nil || index > cur.GetMetadata().GetIndex() {
			continue
		}
		if err := s.fs.Remove(filepath.Join(s.snapDir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
		s.lg.Info("purged a received snapshot file raft did not take", "file", name)
	}
	return nil
}
