package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// Disk faults, injected through faultFS and walFault (errorfs_test.go):
// a failed fsync, a full disk, a short write and a crash at every step of
// a snapshot install. They need no root, no tmpfs and no special device.

// The raft_dir every fault test starts from (faultBase): entries 1..100
// at term 1, committed, and snapshots at 30 and 60, in small WAL segments
// (smallSegments) so that a snapshot purges some.
const (
	baseLast  = 100
	baseSnap  = 60
	entrySize = 2000
)

// stateAt is the state machine data of the snapshot at index.
func stateAt(index uint64) []byte {
	return append([]byte(fmt.Sprintf("state at %d;", index)), snapData(3000)...)
}

// faultBase writes the base raft_dir into a new directory.
func faultBase(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := mustOpen(t, dir)
	for i := uint64(1); i <= baseLast; i += 10 { // a segment is cut after a Save
		mustSave(t, s, hardState(1, 1, i+9), entries(i, i+9, 1, entrySize), nil)
	}
	for _, i := range []uint64{30, baseSnap} {
		if err := s.CreateSnapshot(i, confState(1), bytes.NewReader(stateAt(i)), 5); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyBase copies the base raft_dir into a new directory.
func copyBase(t *testing.T, base string) string {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, base, dir)
	return dir
}

// The snapshots the fault tests write: CreateSnapshot at 90, and one
// from a leader at 200, term 2, received or imported.
const (
	newSnap    = 90
	leaderSnap = 200
)

func leaderMeta() *raftpb.SnapshotMetadata {
	return snapshotAt(leaderSnap, 2, confState(1, 2), nil).GetMetadata()
}

// Steps that write a snapshot, each as a node runs it.
var snapshotSteps = []struct {
	name string
	want uint64 // the snapshot it writes
	run  func(t *testing.T, s *Storage) error
}{
	{"create", newSnap, func(t *testing.T, s *Storage) error {
		return s.CreateSnapshot(newSnap, confState(1), bytes.NewReader(stateAt(newSnap)), 5)
	}},
	{"install received", leaderSnap, func(t *testing.T, s *Storage) error {
		file := encodeSnap(t, leaderMeta(), stateAt(leaderSnap))
		ref, err := s.ReceiveSnapshot(leaderMeta(), bytes.NewReader(file), int64(len(file)))
		if err != nil {
			return err // the transport refuses the snapshot; raft never sees it
		}
		return s.Save(hardState(2, 0, leaderSnap), nil, &raftpb.Snapshot{Metadata: leaderMeta(), Data: ref})
	}},
	{"install imported", leaderSnap, func(t *testing.T, s *Storage) error {
		return s.Save(hardState(2, 0, leaderSnap), nil, &raftpb.Snapshot{Metadata: leaderMeta(), Data: stateAt(leaderSnap)})
	}},
}

// checkConsistent opens dir as the node restarting on it does and checks
// that it holds the base snapshot or want, never a broken one, with the
// data of that snapshot and the log after it as it was saved (ackedLast:
// the last entry whose Save returned nil; one more may be there). Then
// the directory takes a new snapshot, which a restart loads.
func checkConsistent(t *testing.T, dir string, want, ackedLast uint64) (loaded uint64) {
	t.Helper()
	s := mustOpen(t, dir)
	ls := s.LoadedSnapshot()
	loaded = ls.GetMetadata().GetIndex()
	if loaded != baseSnap && loaded != want {
		t.Fatalf("loaded snapshot %d, want the old one (%d) or the new one (%d)", loaded, baseSnap, want)
	}
	if got := readSnap(t, s, ls); !bytes.Equal(got, stateAt(loaded)) {
		t.Fatalf("snapshot %d holds %d bytes that are not its state", loaded, len(got))
	}
	ents := allEntries(t, s)
	if loaded > baseLast {
		if len(ents) != 0 || s.HardState().GetTerm() != 2 || s.HardState().GetCommit() != loaded {
			t.Fatalf("after the installed snapshot %d: %d entries, hard state %v", loaded, len(ents), s.HardState())
		}
	} else {
		if uint64(len(ents)) < ackedLast-loaded || uint64(len(ents)) > ackedLast-loaded+1 {
			t.Fatalf("after snapshot %d: %d entries, want entries %d..%d (and at most one more)", loaded, len(ents), loaded+1, ackedLast)
		}
		last := loaded + uint64(len(ents))
		checkEntries(t, ents, entries(loaded+1, last, 1, entrySize))
		if hs := s.HardState(); hs.GetTerm() != 1 || hs.GetCommit() < baseLast {
			t.Fatalf("hard state %v", hs)
		}
	}
	for _, name := range snapNames(t, dir) {
		if strings.Contains(name, ".tmp-") || strings.Contains(name, recvInfix) {
			t.Fatalf("unfinished snapshot file %s left after Open", name)
		}
	}

	last, _ := s.LastIndex()
	if err := s.CreateSnapshot(last, confState(1), bytes.NewReader(stateAt(last)), 5); err != nil {
		t.Fatalf("CreateSnapshot(%d) after the restart: %v", last, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != last || !bytes.Equal(readSnap(t, s, s.LoadedSnapshot()), stateAt(last)) {
		t.Fatalf("after a second restart: loaded snapshot %d, want %d", got, last)
	}
	s.Close()
	return loaded
}

// runFaulty runs step on a copy of the base raft_dir opened through a
// faultFS whose injector inj sees the operations of step (not those of
// Open). It returns the copy and step's error, once the Storage is closed.
func runFaulty(t *testing.T, base string, inj injector, step func(*testing.T, *Storage) error) (string, error) {
	t.Helper()
	var armed atomic.Bool
	dir := copyBase(t, base)
	s, err := newFaultFS(t, func(o op) error {
		if !armed.Load() {
			return nil
		}
		return inj(o)
	}).open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	err = step(t, s)
	s.Close()
	return dir, err
}

// faultCase is a fault injected into a step.
type faultCase struct {
	name string
	fail injector
	run  func(t *testing.T, s *Storage) error
	want uint64 // the snapshot run writes; baseSnap if none
}

// saveNext saves the entry after the base's log.
func saveNext(t *testing.T, s *Storage) error {
	return s.Save(hardState(1, 1, baseLast+1), entries(baseLast+1, baseLast+1, 1, entrySize), nil)
}

// TestFailedFsync: a failed fsync of the WAL, of a snapshot file or of the
// snap directory fails the write that needed it, with the error; the
// restarted node holds every write acknowledged before, and a snapshot
// that is whole. (That a failed Save stops the node is raftnode's
// TestSaveFailureStopsNode.)
func TestFailedFsync(t *testing.T) {
	smallSegments(t)
	base := faultBase(t)
	eio := syscall.EIO
	tests := []faultCase{
		{"WAL save", failOn(opWALSync, walDirName, eio), saveNext, baseSnap},
		{"WAL snapshot record", failOn(opWALSync, walDirName, eio), snapshotSteps[0].run, newSnap},
		{"snapshot file", failOn(opSync, "*.snap.tmp-*", eio), snapshotSteps[0].run, newSnap},
		{"snap directory", failOn(opSyncDir, snapDirName, eio), snapshotSteps[0].run, newSnap},
		{"received snapshot file", failOn(opSync, "*.snap.recv-*", eio), snapshotSteps[1].run, leaderSnap},
		{"snap directory, installing", failOn(opSyncDir, snapDirName, eio), snapshotSteps[1].run, leaderSnap},
		{"WAL record of an installed snapshot", failOn(opWALSync, walDirName, eio), snapshotSteps[1].run, leaderSnap},
		{"imported snapshot file", failOn(opSync, "*.snap.tmp-*", eio), snapshotSteps[2].run, leaderSnap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := runFaulty(t, base, tt.fail, tt.run)
			if !errors.Is(err, syscall.EIO) {
				t.Fatalf("got %v, want the EIO of the failed fsync", err)
			}
			checkConsistent(t, dir, tt.want, baseLast)
		})
	}
}

// TestDiskFull: a write that finds the disk full (ENOSPC) fails with
// ErrDiskFull, naming raft_dir and what to do, on one line; once space is
// freed the node restarts with every acknowledged write and writes again.
// A write cut short by the full disk leaves no partial snapshot behind.
func TestDiskFull(t *testing.T) {
	smallSegments(t)
	base := faultBase(t)
	full := syscall.ENOSPC
	tests := []faultCase{
		{"WAL save", failOn(opWALWrite, walDirName, full), saveNext, baseSnap},
		{"WAL snapshot record", failOn(opWALWrite, walDirName, full), snapshotSteps[0].run, newSnap},
		{"new snapshot file", failOn(opCreateTemp, "*", full), snapshotSteps[0].run, newSnap},
		{"snapshot write", failOn(opWrite, "*.snap.tmp-*", full), snapshotSteps[0].run, newSnap},
		{"snapshot write cut short", failOn(opWrite, "*.snap.tmp-*", shortWrite{full}), snapshotSteps[0].run, newSnap},
		{"received snapshot write", failOn(opWrite, "*.snap.recv-*", full), snapshotSteps[1].run, leaderSnap},
		{"received snapshot write cut short", failOn(opWrite, "*.snap.recv-*", shortWrite{full}), snapshotSteps[1].run, leaderSnap},
		{"imported snapshot write cut short", failOn(opWrite, "*.snap.tmp-*", shortWrite{full}), snapshotSteps[2].run, leaderSnap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, err := runFaulty(t, base, tt.fail, tt.run)
			if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("got %v, want ErrDiskFull wrapping ENOSPC", err)
			}
			if msg := err.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "free space") || strings.Contains(msg, "\n") {
				t.Errorf("message does not name raft_dir and what to do, on one line: %q", msg)
			}
			// A file cut short is removed at once (the disk is full, but
			// a removal needs no space).
			for _, name := range snapNames(t, dir) {
				if strings.Contains(name, ".tmp-") || strings.Contains(name, recvInfix) {
					t.Errorf("a partial snapshot file %s is left behind", name)
				}
			}
			// Space freed: the directory opens on the plain file system.
			checkConsistent(t, dir, tt.want, baseLast)
		})
	}
}

// A short write that reports no error breaks io.Writer's contract; the
// buffer between the snapshot encoder and the file turns it into
// io.ErrShortWrite, so the snapshot fails instead of being cut short.
func TestShortWriteWithoutError(t *testing.T) {
	smallSegments(t)
	dir, err := runFaulty(t, faultBase(t), failOn(opWrite, "*.snap.tmp-*", shortWrite{}), snapshotSteps[0].run)
	if !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("got %v, want io.ErrShortWrite", err)
	}
	checkConsistent(t, dir, newSnap, baseLast)
}

// TestCrashDuringSnapshot crashes the node at every step of writing a
// snapshot (each file system operation and each WAL write, in turn: the
// temporary file's creation, writes and fsync, the rename, the directory
// fsync, the WAL record and its fsync, the purge of old snapshot and WAL
// files), then restarts it, as it is (the process died) or without what
// a power loss takes away (faultFS.powerLoss): the node loads the old snapshot or the new one, never a
// broken one, with the log after it as saved; the new one once its WAL
// record was written, and the old one before.
func TestCrashDuringSnapshot(t *testing.T) {
	smallSegments(t)
	base := faultBase(t)
	for _, step := range snapshotSteps {
		t.Run(step.name, func(t *testing.T) {
			// A run without a crash lists the operations.
			c := &crasher{at: -1}
			ffs := newFaultFS(t, c.inject)
			dir := copyBase(t, base)
			s, err := ffs.open(t, dir)
			if err != nil {
				t.Fatal(err)
			}
			c.arm()
			if err := step.run(t, s); err != nil {
				t.Fatal(err)
			}
			s.Close()
			ops := c.ops
			lastWALWrite := -1
			for i, o := range ops {
				if o.kind == opWALWrite {
					lastWALWrite = i
				}
			}
			if lastWALWrite < 0 {
				t.Fatalf("no WAL write among %v", ops)
			}
			t.Logf("%d steps: %v", len(ops), ops)
			if got := checkConsistent(t, dir, step.want, baseLast); got != step.want {
				t.Fatalf("without a crash: loaded snapshot %d, want %d", got, step.want)
			}

			for at := range ops {
				for _, powerLoss := range []bool{false, true} {
					c := &crasher{at: at}
					ffs := newFaultFS(t, c.inject)
					dir := copyBase(t, base)
					s, err := ffs.open(t, dir)
					if err != nil {
						t.Fatal(err)
					}
					c.arm()
					if err := step.run(t, s); !errors.Is(err, errCrash) {
						t.Fatalf("crash at step %d (%v): got %v, want the crash", at, ops[at], err)
					}
					s.Close()
					if powerLoss {
						ffs.powerLoss()
					}
					loaded := checkConsistent(t, dir, step.want, baseLast)
					if wantNew := at > lastWALWrite; (loaded == step.want) != wantNew {
						t.Fatalf("crash at step %d (%v), power loss %v: loaded snapshot %d; the new one (%d) must be loaded iff the crash came after its last WAL write (step %d)",
							at, ops[at], powerLoss, loaded, step.want, lastWALWrite)
					}
				}
			}
		})
	}
}

// An error reading a snapshot file at start-up that is not damage (an I/O
// error of any kind) stops Open with that error: the file is not taken
// for damaged and set aside.
func TestSnapshotReadErrorIsNotDamage(t *testing.T) {
	smallSegments(t)
	dir := copyBase(t, faultBase(t))
	name := snapFileName(1, baseSnap)
	for _, errno := range []error{syscall.EIO, syscall.ESTALE, syscall.EINTR} {
		ffs := newFaultFS(t, failOn(opRead, name, errno))
		if _, err := ffs.open(t, dir); !errors.Is(err, errno) {
			t.Fatalf("Open with snapshot reads failing with %v: %v", errno, err)
		}
		if _, err := os.Stat(filepath.Join(dir, snapDirName, name)); err != nil {
			t.Fatalf("after a read error (%v) the snapshot file is gone: %v", errno, err)
		}
	}
	s := mustOpen(t, dir)
	if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != baseSnap {
		t.Fatalf("loaded snapshot %d, want %d", got, baseSnap)
	}
}

// A failure to take raft_dir's lock or to write the pid into it fails Open
// with that error, and a later Open works.
func TestLockFaults(t *testing.T) {
	dir := t.TempDir()
	for _, inj := range []injector{failOn(opLock, lockFileName, syscall.EIO), failOn(opTruncate, lockFileName, syscall.EIO)} {
		if _, err := newFaultFS(t, inj).open(t, dir); !errors.Is(err, syscall.EIO) {
			t.Fatalf("Open: %v, want EIO", err)
		}
	}
	s := mustOpen(t, dir)
	s.Close()
}
