package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// TestTornLastRecord simulates a crash in the middle of writing the last WAL
// record, either as a short file (cut at a byte offset) or as a preallocated
// file whose last sectors never reached the disk (zeroed from a sector
// boundary). Open must repair it, dropping that record and keeping every
// earlier one, and the WAL must accept writes afterwards.
func TestTornLastRecord(t *testing.T) {
	src := t.TempDir()
	s := mustOpen(t, src)
	want := entries(1, 20, 1, 300)
	mustSave(t, s, hardState(1, 1, 20), want, nil)
	s.Close()
	names := walNames(t, src)
	if len(names) != 1 {
		t.Fatalf("WAL files %v, want one", names)
	}
	walFile := filepath.Join(src, walDirName, names[0])
	start := walEnd(t, walFile)

	// The last record: one entry spanning several 512-byte sectors.
	s = mustOpen(t, src)
	mustSave(t, s, nil, entries(21, 21, 1, 2000), nil)
	s.Close()
	end := walEnd(t, walFile)
	if end-start < 2000 {
		t.Fatalf("last record is %d bytes, want > 2000", end-start)
	}
	f, err := os.Open(walFile)
	if err != nil {
		t.Fatal(err)
	}
	content := make([]byte, end)
	if _, err := f.ReadAt(content, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()

	type torn struct {
		name string
		data []byte
	}
	var cases []torn
	n := end - start
	for _, cut := range []int64{1, 4, 7, 8, 9, 16, n / 2, n - 8, n - 1} {
		cases = append(cases, torn{fmt.Sprintf("cut at record+%d", cut), content[:start+cut]})
	}
	// Sector boundaries past the record's 8-byte length field.
	for b := (start+8)/512*512 + 512; b < end; b += 512 {
		data := slices.Clone(content)
		clear(data[b:])
		cases = append(cases, torn{fmt.Sprintf("zeroed from sector at record+%d", b-start), data})
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{walDirName, snapDirName} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, walDirName, names[0])
			if err := os.WriteFile(p, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}

			s := mustOpen(t, dir)
			checkHardState(t, s.HardState(), hardState(1, 1, 20))
			checkIndexes(t, s, 1, 20)
			checkEntries(t, allEntries(t, s), want)
			if _, err := os.Stat(p + ".broken"); err != nil {
				t.Errorf("repair kept no copy of the torn file: %v", err)
			}

			// The repaired WAL takes new records.
			mustSave(t, s, hardState(1, 1, 22), entries(21, 22, 1, 10), nil)
			s.Close()
			s = mustOpen(t, dir)
			checkIndexes(t, s, 1, 22)
			checkEntries(t, allEntries(t, s), append(slices.Clone(want), entries(21, 22, 1, 10)...))
		})
	}
}

// TestTornEveryOffset cuts a copy of the WAL at every byte of its last
// record: its length field, its body and its padding, and just after it.
// Open must keep every record before the cut one and drop that one (or keep
// all when the cut is after it), and the WAL must take writes and reopen.
// The last record is an entry in one case and the hard state that follows
// the entries of a Save in the other.
func TestTornEveryOffset(t *testing.T) {
	tests := []struct {
		name string
		// last saves the last batch; wantEnts and wantHS are what a cut
		// inside its last record leaves.
		last     func(t *testing.T, s *Storage)
		wantEnts []*raftpb.Entry
		wantHS   *raftpb.HardState
	}{
		{"entry", func(t *testing.T, s *Storage) {
			mustSave(t, s, nil, entries(11, 11, 2, 203), nil) // 203 bytes: the record needs padding
		}, entries(1, 10, 2, 40), hardState(2, 1, 10)},
		{"hard state after entries", func(t *testing.T, s *Storage) {
			mustSave(t, s, hardState(2, 1, 11), entries(11, 11, 2, 203), nil)
		}, append(entries(1, 10, 2, 40), entries(11, 11, 2, 203)...), hardState(2, 1, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := t.TempDir()
			s := mustOpen(t, src)
			for i := uint64(1); i <= 10; i += 5 {
				mustSave(t, s, hardState(2, 1, i+4), entries(i, i+4, 2, 40), nil)
			}
			s.Close()
			name := walNames(t, src)[0]
			walFile := filepath.Join(src, walDirName, name)
			s = mustOpen(t, src)
			tt.last(t, s)
			s.Close()
			end := walEnd(t, walFile)
			content, err := os.ReadFile(walFile)
			if err != nil {
				t.Fatal(err)
			}
			all := walRecordsEnd(t, content[:end]) // every record boundary
			start := int64(all[len(all)-2])
			t.Logf("last record: bytes %d..%d of %s, %d of them padding", start, end, name, content[start+7]&0x7)

			for cut := start; cut <= end; cut++ {
				dir := t.TempDir()
				writeWAL(t, dir, name, content[:cut])
				want, wantHS := tt.wantEnts, tt.wantHS
				if cut == end {
					want = append(slices.Clone(tt.wantEnts), entries(11, 11, 2, 203)...)
					wantHS = hardState(2, 1, 10)
					if tt.name == "hard state after entries" {
						want, wantHS = tt.wantEnts, hardState(2, 1, 11)
					}
				}
				s, err := Open(dir, testID, testCluster, nil)
				if err != nil {
					t.Fatalf("cut at %d (record boundaries %v): Open: %v", cut, all, err)
				}
				checkHardState(t, s.HardState(), wantHS)
				checkEntries(t, allEntries(t, s), want)
				next := want[len(want)-1].GetIndex() + 1
				more := entries(next, next+1, 3, 10)
				if err := s.Save(hardState(3, 1, next+1), more, nil); err != nil {
					t.Fatalf("cut at %d: Save after the repair: %v", cut, err)
				}
				s.Close()
				s, err = Open(dir, testID, testCluster, nil)
				if err != nil {
					t.Fatalf("cut at %d: reopen after a write: %v", cut, err)
				}
				checkHardState(t, s.HardState(), hardState(3, 1, next+1))
				checkEntries(t, allEntries(t, s), append(slices.Clone(want), more...))
				s.Close()
			}
		})
	}
}

// writeWAL makes dir a raft_dir whose WAL is the one file name holding b.
func writeWAL(t testing.TB, dir, name string, b []byte) {
	t.Helper()
	for _, d := range []string{walDirName, snapDirName} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, walDirName, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// walRecordsEnd returns the offset after each record of a WAL file's bytes.
func walRecordsEnd(t testing.TB, b []byte) []int {
	t.Helper()
	var ends []int
	for p := 0; p < len(b); {
		_, next, ok := parseRecord(b, p)
		if !ok {
			t.Fatalf("no record parses at %d", p)
		}
		ends = append(ends, next)
		p = next
	}
	return ends
}
