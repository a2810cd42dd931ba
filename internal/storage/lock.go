package storage

import (
	"errors"
	"fmt"
	"io"
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
	f    vfile
	path string
}

// lockDir takes the lock on dir/LOCK without waiting (vfs.Lock); writePid
// then records our pid in the file. It returns an error wrapping ErrLocked
// if another process (or another open Storage in this process) holds it.
// The lock is released by the kernel when the process dies, so a stale
// LOCK file left by a crash never blocks a restart.
func lockDir(fsys vfs, dir string) (*dirLock, error) {
	p := filepath.Join(dir, lockFileName)
	f, err := fsys.Lock(p)
	if errors.Is(err, fileutil.ErrLocked) {
		return nil, fmt.Errorf("%w: %s is held by %s; stop that process or use another raft_dir", ErrLocked, p, lockHolder(fsys, p))
	}
	if err != nil {
		return nil, fmt.Errorf("storage: lock %s: %w", p, err)
	}
	return &dirLock{f: f, path: p}, nil
}

// lockHolder returns "pid N" for the pid written in the LOCK file p, or
// "an unknown pid".
func lockHolder(fsys vfs, p string) string {
	f, err := fsys.Open(p)
	if err != nil {
		return "an unknown pid"
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return "an unknown pid"
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return "an unknown pid"
	}
	return "pid " + strconv.Itoa(pid)
}

// writePid records this process in the LOCK file, for the message another
// process gets when it finds the directory locked. Open calls it only once
// the directory is known to be this node's, so a refused start changes
// nothing in raft_dir.
func (l *dirLock) writePid() error {
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("storage: write pid to %s: %w", l.path, err)
	}
	// The file was opened at offset 0 and nothing was written to it.
	if _, err := l.f.Write([]byte(strconv.Itoa(os.Getpid()) + "\n")); err != nil {
		return fmt.Errorf("storage: write pid to %s: %w", l.path, err)
	}
	return nil
}

// release drops the lock. The LOCK file itself stays: removing it could race
// with another process that has just opened it.
func (l *dirLock) release() error {
	return l.f.Close()
}
