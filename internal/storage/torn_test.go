package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
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
