//go:build linux

package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// failSync makes every later write to and fdatasync of WAL file p by this
// process fail or go nowhere: it replaces each descriptor open on p with
// one on /dev/null, where write(2) succeeds and fdatasync(2) fails with
// EINVAL. The etcd WAL writes through *os.File directly, with no seam to
// inject a failure; this is the failure at the system call it makes.
func failSync(t *testing.T, p string) {
	t.Helper()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range fds {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == p {
			if err := syscall.Dup3(int(null.Fd()), fd, syscall.O_CLOEXEC); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no descriptor open on %s", p)
	}
}

// TestFailedFsync: when the WAL's fdatasync fails, Save returns the error
// (raftnode then stops the node: see raftnode's TestSaveFailureStopsNode),
// and a restart finds every entry whose Save returned nil.
func TestFailedFsync(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	acked := entries(1, 20, 1, 100)
	mustSave(t, s, hardState(1, 1, 20), acked, nil)

	failSync(t, filepath.Join(dir, walDirName, walNames(t, dir)[0]))
	err := s.Save(hardState(1, 1, 21), entries(21, 21, 1, 100), nil)
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Save with a failing fdatasync: %v, want the EINVAL of fdatasync", err)
	}
	if err := s.Close(); err == nil {
		t.Error("Close synced a WAL whose fdatasync fails")
	}

	s = mustOpen(t, dir)
	checkHardState(t, s.HardState(), hardState(1, 1, 20))
	checkEntries(t, allEntries(t, s), acked)
	mustSave(t, s, hardState(1, 1, 22), entries(21, 22, 1, 100), nil)
	s.Close()
	s = mustOpen(t, dir)
	checkIndexes(t, s, 1, 22)
}
