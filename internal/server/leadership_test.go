package server_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
)

func TestTransferLeader(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Configure: func(cfg *server.Config) {
		cfg.AdminAddress = fmt.Sprintf("admin-%d:28101", cfg.ID)
	}})
	lead := c.WaitLeader()
	f := follower(c, lead)

	// A follower names the leader and its admin API, as the leader told it.
	_, err := f.Server.TransferLeader(c.Ctx(), lead)
	var nl *server.NotLeaderError
	if !errors.Is(err, server.ErrNotLeader) || !errors.As(err, &nl) {
		t.Fatalf("transfer on a follower: %v, want a NotLeaderError", err)
	}
	wantAdmin := fmt.Sprintf("admin-%d:28101", lead)
	if nl.ID != f.ID || nl.Leader != lead || nl.LeaderAdminAddress != wantAdmin || nl.LeaderGrpcAddress != clustertest.Addr(lead) ||
		!strings.Contains(err.Error(), fmt.Sprintf("the leader is node %d, whose admin API is at %s", lead, wantAdmin)) {
		t.Errorf("transfer on follower %d: %+v (%v), want leader %d at %s", f.ID, nl, err, lead, wantAdmin)
	}
	// A target that is not another voter is refused, naming the voters.
	for _, tt := range []struct {
		to   uint64
		want string
	}{
		{99, "node 99 is not a member of this cluster; the voters are 1, 2, 3"},
		{lead, fmt.Sprintf("node %d is the leader already", lead)},
	} {
		_, err := c.Node(lead).Server.TransferLeader(c.Ctx(), tt.to)
		if !errors.Is(err, server.ErrInvalidTransfer) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("transfer to %d: %v, want ErrInvalidTransfer saying %q", tt.to, err, tt.want)
		}
	}
	to, err := c.Node(lead).Server.TransferLeader(c.Ctx(), f.ID)
	if err != nil || to != f.ID {
		t.Fatalf("transfer to %d: got %d, %v", f.ID, to, err)
	}
	if got := c.WaitLeader(lead); got != f.ID {
		t.Fatalf("leader after transfer = %d, want %d", got, f.ID)
	}
	// With no target the most caught-up voter takes over.
	to, err = c.Node(f.ID).Server.TransferLeader(c.Ctx(), 0)
	if err != nil || to == f.ID || to == 0 {
		t.Fatalf("transfer to the best voter: got %d, %v", to, err)
	}
	mustPut(t, c.Node(to).Server, "after-transfer", "ok")
}

// A write forwarded by a follower to a leader that is transferring
// leadership is dropped there; the leader tells the follower, which fails
// the write at once as not proposed (safe to retry), instead of holding it
// until its deadline with an unknown outcome.
func TestForwardedProposalDroppedDuringTransfer(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	f := follower(c, lead)
	var other uint64
	for _, n := range c.Nodes() {
		if n.ID != lead && n.ID != f.ID {
			other = n.ID
		}
	}
	mustPut(t, f.Server, "before", "x")
	// The transfer to an isolated node cannot finish, and with no tick
	// the leader does not give up on it: it drops proposals meanwhile.
	c.Isolate(other)
	transferCtx, cancelTransfer := context.WithCancel(c.Ctx())
	transferDone := make(chan struct{})
	go func() {
		defer close(transferDone)
		_, _ = c.Node(lead).Server.TransferLeader(transferCtx, other)
	}()
	defer func() { cancelTransfer(); <-transferDone }()
	for c.Node(lead).Server.LeadTransferee() != other {
		select {
		case <-transferDone:
			t.Fatal("TransferLeader returned before the transfer started")
		default:
		}
		c.Settle()
	}
	ctx, cancel := context.WithTimeout(c.Ctx(), 5*time.Second)
	_, err := f.Server.Upsert(ctx, put("during-transfer", "x"))
	cancel()
	if !errors.Is(err, server.ErrNotProposed) {
		t.Fatalf("write through node %d during a transfer: %v, want ErrNotProposed", f.ID, err)
	}
	// An election timeout later the leader gives up the transfer, keeps
	// its leadership, and writes go through again.
	c.Tick(clustertest.ElectionTick)
	if got := c.Node(lead).Server.LeadTransferee(); got != 0 {
		t.Fatalf("the leader still transfers to node %d after an election timeout", got)
	}
	if got := c.WaitLeader(); got != lead {
		t.Fatalf("leader %d after the transfer was given up, want %d", got, lead)
	}
	mustPut(t, f.Server, "after", "x")
}
