package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
)

// lockFileName is the file in raft_dir that the running process holds an
// exclusive lock on. Its content is the holder's pid, for error messages
// only: the lock, not the content, is what excludes other processes.
const lockFileName = "LOCK"

// dirLock is an exclusive, non-blocking lock on raft_dir/LOCK.
type dirLock struct {
	f    *fileutil.LockedFile
	path string
}

// lockDir takes the lock on dir/LOCK without waiting; writePid then records
// our pid in the file. It returns an error wrapping ErrLocked if another process (or
// another open Storage in this process) holds it.
//
// On Linux the lock is an open file description lock (fcntl F_OFD_SETLK),
// elsewhere flock(2): both are released by the kernel when the process dies,
// so a stale LOCK file left by a crash never blocks a restart.
func lockDir(dir string) (*dirLock, error) {
	p := filepath.Join(dir, lockFileName)
	f, err := fileutil.TryLockFile(p, os.O_RDWR|os.O_CREATE, fileutil.PrivateFileMode)
	if errors.Is(err, fileutil.ErrLocked) {
		holder := "an unknown pid"
		if b, rerr := os.ReadFile(p); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil {
				holder = "pid " + strconv.Itoa(pid)
			}
		}
		return nil, fmt.Errorf("%w: %s is held by %s; stop that process or use another raft_dir", ErrLocked, p, holder)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: lock %s: %w", p, err)
	}
	return &dirLock{f: f, path: p}, nil
}

// writePid records this process in the LOCK file, for the message another
// process gets when it finds the directory locked. Open calls it only once
// the directory is known to be this node's, so a refused start changes
// nothing in raft_dir.
func (l *dirLock) writePid() error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("storage: write pid to %s: %w", l.path, err)
	}
	if _, err := l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return fmt.Errorf("storage: write pid to %s: %w", l.path, err)
	}
	return nil
}

// release drops the lock. The LOCK file itself stays: removing it could race
// with another process that has just opened it.
func (l *dirLock) release() error {
	return l.f.Close()
}
