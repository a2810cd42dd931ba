package logging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// FileName is the name of the current log file in the log directory.
const FileName = "databend-meta.log"

// stampLayout is the UTC time appended to a rotated file's name. It has a
// fixed width, so names sort in time order; no colons, which some file
// systems refuse.
const stampLayout = "2006-01-02T15-04-05.000Z"

// RotatingFile is an io.WriteCloser appending to <dir>/databend-meta.log,
// rotated by size with a retention count (see the package doc).
//
// Write may be called from many goroutines. Each Write goes whole into one
// file, so a caller writing whole lines, as slog handlers do, never sees a
// line split across files. Writes are not buffered: once Write returns,
// the bytes are in the operating system's hands, and Close only closes
// the file.
type RotatingFile struct {
	dir     string
	maxSize int64
	limit   int
	now     func() time.Time
	rename  func(from, to string) error // os.Rename; tests make it fail

	mu struct {
		sync.Mutex
		f      *os.File  // nil after a failed open, and once closed
		size   int64     // bytes in f
		last   time.Time // stamp of the newest rotated file
		closed bool
	}
}

// OpenRotatingFile opens, creating it and dir if needed, dir/databend-meta.log
// for appending. A write that would take the file past maxSize bytes
// rotates it first (unless the file is empty: a record larger than maxSize
// gets a file of its own); at most limit files are kept, the current one
// included. Rotated files beyond limit left by an earlier run are deleted
// now.
func OpenRotatingFile(dir string, maxSize int64, limit int) (*RotatingFile, error) {
	return openRotatingFile(dir, maxSize, limit, time.Now)
}

func openRotatingFile(dir string, maxSize int64, limit int, now func() time.Time) (*RotatingFile, error) {
	if maxSize < 1 || limit < 1 {
		return nil, fmt.Errorf("log file in %q: max size %d and limit %d must be at least 1", dir, maxSize, limit)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create the log directory: %w", err)
	}
	r := &RotatingFile{dir: dir, maxSize: maxSize, limit: limit, now: now, rename: os.Rename}
	r.mu.Lock()
	defer r.mu.Unlock()
	rotated, err := r.listRotated()
	if err != nil {
		return nil, err
	}
	if len(rotated) > 0 {
		r.mu.last = rotated[len(rotated)-1].stamp
	}
	if err := r.openLocked(); err != nil {
		return nil, err
	}
	if err := r.prune(rotated); err != nil {
		r.mu.f.Close()
		return nil, err
	}
	return r, nil
}

// Write writes p to the current file, rotating it first if p would take
// it past the maximum size. If the rotation fails, p is still written, to
// the old file if it could not be renamed, and the error is returned with
// n == len(p); the next Write tries again.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return 0, fmt.Errorf("write log file: %w", os.ErrClosed)
	}
	var rotateErr error
	if r.mu.f != nil && r.mu.size > 0 && r.mu.size+int64(len(p)) > r.maxSize {
		rotateErr = r.rotateLocked()
	}
	if r.mu.f == nil {
		if err := r.openLocked(); err != nil {
			return 0, errors.Join(rotateErr, err)
		}
	}
	n, err := r.mu.f.Write(p)
	r.mu.size += int64(n)
	if err != nil {
		err = fmt.Errorf("write log file: %w", err)
	}
	return n, errors.Join(rotateErr, err)
}

// Close closes the current file. Writes after Close fail; Close again
// returns nil.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return nil
	}
	r.mu.closed = true
	if r.mu.f == nil {
		return nil
	}
	err := r.mu.f.Close()
	r.mu.f = nil
	if err != nil {
		return fmt.Errorf("close log file: %w", err)
	}
	return nil
}

// Path returns the path of the current log file.
func (r *RotatingFile) Path() string { return filepath.Join(r.dir, FileName) }

// openLocked opens the current file for appending.
func (r *RotatingFile) openLocked() error {
	f, err := os.OpenFile(r.Path(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log file: %w", err)
	}
	r.mu.f, r.mu.size = f, st.Size()
	return nil
}

// rotateLocked renames the current file with the next stamp, opens a new
// one and deletes the rotated files beyond the limit. On return r.mu.f is
// the file to write to, or nil if none could be opened.
func (r *RotatingFile) rotateLocked() error {
	var errs []error
	// Nothing is buffered: a failed close loses no bytes; go on.
	if err := r.mu.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close log file: %w", err))
	}
	r.mu.f = nil
	stamp := r.nextStampLocked()
	to := filepath.Join(r.dir, FileName+"."+stamp.Format(stampLayout))
	if err := r.rename(r.Path(), to); err != nil {
		return errors.Join(append(errs, fmt.Errorf("rotate log file: %w", err))...)
	}
	r.mu.last = stamp
	if err := r.openLocked(); err != nil {
		return errors.Join(append(errs, err)...)
	}
	rotated, err := r.listRotated()
	if err == nil {
		err = r.prune(rotated)
	}
	return errors.Join(append(errs, err)...)
}

// nextStampLocked returns the stamp of the next rotated file: the current
// time to the millisecond, or 1ms after the newest rotated file if that is
// not earlier, so that names are unique and in rotation order. It skips a
// stamp whose name is taken (by a file created behind our back).
func (r *RotatingFile) nextStampLocked() time.Time {
	t := r.now().UTC().Truncate(time.Millisecond)
	if !t.After(r.mu.last) {
		t = r.mu.last.Add(time.Millisecond)
	}
	for {
		_, err := os.Lstat(filepath.Join(r.dir, FileName+"."+t.Format(stampLayout)))
		if errors.Is(err, os.ErrNotExist) {
			return t
		}
		t = t.Add(time.Millisecond)
	}
}

// rotatedFile is a rotated log file.
type rotatedFile struct {
	name  string
	stamp time.Time
}

// listRotated returns the rotated log files in the directory, oldest
// first.
func (r *RotatingFile) listRotated() ([]rotatedFile, error) {
	entries, err := os.ReadDir(r.dir)
	if err != nil {
		return nil, fmt.Errorf("list the log directory: %w", err)
	}
	var files []rotatedFile
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), FileName+".")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		stamp, err := time.Parse(stampLayout, rest)
		if err != nil || stamp.Format(stampLayout) != rest {
			continue
		}
		files = append(files, rotatedFile{name: e.Name(), stamp: stamp})
	}
	slices.SortFunc(files, func(a, b rotatedFile) int { return a.stamp.Compare(b.stamp) })
	return files, nil
}

// prune deletes the oldest of rotated, oldest first, so that limit-1
// remain beside the current file.
func (r *RotatingFile) prune(rotated []rotatedFile) error {
	var errs []error
	for len(rotated) > r.limit-1 {
		if err := os.Remove(filepath.Join(r.dir, rotated[0].name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete old log file: %w", err))
		}
		rotated = rotated[1:]
	}
	return errors.Join(errs...)
}
