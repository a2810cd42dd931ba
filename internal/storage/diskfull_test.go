//go:build linux

package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/raft/v3/raftpb"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory for the test.
// It skips the test where that is not permitted (not root, no mount
// namespace rights): a real full disk is what the test is about.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs to fill needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the full-disk test needs one", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes file p until the file system is full.
func fill(t *testing.T, p string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", p, err)
			}
			return
		}
	}
}

// TestDiskFull fills a real (tmpfs) file system under a node's raft_dir:
// Save fails with ErrDiskFull naming raft_dir; once space is freed the
// directory opens with every entry whose Save returned nil, and takes
// writes again. Then the same for a snapshot.
func TestDiskFull(t *testing.T) {
	defer func(old int64) { wal.SegmentSizeBytes = old }(wal.SegmentSizeBytes)
	wal.SegmentSizeBytes = 128 << 10 // so that the disk fills at a segment cut, as it would at 64 MiB
	mnt := mountTmpfs(t, 2<<20)
	dir := filepath.Join(mnt, "raft")
	filler := filepath.Join(mnt, "filler")

	s := mustOpen(t, dir)
	fill(t, filler)
	var acked []*raftpb.Entry
	var saveErr error
	for i := uint64(1); i <= 10000; i++ {
		ents := entries(i, i, 1, 1000)
		if saveErr = s.Save(hardState(1, 1, i), ents, nil); saveErr != nil {
			break
		}
		acked = append(acked, ents...)
	}
	if saveErr == nil {
		t.Fatal("10000 entries of 1 KB saved on a full 2 MiB file system")
	}
	t.Logf("%d entries saved, then: %v", len(acked), saveErr)
	if !errors.Is(saveErr, ErrDiskFull) || !errors.Is(saveErr, syscall.ENOSPC) {
		t.Fatalf("Save: %v, want ErrDiskFull wrapping ENOSPC", saveErr)
	}
	if msg := saveErr.Error(); !strings.Contains(msg, dir) || !strings.Contains(msg, "free space") || strings.Contains(msg, "\n") {
		t.Errorf("message does not name raft_dir and what to do, on one line: %q", msg)
	}
	s.Close() // may fail too: the node stops here

	// Still full: a start fails clearly or works; it never loses data.
	if s2, err := Open(dir, testID, testCluster, nil); err == nil {
		checkEntries(t, allEntries(t, s2)[:len(acked)], acked)
		s2.Close()
	} else if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("Open on a full disk: %v, want success or ErrDiskFull", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	got := allEntries(t, s)
	if len(got) < len(acked) {
		t.Fatalf("after freeing space: %d entries, %d were acknowledged", len(got), len(acked))
	}
	checkEntries(t, got[:len(acked)], acked) // the failed Save's entry may be there too
	next := got[len(got)-1].GetIndex() + 1
	mustSave(t, s, hardState(2, 1, next+99), entries(next, next+99, 2, 1000), nil) // over several segments
	s.Close()
	s = mustOpen(t, dir)
	checkIndexes(t, s, 1, next+99)

	// A snapshot file that does not fit.
	fill(t, filler)
	err := s.CreateSnapshot(next+99, confState(1), bytes.NewReader(snapData(1<<20)), 10)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("CreateSnapshot on a full disk: %v, want ErrDiskFull naming raft_dir", err)
	}
	s.Close()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	checkIndexes(t, s, 1, next+99)
	if err := s.CreateSnapshot(next+99, confState(1), bytes.NewReader(snapData(1<<20)), 10); err != nil {
		t.Fatalf("CreateSnapshot after freeing space: %v", err)
	}
	s.Close()
	s = mustOpen(t, dir)
	if got := s.LoadedSnapshot().GetMetadata().GetIndex(); got != next+99 {
		t.Fatalf("loaded snapshot %d, want %d", got, next+99)
	}
}
