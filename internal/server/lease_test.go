package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// leaseCluster is a 3-node cluster on manual ticks and a clock that moves
// only when told to, with a lease of ttl seconds granted on the leader
// and the leader's lessor past its term's extension.
func leaseCluster(t *testing.T, ttl int64) (c *clustertest.Cluster, clock *clustertest.Clock, lead *clustertest.Node, id int64) {
	t.Helper()
	clock = clustertest.NewClock(time.Now())
	c = clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Now: clock.Now})
	lead = c.Node(c.WaitLeader())
	g, err := lead.Server.LeaseGrant(c.Ctx(), 0, ttl)
	if err != nil {
		t.Fatal(err)
	}
	c.Tick(1)
	return c, clock, lead, g.ID
}

// expiries returns lease id's replicated expiry on every node (0: gone).
func expiries(c *clustertest.Cluster, id int64) map[uint64]uint64 {
	out := map[uint64]uint64{}
	for _, n := range c.Nodes() {
		_, exp, _ := n.Server.StateMachine().LeaseExpiry(id)
		out[n.ID] = exp
	}
	return out
}

// The leader answers a keep-alive from memory, as etcd's lessor does: no
// log entry a keep-alive. Its promise reaches the log once the lease's
// replicated expiry is within half its TTL; the leader's TimeToLive
// counts the promise. Left alone, the lease expires.
func TestLeaseKeepAliveOnLeaderInMemory(t *testing.T) {
	c, clock, lead, id := leaseCluster(t, 10)
	last := lead.Server.Status().GetLastLogIndex()
	for range 4 {
		clock.Advance(time.Second)
		ttl, err := lead.Server.LeaseKeepAlive(c.Ctx(), id)
		if err != nil || ttl != 10 {
			t.Fatalf("keep-alive on the leader: %d, %v; want 10", ttl, err)
		}
		c.Tick(1)
	}
	if got := lead.Server.Status().GetLastLogIndex(); got != last {
		t.Fatalf("last log index %d -> %d: keep-alives on the leader were logged before half the TTL", last, got)
	}
	promised := uint64(clock.Now().UnixMilli()) + 10_000
	_, left, found, _, err := lead.Server.LeaseTimeToLive(c.Ctx(), id, metapb.ReadConsistency_LINEARIZABLE)
	if err != nil || !found || left != 10*time.Second {
		t.Errorf("time to live on the leader: %v left, found %v, %v; want the 10 s just promised", left, found, err)
	}

	// At 5 s the replicated expiry (10 s) is within half the TTL: the
	// next tick logs the promise.
	clock.Advance(time.Second)
	c.Tick(1)
	for n, exp := range expiries(c, id) {
		if exp < promised {
			t.Errorf("node %d: the lease expires at %d, before the %d promised", n, exp, promised)
		}
	}
	if got := lead.Server.Status().GetLastLogIndex(); got <= last {
		t.Errorf("the promise never reached the log (last index %d)", got)
	}

	// Not kept alive, it expires on every node.
	clock.Advance(11 * time.Second)
	c.Tick(1)
	for n, exp := range expiries(c, id) {
		if exp != 0 {
			t.Errorf("node %d: the lease still expires at %d, 11 s after its TTL", n, exp)
		}
	}
}

// A lease past its replicated expiry, kept alive in memory just before
// it, is not revoked: the lessor logs the promises near their lease's
// expiry before it proposes an expiry.
func TestLeaseKeptAliveInMemoryOutlivesItsLoggedExpiry(t *testing.T) {
	c, clock, lead, id := leaseCluster(t, 2)
	clock.Advance(1900 * time.Millisecond)
	if _, err := lead.Server.LeaseKeepAlive(c.Ctx(), id); err != nil {
		t.Fatal(err)
	}
	// Before any tick: past the replicated expiry, within the promise.
	clock.Advance(500 * time.Millisecond)
	c.Tick(1)
	for n, exp := range expiries(c, id) {
		if exp == 0 {
			t.Fatalf("node %d: the lease kept alive 0.6 s ago was revoked", n)
		}
	}
	ttl, err := lead.Server.LeaseKeepAlive(c.Ctx(), id)
	if err != nil || ttl != 2 {
		t.Errorf("keep-alive after: %d, %v", ttl, err)
	}
}

// A follower forwards a keep-alive to the leader, which renews the lease
// from memory as for its own clients: no log entry, and the leader's
// TimeToLive counts the promise. A lease that does not exist is refused
// on either; a node that is not the leader refuses a forwarded
// keep-alive.
func TestLeaseKeepAliveForwardedToLeader(t *testing.T) {
	c, clock, lead, id := leaseCluster(t, 10)
	f := c.Node(lead.ID%3 + 1)
	last := lead.Server.Status().GetLastLogIndex()
	clock.Advance(3 * time.Second)
	if ttl, err := f.Server.LeaseKeepAlive(c.Ctx(), id); err != nil || ttl != 10 {
		t.Fatalf("keep-alive on a follower: %d, %v", ttl, err)
	}
	c.Settle()
	if got := lead.Server.Status().GetLastLogIndex(); got != last {
		t.Errorf("a follower's keep-alive: last log index %d -> %d, want no entry", last, got)
	}
	_, left, found, _, err := lead.Server.LeaseTimeToLive(c.Ctx(), id, metapb.ReadConsistency_LINEARIZABLE)
	if err != nil || !found || left != 10*time.Second {
		t.Errorf("time to live on the leader: %v left, found %v, %v; want the 10 s the follower's keep-alive was promised", left, found, err)
	}
	for _, n := range []*clustertest.Node{lead, f} {
		if _, err := n.Server.LeaseKeepAlive(c.Ctx(), id+1); !errors.Is(err, statemachine.ErrLeaseNotFound) {
			t.Errorf("node %d: keep-alive of a lease that does not exist: %v, want ErrLeaseNotFound", n.ID, err)
		}
	}
	if _, err := f.Server.PeerLease(c.Ctx(), lead.ID, &peerpb.LeaseForward{Id: id, Op: peerpb.LeaseForward_KEEP_ALIVE}); !errors.Is(err, server.ErrNotLeader) {
		t.Errorf("a keep-alive forwarded to a follower: %v, want ErrNotLeader", err)
	}
	if r, err := lead.Server.PeerLease(c.Ctx(), f.ID, &peerpb.LeaseForward{Id: id}); err == nil {
		t.Errorf("a lease call without an op: %v, want an error", r)
	}
}

// A follower whose forwarded keep-alive gets no answer within an
// election timeout (here: the leader's read barrier is held up) renews
// the lease through the log, as before keep-alives were forwarded, and
// as it does when the leader runs a version without the call.
func TestLeaseKeepAliveLoggedWhenLeaderDoesNotAnswer(t *testing.T) {
	c, _, lead, id := leaseCluster(t, 10)
	f := c.Node(lead.ID%3 + 1)
	c.Settle()
	last := lead.Server.Status().GetLastLogIndex()
	c.Net.SetHold(true)
	type result struct {
		ttl int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		ttl, err := f.Server.LeaseKeepAlive(c.Ctx(), id)
		done <- result{ttl, err}
	}()
	// The leader's barrier sends two heartbeats; the follower's proposal
	// of the keep-alive, once its forward timed out, is the third
	// message held.
	deadline := time.Now().Add(clustertest.WaitTimeout)
	for c.Net.Held() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := c.Net.Held(); n < 3 {
		t.Fatalf("%d messages held, want the barrier's heartbeats and the follower's proposal", n)
	}
	c.Net.SetHold(false)
	c.Settle()
	if r := <-done; r.err != nil || r.ttl != 10 {
		t.Fatalf("keep-alive on a follower whose leader did not answer: %d, %v; want 10", r.ttl, r.err)
	}
	c.Settle()
	if got := lead.Server.Status().GetLastLogIndex(); got != last+1 {
		t.Errorf("last log index %d -> %d, want the keep-alive's entry", last, got)
	}
}

// A follower's linearizable LeaseTimeToLive asks the leader how long
// until it expires the lease, as etcd's follower does: after a keep-alive
// the leader promised more than the replicated expiry holds. A
// serializable one reads the replicated expiry alone.
func TestLeaseTimeToLiveOnFollowerAsksLeader(t *testing.T) {
	c, clock, lead, id := leaseCluster(t, 10)
	f := c.Node(lead.ID%3 + 1)
	clock.Advance(4 * time.Second)
	if _, err := f.Server.LeaseKeepAlive(c.Ctx(), id); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	for _, tt := range []struct {
		c    metapb.ReadConsistency
		want time.Duration
	}{
		{metapb.ReadConsistency_LINEARIZABLE, 9 * time.Second}, // promised 1 s ago for 10 s
		{metapb.ReadConsistency_SERIALIZABLE, 5 * time.Second}, // granted 5 s ago for 10 s
	} {
		info, left, found, _, err := f.Server.LeaseTimeToLive(c.Ctx(), id, tt.c)
		if err != nil || !found || left != tt.want || info.TTL != 10 {
			t.Errorf("%v time to live on a follower: %v left of TTL %d, found %v, %v; want %v of 10", tt.c, left, info.TTL, found, err, tt.want)
		}
	}
	if _, left, found, _, err := f.Server.LeaseTimeToLive(c.Ctx(), id+1, metapb.ReadConsistency_LINEARIZABLE); err != nil || found || left != 0 {
		t.Errorf("time to live of a lease that does not exist: %v, found %v, %v", left, found, err)
	}
}

// A follower cut off from the leader cannot renew a lease: the forwarded
// keep-alive cannot be sent, and the log cannot be reached either. (The
// follower never answers from its own memory.)
func TestLeaseKeepAliveOnCutOffFollowerFails(t *testing.T) {
	c, _, lead, id := leaseCluster(t, 10)
	f := c.Node(lead.ID%3 + 1)
	c.Isolate(f.ID)
	defer c.Heal()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if ttl, err := f.Server.LeaseKeepAlive(ctx, id); err == nil {
		t.Fatalf("keep-alive on a follower cut off from the leader: TTL %d, want an error", ttl)
	}
}

// A leader cut off from the others promises nothing: its keep-alive waits
// for a read barrier it cannot get (etcd's leader does the same) and
// fails; a successor elected meanwhile may expire the lease.
func TestLeaseKeepAliveOnIsolatedLeaderFails(t *testing.T) {
	c, _, lead, id := leaseCluster(t, 10)
	c.Isolate(lead.ID)
	defer c.Heal()
	// Raft's time stands still while the call waits: the leader does not
	// step down, and hears from no one.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if ttl, err := lead.Server.LeaseKeepAlive(ctx, id); err == nil {
		t.Fatalf("keep-alive on a leader cut off from the others: TTL %d, want an error", ttl)
	}
}
