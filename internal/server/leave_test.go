package server_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
)

// A leave of a node that is not a member is refused by the leader with
// ErrNotMember and the list of members, whichever node is asked, and over
// the Peer gRPC API (--leave-via) too; nothing changes.
func TestLeaveNotMember(t *testing.T) {
	c := clustertest.New(t, 3)
	lead := c.WaitLeader()
	f := follower(c, lead)
	before := c.Node(lead).Server.Members()

	check := func(via string, err error) {
		t.Helper()
		if !errors.Is(err, server.ErrNotMember) {
			t.Fatalf("leave of node 7 via %s: %v, want ErrNotMember", via, err)
		}
		for _, want := range []string{"node 7 is not a member", "nothing was removed", clustertest.Addr(1), clustertest.Addr(2), clustertest.Addr(3)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("leave of node 7 via %s: %q does not say %q", via, err, want)
			}
		}
	}
	for _, nd := range []*clustertest.Node{c.Node(lead), f} {
		_, err := nd.Server.Leave(c.Ctx(), &peerpb.LeaveRequest{ClusterName: "test", NodeId: 7})
		check(clustertest.Addr(nd.ID), err)
	}
	// The follower's raft port forwards to the leader over the in-memory
	// network; its answer crosses gRPC once, to RequestLeave.
	addr := c.ServePeer(f, &recordingStreams{}, clustertest.ServeOptions{})
	_, err := server.RequestLeave(c.Ctx(), []string{addr}, "test", 7)
	check(addr, err)

	if diff := cmp.Diff(before, c.Node(lead).Server.Members(), protocmp.Transform()); diff != "" {
		t.Errorf("members changed (-before +after):\n%s", diff)
	}
}
