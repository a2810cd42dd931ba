package main

import (
	"strings"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// get and list --serializable read the serving node's own state: a
// follower cut off from the leader still answers them, while the same
// reads without the flag (linearizable) cannot be confirmed and fail.
func TestSerializableReads(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	if _, err := c.Node(lead).Server.Upsert(c.Ctx(), &metapb.UpsertRequest{Key: "s/k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	var follower *clustertest.Node
	for _, nd := range c.Nodes() {
		if nd.ID != lead {
			follower = nd
		}
	}
	c.Settled(func() bool {
		return follower.Server.StateMachine().AppliedIndex() == c.Node(lead).Server.StateMachine().AppliedIndex()
	}, "the follower applies the write")
	addr := serveMeta(t, follower)
	c.Isolate(follower.ID)

	var got kvOut
	runJSON(t, []string{addr}, &got, "get", "--key", "s/k", "--serializable")
	if got.Seq == 0 || !eqStr(got.Value, strp("v")) {
		t.Errorf("get --serializable on the cut-off follower: %+v, want s/k = v", got)
	}
	var list []kvOut
	runJSON(t, []string{addr}, &list, "list", "--prefix", "s/", "--serializable")
	if len(list) != 1 || list[0].Key != "s/k" {
		t.Errorf("list --serializable on the cut-off follower: %+v, want s/k", list)
	}
	for _, args := range [][]string{{"get", "--key", "s/k"}, {"list", "--prefix", "s/"}} {
		_, stderr, code := runCLI(t, append([]string{"--grpc-api-address", addr, "--timeout", "1s"}, args...)...)
		if code != exitError || !strings.HasPrefix(stderr, "databend-metactl: ") {
			t.Errorf("%v (linearizable) on the cut-off follower: exit %d, stderr %q; want exit 1", args, code, stderr)
		}
	}
}
