package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// syncBuffer is a bytes.Buffer safe for concurrent use, standing in for
// stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func fileOptions(dir string, level slog.Level, f Format) FileOptions {
	return FileOptions{On: true, Dir: dir, Level: level, Format: f, MaxSize: 1 << 20, Limit: 3}
}

func openLogger(t *testing.T, o Options, stderr *syncBuffer) *slog.Logger {
	t.Helper()
	lg, file, err := Open(o, stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	if err := file.Create(); err != nil {
		t.Fatal(err)
	}
	return lg
}

func readFile(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func logEveryLevel(lg *slog.Logger) {
	lg.Debug("debug message")
	lg.Info("info message")
	lg.Warn("warn message")
	lg.Error("error message")
}

// levelsIn returns the messages of the levels found in out, in order.
func levelsIn(out string) []string {
	var got []string
	for _, l := range []string{"debug", "info", "warn", "error"} {
		if strings.Contains(out, l+" message") {
			got = append(got, l)
		}
	}
	return got
}

// TestOpenLevels checks that each sink filters by its own level.
func TestOpenLevels(t *testing.T) {
	tests := []struct {
		name        string
		file, errs  slog.Level
		wantFile    []string
		wantStderr  []string
		wantEnabled slog.Level // the lowest level the logger is enabled for
	}{
		{"file lower", slog.LevelDebug, slog.LevelWarn, []string{"debug", "info", "warn", "error"}, []string{"warn", "error"}, slog.LevelDebug},
		{"stderr lower", slog.LevelError, slog.LevelInfo, []string{"error"}, []string{"info", "warn", "error"}, slog.LevelInfo},
		{"same", slog.LevelWarn, slog.LevelWarn, []string{"warn", "error"}, []string{"warn", "error"}, slog.LevelWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var stderr syncBuffer
			lg := openLogger(t, Options{
				File:   fileOptions(dir, tt.file, JSON),
				Stderr: StderrOptions{On: true, Level: tt.errs, Format: Text},
			}, &stderr)
			logEveryLevel(lg)
			if got := levelsIn(readFile(t, dir)); !cmp.Equal(got, tt.wantFile) {
				t.Errorf("file has %v, want %v", got, tt.wantFile)
			}
			if got := levelsIn(stderr.String()); !cmp.Equal(got, tt.wantStderr) {
				t.Errorf("stderr has %v, want %v", got, tt.wantStderr)
			}
			ctx := context.Background()
			if !lg.Enabled(ctx, tt.wantEnabled) || lg.Enabled(ctx, tt.wantEnabled-1) {
				t.Errorf("logger enabled for %v: %v, for %v: %v; want only from %v",
					tt.wantEnabled, lg.Enabled(ctx, tt.wantEnabled), tt.wantEnabled-1, lg.Enabled(ctx, tt.wantEnabled-1), tt.wantEnabled)
			}
		})
	}
}

// TestOpenFormats checks both formats on both sinks, with attributes and
// groups reaching every sink.
func TestOpenFormats(t *testing.T) {
	tests := []struct {
		file, errs Format
	}{{JSON, Text}, {Text, JSON}, {JSON, JSON}, {Text, Text}}
	for _, tt := range tests {
		t.Run(string(tt.file)+"-"+string(tt.errs), func(t *testing.T) {
			dir := t.TempDir()
			var stderr syncBuffer
			lg := openLogger(t, Options{
				File:   fileOptions(dir, slog.LevelInfo, tt.file),
				Stderr: StderrOptions{On: true, Level: slog.LevelInfo, Format: tt.errs},
			}, &stderr)
			lg.With("node", 7).WithGroup("raft").Info("became leader", "term", 3)
			for _, s := range []struct {
				name, out string
				f         Format
			}{{"file", readFile(t, dir), tt.file}, {"stderr", stderr.String(), tt.errs}} {
				checkLine(t, s.name, s.out, s.f)
			}
		})
	}
}

func checkLine(t *testing.T, sink, out string, f Format) {
	t.Helper()
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("%s: want one line, got %q", sink, out)
	}
	switch f {
	case JSON:
		var rec struct {
			Level, Msg string
			Node       int
			Raft       struct{ Term int }
		}
		if err := json.Unmarshal([]byte(out), &rec); err != nil {
			t.Fatalf("%s: not JSON (%v): %q", sink, err, out)
		}
		if rec.Level != "INFO" || rec.Msg != "became leader" || rec.Node != 7 || rec.Raft.Term != 3 {
			t.Errorf("%s: record %+v from %q", sink, rec, out)
		}
	case Text:
		for _, want := range []string{"level=INFO", `msg="became leader"`, "node=7", "raft.term=3"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: %q lacks %s", sink, out, want)
			}
		}
	}
}

// TestOpenSinksOff checks that a sink that is off gets nothing, and that
// the file sink off creates no directory.
func TestOpenSinksOff(t *testing.T) {
	t.Run("file off", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "logs")
		var stderr syncBuffer
		o := Options{File: fileOptions(dir, slog.LevelDebug, JSON), Stderr: StderrOptions{On: true, Format: Text}}
		o.File.On = false
		lg := openLogger(t, o, &stderr)
		logEveryLevel(lg)
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the log directory was created (stat: %v)", err)
		}
		if got := levelsIn(stderr.String()); len(got) != 3 {
			t.Errorf("stderr has %v, want info, warn and error", got)
		}
	})
	t.Run("stderr off", func(t *testing.T) {
		dir := t.TempDir()
		var stderr syncBuffer
		lg := openLogger(t, Options{File: fileOptions(dir, slog.LevelDebug, JSON), Stderr: StderrOptions{Format: Text}}, &stderr)
		logEveryLevel(lg)
		if stderr.String() != "" {
			t.Errorf("stderr got %q", stderr.String())
		}
		if got := levelsIn(readFile(t, dir)); len(got) != 4 {
			t.Errorf("file has %v, want every level", got)
		}
	})
	t.Run("both off", func(t *testing.T) {
		var stderr syncBuffer
		lg := openLogger(t, Options{}, &stderr)
		logEveryLevel(lg)
		if stderr.String() != "" || lg.Enabled(context.Background(), slog.LevelError) {
			t.Errorf("a logger with no sink logged %q or is enabled", stderr.String())
		}
	})
}

// TestOpenConcurrent logs from many goroutines to both sinks with
// rotation; run with -race.
func TestOpenConcurrent(t *testing.T) {
	const goroutines, n = 8, 200
	dir := t.TempDir()
	var stderr syncBuffer
	o := Options{File: fileOptions(dir, slog.LevelInfo, JSON), Stderr: StderrOptions{On: true, Format: Text}}
	o.File.MaxSize, o.File.Limit = 2000, 1000
	lg, file, err := Open(o, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	// Half the goroutines start before the file is created.
	var wg sync.WaitGroup
	for g := range goroutines / 2 {
		wg.Go(func() {
			for i := range n {
				lg.Info("concurrent", "g", g, "seq", i)
			}
		})
	}
	if err := file.Create(); err != nil {
		t.Fatal(err)
	}
	for g := goroutines / 2; g < goroutines; g++ {
		wg.Go(func() {
			for i := range n {
				lg.Info("concurrent", "g", g, "seq", i)
			}
		})
	}
	wg.Wait()
	if err := file.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(stderr.String(), "\n"); got != goroutines*n {
		t.Errorf("stderr has %d lines, want %d", got, goroutines*n)
	}
	files := readLogs(t, dir)
	if len(files) < 2 {
		t.Errorf("%d files: no rotation", len(files))
	}
	if recs := parseLines(t, files); len(recs) != goroutines*n {
		t.Errorf("files have %d records, want %d", len(recs), goroutines*n)
	}
}

// TestFileCreatedOnCreate checks that Open creates nothing on disk: the
// records wait until Create, which writes them first, in order; Close
// before Create leaves nothing.
func TestFileCreatedOnCreate(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "logs")
	lg, file, err := Open(Options{File: fileOptions(dir, slog.LevelInfo, JSON)}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	lg.Info("first")
	lg.Warn("second")
	if _, err := os.Stat(filepath.Join(base, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open created %s: %v", dir, err)
	}
	if err := file.Create(); err != nil {
		t.Fatal(err)
	}
	lg.Info("third")
	var msgs []string
	for _, r := range parseLines(t, readLogs(t, dir)) {
		msgs = append(msgs, r.Msg)
	}
	if diff := cmp.Diff([]string{"first", "second", "third"}, msgs); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if err := file.Create(); err == nil {
		t.Error("a second Create succeeded")
	}

	// Closed before Create: nothing on disk, later records fail.
	dir2 := filepath.Join(t.TempDir(), "logs")
	lg2, file2, err := Open(Options{File: fileOptions(dir2, slog.LevelInfo, JSON)}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	lg2.Info("lost")
	if err := file2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := file2.Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close: %v, want os.ErrClosed", err)
	}
	if err := file2.Create(); err == nil {
		t.Error("Create after Close succeeded")
	}
	if _, err := os.Stat(dir2); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after Close without Create: %v", dir2, err)
	}
}

// TestFilePendingBound checks that records beyond maxPending before
// Create are dropped with an error, and the ones kept still go in.
func TestFilePendingBound(t *testing.T) {
	dir := t.TempDir()
	_, file, err := Open(Options{File: fileOptions(dir, slog.LevelInfo, JSON)}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for range maxPending / len(line) {
		if _, err := file.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := file.Write(line); err == nil || !strings.Contains(err.Error(), "not created yet") {
		t.Errorf("Write beyond maxPending: %v, want an error", err)
	}
	if err := file.Create(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(readFile(t, dir), "\n"); got != maxPending/len(line) {
		t.Errorf("%d lines in the file, want %d", got, maxPending/len(line))
	}
}

func TestOpenErrors(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    Options
		msg  string
	}{
		{"no dir", Options{File: fileOptions("", slog.LevelInfo, JSON)}, "log.file.dir"},
		{"dir is a file", Options{File: fileOptions(notDir, slog.LevelInfo, JSON)}, "log.file"},
		{"bad file format", Options{File: fileOptions(t.TempDir(), slog.LevelInfo, "xml")}, "log.file.format"},
		{"bad stderr format", Options{Stderr: StderrOptions{On: true, Format: ""}}, "log.stderr.format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Errors of the options come from Open, those of the disk from
			// Create.
			_, file, err := Open(tt.o, &syncBuffer{})
			if err == nil {
				err = file.Create()
				file.Close()
			}
			if err == nil {
				t.Fatal("Open and Create succeeded")
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not name %s", err, tt.msg)
			}
		})
	}
}

func TestOptionsString(t *testing.T) {
	o := Options{
		File:   FileOptions{On: true, Dir: "./.databend/logs", Level: slog.LevelInfo, Format: JSON, MaxSize: 100 << 20, Limit: 48},
		Stderr: StderrOptions{On: false, Level: slog.LevelInfo, Format: Text},
	}
	if got, want := o.String(), "logs to .databend/logs/databend-meta.log (INFO, json)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	o.Stderr.On, o.Stderr.Level = true, slog.LevelDebug
	if got, want := o.String(), "logs to .databend/logs/databend-meta.log (INFO, json) and stderr (DEBUG, text)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	o.File.On, o.Stderr.On = false, false
	if got := o.String(); !strings.Contains(got, "nowhere") {
		t.Errorf("String() = %q, want it to say nowhere", got)
	}
}
