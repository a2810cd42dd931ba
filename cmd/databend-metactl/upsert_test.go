package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/client/clienttest"
)

// TestUpsertValueFile: --value-file stores a file's bytes as they are
// (binary, newlines, empty), "-" reads standard input, and a wrong use of
// the two value flags is an exit-2 error saying what to give.
func TestUpsertValueFile(t *testing.T) {
	cl := clienttest.Start(t, 1)
	addr := strings.Join(cl.Addrs(), ",")
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bin := append(bytes.Repeat([]byte{0xff, 0x00, '\n'}, 1000), "end\n"...)
	tests := []struct {
		name  string
		args  []string
		stdin string
		want  []byte
	}{
		{"binary file", []string{"--value-file", write("bin", bin)}, "", bin},
		{"empty file", []string{"--value-file", write("empty", nil)}, "", nil},
		{"standard input", []string{"--value-file", "-"}, "line 1\nline 2\n", []byte("line 1\nline 2\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "vf/" + strings.ReplaceAll(tt.name, " ", "-")
			args := append([]string{"--grpc-api-address", addr, "upsert", "--key", key}, tt.args...)
			if out, err := runWithStdin(t, tt.stdin, args...); err != nil {
				t.Fatalf("%v: %v\n%s", args, err, out)
			}
			got := cl.Store.Get(key)
			if got == nil || !bytes.Equal(got.GetData(), tt.want) {
				t.Fatalf("stored %q, want %q", got.GetData(), tt.want)
			}
		})
	}

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"both flags", []string{"--value", "v", "--value-file", "-"}, "--value and --value-file are both given"},
		{"neither flag", nil, "--value or --value-file is required"},
		{"empty path", []string{"--value-file", ""}, "--value-file is empty"},
		{"missing file", []string{"--value-file", filepath.Join(dir, "absent")}, "read the value file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--grpc-api-address", addr, "upsert", "--key", "vf/bad"}, tt.args...)
			_, stderr, code := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Fatalf("%v: exit %d, stderr %q; want exit %d saying %q", args, code, stderr, exitUsage, tt.want)
			}
			if cl.Store.Get("vf/bad") != nil {
				t.Fatal("a refused command stored the key")
			}
		})
	}
}
