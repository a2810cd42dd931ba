package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
)

// A linearizable read that arrives while its node knows no leader is served
// as soon as a leader is known, not after a whole ReadIndex attempt (an
// election timeout): raft drops such a round without a word. Node 1 is
// restarted alone with an election timeout of 10 s, so one lost round would
// outlast the read's 3 s deadline; nodes 2 and 3 come back later and elect a
// leader within a second.
func TestReadWaitsForLeaderNotForAttempt(t *testing.T) {
	c := clustertest.New(t, 3)
	c.WaitLeader()
	mustPut(t, c.Node(2).Server, "k", "v")

	dirs := map[uint64]string{}
	for _, n := range c.Nodes() {
		dirs[n.ID] = c.Stop(n.ID)
	}
	n1 := c.StartWith(1, dirs[1], false, func(cfg *server.Config) { cfg.ElectionTick = 1000 })

	type result struct {
		v   *metapb.SeqV
		err error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		v, err := n1.Server.Get(ctx, "k", metapb.ReadConsistency_LINEARIZABLE)
		done <- result{v, err}
	}()
	time.Sleep(100 * time.Millisecond) // the read is waiting on a node with no leader
	if n1.Server.Status().GetLeaderId() != 0 {
		t.Fatal("node 1 alone knows a leader")
	}
	c.Restart(2, dirs[2])
	c.Restart(3, dirs[3])

	r := <-done
	if r.err != nil {
		t.Fatalf("linearizable read on node 1 after the others came back: %v", r.err)
	}
	if string(r.v.GetData()) != "v" {
		t.Fatalf("read %v, want v", r.v)
	}
}
