package server_test

import (
	"errors"
	"testing"

	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
)

func TestTransferLeader(t *testing.T) {
	c := clustertest.New(t, 3)
	lead := c.WaitLeader()
	f := follower(c, lead)

	if _, err := f.Server.TransferLeader(c.Ctx(), lead); !errors.Is(err, server.ErrNotLeader) {
		t.Fatalf("transfer on a follower: %v, want ErrNotLeader", err)
	}
	if _, err := c.Node(lead).Server.TransferLeader(c.Ctx(), 99); !errors.Is(err, server.ErrInvalidMember) {
		t.Fatalf("transfer to a non-member: %v, want ErrInvalidMember", err)
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
