package server_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/tlsfiles"
	"github.com/metasrv/metasrv/internal/tlstest"
)

// A leave of a node that is not a member is refused by the leader with
// ErrNotMember and the list of members, whichever node is asked, and over
// the Peer gRPC API (--leave-via) too; nothing changes.
func TestLeaveNotMember(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
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
	_, err := server.RequestLeave(c.Ctx(), []string{addr}, "test", 7, nil)
	check(addr, err)
	// After a failed attempt, whose outcome may be unknown, it says so.
	_, err = server.RequestLeave(c.Ctx(), []string{deadAddr(t), addr}, "test", 7, nil)
	check(addr, err)
	if want := "an earlier attempt failed"; !strings.Contains(err.Error(), want) {
		t.Errorf("leave of node 7 after a failed attempt: %q does not say %q", err, want)
	}

	if diff := cmp.Diff(before, c.Node(lead).Server.Members(), protocmp.Transform()); diff != "" {
		t.Errorf("members changed (-before +after):\n%s", diff)
	}
}

// A leave sent where retrying cannot help fails at once, saying what to
// do, and reports no retry: a public gRPC port, a raft port whose TLS
// certificate this side does not trust, another cluster name.
func TestRequestLeaveFailsAtOnce(t *testing.T) {
	c := clustertest.New(t, 2, manualTicks)
	nd := c.Node(c.WaitLeader())
	ca := tlstest.NewCA(t)
	nodePair := ca.Issue(t, "node")
	serverTLS, _, err := tlsfiles.Mutual(nodePair.CertFile, nodePair.KeyFile, ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	stranger := tlstest.NewCA(t)
	strangerPair := stranger.Issue(t, "stranger")
	_, strangerTLS, err := tlsfiles.Mutual(strangerPair.CertFile, strangerPair.KeyFile, stranger.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	publicAddr := c.ServePublic(nd, clustertest.ServeOptions{})
	tlsAddr := c.ServePeer(nd, &recordingStreams{}, clustertest.ServeOptions{TLS: serverTLS})
	plainAddr := c.ServePeer(nd, &recordingStreams{}, clustertest.ServeOptions{})

	for _, tt := range []struct {
		name, addr, cluster string
		opts                []grpc.DialOption
		want                []string
	}{
		{"public gRPC port", publicAddr, "test", nil,
			[]string{"leave via " + publicAddr + ": it answers gRPC but not the raft service", "--leave-via takes a node's raft address"}},
		{"TLS certificate of another CA", tlsAddr, "test", []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(strangerTLS))},
			[]string{"TLS handshake failed", "raft_tls_ca"}},
		{"TLS to a plaintext port", plainAddr, "test", []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(strangerTLS))},
			[]string{"TLS handshake failed"}},
		{"another cluster name", plainAddr, "other", nil,
			[]string{`this node is in cluster "test", the request names "other"`, "cluster_name"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var retries []server.Retry
			_, err := server.RequestLeave(c.Ctx(), []string{tt.addr}, tt.cluster, 2,
				func(r server.Retry) { retries = append(retries, r) }, tt.opts...)
			if err == nil {
				t.Fatal("leave succeeded")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if len(retries) != 0 {
				t.Errorf("retried %d times: %v", len(retries), retries)
			}
		})
	}
	if got := len(nd.Server.Members()); got != 2 {
		t.Errorf("%d members, want 2", got)
	}
}

// A leave retries what may pass (here an address nobody listens on), and
// says so to its caller, before it gets through another address.
func TestRequestLeaveReportsRetries(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	addr := c.ServePeer(c.Node(lead), &recordingStreams{}, clustertest.ServeOptions{})
	dead := deadAddr(t)

	victim := follower(c, lead).ID
	var retries []server.Retry
	nodes, err := server.RequestLeave(c.Ctx(), []string{dead, addr}, "test", victim,
		func(r server.Retry) { retries = append(retries, r) })
	if err != nil {
		t.Fatalf("leave of node %d via %s then %s: %v", victim, dead, addr, err)
	}
	if len(nodes) != 2 {
		t.Errorf("members after the leave: %v", nodes)
	}
	if len(retries) != 1 {
		t.Fatalf("retries %v, want one, through %s", retries, dead)
	}
	r := retries[0]
	deadline, _ := c.Ctx().Deadline()
	if r.Via != dead || r.Attempt != 1 || r.Err == nil || r.Until.IsZero() || r.Until.After(deadline) {
		t.Errorf("retry %+v, want attempt 1 via %s with an error, until the context's deadline", r, dead)
	}
	if s, want := r.String(), "leave via "+dead+": not reachable yet (attempt 1), retrying until "; !strings.HasPrefix(s, want) {
		t.Errorf("retry says %q, want it to start with %q", s, want)
	}
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}
