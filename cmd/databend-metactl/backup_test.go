package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/backup"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/grpcapi"
)

// serveMeta serves the public API of nd on a loopback port and returns its
// address.
func serveMeta(t *testing.T, nd *clustertest.Node) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	metapb.RegisterMetaServer(gs, grpcapi.NewMeta(nd.Server, grpcapi.DefaultLimits(4<<20)))
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return lis.Addr().String()
}

func kvLinesOf(dump string) []string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, `{"type":"kv"`) {
			out = append(out, l)
		}
	}
	return out
}

// fill writes n keys through the leader.
func fill(t *testing.T, c *clustertest.Cluster, n int) {
	t.Helper()
	srv := c.Node(c.WaitLeader()).Server
	for i := range n {
		req := &metapb.UpsertRequest{Key: fmt.Sprintf("key/%03d", i), Value: []byte(fmt.Sprint("value ", i))}
		if i%3 == 0 {
			req.TtlMs = 3_600_000
		}
		if _, err := srv.Upsert(c.Ctx(), req); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExportCommand(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	fill(t, c, 50)
	lead := c.WaitLeader()
	var follower *clustertest.Node
	for _, nd := range c.Nodes() {
		if nd.ID != lead {
			follower = nd
		}
	}
	addr := serveMeta(t, follower)

	// To stdout, failing over from a dead endpoint.
	stdout, stderr, code := runCLI(t, "--grpc-api-address", refusedAddr(t)+","+addr, "export")
	if code != 0 {
		t.Fatalf("export: exit %d, stderr %q", code, stderr)
	}
	h, f, err := backup.Verify(strings.NewReader(stdout))
	if err != nil {
		t.Fatalf("exported dump: %v", err)
	}
	if f.Keys != 50 || h.LastSeq != 50 || h.ClusterName != "test" {
		t.Errorf("header %+v footer %+v", h, f)
	}

	// To a file, with a JSON summary; the file is not overwritten.
	db := filepath.Join(t.TempDir(), "backup.db")
	var sum exportJSON
	runJSON(t, []string{addr}, &sum, "export", "--db", db)
	if sum.File != db || sum.Source != addr || sum.Keys != 50 || sum.LastSeq != 50 || sum.ClusterName != "test" {
		t.Errorf("summary %+v", sum)
	}
	fileDump, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kvLinesOf(stdout), kvLinesOf(string(fileDump))); diff != "" {
		t.Errorf("file and stdout exports differ:\n%s", diff)
	}
	if _, stderr, code := runCLI(t, "--grpc-api-address", addr, "export", "--db", db); code != 2 || !strings.Contains(stderr, "already exists") {
		t.Errorf("export over an existing file: exit %d, stderr %q", code, stderr)
	}
	if entries, _ := os.ReadDir(filepath.Dir(db)); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	// From the directory of a running node: refused.
	_, stderr, code = runCLI(t, "export", "--raft-dir", follower.Dir)
	if code != 1 || !strings.Contains(stderr, "is held by pid") {
		t.Errorf("export of a running node's dir: exit %d, stderr %q", code, stderr)
	}
	// From a stopped node's directory: the same keys.
	c.Settled(func() bool {
		return follower.Server.StateMachine().AppliedIndex() == c.Node(lead).Server.StateMachine().AppliedIndex()
	}, "the follower applies everything")
	dir := c.Stop(follower.ID)
	stdout2, stderr, code := runCLI(t, "export", "--raft-dir", dir)
	if code != 0 {
		t.Fatalf("export --raft-dir: exit %d, stderr %q", code, stderr)
	}
	if diff := cmp.Diff(kvLinesOf(stdout), kvLinesOf(stdout2)); diff != "" {
		t.Errorf("export from the stopped node's dir differs (-grpc +dir):\n%s", diff)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"--grpc-api-address", addr, "export", "--raft-dir", dir},
		{"export", "--raft-dir", ""},
		{"export", "--db", ""},
	} {
		if _, stderr, code := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, stderr %q, want 2", args, code, stderr)
		}
	}
	// No endpoint answers.
	if _, stderr, code := runCLI(t, "--grpc-api-address", refusedAddr(t), "--timeout", "2s", "export"); code != 1 || !strings.Contains(stderr, "export from") {
		t.Errorf("export from a dead endpoint: exit %d, stderr %q", code, stderr)
	}
}

func TestImportCommand(t *testing.T) {
	src := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	fill(t, src, 30)
	db := filepath.Join(t.TempDir(), "backup.db")
	if _, stderr, code := runCLI(t, "--grpc-api-address", serveMeta(t, src.Node(1)), "export", "--db", db); code != 0 {
		t.Fatalf("export: exit %d, stderr %q", code, stderr)
	}
	dump, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	src.StopAll()

	dirs := map[uint64]string{}
	for _, id := range []uint64{11, 12, 13} {
		dirs[id] = filepath.Join(t.TempDir(), "raft")
		var res importJSON
		runJSON(t, []string{"127.0.0.1:1"}, &res, "import", "--raft-dir", dirs[id], "--db", db, "--id", fmt.Sprint(id),
			"--initial-cluster", "11="+clustertest.Addr(11)+",12="+clustertest.Addr(12),
			"--initial-cluster", "13="+clustertest.Addr(13),
			"--initial-grpc", "11=grpc-11:9191,12=grpc-12:9191,13=grpc-13:9191")
		want := importJSON{RaftDir: dirs[id], ID: id, ClusterName: "test", Format: "metasrv", Keys: 30, LastSeq: 30,
			Voters: []uint64{11, 12, 13}, Index: 1, Term: 1}
		if diff := cmp.Diff(want, res); diff != "" {
			t.Errorf("import summary (-want +got):\n%s", diff)
		}
		// The member table as imported: once running, each node replaces
		// its own grpc address with the one it serves on.
		loaded, err := backup.LoadDir(dirs[id], nil)
		if err != nil {
			t.Fatalf("load imported %s: %v", dirs[id], err)
		}
		for _, m := range loaded.SM.Nodes() {
			if m.GetGrpcAddress() != fmt.Sprintf("grpc-%d:9191", m.GetId()) {
				t.Errorf("node %d as imported: member %v", id, m)
			}
		}
	}

	c := clustertest.NewOnDirs(t, dirs, clustertest.Options{ManualTicks: true})
	for _, nd := range c.Nodes() {
		var sb strings.Builder
		if err := backup.ExportStateMachine(&sb, nd.Server.StateMachine(), "test", 1); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(kvLinesOf(string(dump)), kvLinesOf(sb.String())); diff != "" {
			t.Errorf("node %d: state differs from the dump (-dump +node):\n%s", nd.ID, diff)
		}
	}
	reply, err := c.Node(c.WaitLeader()).Server.Upsert(c.Ctx(), &metapb.UpsertRequest{Key: "new", Value: []byte("x")})
	if err != nil || reply.GetResult().GetSeq() != 31 {
		t.Errorf("first write after import: %v, %v; want seq 31", reply, err)
	}

	// Refusals.
	corrupt := filepath.Join(t.TempDir(), "corrupt.db")
	if err := os.WriteFile(corrupt, dump[:len(dump)-5], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import", "--raft-dir", dirs[11], "--db", db, "--id", "11", "--initial-cluster", "11=a:1"}, 1, "not empty"},
		{[]string{"import", "--raft-dir", t.TempDir(), "--db", corrupt, "--id", "11", "--initial-cluster", "11=a:1"}, 2, "truncated"},
		{[]string{"import", "--raft-dir", t.TempDir(), "--db", db, "--id", "14", "--initial-cluster", "11=a:1"}, 2, "not in the initial cluster"},
		{[]string{"import", "--raft-dir", t.TempDir(), "--db", db, "--id", "11", "--initial-cluster", "11=a:1,12=a:1"}, 2, "given to both"},
		{[]string{"import", "--raft-dir", t.TempDir(), "--db", db, "--id", "11", "--initial-cluster", "eleven=a:1"}, 2, "want ID=HOST:PORT"},
		{[]string{"import", "--raft-dir", t.TempDir(), "--db", db, "--id", "11", "--initial-cluster", "11=a"}, 2, "want ID=HOST:PORT"},
		{[]string{"import", "--raft-dir", t.TempDir(), "--db", db, "--id", "11", "--initial-cluster", "11=a:1", "--initial-grpc", "12=b:2"}, 2, "not in --initial-cluster"},
		{[]string{"import", "--raft-dir", t.TempDir(), "--db", db, "--initial-cluster", "11=a:1"}, 2, "--id is required with --initial-cluster"},
		{[]string{"import", "--raft-dir", t.TempDir(), "--db", db, "--id", "11"}, 2, "node id 11 is not a member of the dump's cluster (1)"},
		{[]string{"import", "--raft-dir", t.TempDir(), "--db", db, "--id", "11", "--initial-cluster", "11=a:1,b"}, 2, "want the node's gRPC address"},
		{[]string{"import", "--db", db, "--id", "11", "--initial-cluster", "11=a:1"}, 2, "--raft-dir is required"},
	} {
		_, stderr, code := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

func TestDumpWALCommand(t *testing.T) {
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	fill(t, c, 3)
	dir := c.Stop(1)
	stdout, stderr, code := runCLI(t, "dump-raft-log-wal", "--raft-dir", dir)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		`metadata {"id":1,"cluster_name":"test"}`,
		"entry term=1 index=1 type=conf_change changes=[add_node(1)]",
		"hard_state term=",
		`key:"key/002"`,
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if _, stderr, code := runCLI(t, "dump-raft-log-wal"); code != 2 || !strings.Contains(stderr, "--raft-dir is required") {
		t.Errorf("without --raft-dir: exit %d, stderr %q", code, stderr)
	}
	if _, stderr, code := runCLI(t, "dump-raft-log-wal", "--raft-dir", t.TempDir()); code != 1 || !strings.Contains(stderr, "no WAL files") {
		t.Errorf("empty dir: exit %d, stderr %q", code, stderr)
	}
}
