package storage

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// ErrNotRaftDir means a directory given to OpenReadOnly or ReadWALRecords
// holds no WAL: it is not a raft_dir, or the node never started there.
var ErrNotRaftDir = errors.New("not a raft_dir")

// ReadOnly is what a raft_dir holds, read without opening it for writing:
// for offline tools (export, inspection) on the directory of a stopped node.
// Nothing in raft_dir is created, repaired, renamed or purged.
type ReadOnly struct {
	// ID and ClusterName are the WAL metadata.
	ID          uint64
	ClusterName string
	// Snapshot is the newest snapshot that is both on disk and recorded in
	// the WAL at or below the committed index; empty (raft.IsEmptySnap)
	// if there is none. Its Data refers to its file: read the state
	// machine's data with OpenSnapshotData.
	Snapshot *raftpb.Snapshot
	// HardState is the last hard state in the WAL (empty if none). Its
	// Commit is lazily synced (see the durability contract): entries up to
	// it are committed, later ones may not be.
	HardState *raftpb.HardState
	// Entries are the WAL's entries after Snapshot, in index order, with
	// entries overwritten by a later leader already dropped. Entries past
	// HardState.Commit may not be committed: do not apply them.
	Entries []*raftpb.Entry

	lock    *fileutil.LockedFile // nil: raft_dir had no LOCK file
	snapDir string
}

// OpenSnapshotData returns the state machine data of Snapshot, streamed
// from its file and checked as it is read (the reader fails at the end,
// with an error wrapping ErrCorrupt, if the file is not intact). Close it.
func (r *ReadOnly) OpenSnapshotData() (io.ReadCloser, error) {
	return openSnapshotData(osFS{}, r.snapDir, r.Snapshot.GetMetadata())
}

// OpenReadOnly reads raft_dir (dir) of a stopped node. It holds the
// directory's lock until Close, so a node cannot start on it meanwhile,
// and refuses (ErrLocked) a directory in use by a running process. Unlike
// Open it writes nothing, not even its pid into LOCK; a torn last WAL
// record (a crash during a write) is ignored, not repaired. Damage that Open
// refuses (ErrCorrupt) is refused here too; a damaged snapshot file is
// passed over, as Open does, only if the WAL can stand in for it.
//
// Errors: ErrNotRaftDir, ErrLocked, ErrCorrupt (all wrapped), or an I/O
// error. lg may be nil.
func OpenReadOnly(dir string, lg *slog.Logger) (*ReadOnly, error) {
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	walDir := filepath.Join(dir, walDirName)
	if !wal.Exist(walDir) {
		return nil, fmt.Errorf("%w: %s holds no WAL files; give the raft_dir of a node that has run", ErrNotRaftDir, dir)
	}
	lock, err := lockReadOnly(dir)
	if err != nil {
		return nil, err
	}
	ro, err := readDir(dir, newZapLogger(lg))
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, err
	}
	ro.lock = lock
	return ro, nil
}

// Close releases raft_dir's lock.
func (r *ReadOnly) Close() error {
	if r.lock == nil {
		return nil
	}
	l := r.lock
	r.lock = nil
	return l.Close()
}

// lockReadOnly takes raft_dir/LOCK like lockDir but writes nothing: no pid,
// and no LOCK file is created where there is none (nil is returned then).
func lockReadOnly(dir string) (*fileutil.LockedFile, error) {
	p := filepath.Join(dir, lockFileName)
	f, err := fileutil.TryLockFile(p, os.O_RDWR, fileutil.PrivateFileMode)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, nil
	case errors.Is(err, fileutil.ErrLocked):
		return nil, fmt.Errorf("%w: %s is held by %s: a node is running on this raft_dir; stop it first", ErrLocked, p, lockHolder(osFS{}, p))
	case err != nil:
		return nil, fmt.Errorf("storage: lock %s: %w", p, err)
	}
	return f, nil
}

// readDir loads what dir holds once the lock is taken. Damage is refused
// as Open refuses it; a torn last record is left as it is and not read.
func readDir(dir string, zlg *zap.Logger) (*ReadOnly, error) {
	walDir := filepath.Join(dir, walDirName)
	b, err := readWALMetadata(walDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	meta, err := decodeMetadata(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	sc, err := scanWAL(walDir)
	if err != nil {
		return nil, fmt.Errorf("storage: read WAL in %s: %w", walDir, err)
	}
	if d := sc.Damage; d != nil && !d.Torn {
		return nil, damagedError(dir, meta.ID, walDamageText(sc, d))
	}
	walSnaps, err := wal.ValidSnapshotEntries(zlg, walDir)
	if err != nil {
		return nil, fmt.Errorf("%w: scan WAL for snapshots: %v", ErrCorrupt, err)
	}
	sn, skipped, err := pickSnapshot(osFS{}, filepath.Join(dir, snapDirName), walSnaps)
	if err != nil {
		return nil, err
	}
	start := &walpb.Snapshot{Index: new(sn.GetMetadata().GetIndex()), Term: new(sn.GetMetadata().GetTerm())}
	w, err := wal.OpenForRead(zlg, walDir, start)
	if err != nil {
		return nil, fmt.Errorf("%w: open WAL at snapshot index %d: %v", ErrCorrupt, start.GetIndex(), err)
	}
	defer w.Close() // read-only: nothing to sync; ReadAll closed the files
	b, hs, ents, err := w.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%w: read WAL: %v", ErrCorrupt, err)
	}
	if stored, err := decodeMetadata(b); err != nil || stored != meta {
		return nil, fmt.Errorf("%w: WAL files disagree on their metadata (%q)", ErrCorrupt, b)
	}
	if msg := checkFallback(sn, ents, skipped); msg != "" {
		return nil, damagedError(dir, meta.ID, msg)
	}
	return &ReadOnly{ID: meta.ID, ClusterName: meta.ClusterName, Snapshot: sn, HardState: hs, Entries: ents,
		snapDir: filepath.Join(dir, snapDirName)}, nil
}

// WALRecord is one record of a WAL file, as ReadWALRecords reads it.
type WALRecord struct {
	// File is the WAL file's name (in raft_dir/wal) and Offset the
	// record's byte offset in it.
	File   string
	Offset int64
	// Type is the etcd record type: wal.MetadataType, EntryType,
	// StateType, CrcType or SnapshotType.
	Type int64
	// Crc is the record's CRC field; Data its payload (a raftpb.Entry,
	// raftpb.HardState, walpb.Snapshot, the metadata JSON, or nothing for
	// a CRC record). Data is only valid during the callback.
	Crc  uint32
	Data []byte
}

// ReadWALRecords calls fn with every record of every WAL file in
// raft_dir/wal (dir is raft_dir), oldest file first, in the order written,
// checking each file's CRC chain. It opens the files read-only and takes no
// lock, so it may read the directory of a running node (whose last record
// may then be mid-write). It stops at the end of the data of each file (the
// rest is preallocated zeros), and returns the first error of fn, or a
// decoding error naming the file and offset (a torn record at the end of
// the newest file wraps io.ErrUnexpectedEOF).
func ReadWALRecords(dir string, fn func(WALRecord) error) error {
	walDir := filepath.Join(dir, walDirName)
	names, err := fileutil.ReadDir(walDir, fileutil.WithExt(".wal"))
	if err != nil || len(names) == 0 {
		return fmt.Errorf("%w: %s holds no WAL files", ErrNotRaftDir, dir)
	}
	for _, name := range names {
		if err := readWALFile(walDir, name, fn); err != nil {
			return err
		}
	}
	return nil
}

func readWALFile(walDir, name string, fn func(WALRecord) error) error {
	f, err := os.Open(filepath.Join(walDir, name))
	if err != nil {
		return err
	}
	defer f.Close()
	dec := wal.NewDecoder(fileutil.NewFileReader(f))
	rec := &walpb.Record{}
	for {
		off := dec.LastOffset()
		err := dec.Decode(rec)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s at offset %d: %w", name, off, err)
		}
		if rec.GetType() == wal.CrcType {
			// The first record of a file carries the CRC chain of the
			// previous file, which this decoder has not read.
			if c := dec.LastCRC(); c != 0 && rec.Validate(c) != nil {
				return fmt.Errorf("%s at offset %d: %w", name, off, wal.ErrCRCMismatch)
			}
			dec.UpdateCRC(rec.GetCrc())
		}
		if err := fn(WALRecord{File: name, Offset: off, Type: rec.GetType(), Crc: rec.GetCrc(), Data: rec.GetData()}); err != nil {
			return err
		}
	}
}
