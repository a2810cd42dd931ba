package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
)

// Regression tests for bugs the chaos runs found, each a fixed scenario.

// TestForwardedProposalToLeaderlessNode: a follower F forwards proposals
// (MsgProp) to the leader L; the links between F and L stall, so they
// wait in the network, and those between G and L are cut; L steps down
// (check quorum) and F becomes the leader. When the links
// heal, L receives the stale MsgProps first, while it knows no leader, and
// then F's heartbeats on the same stream. L must learn that F leads.
//
// Found by the chaos run with METASRV_CHAOS_SEED=2 METASRV_CHAOS_NODES=3:
// raftnode.Process hands a received MsgProp to raft's node.Step, which
// blocks until the node knows a leader (it only reads proposals then), with
// the stream's context; the inbound Raft stream from F is stuck behind it,
// so F's heartbeats never reach raft and L stays a pre-candidate forever.
func TestForwardedProposalToLeaderlessNode(t *testing.T) {
	log, err := newRunLog(filepath.Join(t.TempDir(), "run.log"), time.Now(), testing.Verbose())
	if err != nil {
		t.Fatal(err)
	}
	defer log.close()
	defer func() {
		if t.Failed() {
			t.Logf("---- run log ----\n%s", log)
		}
	}()
	c := newCluster(t, log, 1024, filepath.Join(t.TempDir(), "keep"))
	if err := c.form(3); err != nil {
		t.Fatal(err)
	}
	lead, err := c.waitLeader(clusterTimeout)
	if err != nil {
		t.Fatal(err)
	}
	var f, g *node
	for _, n := range c.members() {
		if n == lead {
			continue
		}
		if f == nil {
			f = n
		} else {
			g = n
		}
	}
	log.logf("leader %v, proposals through %v, other %v", lead, f, g)

	// Writes through F: F forwards each proposal to the leader.
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			_, _ = f.meta().Upsert(ctx, &metapb.UpsertRequest{Key: keyPrefix + "k", Value: fmt.Appendf(nil, "v%d", i)})
			cancel()
		}
	}()
	time.Sleep(300 * time.Millisecond)

	// F's links to and from L stall, so F's stream to L keeps the
	// proposals and, later, F's heartbeats as leader; G's are cut, so
	// that nothing G sends while it may lead reaches L.
	c.nw.set(rule{mode: stall}, link{f.id, lead.id}, link{lead.id, f.id})
	c.nw.set(rule{mode: cut}, link{g.id, lead.id}, link{lead.id, g.id})
	log.logf("stalled the links between %v and %v, cut those between %v and %v", lead, f, lead, g)

	// F and G elect a leader; make it F.
	if err := poll(clusterTimeout, func() error {
		st, err := lead.status()
		if err != nil {
			return err
		}
		if st.GetState() == "leader" {
			return fmt.Errorf("%v still leads", lead)
		}
		for _, n := range []*node{f, g} {
			st, err := n.status()
			if err != nil {
				return err
			}
			if st.GetState() == "leader" {
				if n == g {
					res, err := g.transferLeader(f.id)
					log.logf("transfer leader from %v to %v: %s %v", g, f, res, err)
					return fmt.Errorf("%v leads; asked it to hand over to %v", g, f)
				}
				return nil
			}
		}
		return fmt.Errorf("no leader among %v and %v", f, g)
	}); err != nil {
		t.Fatalf("after stalling the leader's links: %v", err)
	}
	log.logf("%v leads", f)
	close(stop)
	<-writerDone

	c.nw.heal()
	log.logf("healed")
	if err := poll(20*time.Second, func() error {
		st, err := lead.status()
		if err != nil {
			return err
		}
		if st.GetLeaderId() != f.id {
			return fmt.Errorf("%v: state %s, term %d, leader %d; want leader %d", lead, st.GetState(), st.GetTerm(), st.GetLeaderId(), f.id)
		}
		return nil
	}); err != nil {
		c.dumpGoroutines()
		t.Fatalf("the old leader did not learn the new one 20s after the links healed: %v", err)
	}
}
