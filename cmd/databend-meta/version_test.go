package main

import (
	"bytes"
	"testing"

	"github.com/metasrv/metasrv/internal/buildinfo"
)

// --version prints buildinfo's line, the format databend-metactl version
// prints too, and nothing else.
func TestVersionFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if want := buildinfo.Line("databend-meta", version) + "\n"; stdout.String() != want || stderr.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want %q and nothing on stderr", stdout.String(), stderr.String(), want)
	}
}
