package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/databendfixtures"
)

// databend-metactl import and export as Databend's operators run them, on
// the real dumps: import with --db alone keeps the dump's node and members;
// --initial-cluster takes Databend's ID=RAFT,GRPC items; export --format
// databend writes Databend's lines, from a raft_dir or a running cluster.
func TestDatabendDumpCommands(t *testing.T) {
	v004 := databendfixtures.File(t, databendfixtures.V004)
	dir := filepath.Join(t.TempDir(), "raft")
	var res importJSON
	runJSON(t, []string{"127.0.0.1:1"}, &res, "import", "--raft-dir", dir, "--db", v004)
	want := importJSON{RaftDir: dir, ID: 1, ClusterName: "foo_cluster", Format: "databend V004", Keys: 71, LastSeq: 159,
		Voters: []uint64{1, 2, 3}, Index: 83, Term: 1, LogEntries: 82}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("import summary (-want +got):\n%s", diff)
	}

	stdout, stderr, code := runCLI(t, "export", "--raft-dir", dir, "--format", "databend")
	if code != 0 {
		t.Fatalf("export: exit %d, stderr %q", code, stderr)
	}
	wantLines := strings.Split(string(databendfixtures.Read(t, databendfixtures.WantExported)), "\n")
	gotLines := strings.Split(stdout, "\n")
	if gotLines[0] != wantLines[0] {
		t.Errorf("header %s, want %s", gotLines[0], wantLines[0])
	}
	count := func(lines []string, prefix string) int {
		n := 0
		for _, l := range lines {
			if strings.HasPrefix(l, prefix) {
				n++
			}
		}
		return n
	}
	if got, want := count(gotLines, `["state_machine/0",`), count(wantLines, `["state_machine/0",`); got != want {
		t.Errorf("%d state_machine lines, want %d", got, want)
	}

	// Databend's --initial-cluster: the grpc address after the comma.
	dir2 := filepath.Join(t.TempDir(), "raft")
	runJSON(t, []string{"127.0.0.1:1"}, &res, "import", "--raft-dir", dir2, "--db", databendfixtures.File(t, databendfixtures.V003),
		"--id", "2", "--initial-cluster", "1=localhost:28103,0.0.0.0:9191", "--initial-cluster", "2=localhost:28203")
	ld, err := backup.LoadDir(dir2, nil)
	if err != nil {
		t.Fatal(err)
	}
	nodes := ld.SM.Nodes()
	if res.ID != 2 || res.Format != "databend V003" || len(nodes) != 2 || nodes[0].GetGrpcAddress() != "0.0.0.0:9191" ||
		nodes[1].GetRaftAddress() != "localhost:28203" || nodes[1].GetGrpcAddress() != "" {
		t.Errorf("import %+v: members %v", res, nodes)
	}

	// From a running cluster, to a file.
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	fill(t, c, 20)
	db := filepath.Join(t.TempDir(), "databend.txt")
	var sum exportJSON
	runJSON(t, []string{serveMeta(t, c.Node(1))}, &sum, "export", "--format", "databend", "--db", db)
	if sum.Format != "databend" || sum.Keys != 20 || sum.LastSeq != 20 {
		t.Errorf("export summary %+v", sum)
	}
	b, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if keys, last, err := backup.VerifyDatabend(bytes.NewReader(b)); err != nil || keys != 20 || last != 20 {
		t.Errorf("exported file: %d keys, last seq %d, %v", keys, last, err)
	}
}
