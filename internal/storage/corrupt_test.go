package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"
)

// checkDamaged checks that err is the refusal Open gives for damage: it
// wraps ErrCorrupt, is one line, names the damaged file and says every way
// to recover.
func checkDamaged(t testing.TB, err error, file string) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open: %v, want ErrCorrupt", err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("message is not one line: %q", msg)
	}
	for _, want := range []string{
		file,
		"--leave-id", "--leave-via", "join = [", "new id", // rejoin
		"databend-metactl import",            // backup
		"databend-metactl repair --raft-dir", // repair
		"lost on this node", "rejoins a cluster that still has them",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message does not say %q: %s", want, msg)
		}
	}
}

// dirFiles lists the files under dir with their sizes and the hash of their
// first 1 MiB, enough to tell whether Open changed anything.
func dirFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || fi.Name() == lockFileName {
			return err // Open creates an empty LOCK file; it holds no data
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		b := make([]byte, 1<<20)
		n, _ := f.ReadAt(b, 0)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fmt.Sprintf("%d %x", fi.Size(), b[:n])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// writeSparseWAL makes dir a raft_dir whose WAL is the one file name
// holding b followed by zeros up to size, as a preallocated segment.
func writeSparseWAL(t testing.TB, dir, name string, b []byte, size int64) {
	t.Helper()
	writeWAL(t, dir, name, b)
	if err := os.Truncate(filepath.Join(dir, walDirName, name), size); err != nil {
		t.Fatal(err)
	}
}

// TestFlipEveryByte flips each byte of a WAL in turn, as bit rot or a bad
// sector would. Open must refuse with ErrCorrupt, naming the file, and
// change nothing; or, where the byte is not covered by a checksum (record
// padding), load every entry and the hard state unchanged. It must never
// load a shorter log, which would silently lose acknowledged writes: etcd's
// reader alone takes some of these (a damaged length field, a zeroed
// sector in a record) for a torn last write and truncates there.
//
// A byte of the last record may also make it read as torn and be dropped:
// its damage cannot be told from a write cut short by a crash.
func TestFlipEveryByte(t *testing.T) {
	src := t.TempDir()
	s := mustOpen(t, src)
	for i := uint64(1); i <= 12; i += 3 {
		mustSave(t, s, hardState(1, 1, i+2), entries(i, i+2, 1, 25+int(i)), nil)
	}
	mustSave(t, s, nil, entries(13, 13, 1, 30), nil)
	want := allEntries(t, s)
	wantHS := hardState(1, 1, 12)
	s.Close()
	name := walNames(t, src)[0]
	end := walEnd(t, filepath.Join(src, walDirName, name))
	content, err := os.ReadFile(filepath.Join(src, walDirName, name))
	if err != nil {
		t.Fatal(err)
	}
	content = content[:end]
	bounds := walRecordsEnd(t, content)
	lastStart := bounds[len(bounds)-2]

	var refused, intact, dropped int
	for off := range len(content) {
		b := slices.Clone(content)
		b[off] ^= 0xff
		dir := t.TempDir()
		writeSparseWAL(t, dir, name, b, int64(len(b))+8192)
		before := dirFiles(t, dir)
		s, err := Open(dir, testID, testCluster, nil)
		if err != nil {
			checkDamaged(t, err, filepath.Join(walDirName, name))
			if after := dirFiles(t, dir); !mapsEqual(before, after) {
				t.Fatalf("byte %d: a refusing Open changed raft_dir", off)
			}
			refused++
			continue
		}
		got := allEntries(t, s)
		hs := s.HardState()
		s.Close()
		switch {
		case len(got) == len(want):
			checkEntries(t, got, want)
			checkHardState(t, hs, wantHS)
			intact++
		case off >= lastStart && len(got) == len(want)-1:
			checkEntries(t, got, want[:len(want)-1])
			dropped++
		default:
			t.Fatalf("byte %d of %d (records end at %v): Open loaded %d entries, want %d: acknowledged entries lost",
				off, len(content), bounds, len(got), len(want))
		}
	}
	t.Logf("%d bytes: %d refused, %d loaded intact, %d dropped the last record", len(content), refused, intact, dropped)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestCorruptCases: damage that etcd's reader alone would take for a torn
// tail, and damage in older files and file heads.
func TestCorruptCases(t *testing.T) {
	defer func(old int64) { wal.SegmentSizeBytes = old }(wal.SegmentSizeBytes)
	wal.SegmentSizeBytes = 4 << 10

	src := t.TempDir()
	s := mustOpen(t, src)
	for i := uint64(1); i <= 200; i += 4 {
		mustSave(t, s, hardState(1, 1, i+3), entries(i, i+3, 1, 100), nil)
	}
	s.Close()
	names := walNames(t, src)
	if len(names) < 4 {
		t.Fatalf("WAL files %v, want several", names)
	}
	last := names[len(names)-1]
	lastFile := filepath.Join(src, walDirName, last)
	bounds := walRecordsEnd(t, mustRead(t, lastFile)[:walEnd(t, lastFile)])
	if len(bounds) < 6 {
		t.Fatalf("newest file holds %d records, want more", len(bounds))
	}

	tests := []struct {
		name   string
		file   string
		damage func(b []byte) // of the file's bytes
	}{
		{"length field of a middle record says more than the file holds", last, func(b []byte) {
			b[bounds[3]+5] = 0x40
		}},
		{"zeroed sector in a middle record", last, func(b []byte) {
			// Records are ~130 bytes: zero 16 bytes inside record 4 and
			// the sector chunk rule makes the decoder call it torn only
			// if a whole chunk is zero; zero the record's body instead.
			clear(b[bounds[3]+8 : bounds[4]])
		}},
		{"zeroed length field in the middle", last, func(b []byte) {
			clear(b[bounds[3] : bounds[3]+8])
		}},
		{"second-to-last record's data", last, func(b []byte) {
			b[bounds[len(bounds)-2]-20] ^= 0x01
		}},
		{"second-to-last record's length", last, func(b []byte) {
			b[bounds[len(bounds)-3]+3] ^= 0x01
		}},
		{"second-to-last record's type", last, func(b []byte) {
			b[bounds[len(bounds)-3]+8] ^= 0xff
		}},
		{"head of the newest file", last, func(b []byte) {
			b[bounds[0]+12] ^= 0x01 // the metadata record
		}},
		{"entry in an older file", names[1], func(b []byte) {
			b[300] ^= 0x10
		}},
		{"older file cut short", names[1], func(b []byte) {
			clear(b[len(b)-100:])
		}},
		{"older file's CRC record", names[2], func(b []byte) {
			b[9] ^= 0x01
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, src, dir)
			p := filepath.Join(dir, walDirName, tt.file)
			b := mustRead(t, p)
			tt.damage(b)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			before := dirFiles(t, dir)
			_, err := Open(dir, testID, testCluster, testLogger(t))
			checkDamaged(t, err, filepath.Join(walDirName, tt.file))
			if after := dirFiles(t, dir); !mapsEqual(before, after) {
				t.Fatal("a refusing Open changed raft_dir")
			}
			if _, err := OpenReadOnly(dir, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("OpenReadOnly: %v, want ErrCorrupt", err)
			}
		})
	}
}

func mustRead(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyDir copies raft_dir src into dst (regular files only).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if rel == lockFileName {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// flipSnap flips a byte in the middle of snap file p.
func flipSnap(t testing.TB, p string) {
	t.Helper()
	b := mustRead(t, p)
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedSnapshotFallback: the newest snap file is damaged but the WAL
// still holds the log from the older kept snapshot: Open loads the older
// one, replays the log through the damaged one's index, and sets the
// damaged file aside.
func TestDamagedSnapshotFallback(t *testing.T) {
	for _, missing := range []bool{false, true} {
		t.Run(fmt.Sprintf("missing=%v", missing), func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir)
			mustSave(t, s, hardState(1, 1, 100), entries(1, 100, 1, 50), nil)
			for _, index := range []uint64{40, 80} {
				if err := s.CreateSnapshot(index, confState(1), bytes.NewReader(snapData(3000)), 5); err != nil {
					t.Fatal(err)
				}
			}
			mustSave(t, s, hardState(1, 1, 110), entries(101, 110, 1, 50), nil)
			s.Close()
			newest := filepath.Join(dir, snapDirName, snapFileName(1, 80))
			if missing {
				os.Remove(newest)
			} else {
				flipSnap(t, newest)
			}

			s = mustOpen(t, dir)
			if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != 40 {
				t.Fatalf("loaded snapshot %d, want 40", got)
			}
			checkHardState(t, s.HardState(), hardState(1, 1, 110))
			checkEntries(t, allEntries(t, s), entries(41, 110, 1, 50))
			if !missing {
				if _, err := os.Stat(newest + ".broken"); err != nil {
					t.Errorf("damaged snapshot not set aside: %v", err)
				}
			}
			if _, err := os.Stat(newest); err == nil {
				t.Error("damaged snapshot file still in snap/")
			}
			// The node goes on: a new snapshot, new entries, reopen.
			mustSave(t, s, hardState(1, 1, 120), entries(111, 120, 1, 50), nil)
			if err := s.CreateSnapshot(115, confState(1), bytes.NewReader(snapData(10)), 5); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = mustOpen(t, dir)
			if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != 115 {
				t.Fatalf("loaded snapshot %d, want 115", got)
			}
			checkIndexes(t, s, 116, 120)
		})
	}
}

// TestDamagedSnapshotNoFallback: the newest snapshot is damaged or missing
// and the WAL cannot stand in for it. Open must refuse, naming the file,
// and change nothing: replaying from an older snapshot would build another
// state.
func TestDamagedSnapshotNoFallback(t *testing.T) {
	installed := func(t *testing.T, dir string, prior []*raftpb.Entry, commit uint64) {
		s := mustOpen(t, dir)
		mustSave(t, s, hardState(1, 0, commit), prior, nil)
		if err := s.CreateSnapshot(commit, confState(1, 2, 3), bytes.NewReader(snapData(500)), 1000); err != nil {
			t.Fatal(err)
		}
		// The leader's snapshot at 100, term 3, then its entries.
		mustSave(t, s, hardState(3, 0, 100), nil, snapshotAt(100, 3, confState(1, 2, 3), snapData(2000)))
		mustSave(t, s, hardState(3, 0, 105), entries(101, 105, 3, 20), nil)
		s.Close()
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		damaged string // the snap file to damage
		missing bool
	}{
		{"installed snapshot skipped entries", func(t *testing.T, dir string) {
			installed(t, dir, entries(1, 60, 1, 20), 40)
		}, snapFileName(3, 100), false},
		{"installed snapshot over a stale longer log", func(t *testing.T, dir string) {
			// Entries 41..150 at term 1 were never committed; the leader
			// of term 3 has other entries there.
			installed(t, dir, entries(1, 150, 1, 20), 40)
		}, snapFileName(3, 100), false},
		{"installed snapshot file missing", func(t *testing.T, dir string) {
			installed(t, dir, entries(1, 150, 1, 20), 40)
		}, snapFileName(3, 100), true},
		{"only snapshot and the WAL before it purged", func(t *testing.T, dir string) {
			defer func(old int64) { wal.SegmentSizeBytes = old }(wal.SegmentSizeBytes)
			wal.SegmentSizeBytes = 4 << 10
			s := mustOpen(t, dir)
			for i := uint64(1); i <= 300; i += 10 {
				mustSave(t, s, hardState(1, 1, i+9), entries(i, i+9, 1, 100), nil)
			}
			for _, index := range []uint64{100, 250} {
				if err := s.CreateSnapshot(index, confState(1), bytes.NewReader(snapData(100)), 0); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			flipSnap(t, filepath.Join(dir, snapDirName, snapFileName(1, 100)))
		}, snapFileName(1, 250), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			p := filepath.Join(dir, snapDirName, tt.damaged)
			if tt.missing {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			} else {
				flipSnap(t, p)
			}
			before := dirFiles(t, dir)
			_, err := Open(dir, testID, testCluster, testLogger(t))
			checkDamaged(t, err, filepath.Join(snapDirName, tt.damaged))
			if after := dirFiles(t, dir); !mapsEqual(before, after) {
				t.Fatal("a refusing Open changed raft_dir")
			}
			// Again, with the same message: nothing was renamed.
			_, err2 := Open(dir, testID, testCluster, nil)
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second Open: %v\nfirst: %v", err2, err)
			}
			if _, err := OpenReadOnly(dir, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("OpenReadOnly: %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestDamagedSnapshotLogCovers: a snapshot installed from the leader over a
// log that already held its entry at the same term is covered by the log
// (raft's log matching), so falling back is safe.
func TestDamagedSnapshotLogCovers(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	mustSave(t, s, hardState(3, 0, 40), entries(1, 100, 3, 20), nil)
	if err := s.CreateSnapshot(40, confState(1), bytes.NewReader(snapData(500)), 1000); err != nil {
		t.Fatal(err)
	}
	mustSave(t, s, hardState(3, 0, 100), nil, snapshotAt(100, 3, confState(1), snapData(2000)))
	mustSave(t, s, hardState(3, 0, 105), entries(101, 105, 3, 20), nil)
	s.Close()
	flipSnap(t, filepath.Join(dir, snapDirName, snapFileName(3, 100)))
	s = mustOpen(t, dir)
	if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != 40 {
		t.Fatalf("loaded snapshot %d, want 40", got)
	}
	checkEntries(t, allEntries(t, s), append(entries(41, 100, 3, 20), entries(101, 105, 3, 20)...))
}

func TestDamagedErrorOneLine(t *testing.T) {
	err := damagedError("/var/lib/meta", 7, "WAL file wal/x.wal is damaged at offset 8 (crc mismatch): it is in the middle of the log")
	checkDamaged(t, err, "wal/x.wal")
	if !bytes.Contains([]byte(err.Error()), []byte("--leave-id 7")) {
		t.Errorf("message does not name the node's id: %v", err)
	}
}
