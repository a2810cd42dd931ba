package clustertest_test

import (
	"testing"

	"github.com/metasrv/metasrv/internal/clustertest"
)

// With manual ticks raft's time stands still between Ticks: a healthy
// cluster keeps its leader and term however long it runs, and a leader
// cut off loses office only once the ticks make it due.
func TestManualTicks(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	term := c.Node(lead).Server.Status().GetTerm()

	c.Tick(5 * clustertest.ElectionTick)
	for _, nd := range c.Nodes() {
		st := nd.Server.Status()
		if st.GetLeaderId() != lead || st.GetTerm() != term {
			t.Fatalf("node %d after 5 election timeouts of heartbeats: leader %d term %d, want %d in term %d",
				nd.ID, st.GetLeaderId(), st.GetTerm(), lead, term)
		}
	}

	// Cut off, the leader keeps office until an election timeout without
	// hearing a quorum (CheckQuorum); the others elect a new one.
	c.Isolate(lead)
	c.Settle()
	if st := c.Node(lead).Server.Status(); st.GetState() != "leader" {
		t.Fatalf("the leader stepped down without a tick: %v", st.GetState())
	}
	newLead := c.WaitLeader(lead)
	c.Tick(2 * clustertest.ElectionTick)
	if st := c.Node(lead).Server.Status(); st.GetState() == "leader" {
		t.Fatalf("node %d, cut off, is still leader after 2 election timeouts", lead)
	}
	c.Heal()
	c.Tick(1)
	if got := c.WaitLeader(); got != newLead {
		t.Fatalf("leader after heal %d, want %d", got, newLead)
	}
}
