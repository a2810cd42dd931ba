package logging

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixedClock returns a clock that always says t: every rotation then
// falls in the same millisecond, the hardest case for unique names.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

var clock2024 = fixedClock(time.Date(2024, 5, 1, 12, 30, 45, 123_456_789, time.UTC))

func openTest(t *testing.T, dir string, maxSize int64, limit int) *RotatingFile {
	t.Helper()
	r, err := openRotatingFile(dir, maxSize, limit, clock2024)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// logFile is one log file as read back: its name and its lines.
type logFile struct {
	name  string
	size  int64
	lines []string
}

var rotatedName = regexp.MustCompile(`^databend-meta\.log\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z$`)

// readLogs returns the log files in dir, oldest first: the rotated ones
// by name, then the current one. It fails on a file that does not end
// with a newline and on a file name of neither kind.
func readLogs(t *testing.T, dir string) []logFile {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	hasCurrent := false
	for _, e := range entries {
		switch {
		case e.Name() == FileName:
			hasCurrent = true
		case rotatedName.MatchString(e.Name()):
			names = append(names, e.Name())
		default:
			t.Fatalf("unexpected file %s in the log directory", e.Name())
		}
	}
	slices.Sort(names)
	if hasCurrent {
		names = append(names, FileName)
	}
	var files []logFile
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 0 && data[len(data)-1] != '\n' {
			t.Fatalf("%s does not end with a newline", name)
		}
		f := logFile{name: name, size: int64(len(data))}
		sc := bufio.NewScanner(strings.NewReader(string(data)))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			f.lines = append(f.lines, sc.Text())
		}
		files = append(files, f)
	}
	return files
}

// record is the part of a JSON log line the tests check.
type record struct {
	Msg string `json:"msg"`
	G   int    `json:"g"`
	Seq int    `json:"seq"`
}

// parseLines decodes every line of files as a JSON record, in order.
func parseLines(t *testing.T, files []logFile) []record {
	t.Helper()
	var recs []record
	for _, f := range files {
		for i, line := range f.lines {
			var r record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s line %d is not JSON (%v): %q", f.name, i+1, err, line)
			}
			recs = append(recs, r)
		}
	}
	return recs
}

// TestRotatingFileRotates writes many JSON lines through a slog handler
// into small files: every line is intact, in order across the files, and
// a file is rotated exactly when the next line would not fit.
func TestRotatingFileRotates(t *testing.T) {
	const maxSize, n = 1000, 500
	dir := t.TempDir()
	r := openTest(t, dir, maxSize, 1000)
	lg := slog.New(slog.NewJSONHandler(r, nil))
	for i := range n {
		lg.Info("applied", "seq", i, "pad", strings.Repeat("x", i%50))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	files := readLogs(t, dir)
	if len(files) < 20 {
		t.Fatalf("%d files, want many: rotation did not happen", len(files))
	}
	for i, f := range files {
		if f.size > maxSize || len(f.lines) == 0 {
			t.Errorf("%s: %d bytes, %d lines; want 1..%d bytes", f.name, f.size, len(f.lines), maxSize)
		}
		if i+1 < len(files) {
			if next := int64(len(files[i+1].lines[0]) + 1); f.size+next <= maxSize {
				t.Errorf("%s (%d bytes) was rotated although the next line (%d bytes) fit", f.name, f.size, next)
			}
		}
	}
	recs := parseLines(t, files)
	if len(recs) != n {
		t.Fatalf("%d lines, want %d", len(recs), n)
	}
	for i, rec := range recs {
		if rec.Seq != i || rec.Msg != "applied" {
			t.Fatalf("line %d = %+v, want seq %d", i, rec, i)
		}
	}
}

// TestRotatingFileRetention checks that only the newest limit files are
// kept, the current one included, and that they hold the newest lines.
func TestRotatingFileRetention(t *testing.T) {
	for _, limit := range []int{1, 2, 5} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			const n = 300
			dir := t.TempDir()
			r := openTest(t, dir, 500, limit)
			lg := slog.New(slog.NewJSONHandler(r, nil))
			for i := range n {
				lg.Info("m", "seq", i)
			}
			r.Close()
			files := readLogs(t, dir)
			if len(files) != limit {
				t.Fatalf("%d files, want %d", len(files), limit)
			}
			if files[len(files)-1].name != FileName {
				t.Errorf("the current file is missing")
			}
			recs := parseLines(t, files)
			if len(recs) == 0 || recs[0].Seq == 0 {
				t.Fatalf("the oldest lines were kept: %d lines, first %+v", len(recs), recs)
			}
			for i, rec := range recs {
				if want := n - len(recs) + i; rec.Seq != want {
					t.Fatalf("line %d has seq %d, want %d: the kept lines are not the newest, in order", i, rec.Seq, want)
				}
			}
		})
	}
}

// TestRotatingFileConcurrent writes from many goroutines through one
// handler with rotation; run with -race. Every line arrives once, intact,
// and each goroutine's lines are in its order.
func TestRotatingFileConcurrent(t *testing.T) {
	const goroutines, n = 8, 400
	dir := t.TempDir()
	r := openTest(t, dir, 4096, 100_000)
	lg := slog.New(slog.NewJSONHandler(r, nil))
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			glg := lg.With("g", g)
			for i := range n {
				glg.Info("concurrent", "seq", i, "pad", strings.Repeat("y", (g*i)%40))
			}
		})
	}
	wg.Wait()
	r.Close()

	files := readLogs(t, dir)
	if len(files) < 10 {
		t.Fatalf("%d files, want many", len(files))
	}
	next := make([]int, goroutines)
	for _, rec := range parseLines(t, files) {
		if rec.G < 0 || rec.G >= goroutines || rec.Seq != next[rec.G] {
			t.Fatalf("record %+v out of order; want seq %d for its goroutine", rec, next[rec.G])
		}
		next[rec.G]++
	}
	for g, got := range next {
		if got != n {
			t.Errorf("goroutine %d: %d lines, want %d", g, got, n)
		}
	}
}

// TestRotatingFileLargeRecord checks that a write larger than the maximum
// size goes whole into a file of its own.
func TestRotatingFileLargeRecord(t *testing.T) {
	dir := t.TempDir()
	r := openTest(t, dir, 100, 10)
	big := strings.Repeat("b", 300) + "\n"
	for _, line := range []string{"small 1\n", big, "small 2\n"} {
		if n, err := r.Write([]byte(line)); err != nil || n != len(line) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	r.Close()
	var got [][]string
	for _, f := range readLogs(t, dir) {
		got = append(got, f.lines)
	}
	want := [][]string{{"small 1"}, {strings.TrimSuffix(big, "\n")}, {"small 2"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("files hold %q, want %q", got, want)
	}
}

// TestRotatingFileReopen checks a restart: the current file is appended
// to, rotated files of the earlier run count toward the limit (the excess
// is deleted at once), new names sort after them even if the clock went
// back, and files of other names are left alone.
func TestRotatingFileReopen(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Rotated files of an earlier run, one stamped in the future.
	old := []string{
		FileName + ".2023-01-01T00-00-00.000Z",
		FileName + ".2023-01-01T00-00-00.001Z",
		FileName + ".2023-06-01T00-00-00.000Z",
		FileName + ".2099-12-31T23-59-59.999Z",
	}
	for i, name := range old {
		write(name, fmt.Sprintf("old %d\n", i))
	}
	foreign := []string{FileName + ".bak", FileName + ".2023-01-01", "other.log", FileName + ".2023-01-01T00-00-00.000Z.gz"}
	for _, name := range foreign {
		write(name, "foreign\n")
	}
	write(FileName, "current\n")

	r := openTest(t, dir, 20, 3)
	for _, name := range old[:2] {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s beyond the limit was not deleted at open (stat: %v)", name, err)
		}
	}
	if _, err := r.Write([]byte("appended\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Write([]byte("rotated!\n")); err != nil { // 8+9+9 > 20
		t.Fatal(err)
	}
	r.Close()

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := append(slices.Clone(foreign), FileName, old[3], FileName+".2100-01-01T00-00-00.000Z")
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("directory holds\n%q\nwant\n%q", got, want)
	}
	data, _ := os.ReadFile(filepath.Join(dir, FileName+".2100-01-01T00-00-00.000Z"))
	if string(data) != "current\nappended\n" {
		t.Errorf("rotated file holds %q, want the earlier run's line and the appended one", data)
	}
}

// TestRotatingFileUniqueNames checks that rotations within one
// millisecond get distinct names in rotation order, and that a taken name
// is skipped rather than overwritten.
func TestRotatingFileUniqueNames(t *testing.T) {
	dir := t.TempDir()
	r := openTest(t, dir, 4, 100)
	// Another process takes the name the first rotation would use.
	taken := FileName + ".2024-05-01T12-30-45.123Z"
	if err := os.WriteFile(filepath.Join(dir, taken), []byte("x 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(r, "x %d\n", i)
	}
	r.Close()
	var got []string
	for _, f := range readLogs(t, dir) {
		got = append(got, f.name+": "+strings.Join(f.lines, ","))
	}
	want := []string{
		FileName + ".2024-05-01T12-30-45.123Z: x 0",
		FileName + ".2024-05-01T12-30-45.124Z: x 1",
		FileName + ".2024-05-01T12-30-45.125Z: x 2",
		FileName + ": x 3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("files\n%q\nwant\n%q", got, want)
	}
}

// TestRotatingFileRenameFails checks that a failed rotation loses no
// line: it goes to the old file, Write reports the error, and the next
// Write rotates once the directory is writable again.
func TestRotatingFileRenameFails(t *testing.T) {
	dir := t.TempDir()
	r := openTest(t, dir, 10, 10)
	if _, err := r.Write([]byte("line 1\n")); err != nil {
		t.Fatal(err)
	}
	errRename := errors.New("injected rename failure")
	r.rename = func(string, string) error { return errRename }
	n, err := r.Write([]byte("line 2\n"))
	if !errors.Is(err, errRename) || n != len("line 2\n") {
		t.Fatalf("Write with a failing rename = %d, %v; want all bytes written and the rename error", n, err)
	}
	r.rename = os.Rename
	if _, err := r.Write([]byte("line 3\n")); err != nil {
		t.Fatalf("Write once rename works again: %v", err)
	}
	r.Close()
	var got []string
	for _, f := range readLogs(t, dir) {
		got = append(got, strings.Join(f.lines, ","))
	}
	if want := []string{"line 1,line 2", "line 3"}; !slices.Equal(got, want) {
		t.Errorf("files hold %q, want %q", got, want)
	}
}

func TestRotatingFileClose(t *testing.T) {
	dir := t.TempDir()
	r := openTest(t, dir, 100, 2)
	if _, err := r.Write([]byte("before\n")); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := r.Write([]byte("after\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v, want os.ErrClosed", err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, FileName))
	if string(data) != "before\n" {
		t.Errorf("file holds %q", data)
	}
}

func TestOpenRotatingFileErrors(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		dir     string
		maxSize int64
		limit   int
	}{
		{"dir is a file", notDir, 100, 1},
		{"under a file", filepath.Join(notDir, "logs"), 100, 1},
		{"max size 0", dir, 0, 1},
		{"limit 0", dir, 100, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r, err := OpenRotatingFile(tt.dir, tt.maxSize, tt.limit); err == nil {
				r.Close()
				t.Fatalf("OpenRotatingFile(%q, %d, %d) succeeded", tt.dir, tt.maxSize, tt.limit)
			}
		})
	}
}
