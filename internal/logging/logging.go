package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Format is how records are written.
type Format string

const (
	// JSON writes one JSON object per line (slog.JSONHandler).
	JSON Format = "json"
	// Text writes key=value lines (slog.TextHandler).
	Text Format = "text"
)

// Options says where records go. Build it with FromConfig, or by hand in
// tests.
type Options struct {
	File   FileOptions
	Stderr StderrOptions
}

// FileOptions are the options of the rotated log files ([log.file]).
type FileOptions struct {
	On      bool
	Dir     string     // created if missing
	Level   slog.Level // lowest level written
	Format  Format
	MaxSize int64 // bytes a file reaches before it is rotated, >= 1
	Limit   int   // files kept, the current one included, >= 1
}

// StderrOptions are the options of the stderr sink ([log.stderr]).
type StderrOptions struct {
	On     bool
	Level  slog.Level // lowest level written
	Format Format
}

// String says in one line where the records go, for the start-up message:
// "logs to ./.databend/logs/databend-meta.log (INFO, json)".
func (o Options) String() string {
	var sinks []string
	if o.File.On {
		sinks = append(sinks, fmt.Sprintf("%s (%s, %s)", filepath.Join(o.File.Dir, FileName), o.File.Level, o.File.Format))
	}
	if o.Stderr.On {
		sinks = append(sinks, fmt.Sprintf("stderr (%s, %s)", o.Stderr.Level, o.Stderr.Format))
	}
	if len(sinks) == 0 {
		return "logs nowhere (log.file.on and log.stderr.on are false)"
	}
	return "logs to " + strings.Join(sinks, " and ")
}

// Open returns a logger writing to the sinks o turns on, each from its own
// level, and its log file; stderr is where the stderr sink writes. With no
// sink on the logger discards every record.
//
// Open creates nothing on disk: the log file's records wait in memory
// until file.Create creates the directory and the file, so that a start-up
// that fails before it leaves no trace. Close file after the last record:
// later records to the file are lost.
func Open(o Options, stderr io.Writer) (lg *slog.Logger, file *File, err error) {
	var handlers []slog.Handler
	file = &File{}
	if o.Stderr.On {
		h, err := newHandler(stderr, o.Stderr.Format, o.Stderr.Level)
		if err != nil {
			return nil, nil, fmt.Errorf("log.stderr.format: %w", err)
		}
		handlers = append(handlers, h)
	}
	if o.File.On {
		if o.File.Dir == "" {
			return nil, nil, errors.New("log.file.dir and log_dir are empty: set a directory for log files, or log.file.on = false")
		}
		file.o = o.File
		h, err := newHandler(file, o.File.Format, o.File.Level)
		if err != nil {
			return nil, nil, fmt.Errorf("log.file.format: %w", err)
		}
		handlers = append(handlers, h)
	}
	switch len(handlers) {
	case 0:
		return slog.New(slog.DiscardHandler), file, nil
	case 1:
		return slog.New(handlers[0]), file, nil
	}
	return slog.New(fanout(handlers)), file, nil
}

// maxPending bounds the bytes of records a File holds before Create.
const maxPending = 1 << 20

// File is the log file of a logger from Open: a RotatingFile in the
// directory of FileOptions, created by Create. Records written before
// Create wait in memory, meant for the few of a start-up: beyond
// maxPending bytes they are dropped, with an error to the handler. With
// the file sink off, Create and Close do nothing.
type File struct {
	o FileOptions // the zero value, with On false: no file

	// file is set once by Create; Write loads it without the lock.
	file atomic.Pointer[RotatingFile]
	mu   struct {
		sync.Mutex
		pending []byte // records written before Create
		closed  bool
	}
}

// Write writes p to the file, or keeps it until Create.
func (f *File) Write(p []byte) (int, error) {
	if rf := f.file.Load(); rf != nil {
		return rf.Write(p)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if rf := f.file.Load(); rf != nil { // Create ran while we waited
		return rf.Write(p)
	}
	switch {
	case f.mu.closed:
		return 0, fmt.Errorf("write log file: %w", os.ErrClosed)
	case len(f.mu.pending)+len(p) > maxPending:
		return 0, fmt.Errorf("log file in %s not created yet and %d bytes wait for it: record dropped", f.o.Dir, len(f.mu.pending))
	}
	f.mu.pending = append(f.mu.pending, p...)
	return len(p), nil
}

// Create creates the log directory and file, rotating and pruning older
// files as OpenRotatingFile does, and writes the records that waited for
// it. It must be called at most once, before Close.
func (f *File) Create() error {
	if !f.o.On {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mu.closed || f.file.Load() != nil {
		return fmt.Errorf("log.file: Create called twice or after Close")
	}
	rf, err := OpenRotatingFile(f.o.Dir, f.o.MaxSize, f.o.Limit)
	if err != nil {
		return fmt.Errorf("log.file: %w", err)
	}
	// One Write: the records that waited go into one file.
	if len(f.mu.pending) > 0 {
		if _, err := rf.Write(f.mu.pending); err != nil {
			rf.Close()
			return fmt.Errorf("log.file: %w", err)
		}
	}
	f.mu.pending = nil
	f.file.Store(rf)
	return nil
}

// Close closes the log file, or drops the records that wait for Create.
// Writes after Close fail.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.closed, f.mu.pending = true, nil
	if rf := f.file.Load(); rf != nil {
		return rf.Close()
	}
	return nil
}

func newHandler(w io.Writer, f Format, level slog.Level) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch f {
	case JSON:
		return slog.NewJSONHandler(w, opts), nil
	case Text:
		return slog.NewTextHandler(w, opts), nil
	}
	return nil, fmt.Errorf("unknown format %q: use %q or %q", f, JSON, Text)
}

// fanout sends every record to each of its handlers that is enabled for
// the record's level.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool {
	for _, h := range f {
		if h.Enabled(ctx, l) {
			return true
		}
	}
	return false
}

func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	for _, h := range f {
		if h.Enabled(ctx, r.Level) {
			errs = append(errs, h.Handle(ctx, r.Clone()))
		}
	}
	return errors.Join(errs...)
}

func (f fanout) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(attrs)
	}
	return out
}

func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}
