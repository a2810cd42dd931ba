package databendjson

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/metasrv/metasrv/internal/databendfixtures"
)

// The dumps a real 3-node databend-meta cluster wrote (issue 12): V004 and
// V003 exports of the same data, and what databend-metactl exports after
// importing the V004 one.
var fixtureFiles = []string{"meta_v004.txt", "meta_v003.txt", "want_exported_v004"}

// fixtureDir returns the fixture directory, and skips the test when it is
// not there.
func fixtureDir(tb testing.TB) string { return databendfixtures.Dir(tb) }

// fixtureLines returns the lines of a fixture file, without their newlines.
func fixtureLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir(tb), name))
	if err != nil {
		tb.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		tb.Fatalf("%s does not end with a newline", name)
	}
	return bytes.Split(b[:len(b)-1], []byte("\n"))
}

// decodeFixture decodes every line of a fixture file.
func decodeFixture(tb testing.TB, name string) []Line {
	tb.Helper()
	var out []Line
	for i, b := range fixtureLines(tb, name) {
		l, err := DecodeLine(b)
		if err != nil {
			tb.Fatalf("%s line %d: %v", name, i+1, err)
		}
		out = append(out, l)
	}
	return out
}
