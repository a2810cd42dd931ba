package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
)

// A join through an address that answers gRPC but not the raft service
// (a node's public port) fails at once, saying what raft_config.join
// takes, instead of retrying until wait_leader_timeout.
func TestJoinViaGRPCPortFailsAtOnce(t *testing.T) {
	c := clustertest.New(t, 1, manualTicks)
	public := c.ServePublic(c.Node(1), clustertest.ServeOptions{})
	var retries []server.Retry
	nd := c.StartWith(2, t.TempDir(), false, func(cfg *server.Config) {
		cfg.Join = []string{public}
		cfg.PeerClient = server.GRPCPeerClient{}
		cfg.WaitLeaderTimeout = time.Hour
		cfg.JoinRetrying = func(r server.Retry) { retries = append(retries, r) }
	})
	var err error
	select {
	case err = <-nd.JoinC:
	case <-time.After(clustertest.WaitTimeout):
		t.Fatalf("joining via %s still retries after %s", public, clustertest.WaitTimeout)
	}
	want := "joining via " + public + ": it answers gRPC but not the raft service"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "raft_config.join takes a node's raft address") {
		t.Fatalf("join: %v, want %q", err, want)
	}
	if len(retries) != 0 {
		t.Errorf("retried: %v", retries)
	}
	if j := nd.Server.AdminStatus().Join; j == nil || j.Failed == nil {
		t.Errorf("AdminStatus().Join = %+v after the join failed, want it to say why", j)
	}
}

// A join reports each attempt it retries, and once joined shows no join
// status any more.
func TestJoinReportsRetries(t *testing.T) {
	c := clustertest.New(t, 1, manualTicks)
	var mu sync.Mutex
	var retries []server.Retry
	nd := c.StartWith(2, t.TempDir(), false, func(cfg *server.Config) {
		cfg.Join = []string{clustertest.Addr(9), clustertest.Addr(1)} // nobody at the first
		cfg.JoinRetrying = func(r server.Retry) {
			mu.Lock()
			defer mu.Unlock()
			retries = append(retries, r)
		}
	})
	c.WaitJoined(nd)
	mu.Lock()
	defer mu.Unlock()
	if len(retries) != 1 || retries[0].Via != clustertest.Addr(9) || retries[0].Attempt != 1 {
		t.Fatalf("retries %v, want one, through %s", retries, clustertest.Addr(9))
	}
	if s, want := retries[0].String(), "joining via "+clustertest.Addr(9)+": not reachable yet (attempt 1), retrying until "; !strings.HasPrefix(s, want) {
		t.Errorf("retry says %q, want it to start with %q", s, want)
	}
	if j := nd.Server.AdminStatus().Join; j != nil {
		t.Errorf("AdminStatus().Join = %+v after the join, want nil", j)
	}
}

// slowJoin is a PeerClient whose Join answers only once released, after
// the leader answered it: the answer is on its way.
type slowJoin struct {
	server.PeerClient
	answered, release chan struct{}
}

func (p slowJoin) Join(ctx context.Context, addr string, req *peerpb.JoinRequest) (*peerpb.JoinReply, error) {
	reply, err := p.PeerClient.Join(ctx, addr, req)
	close(p.answered)
	<-p.release
	return reply, err
}

// A node that applied itself as a voter has joined, though the leader's
// answer to its Join has not reached it yet: it shows no join status (and
// the admin API's health does not fail it as not a member).
func TestJoinedOnceAppliedAsVoter(t *testing.T) {
	c := clustertest.New(t, 1, manualTicks)
	answered, release := make(chan struct{}), make(chan struct{})
	nd := c.StartWith(2, t.TempDir(), false, func(cfg *server.Config) {
		cfg.Join = []string{clustertest.Addr(1)}
		cfg.PeerClient = slowJoin{PeerClient: cfg.PeerClient, answered: answered, release: release}
	})
	deadline := time.After(clustertest.WaitTimeout)
	for waiting := true; waiting; {
		select {
		case <-answered:
			waiting = false
		case <-deadline:
			t.Fatalf("the leader did not answer node 2's Join within %s", clustertest.WaitTimeout)
		case <-time.After(5 * time.Millisecond):
			c.Tick(1)
		}
	}
	c.Settle()
	voter := false
	for _, m := range nd.Server.AdminStatus().Members {
		voter = voter || (m.GetId() == 2 && m.GetVoter())
	}
	if !voter {
		t.Fatalf("node 2 has not applied itself as a voter: %v", nd.Server.AdminStatus().Members)
	}
	if j := nd.Server.AdminStatus().Join; j != nil {
		t.Errorf("AdminStatus().Join = %v once applied as a voter, want nil", j)
	}
	close(release)
	if err := <-nd.JoinC; err != nil {
		t.Fatal(err)
	}
}
