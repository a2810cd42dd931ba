package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// The test file system: osFS with a hook before every operation, after
// pebble's vfs/errorfs, and a model of what a power loss takes away.

// opKind is the kind of an operation an injector sees: one of vfs, one of
// vfile, or a step of a WAL write (walFault).
type opKind int

const (
	opCreateTemp opKind = iota
	opOpen
	opLock
	opRename
	opRemove
	opMkdirAll
	opSyncDir
	opList
	opStat
	opRead
	opWrite
	opSync
	opTruncate
	opWALWrite // walWrite: before WAL records are written
	opWALSync  // walSync: after WAL records were written and fsync'd
)

var opNames = [...]string{"CreateTemp", "Open", "Lock", "Rename", "Remove", "MkdirAll", "SyncDir",
	"List", "Stat", "Read", "Write", "Sync", "Truncate", "WALWrite", "WALSync"}

func (k opKind) String() string { return opNames[k] }

// op is one operation: its kind and the path it works on (for a rename,
// the old name; for a WAL step, the WAL directory).
type op struct {
	kind opKind
	path string
}

func (o op) String() string { return fmt.Sprintf("%v %s", o.kind, filepath.Base(o.path)) }

// injector decides the fate of an operation before it runs: nil lets it
// run, an error fails it. A shortWrite error on a Write writes half of
// the bytes first.
type injector func(op) error

// shortWrite makes a failed Write write half of its bytes first, as a
// write cut short by a full disk does.
type shortWrite struct{ error }

func (e shortWrite) Unwrap() error { return e.error }

// failOn fails every operation of kind on a path matching pattern
// (filepath.Match on the base name) with err.
func failOn(kind opKind, pattern string, err error) injector {
	return func(o op) error {
		if o.kind != kind {
			return nil
		}
		if ok, _ := filepath.Match(pattern, filepath.Base(o.path)); !ok {
			return nil
		}
		return err
	}
}

// errCrash is what every operation returns from the crash point on: the
// process is gone, nothing more reaches the disk.
var errCrash = errors.New("crashed")

// crasher counts the operations it sees once armed and fails the one at
// index at and every later one with errCrash. With at < 0 it only counts.
type crasher struct {
	mu      sync.Mutex
	armed   bool
	n, at   int
	ops     []op // the operations seen once armed, in order
	crashed bool
}

func (c *crasher) inject(o op) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed {
		return nil
	}
	if c.crashed {
		return errCrash
	}
	c.ops = append(c.ops, o)
	if c.n == c.at {
		c.crashed = true
		return errCrash
	}
	c.n++
	return nil
}

func (c *crasher) arm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = true
}

// faultFS is the vfs of a test: osFS, with inj asked before every
// operation (and, through walFault, before and after every WAL write),
// and a record of what is not yet durable, which powerLoss takes away.
//
// The model of durability: a file's data is durable up to its size at its
// last Sync; a file created, renamed or removed in a directory is durable
// once that directory is synced (SyncDir). powerLoss cuts every file
// written through faultFS back to its synced size and undoes the
// creations, renames and removals not yet synced, newest first. Removed
// files are kept, hard-linked, in a directory of their own for that. Not
// modelled: directories created (the tests crash once the directories
// exist), the LOCK file's content, and the WAL's own files, which etcd
// writes and fsyncs itself (a walSync crash leaves the records durable).
type faultFS struct {
	osFS
	t     testing.TB
	inj   injector
	stash string

	mu struct {
		sync.Mutex
		written map[string]*writtenFile // by current path
		undo    map[string][]func() error
		stashed int
	}
}

// writtenFile is a file written through faultFS.
type writtenFile struct {
	synced int64 // its size at its last Sync
	dirty  bool  // written since
}

func newFaultFS(t testing.TB, inj injector) *faultFS {
	f := &faultFS{t: t, inj: inj, stash: t.TempDir()}
	f.mu.written = map[string]*writtenFile{}
	f.mu.undo = map[string][]func() error{}
	return f
}

// walFault passes the steps of WAL writes to dir to the injector.
func (f *faultFS) walFault(dir string) walFault {
	return func(step walStep) error {
		k := opWALWrite
		if step == walSync {
			k = opWALSync
		}
		return f.inj(op{k, filepath.Join(dir, walDirName)})
	}
}

// open opens a Storage on dir through f.
func (f *faultFS) open(t testing.TB, dir string) (*Storage, error) {
	t.Helper()
	s, err := open(dir, testID, testCluster, testLogger(t), f, f.walFault(dir))
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func (f *faultFS) addUndoLocked(dir string, fn func() error) {
	f.mu.undo[dir] = append(f.mu.undo[dir], fn)
}

func (f *faultFS) CreateTemp(dir, pattern string) (vfile, error) {
	if err := f.inj(op{opCreateTemp, filepath.Join(dir, pattern)}); err != nil {
		return nil, err
	}
	file, err := f.osFS.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	name := file.Name()
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &writtenFile{}
	f.mu.written[name] = w
	f.addUndoLocked(dir, func() error { return os.Remove(name) })
	return &faultFile{vfile: file, fs: f, w: w}, nil
}

func (f *faultFS) Open(name string) (vfile, error) {
	if err := f.inj(op{opOpen, name}); err != nil {
		return nil, err
	}
	file, err := f.osFS.Open(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{vfile: file, fs: f}, nil
}

func (f *faultFS) Lock(name string) (vfile, error) {
	if err := f.inj(op{opLock, name}); err != nil {
		return nil, err
	}
	file, err := f.osFS.Lock(name)
	if err != nil {
		return nil, err
	}
	return &faultFile{vfile: file, fs: f}, nil
}

func (f *faultFS) Rename(oldname, newname string) error {
	if err := f.inj(op{opRename, oldname}); err != nil {
		return err
	}
	dir := filepath.Dir(newname)
	if filepath.Dir(oldname) != dir {
		return fmt.Errorf("faultFS: rename across directories (%s to %s) is not modelled", oldname, newname)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	replaced, err := f.stashLocked(newname)
	if err != nil {
		return err
	}
	if err := f.osFS.Rename(oldname, newname); err != nil {
		return err
	}
	if w, ok := f.mu.written[oldname]; ok {
		delete(f.mu.written, oldname)
		f.mu.written[newname] = w
	}
	f.addUndoLocked(dir, func() error {
		if err := os.Rename(newname, oldname); err != nil {
			return err
		}
		if replaced != "" {
			return os.Link(replaced, newname)
		}
		return nil
	})
	return nil
}

func (f *faultFS) Remove(name string) error {
	if err := f.inj(op{opRemove, name}); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	kept, err := f.stashLocked(name)
	if err != nil {
		return err
	}
	if err := f.osFS.Remove(name); err != nil {
		return err
	}
	delete(f.mu.written, name)
	if kept != "" {
		f.addUndoLocked(filepath.Dir(name), func() error { return os.Link(kept, name) })
	}
	return nil
}

// stashLocked hard-links the file name, if there is one, into the stash,
// so that powerLoss can bring it back, and returns the link ("" if name
// does not exist).
func (f *faultFS) stashLocked(name string) (string, error) {
	if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	f.mu.stashed++
	kept := filepath.Join(f.stash, fmt.Sprint(f.mu.stashed))
	if err := os.Link(name, kept); err != nil {
		return "", fmt.Errorf("faultFS: keep %s to undo its removal: %w", name, err)
	}
	return kept, nil
}

func (f *faultFS) MkdirAll(dir string) error {
	if err := f.inj(op{opMkdirAll, dir}); err != nil {
		return err
	}
	return f.osFS.MkdirAll(dir)
}

func (f *faultFS) SyncDir(dir string) error {
	if err := f.inj(op{opSyncDir, dir}); err != nil {
		return err
	}
	if err := f.osFS.SyncDir(dir); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.mu.undo, dir)
	return nil
}

func (f *faultFS) List(dir string) ([]string, error) {
	if err := f.inj(op{opList, dir}); err != nil {
		return nil, err
	}
	return f.osFS.List(dir)
}

func (f *faultFS) Stat(name string) (fs.FileInfo, error) {
	if err := f.inj(op{opStat, name}); err != nil {
		return nil, err
	}
	return f.osFS.Stat(name)
}

// powerLoss takes away what is not durable (see faultFS). Call it once the
// Storage is closed, before opening the directory again.
func (f *faultFS) powerLoss() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for name, w := range f.mu.written {
		if !w.dirty {
			continue
		}
		if err := os.Truncate(name, w.synced); err != nil && !errors.Is(err, fs.ErrNotExist) {
			f.t.Fatalf("power loss: %v", err)
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(f.mu.undo)) {
		undo := f.mu.undo[dir]
		for i := len(undo) - 1; i >= 0; i-- {
			if err := undo[i](); err != nil {
				f.t.Fatalf("power loss: undo in %s: %v", dir, err)
			}
		}
	}
	f.mu.written = map[string]*writtenFile{}
	f.mu.undo = map[string][]func() error{}
}

// faultFile is a file of a faultFS.
type faultFile struct {
	vfile
	fs *faultFS
	w  *writtenFile // nil: not created through fs
}

func (f *faultFile) Read(p []byte) (int, error) {
	if err := f.fs.inj(op{opRead, f.Name()}); err != nil {
		return 0, err
	}
	return f.vfile.Read(p)
}

func (f *faultFile) Write(p []byte) (int, error) {
	err := f.fs.inj(op{opWrite, f.Name()})
	var short shortWrite
	switch {
	case err == nil:
	case errors.As(err, &short):
		// Half the bytes, then short's error (none: a short write
		// that breaks io.Writer's contract).
		p, err = p[:len(p)/2], short.error
	default:
		return 0, err
	}
	if f.w != nil {
		f.fs.mu.Lock()
		f.w.dirty = true
		f.fs.mu.Unlock()
	}
	n, werr := f.vfile.Write(p)
	if werr != nil {
		return n, werr
	}
	return n, err
}

func (f *faultFile) Sync() error {
	if err := f.fs.inj(op{opSync, f.Name()}); err != nil {
		return err
	}
	if err := f.vfile.Sync(); err != nil {
		return err
	}
	fi, err := f.vfile.Stat()
	if err != nil {
		return err
	}
	if f.w != nil {
		f.fs.mu.Lock()
		f.w.synced, f.w.dirty = fi.Size(), false
		f.fs.mu.Unlock()
	}
	return nil
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.inj(op{opTruncate, f.Name()}); err != nil {
		return err
	}
	return f.vfile.Truncate(size)
}
