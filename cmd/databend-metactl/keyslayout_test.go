package main

import (
	"strings"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client/clienttest"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// keys-layout asks the node (SnapshotKeysLayout) and prints its counts as
// databend-metactl does.
func TestKeysLayoutCommand(t *testing.T) {
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	nd := c.Node(c.WaitLeader())
	for _, k := range []string{"databases/1/tables/users/columns/id", "databases/1/tables/users/columns/name",
		"databases/1/tables/orders/columns/id", "databases/2/tables/products/columns/id",
		"system/config/max_connections", "system/stats/query_count"} {
		if _, err := nd.Server.Upsert(c.Ctx(), &metapb.UpsertRequest{Key: k, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	addr := []string{"--grpc-api-address", c.ServePublic(nd, clustertest.ServeOptions{})}
	// databend-metactl's example, line for line.
	want := `databases/1/tables/orders/columns 1
databases/1/tables/orders 1
databases/1/tables/users/columns 2
databases/1/tables/users 2
databases/1/tables 3
databases/1 3
databases/2/tables/products/columns 1
databases/2/tables/products 1
databases/2/tables 1
databases/2 1
databases 4
system/config 1
system/stats 1
system 2
 6
`
	if stdout, stderr, code := runCLI(t, append(addr, "keys-layout")...); code != 0 || stdout != want {
		t.Errorf("keys-layout: exit %d, stderr %q, stdout\n%s\nwant\n%s", code, stderr, stdout, want)
	}
	if stdout, stderr, code := runCLI(t, append(addr, "keys-layout", "--depth", "1")...); code != 0 || stdout != "databases 4\nsystem 2\n 6\n" {
		t.Errorf("keys-layout --depth 1: exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
	stdout, stderr, code := runCLI(t, append(addr, "--output", "json", "keys-layout", "--depth", "1")...)
	if want := "[\n  {\n    \"prefix\": \"databases\",\n    \"count\": 4\n  },\n  {\n    \"prefix\": \"system\",\n    \"count\": 2\n  },\n  {\n    \"prefix\": \"\",\n    \"count\": 6\n  }\n]\n"; code != 0 || stdout != want {
		t.Errorf("keys-layout --output json: exit %d, stderr %q, stdout %q", code, stderr, stdout)
	}
}

func TestLuaNotSupported(t *testing.T) {
	stdout, stderr, code := runCLI(t, "lua", "--script", `print("hello")`)
	if code != exitUsage || stdout != "" || !strings.Contains(stderr, "lua is not supported: this databend-metactl embeds no Lua interpreter") {
		t.Errorf("lua: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// databend-metactl's global --log-level is accepted.
	cl := clienttest.Start(t, 1)
	if _, stderr, code := runCLI(t, "--log-level", "DEBUG", "--grpc-api-address", cl.Addrs()[0], "get", "--key", "k"); code != 0 {
		t.Errorf("--log-level DEBUG get: exit %d, stderr %q", code, stderr)
	}
}

// databend-metactl's commands and flags that do not apply here are
// refused with what to use instead.
func TestDatabendCommandsRefused(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"bench-client-num-conn", "--num", "3"}, "use bench --conns N"},
		{[]string{"filter-tenant", "--tenant", "t1", "--input", "a", "--output", "b"}, "run Databend's databend-metactl filter-tenant"},
		{[]string{"dump-raft-log-wal", "--raft-dir", t.TempDir(), "-V"}, "--decode-values is not supported"},
		{[]string{"dump-raft-log-wal", "--raft-dir", t.TempDir(), "--raw"}, "--raw is not supported"},
	} {
		stdout, stderr, code := runCLI(t, tt.args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 with %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
}
