package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// Databend's deprecated global form, databend-metactl --export / --import
// with their global flags, runs the export and import commands.
func TestLegacyExportImport(t *testing.T) {
	src := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	fill(t, src, 12)
	addr := serveMeta(t, src.Node(1))

	// --export to stdout, the address from databend-metactl's variable.
	t.Setenv(EnvGrpcAPIAddress, addr)
	stdout, stderr, code := runCLI(t, "--export", "--export-chunk-size", "4")
	if code != 0 {
		t.Fatalf("--export: exit %d, stderr %q", code, stderr)
	}
	// Databend's format, as databend-metactl --export writes it.
	if n := len(genericKVLines(stdout)); n != 12 || !strings.HasPrefix(stdout, `["header",{"DataHeader":`) {
		t.Fatalf("--export: %d GenericKV lines, want 12 in Databend's format:\n%s", n, stdout)
	}
	// --export --db F --grpc-api-address A: the flag wins over the variable.
	t.Setenv(EnvGrpcAPIAddress, refusedAddr(t))
	db := filepath.Join(t.TempDir(), "meta.db")
	if _, stderr, code := runCLI(t, "--export", "--grpc-api-address", addr, "--db", db, "--id", "7"); code != 0 {
		t.Fatalf("--export --db: exit %d, stderr %q", code, stderr)
	}
	dump, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(genericKVLines(stdout), genericKVLines(string(dump))); diff != "" {
		t.Errorf("--export --db and --export to stdout differ:\n%s", diff)
	}
	src.StopAll()

	// --import --raft-dir D --db F --id N --initial-cluster ...
	dir := filepath.Join(t.TempDir(), "raft")
	if _, stderr, code := runCLI(t, "--import", "--raft-dir", dir, "--db", db, "--id", "2",
		"--initial-cluster", "1="+clustertest.Addr(1), "--initial-cluster", "2="+clustertest.Addr(2)); code != 0 {
		t.Fatalf("--import: exit %d, stderr %q", code, stderr)
	}
	ld, err := backup.LoadDir(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ld.ID != 2 || len(ld.SM.Nodes()) != 2 || ld.SM.LastSeq() != 12 {
		t.Errorf("imported: id %d, members %v, last seq %d", ld.ID, ld.SM.Nodes(), ld.SM.LastSeq())
	}
	// --export --raft-dir of the stopped node; --id is checked against it.
	stdout2, stderr, code := runCLI(t, "--export", "--raft-dir", dir, "--id", "2")
	if code != 0 {
		t.Fatalf("--export --raft-dir: exit %d, stderr %q", code, stderr)
	}
	if diff := cmp.Diff(genericKVLines(stdout), genericKVLines(stdout2)); diff != "" {
		t.Errorf("export of the imported dir differs:\n%s", diff)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--export", "--raft-dir", dir, "--id", "3"}, "--id 3: " + dir + " is the raft_dir of node 2"},
		{[]string{"--export", "--import"}, "give --export or --import, not both"},
		{[]string{"--export", "--initial-cluster", "1=a:1"}, "--initial-cluster applies to --import"},
		{[]string{"--import", "--export-chunk-size", "3", "--raft-dir", dir}, "--export-chunk-size applies to --export"},
		{[]string{"--db", db}, "--db without a command"},
		{[]string{"export", "--chunk-size", "0"}, "--chunk-size 0"},
	} {
		_, stderr, code := runCLI(t, tt.args...)
		if code != exitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with %q", tt.args, code, stderr, tt.want)
		}
	}
	// No command and no legacy flag: the help, as databend-metactl.
	if stdout, _, code := runCLI(t); code != 0 || !strings.Contains(stdout, "Available Commands") {
		t.Errorf("no command: exit %d, stdout %q", code, stdout)
	}
	if _, stderr, code := runCLI(t, "nosuchcommand"); code != exitUsage || !strings.Contains(stderr, fmt.Sprintf("unknown command %q", "nosuchcommand")) {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}
}

// genericKVLines returns the key lines of a dump in Databend's format.
func genericKVLines(dump string) []string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, `["state_machine/0",{"GenericKV":`) {
			out = append(out, l)
		}
	}
	return out
}
