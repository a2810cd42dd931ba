package storage

import (
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Save persists a snapshot, a hard state and entries raft handed out for
// storage (each may be nil or empty), before the messages that promise
// them are sent. raftnode runs raft with AsyncStorageWrites: its append
// goroutine calls Save with what one or several MsgStorageAppend messages
// carry (entries that follow each other, a snapshot only first) and then
// sends their responses. Calls must not overlap: one goroutine calls Save.
//
// In order:
//  1. a non-empty snap is put in snap/ (fsync'd, with the directory),
//     then recorded in the WAL (fsync'd);
//  2. the entries and then the hard state are appended to the WAL, and
//     fsync'd when raft requires it (raft.MustSync: any entry, or a new term
//     or vote); a hard state whose only change is the commit index is
//     buffered in the WAL but not fsync'd, as raft allows and etcd does
//     (raft never needs the commit index back; the next fsync, for the next
//     entry, vote or snapshot record, makes it durable);
//  3. the MemoryStorage is updated: ApplySnapshot, SetHardState, Append.
//
// So when Save returns nil, everything raft requires to be durable is on
// disk, and raft can read what was saved.
//
// A snapshot's Data is either a reference to a file that ReceiveSnapshot
// wrote (the transport builds such MsgSnaps), which Save renames into
// place, or the state machine's bytes, which Save writes to a new file.
//
// Save does not modify or retain hs, ents or snap beyond what MemoryStorage
// retains (the entries, shared, not copied). Any
// error is fatal: the WAL may hold a partial record, so stop the node (and
// do not call Save again); the next Open repairs a torn tail. A full disk
// gives an error wrapping ErrDiskFull.
func (s *Storage) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return diskError(s.dir, s.saveLocked(hs, ents, snap))
}

func (s *Storage) saveLocked(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	if s.mu.closed {
		return ErrClosed
	}
	hasSnap := !raft.IsEmptySnap(snap)
	var snapSize int64
	if hasSnap {
		// The file first: a WAL snapshot record must never point at a
		// missing file. A crash between the two leaves an orphan file
		// that Open ignores and a later purge removes.
		var err error
		if snapSize, err = s.saveSnapFile(snap); err != nil {
			return err
		}
		if err := s.mu.wal.SaveSnapshot(walSnapshot(snap.GetMetadata())); err != nil {
			return fmt.Errorf("storage: record snapshot %d in WAL: %w", snap.GetMetadata().GetIndex(), err)
		}
	}
	if err := s.mu.wal.Save(hs, ents); err != nil {
		return fmt.Errorf("storage: write WAL: %w", err)
	}
	if hasSnap {
		md := snap.GetMetadata()
		installed := &raftpb.Snapshot{Metadata: md, Data: snapRef(snapFileName(md.GetTerm(), md.GetIndex()))}
		if err := s.applySnapshot(installed, snapSize); err != nil {
			return fmt.Errorf("storage: apply snapshot %d: %w", snap.GetMetadata().GetIndex(), err)
		}
	}
	if !raft.IsEmptyHardState(hs) {
		if err := s.MemoryStorage.SetHardState(hs); err != nil {
			return err
		}
	}
	if err := s.MemoryStorage.Append(ents); err != nil {
		return fmt.Errorf("storage: append %d entries to memory: %w", len(ents), err)
	}
	return nil
}
