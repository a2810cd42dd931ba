package storage

import (
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// walLog is what a Storage writes to its WAL: etcd's *wal.WAL, or, when
// Open is given a walFault, a faultyWAL around it.
type walLog interface {
	Save(hs *raftpb.HardState, ents []*raftpb.Entry) error
	SaveSnapshot(e *walpb.Snapshot) error
	ReleaseLockTo(index uint64) error
	Close() error
}

// walStep is a point of a WAL write at which a walFault is called.
type walStep int

const (
	// walWrite: before the records are written. An error stands for a
	// write that failed (a full disk when etcd cuts a new segment, an I/O
	// error): the records are not written.
	walWrite walStep = iota
	// walSync: after the records were written and etcd fsync'd them, for a
	// write that raft requires to be durable (raft.MustSync, and every
	// snapshot record). An error stands for a failed fsync: the records
	// are in the file, but the caller is told that the write failed, as
	// it would be if the fsync had failed.
	walSync
)

// walFault fails a WAL write at step when it returns an error. etcd's
// wal package does its own file I/O, through *os.File, with no seam
// beneath it, so the write boundary is where a test can fail it: a hook
// here cannot tear a record in the middle (TestTornLastRecord cuts the
// files for that) nor lose data an fsync had not yet made durable.
type walFault func(step walStep) error

// faultyWAL is the walLog of a Storage opened with a walFault.
type faultyWAL struct {
	walLog
	fault walFault
	// hs is the last non-empty hard state written, as etcd keeps it, to
	// tell which Saves etcd fsyncs.
	hs *raftpb.HardState
}

func (w *faultyWAL) Save(hs *raftpb.HardState, ents []*raftpb.Entry) error {
	if raft.IsEmptyHardState(hs) && len(ents) == 0 {
		return w.walLog.Save(hs, ents) // writes nothing
	}
	if err := w.fault(walWrite); err != nil {
		return err
	}
	if err := w.walLog.Save(hs, ents); err != nil {
		return err
	}
	mustSync := raft.MustSync(hs, w.hs, len(ents))
	if !raft.IsEmptyHardState(hs) {
		w.hs = hs
	}
	if mustSync {
		return w.fault(walSync)
	}
	return nil
}

func (w *faultyWAL) SaveSnapshot(e *walpb.Snapshot) error {
	if err := w.fault(walWrite); err != nil {
		return err
	}
	if err := w.walLog.SaveSnapshot(e); err != nil {
		return err
	}
	return w.fault(walSync)
}
