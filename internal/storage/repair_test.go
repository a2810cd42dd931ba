package storage

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
)

// damageWAL applies damage to WAL file name of dir.
func damageWAL(t testing.TB, dir, name string, damage func(b []byte)) {
	t.Helper()
	p := filepath.Join(dir, walDirName, name)
	b := mustRead(t, p)
	damage(b)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustRepair(t testing.TB, dir string) *RepairReport {
	t.Helper()
	rep, err := Repair(dir, testLogger(t))
	if err != nil {
		t.Fatalf("Repair: %v", err)
	}
	return rep
}

// TestRepairMiddle: a damaged record in the middle of the newest file.
// Open refuses; Repair keeps the records before it, sets the original
// aside, and the node opens with that prefix, takes writes and reopens.
func TestRepairMiddle(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	for i := uint64(1); i <= 20; i++ {
		mustSave(t, s, hardState(1, 1, i), entries(i, i, 1, 100), nil)
	}
	s.Close()
	name := walNames(t, dir)[0]
	p := filepath.Join(dir, walDirName, name)
	bounds := walRecordsEnd(t, mustRead(t, p)[:walEnd(t, p)])
	// Records: crc, metadata, snapshot, then entry, state per Save. Hit
	// the entry of the 10th Save.
	at := bounds[2+2*9]
	damageWAL(t, dir, name, func(b []byte) { b[at+40] ^= 0x04 })
	_, err := Open(dir, testID, testCluster, nil)
	checkDamaged(t, err, filepath.Join(walDirName, name))

	rep := mustRepair(t, dir)
	if !rep.Lost || rep.Torn || rep.OldFilesOnly {
		t.Errorf("report: lost %v torn %v old files only %v, want lost", rep.Lost, rep.Torn, rep.OldFilesOnly)
	}
	if rep.Truncated != p || rep.TruncatedAt != int64(at) || rep.KeptCopy != p+".broken" {
		t.Errorf("report: truncated %s at %d, kept %s; want %s at %d", rep.Truncated, rep.TruncatedAt, rep.KeptCopy, p, at)
	}
	if rep.LastIndex != 9 || rep.LostUpTo != 20 || rep.HardState.GetCommit() != 9 {
		t.Errorf("report: last index %d, lost up to %d, hard state %v; want 9, 20, commit 9", rep.LastIndex, rep.LostUpTo, rep.HardState)
	}
	if !strings.Contains(rep.Damage, name) {
		t.Errorf("report damage %q does not name %s", rep.Damage, name)
	}
	if _, err := os.Stat(rep.KeptCopy); err != nil {
		t.Errorf("original not kept: %v", err)
	}

	s = mustOpen(t, dir)
	checkEntries(t, allEntries(t, s), entries(1, 9, 1, 100))
	checkHardState(t, s.HardState(), hardState(1, 1, 9))
	// As raft would: the leader sends entries 10.. again.
	mustSave(t, s, hardState(2, 0, 25), entries(10, 25, 2, 10), nil)
	s.Close()
	s = mustOpen(t, dir)
	checkIndexes(t, s, 1, 25)
	s.Close()

	// Nothing left to repair.
	rep = mustRepair(t, dir)
	if rep.Changed() || rep.Damage != "" || rep.LastIndex != 25 {
		t.Errorf("second repair: %+v", rep)
	}
}

// TestRepairCases covers where the damage is and what Repair does about it.
func TestRepairCases(t *testing.T) {
	defer func(old int64) { wal.SegmentSizeBytes = old }(wal.SegmentSizeBytes)
	wal.SegmentSizeBytes = 4 << 10

	// build writes 200 entries over many WAL files, taking snapshots at
	// the given indexes (multiples of 4).
	build := func(t *testing.T, snapshots ...uint64) string {
		dir := t.TempDir()
		s := mustOpen(t, dir)
		for i := uint64(1); i <= 200; i += 4 {
			mustSave(t, s, hardState(1, 1, i+3), entries(i, i+3, 1, 100), nil)
			if slices.Contains(snapshots, i+3) {
				if err := s.CreateSnapshot(i+3, confState(1), bytes.NewReader(snapData(100)), 0); err != nil {
					t.Fatal(err)
				}
			}
		}
		s.Close()
		return dir
	}

	t.Run("torn tail", func(t *testing.T) {
		dir := build(t)
		names := walNames(t, dir)
		p := filepath.Join(dir, walDirName, names[len(names)-1])
		end := walEnd(t, p)
		if err := os.Truncate(p, end-5); err != nil {
			t.Fatal(err)
		}
		rep := mustRepair(t, dir)
		if !rep.Torn || rep.Lost || rep.Truncated != p {
			t.Errorf("report %+v, want a torn cut of %s", rep, p)
		}
		s := mustOpen(t, dir)
		checkIndexes(t, s, 1, 200) // the cut record was the last hard state
	})

	t.Run("damage in an older file", func(t *testing.T) {
		dir := build(t)
		names := walNames(t, dir)
		damageWAL(t, dir, names[2], func(b []byte) { b[200] ^= 0x01 })
		rep := mustRepair(t, dir)
		if !rep.Lost || rep.OldFilesOnly || rep.Truncated != filepath.Join(dir, walDirName, names[2]) {
			t.Errorf("report %+v, want %s cut", rep, names[2])
		}
		if len(rep.Moved) != len(names)-3 {
			t.Errorf("moved %d files, want the %d after the damaged one", len(rep.Moved), len(names)-3)
		}
		s := mustOpen(t, dir)
		if last, _ := s.LastIndex(); last != rep.LastIndex || last >= 200 || last < 8 {
			t.Errorf("last index %d, report %d", last, rep.LastIndex)
		}
	})

	t.Run("damage in a file before the snapshot", func(t *testing.T) {
		// The WAL from the older snapshot (40) on is kept; damage a
		// file wholly between the two.
		dir := build(t, 40, 160)
		names := walNames(t, dir)
		damaged := -1
		for i := range names[:len(names)-1] {
			_, first, _ := parseWALName(names[i])
			_, next, _ := parseWALName(names[i+1])
			if first > 40 && next < 160 {
				damaged = i
				break
			}
		}
		if damaged < 1 {
			t.Fatalf("no WAL file between the snapshots: %v", names)
		}
		damageWAL(t, dir, names[damaged], func(b []byte) { b[200] ^= 0x01 })
		_, err := Open(dir, testID, testCluster, nil)
		checkDamaged(t, err, filepath.Join(walDirName, names[damaged]))
		rep := mustRepair(t, dir)
		// The damaged file and those before it, and the older snapshot
		// whose record went with them.
		if rep.Lost || !rep.OldFilesOnly || rep.Truncated != "" || len(rep.Moved) != damaged+2 {
			t.Errorf("report %+v, want %d files set aside and nothing lost", rep, damaged+2)
		}
		s := mustOpen(t, dir)
		if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != 160 {
			t.Fatalf("loaded snapshot %d, want 160", got)
		}
		checkEntries(t, allEntries(t, s), entries(161, 200, 1, 100))
	})

	t.Run("head of the newest file", func(t *testing.T) {
		dir := build(t)
		names := walNames(t, dir)
		last := names[len(names)-1]
		damageWAL(t, dir, last, func(b []byte) { b[20] ^= 0x01 })
		rep := mustRepair(t, dir)
		if rep.Truncated != "" || len(rep.Moved) != 1 || rep.Moved[0][0] != filepath.Join(dir, walDirName, last) {
			t.Errorf("report %+v, want %s set aside", rep, last)
		}
		s := mustOpen(t, dir)
		mustSave(t, s, hardState(2, 1, 300), entries(rep.LastIndex+1, 300, 2, 10), nil)
		s.Close()
		s = mustOpen(t, dir)
		checkIndexes(t, s, 1, 300)
	})

	t.Run("head of the only file", func(t *testing.T) {
		dir := t.TempDir()
		s := mustOpen(t, dir)
		mustSave(t, s, hardState(1, 1, 3), entries(1, 3, 1, 10), nil)
		s.Close()
		name := walNames(t, dir)[0]
		damageWAL(t, dir, name, func(b []byte) { b[20] ^= 0x01 })
		before := dirFiles(t, dir)
		if _, err := Repair(dir, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "no intact WAL record") {
			t.Fatalf("Repair: %v, want ErrCorrupt: no intact WAL record", err)
		}
		if !mapsEqual(before, dirFiles(t, dir)) {
			t.Error("a failed Repair changed raft_dir")
		}
	})
}

// TestRepairSnapshots: Repair sets damaged snapshot files aside when the
// WAL stands in for them, and gives up (ErrCorrupt) when it cannot.
func TestRepairSnapshots(t *testing.T) {
	t.Run("fallback", func(t *testing.T) {
		dir := t.TempDir()
		s := mustOpen(t, dir)
		mustSave(t, s, hardState(1, 1, 100), entries(1, 100, 1, 50), nil)
		for _, index := range []uint64{40, 80} {
			if err := s.CreateSnapshot(index, confState(1), bytes.NewReader(snapData(3000)), 5); err != nil {
				t.Fatal(err)
			}
		}
		s.Close()
		p := filepath.Join(dir, snapDirName, snapFileName(1, 80))
		flipSnap(t, p)
		rep := mustRepair(t, dir)
		if rep.Lost || rep.Damage != "" || len(rep.Moved) != 1 || rep.Moved[0] != [2]string{p, p + ".broken"} {
			t.Errorf("report %+v, want %s set aside", rep, p)
		}
		if rep.SnapshotIndex != 40 || rep.LastIndex != 100 {
			t.Errorf("report: snapshot %d, last %d; want 40, 100", rep.SnapshotIndex, rep.LastIndex)
		}
		s = mustOpen(t, dir)
		checkIndexes(t, s, 41, 100)
	})
	t.Run("no fallback", func(t *testing.T) {
		dir := t.TempDir()
		s := mustOpen(t, dir)
		mustSave(t, s, hardState(1, 0, 40), entries(1, 60, 1, 20), nil)
		if err := s.CreateSnapshot(40, confState(1), bytes.NewReader(snapData(500)), 1000); err != nil {
			t.Fatal(err)
		}
		mustSave(t, s, hardState(3, 0, 100), nil, snapshotAt(100, 3, confState(1), snapData(2000)))
		s.Close()
		flipSnap(t, filepath.Join(dir, snapDirName, snapFileName(3, 100)))
		_, err := Repair(dir, nil)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), snapFileName(3, 100)) ||
			!strings.Contains(err.Error(), "rejoin") || !strings.Contains(err.Error(), "import") {
			t.Fatalf("Repair: %v, want ErrCorrupt naming the snapshot and the ways out", err)
		}
	})
	t.Run("orphan snapshot after the cut", func(t *testing.T) {
		dir := t.TempDir()
		s := mustOpen(t, dir)
		for i := uint64(1); i <= 40; i += 10 {
			mustSave(t, s, hardState(1, 1, i+9), entries(i, i+9, 1, 50), nil)
		}
		if err := s.CreateSnapshot(35, confState(1), bytes.NewReader(snapData(300)), 100); err != nil {
			t.Fatal(err)
		}
		s.Close()
		// Damage the entry records of the first Save, before the
		// snapshot record: the snapshot is cut away with them.
		name := walNames(t, dir)[0]
		damageWAL(t, dir, name, func(b []byte) { b[200] ^= 0x01 })
		rep := mustRepair(t, dir)
		orphan := filepath.Join(dir, snapDirName, snapFileName(1, 35))
		if !slices.Contains(rep.Moved, [2]string{orphan, orphan + ".broken"}) {
			t.Errorf("moved %v, want the orphaned %s", rep.Moved, orphan)
		}
		s = mustOpen(t, dir)
		if s.LoadedSnapshot().GetMetadata().GetIndex() != 0 {
			t.Error("loaded a snapshot the WAL no longer records")
		}
	})
}

func TestRepairRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := Repair(dir, nil); !errors.Is(err, ErrNotRaftDir) {
		t.Errorf("empty dir: %v, want ErrNotRaftDir", err)
	}
	s := mustOpen(t, dir)
	mustSave(t, s, hardState(1, 1, 1), entries(1, 1, 1, 1), nil)
	if _, err := Repair(dir, nil); !errors.Is(err, ErrLocked) {
		t.Errorf("running node: %v, want ErrLocked", err)
	}
	s.Close()
	rep := mustRepair(t, dir)
	if rep.Changed() || rep.LastIndex != 1 {
		t.Errorf("healthy dir: %+v", rep)
	}
}
