package main

import (
	"os"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/client/clienttest"
)

// TestReadmeGetExample runs the README's quick start `get --output json`
// against a store holding hello = world and compares what it prints with
// the output the README shows under it, as "# " comment lines.
func TestReadmeGetExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	const cmd = "bin/databend-metactl get --key hello --output json\n"
	_, after, ok := strings.Cut(string(readme), cmd)
	if !ok {
		t.Fatalf("README.md does not show %q", strings.TrimSpace(cmd))
	}
	var want strings.Builder
	for _, line := range strings.SplitAfter(after, "\n") {
		text, ok := strings.CutPrefix(line, "#")
		if !ok {
			break
		}
		want.WriteString(strings.TrimPrefix(text, " "))
	}

	cl := clienttest.Start(t, 1)
	cl.Store.Put("hello", []byte("world"))
	stdout, stderr, code := runCLI(t, "--grpc-api-address", strings.Join(cl.Addrs(), ","), "--timeout", "5s",
		"get", "--key", "hello", "--output", "json")
	if code != 0 {
		t.Fatalf("get: exit %d, stderr %q", code, stderr)
	}
	if stdout != want.String() {
		t.Errorf("README.md shows under %q:\n%s\nthe command prints:\n%s", strings.TrimSpace(cmd), want.String(), stdout)
	}
}
