package storage

import (
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
)

// vfs is the file system as a Storage uses it: snapshot files, the LOCK
// file, raft_dir and snap/ and their fsyncs, and the removal of the WAL
// files a purge deletes. Tests wrap osFS to fail an fsync, fill the disk,
// cut a write short or crash at any of these steps (errorfs_test.go), as
// an ordinary user, on an ordinary file system.
//
// The WAL's own files are not behind it: etcd's wal package opens,
// writes, preallocates and fsyncs them itself. The seam there is walLog,
// at the boundary of each WAL write (see walFault). The readers that only
// look at the WAL (scanWAL, ReadWALRecords), the truncation of a torn WAL
// tail and the offline tools (OpenReadOnly, Repair) use the os directly.
//
// Paths are the ones Storage builds from raft_dir. Methods may be called
// from any goroutine.
type vfs interface {
	// CreateTemp creates a new file in dir, for writing, named pattern
	// with its last "*" replaced by a random string (os.CreateTemp).
	CreateTemp(dir, pattern string) (vfile, error)
	// Open opens name for reading.
	Open(name string) (vfile, error)
	// Lock opens name for reading and writing, creating it if needed, and
	// locks it exclusively without waiting; an error wrapping
	// fileutil.ErrLocked if another open file holds the lock. Closing the
	// file releases it.
	Lock(name string) (vfile, error)
	// Rename renames oldname to newname, replacing newname.
	Rename(oldname, newname string) error
	// Remove removes the file name.
	Remove(name string) error
	// MkdirAll creates dir and its missing parents (mode 0700).
	MkdirAll(dir string) error
	// SyncDir fsyncs the directory dir, making the files created, renamed
	// and removed in it durable.
	SyncDir(dir string) error
	// List returns the names in dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes the file name.
	Stat(name string) (fs.FileInfo, error)
}

// vfile is an open file of a vfs.
type vfile interface {
	io.Reader
	io.Writer
	io.Closer
	// Name is the path the file was opened with.
	Name() string
	Stat() (fs.FileInfo, error)
	// Sync fsyncs the file's data and size.
	Sync() error
	Truncate(size int64) error
}

// osFS is the vfs of the operating system.
type osFS struct{}

func (osFS) CreateTemp(dir, pattern string) (vfile, error) { return os.CreateTemp(dir, pattern) }

func (osFS) Open(name string) (vfile, error) { return os.Open(name) }

// Lock takes an open file description lock on Linux (fcntl F_OFD_SETLK),
// flock(2) elsewhere: both conflict between two opens of the file in one
// process, and both are released by the kernel when the process dies.
func (osFS) Lock(name string) (vfile, error) {
	return fileutil.TryLockFile(name, os.O_RDWR|os.O_CREATE, fileutil.PrivateFileMode)
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o700) }

func (osFS) SyncDir(dir string) error {
	d, err := fileutil.OpenDir(dir)
	if err != nil {
		return err
	}
	err = fileutil.Fsync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// listExt returns the names in dir that end in ext, sorted.
func listExt(fsys vfs, dir, ext string) ([]string, error) {
	names, err := fsys.List(dir)
	if err != nil {
		return nil, err
	}
	names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasSuffix(n, ext) })
	slices.Sort(names)
	return names, nil
}
