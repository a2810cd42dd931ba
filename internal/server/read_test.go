package server_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
)

// A linearizable read that arrives while its node knows no leader is served
// as soon as a leader is known, in the ReadIndex round it started then, not
// after a whole round (an election timeout: raft drops a round without a
// word when it knows no leader). Node 1 is restarted alone, on manual
// ticks: it knows no leader however long the read waits. Its election
// timeout is 1000 ticks, so that a lost round would last 10 s. Nodes 2
// and 3 come back and elect a leader.
func TestReadWaitsForLeaderNotForAttempt(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
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
	attempts := n1.Server.ReadAttempts()
	go func() {
		v, err := n1.Server.Get(c.Ctx(), "k", metapb.ReadConsistency_LINEARIZABLE)
		done <- result{v, err}
	}()
	// The read's round has started, on a node that knows no leader (no
	// tick has been given: none can be elected).
	deadline := time.Now().Add(clustertest.WaitTimeout)
	for n1.Server.ReadAttempts() == attempts {
		if time.Now().After(deadline) {
			t.Fatal("the read started no ReadIndex round")
		}
		runtime.Gosched()
	}
	if n1.Server.Status().GetLeaderId() != 0 {
		t.Fatal("node 1 alone knows a leader")
	}
	c.Restart(2, dirs[2])
	c.Restart(3, dirs[3])
	c.WaitLeader()

	r := <-done
	if r.err != nil {
		t.Fatalf("linearizable read on node 1 after the others came back: %v", r.err)
	}
	if string(r.v.GetData()) != "v" {
		t.Fatalf("read %v, want v", r.v)
	}
	if got := n1.Server.ReadAttempts() - attempts; got != 1 {
		t.Fatalf("the read took %d ReadIndex rounds, want the one it started before a leader was known", got)
	}
}

// A transaction that only reads is answered after a read barrier, not
// through the log: it appends no entry, and on a follower it sees the
// write acknowledged just before it on the leader.
func TestReadOnlyTxnNotLogged(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	f := c.Node(lead%3 + 1)
	mustPut(t, c.Node(lead).Server, "k", "v")
	last := c.Node(lead).Server.Status().GetLastLogIndex()
	reply, err := f.Server.Txn(c.Ctx(), &metapb.TxnRequest{
		Condition: []*metapb.TxnCondition{{Key: "k", Op: metapb.TxnCondition_GE, Target: &metapb.TxnCondition_Seq{Seq: 1}}},
		IfThen:    []*metapb.TxnOp{{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: "k"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reply.GetSuccess() || string(reply.GetResponses()[0].GetGet().GetValue().GetData()) != "v" {
		t.Errorf("read-only txn on node %d: %v, want the condition to hold and k = v", f.ID, reply)
	}
	if got := c.Node(lead).Server.Status().GetLastLogIndex(); got != last {
		t.Errorf("the leader's last log index went from %d to %d: the read-only txn was logged", last, got)
	}
}
