package storage

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Storage must satisfy raft.Storage.
var _ raft.Storage = (*Storage)(nil)

func TestOpenFresh(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "raft") // created by Open
	s := mustOpen(t, dir)
	if s.Bootstrapped() {
		t.Fatal("Bootstrapped() = true on a fresh dir")
	}
	if !raft.IsEmptySnap(s.LoadedSnapshot()) || !raft.IsEmptyHardState(s.HardState()) {
		t.Fatalf("fresh dir loaded snapshot %v, hard state %v", s.LoadedSnapshot(), s.HardState())
	}
	checkIndexes(t, s, 1, 0)
	for _, p := range []string{lockFileName, walDirName, snapDirName} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if got := s.WALSize(); got <= 0 {
		t.Errorf("WALSize() = %d, want > 0", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A WAL without any raft state is still not bootstrapped.
	s = mustOpen(t, dir)
	if s.Bootstrapped() {
		t.Fatal("Bootstrapped() = true after reopening an unused dir")
	}
}

// TestOpenInvalidID checks that Open refuses the ids raft refuses to
// start with, before it creates anything.
func TestOpenInvalidID(t *testing.T) {
	for _, id := range []uint64{0, math.MaxUint64 - 1, math.MaxUint64} {
		dir := filepath.Join(t.TempDir(), "raft")
		if s, err := Open(dir, id, "c", nil); err == nil {
			s.Close()
			t.Errorf("Open with id %d: no error", id)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Open with id %d created %s: %v", id, dir, err)
		}
	}
}

func TestBootstrappedAfterHardState(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, hardState(1, 1, 0), nil, nil)
	s.Close()
	s = mustOpen(t, dir)
	if !s.Bootstrapped() {
		t.Fatal("Bootstrapped() = false after saving a hard state")
	}
	checkHardState(t, s.HardState(), hardState(1, 1, 0))
	hs, _, err := s.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	checkHardState(t, hs, hardState(1, 1, 0))
}

func TestSaveReopen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	var want []*raftpb.Entry
	// Batches as the Ready loop gives them: a no-op at term 1, then data.
	batches := []struct {
		hs   *raftpb.HardState
		ents []*raftpb.Entry
	}{
		{hardState(1, 1, 0), entries(1, 1, 1, 0)},
		{hardState(1, 1, 1), entries(2, 5, 1, 300)},
		{hardState(1, 1, 5), nil},                   // commit only
		{nil, entries(6, 10, 1, 1000)},              // entries only
		{hardState(2, 3, 8), entries(9, 12, 2, 50)}, // new term overwrites 9, 10
	}
	for _, b := range batches {
		mustSave(t, s, b.hs, b.ents, nil)
	}
	want = append(want, entries(1, 1, 1, 0)...)
	want = append(want, entries(2, 5, 1, 300)...)
	want = append(want, entries(6, 8, 1, 1000)...)
	want = append(want, entries(9, 12, 2, 50)...)
	checkEntries(t, allEntries(t, s), want)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Save(hardState(2, 3, 9), nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close: %v, want ErrClosed", err)
	}

	s = mustOpen(t, dir)
	if !s.Bootstrapped() {
		t.Fatal("not bootstrapped")
	}
	checkHardState(t, s.HardState(), hardState(2, 3, 8))
	checkEntries(t, allEntries(t, s), want)
	checkIndexes(t, s, 1, 12)
}

func TestCreateSnapshotReopen(t *testing.T) {
	tests := []struct {
		name      string
		keep      uint64
		wantFirst uint64 // FirstIndex after CreateSnapshot(80)
	}{
		{"keep 0", 0, 81},
		{"keep 10", 10, 71},
		{"keep 79", 79, 2},
		{"keep more than the log", 1000, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir)
			mustSave(t, s, hardState(1, 1, 100), entries(1, 100, 1, 100), nil)
			cs := confState(1, 2, 3)
			data := snapData(1 << 20)
			if err := s.CreateSnapshot(80, cs, bytes.NewReader(data), tt.keep); err != nil {
				t.Fatal(err)
			}
			checkIndexes(t, s, tt.wantFirst, 100)
			sn, err := s.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if sn.GetMetadata().GetIndex() != 80 || sn.GetMetadata().GetTerm() != 1 || !bytes.Equal(readSnap(t, s, sn), data) {
				t.Fatalf("Snapshot() = index %d term %d, %d bytes", sn.GetMetadata().GetIndex(), sn.GetMetadata().GetTerm(), len(sn.GetData()))
			}
			if !proto.Equal(sn.GetMetadata().GetConfState(), cs) {
				t.Fatalf("snapshot ConfState %v, want %v", sn.GetMetadata().GetConfState(), cs)
			}
			// Entries after the snapshot, in a new term.
			mustSave(t, s, hardState(2, 2, 110), entries(101, 120, 2, 100), nil)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = mustOpen(t, dir)
			ls := s.LoadedSnapshot()
			if ls.GetMetadata().GetIndex() != 80 || ls.GetMetadata().GetTerm() != 1 || !bytes.Equal(readSnap(t, s, ls), data) {
				t.Fatalf("LoadedSnapshot() = index %d term %d, %d bytes", ls.GetMetadata().GetIndex(), ls.GetMetadata().GetTerm(), len(ls.GetData()))
			}
			if !proto.Equal(ls.GetMetadata().GetConfState(), cs) {
				t.Fatalf("loaded ConfState %v, want %v", ls.GetMetadata().GetConfState(), cs)
			}
			_, ics, _ := s.InitialState()
			if !proto.Equal(ics, cs) {
				t.Fatalf("InitialState ConfState %v, want %v", ics, cs)
			}
			checkHardState(t, s.HardState(), hardState(2, 2, 110))
			checkIndexes(t, s, 81, 120)
			want := append(entries(81, 100, 1, 100), entries(101, 120, 2, 100)...)
			checkEntries(t, allEntries(t, s), want)
			if term, _ := s.Term(80); term != 1 {
				t.Fatalf("Term(80) = %d, want 1", term)
			}
			sn, _ = s.Snapshot()
			if !bytes.Equal(readSnap(t, s, sn), data) {
				t.Fatal("Snapshot() after reopen lost its data")
			}
		})
	}
}

func TestCreateSnapshotNoop(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	mustSave(t, s, hardState(1, 1, 50), entries(1, 50, 1, 10), nil)
	if err := s.CreateSnapshot(40, confState(1), bytes.NewReader([]byte("a")), 5); err != nil {
		t.Fatal(err)
	}
	for _, index := range []uint64{40, 30} {
		if err := s.CreateSnapshot(index, confState(1), bytes.NewReader([]byte("b")), 5); err != nil {
			t.Fatalf("CreateSnapshot(%d) at or below the snapshot: %v", index, err)
		}
	}
	sn, _ := s.Snapshot()
	if sn.GetMetadata().GetIndex() != 40 || string(readSnap(t, s, sn)) != "a" {
		t.Fatalf("snapshot changed by a no-op: index %d data %q", sn.GetMetadata().GetIndex(), readSnap(t, s, sn))
	}
	if err := s.CreateSnapshot(51, confState(1), bytes.NewReader([]byte("c")), 5); err == nil {
		t.Fatal("CreateSnapshot beyond the last index: no error")
	}
	s.Close()
	if err := s.CreateSnapshot(45, confState(1), bytes.NewReader([]byte("d")), 5); !errors.Is(err, ErrClosed) {
		t.Fatalf("CreateSnapshot after Close: %v, want ErrClosed", err)
	}
}

func TestSaveIncomingSnapshot(t *testing.T) {
	tests := []struct {
		name  string
		prior []*raftpb.Entry // the follower's log before the snapshot arrives
	}{
		{"empty follower", nil},
		{"lagging follower", entries(1, 10, 1, 20)},
		{"follower with a longer stale log", entries(1, 150, 1, 20)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir)
			if tt.prior != nil {
				mustSave(t, s, hardState(1, 0, 5), tt.prior, nil)
			}
			cs := confState(1, 2, 3)
			data := snapData(300 << 10)
			// As raft gives it on MsgSnap: the snapshot and a hard state
			// committing it, no entries.
			mustSave(t, s, hardState(3, 0, 100), nil, snapshotAt(100, 3, cs, data))
			checkIndexes(t, s, 101, 100)
			sn, _ := s.Snapshot()
			if sn.GetMetadata().GetIndex() != 100 || !bytes.Equal(readSnap(t, s, sn), data) {
				t.Fatalf("Snapshot() = index %d, %d bytes", sn.GetMetadata().GetIndex(), len(sn.GetData()))
			}
			mustSave(t, s, hardState(3, 0, 103), entries(101, 105, 3, 20), nil)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = mustOpen(t, dir)
			if !s.Bootstrapped() {
				t.Fatal("not bootstrapped")
			}
			ls := s.LoadedSnapshot()
			if ls.GetMetadata().GetIndex() != 100 || ls.GetMetadata().GetTerm() != 3 || !bytes.Equal(readSnap(t, s, ls), data) {
				t.Fatalf("LoadedSnapshot() = index %d term %d, %d bytes", ls.GetMetadata().GetIndex(), ls.GetMetadata().GetTerm(), len(ls.GetData()))
			}
			if !proto.Equal(ls.GetMetadata().GetConfState(), cs) {
				t.Fatalf("ConfState %v, want %v", ls.GetMetadata().GetConfState(), cs)
			}
			checkHardState(t, s.HardState(), hardState(3, 0, 103))
			checkIndexes(t, s, 101, 105)
			checkEntries(t, allEntries(t, s), entries(101, 105, 3, 20))
		})
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	_, err := Open(dir, testID, testCluster, nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if pid := "pid " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), pid) {
		t.Errorf("error %q does not name the holder (%s)", err, pid)
	}
	// The id check must not run, nor anything else touch the dir, without
	// the lock.
	if _, err := Open(dir, testID+1, testCluster, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open with another id while locked: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, testID, testCluster, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

func TestMetadataMismatch(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, hardState(1, 1, 20), entries(1, 20, 1, 100), nil)
	if err := s.CreateSnapshot(10, confState(1), bytes.NewReader(snapData(1000)), 2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	before := treeBytes(t, dir)

	tests := []struct {
		name    string
		id      uint64
		cluster string
		want    error
		msg     []string
	}{
		{"id", 2, testCluster, ErrIDMismatch, []string{"configured id 2", "holds id 1"}},
		{"cluster", testID, "other", ErrClusterMismatch, []string{`"other"`, `"test"`}},
		{"both", 7, "other", ErrIDMismatch, []string{"configured id 7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(dir, tt.id, tt.cluster, testLogger(t))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
			for _, m := range tt.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
			}
			after := treeBytes(t, dir)
			if len(after) != len(before) {
				t.Fatalf("files changed: %d before, %d after", len(before), len(after))
			}
			for p, b := range before {
				if !bytes.Equal(after[p], b) {
					t.Fatalf("%s changed", p)
				}
			}
		})
	}
	// And the right id still opens it, lock released by the failed Opens.
	s = mustOpen(t, dir)
	checkIndexes(t, s, 11, 20)
}

func TestSnapshotsWithoutWAL(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, hardState(1, 1, 20), entries(1, 20, 1, 100), nil)
	if err := s.CreateSnapshot(10, confState(1), bytes.NewReader(snapData(1000)), 2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.RemoveAll(filepath.Join(dir, walDirName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, testID, testCluster, testLogger(t)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
}

// TestPurge cuts the WAL into many small segments and checks that snapshots
// delete old snap files and the WAL segments before the older kept one.
func TestPurge(t *testing.T) {
	defer func(old int64) { wal.SegmentSizeBytes = old }(wal.SegmentSizeBytes)
	wal.SegmentSizeBytes = 16 << 10

	dir := t.TempDir()
	s := mustOpen(t, dir)
	const n = 1000
	for i := uint64(1); i <= n; i += 10 {
		mustSave(t, s, hardState(1, 1, i+9), entries(i, i+9, 1, 200), nil)
	}
	segments := len(walNames(t, dir))
	if segments < 10 {
		t.Fatalf("only %d WAL segments; the test needs many", segments)
	}
	for _, index := range []uint64{200, 500, 800} {
		if err := s.CreateSnapshot(index, confState(1), bytes.NewReader(snapData(100)), 50); err != nil {
			t.Fatal(err)
		}
	}
	snaps := snapNames(t, dir)
	if len(snaps) != keepSnapFiles {
		t.Fatalf("snap files %v, want %d", snaps, keepSnapFiles)
	}
	wals := walNames(t, dir)
	if len(wals) >= segments {
		t.Fatalf("no WAL segment purged: %d before, %d after", segments, len(wals))
	}
	// The first kept segment must start at or below the older kept
	// snapshot (500), and the next one above it is not required.
	_, first, err := parseWALName(wals[0])
	if err != nil {
		t.Fatal(err)
	}
	if first > 500 {
		t.Fatalf("first WAL segment %s starts after the oldest kept snapshot 500", wals[0])
	}
	if len(wals) > 1 {
		if _, second, _ := parseWALName(wals[1]); second <= 500 {
			t.Fatalf("segment %s is wholly before snapshot 500 but was kept", wals[0])
		}
	}
	s.Close()

	s = mustOpen(t, dir)
	if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != 800 {
		t.Fatalf("loaded snapshot %d, want 800", got)
	}
	checkIndexes(t, s, 801, n)
	checkEntries(t, allEntries(t, s), entries(801, n, 1, 200))
	s.Close()

	// If the newest snapshot file is lost, the older kept one and the WAL
	// after it still give the whole log.
	if err := os.Remove(filepath.Join(dir, snapDirName, snaps[1])); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != 500 {
		t.Fatalf("loaded snapshot %d, want 500", got)
	}
	checkIndexes(t, s, 501, n)
	checkEntries(t, allEntries(t, s), entries(501, n, 1, 200))
}

// TestConcurrentSaveAndSnapshot runs CreateSnapshot in the background while
// the Ready loop saves, as the node does; run it with -race.
func TestConcurrentSaveAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	const n = 400
	applied := make(chan uint64, n)
	var wg sync.WaitGroup
	var snapErr error
	wg.Go(func() {
		for index := range applied {
			if index%50 != 0 {
				continue
			}
			if err := s.CreateSnapshot(index, confState(1), bytes.NewReader(snapData(10<<10)), 100); err != nil {
				snapErr = err
				return
			}
		}
	})
	readers := make(chan struct{})
	wg.Go(func() { // raft reading storage meanwhile
		for {
			select {
			case <-readers:
				return
			default:
			}
			if _, err := s.Snapshot(); err != nil {
				t.Error(err)
				return
			}
			first, _ := s.FirstIndex()
			last, _ := s.LastIndex()
			if last >= first {
				if _, err := s.Entries(first, last+1, 1<<20); err != nil && !errors.Is(err, raft.ErrCompacted) {
					t.Error(err)
					return
				}
			}
		}
	})
	for i := uint64(1); i <= n; i++ {
		mustSave(t, s, hardState(1, 1, i), entries(i, i, 1, 100), nil)
		applied <- i
	}
	close(applied)
	close(readers)
	wg.Wait()
	if snapErr != nil {
		t.Fatal(snapErr)
	}
	s.Close()

	s = mustOpen(t, dir)
	if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != n {
		t.Fatalf("loaded snapshot %d, want %d", got, n)
	}
	checkHardState(t, s.HardState(), hardState(1, 1, n))
	checkIndexes(t, s, n+1, n)
}

// TestOrphanSnapshotFile: a crash after writing a snap file but before its
// WAL record leaves a file the WAL does not know; Open must ignore it.
func TestOrphanSnapshotFile(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, hardState(1, 1, 30), entries(1, 30, 1, 10), nil)
	if err := s.CreateSnapshot(20, confState(1), bytes.NewReader([]byte("known")), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.saveSnapFile(snapshotAt(30, 1, confState(1), []byte("orphan"))); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = mustOpen(t, dir)
	ls := s.LoadedSnapshot()
	if ls.GetMetadata().GetIndex() != 20 || string(readSnap(t, s, ls)) != "known" {
		t.Fatalf("loaded snapshot index %d data %q, want 20 %q", ls.GetMetadata().GetIndex(), readSnap(t, s, ls), "known")
	}
	checkIndexes(t, s, 21, 30)
}

// TestCorruptMiddle: damage anywhere but in the last record is not a torn
// write; Open must refuse it rather than truncate acknowledged entries.
func TestCorruptMiddle(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	for i := uint64(1); i <= 10; i++ {
		mustSave(t, s, hardState(1, 1, i), entries(i, i, 1, 300), nil)
	}
	s.Close()
	p := filepath.Join(dir, walDirName, walNames(t, dir)[0])
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte inside an early entry's data (about the 3rd record of
	// ~330 bytes each).
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 1000); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, 1000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open(dir, testID, testCluster, testLogger(t)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
}
