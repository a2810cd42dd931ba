package storage

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
)

// TestSetWALSegmentSize checks that the WAL of a Storage opened after
// SetWALSegmentSize preallocates its segments to that size and cuts them
// there, and reopens with every entry.
func TestSetWALSegmentSize(t *testing.T) {
	const size = 1 << 20
	old := wal.SegmentSizeBytes
	t.Cleanup(func() { SetWALSegmentSize(old) })
	SetWALSegmentSize(size)

	dir := t.TempDir()
	s := mustOpen(t, dir)
	// Three segments' worth of entries, 64 KiB each.
	const n = 3 * size / (64 << 10)
	for i := uint64(1); i <= n; i++ {
		mustSave(t, s, hardState(1, 1, i), entries(i, i, 1, 64<<10), nil)
	}
	segs := walSegments(t, filepath.Join(dir, walDirName))
	if len(segs) < 3 {
		t.Fatalf("%d WAL segments after %d bytes of entries, want at least 3 of %d bytes: %v", len(segs), n*(64<<10), size, segs)
	}
	for i, seg := range segs {
		fi, err := os.Stat(filepath.Join(dir, walDirName, seg))
		if err != nil {
			t.Fatal(err)
		}
		// A full segment is cut just past the size; the last one is
		// preallocated to it.
		if last := i == len(segs)-1; (last && fi.Size() != size) || (!last && (fi.Size() < size || fi.Size() > size+(128<<10))) {
			t.Errorf("segment %s: %d bytes, want %d (the last) or just over", seg, fi.Size(), size)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	checkIndexes(t, s, 1, n)
}

// walSegments returns the names of the segment files in walDir, in order.
func walSegments(t *testing.T, walDir string) []string {
	t.Helper()
	des, err := os.ReadDir(walDir)
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), ".wal") {
			segs = append(segs, de.Name())
		}
	}
	slices.Sort(segs)
	return segs
}
