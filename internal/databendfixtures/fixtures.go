// Package databendfixtures finds, for tests, the real data a Databend
// cluster wrote (issue 12): the dumps meta_v004.txt and meta_v003.txt,
// want_exported_v004, Databend's configs. They live outside the
// repository, in shared/fixtures/databend beside it (where CI clones
// them); a test that needs them skips, saying where it looked, when they
// are not there.
package databendfixtures

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Names of the dumps: V004 and V003 exports of one 3-node cluster, and
// what databend-metactl exports after importing the V004 one.
const (
	V004         = "meta_v004.txt"
	V003         = "meta_v003.txt"
	WantExported = "want_exported_v004"
)

// Path returns shared/fixtures/databend beside the repository (the
// directory above the module root, found from the working directory,
// which go test sets to the package's).
func Path() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared", "fixtures", "databend"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Dir returns the fixture directory, and skips the test when it is not
// there.
func Dir(tb testing.TB) string {
	tb.Helper()
	fx, err := Path()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(fx); errors.Is(err, fs.ErrNotExist) {
		tb.Skipf("Databend fixtures not found at %s: clone the shared data beside the repository", fx)
	}
	return fx
}

// File returns the path of a fixture file, skipping the test when the
// fixtures are not there.
func File(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Dir(tb), name)
}

// Read returns the contents of a fixture file, skipping the test when the
// fixtures are not there.
func Read(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(File(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
