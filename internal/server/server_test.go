package server_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
)

func put(key, value string) *metapb.UpsertRequest {
	return &metapb.UpsertRequest{Key: key, Value: []byte(value)}
}

func mustPut(t *testing.T, s *server.Server, key, value string) *metapb.UpsertReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clustertest.WaitTimeout)
	defer cancel()
	r, err := s.Upsert(ctx, put(key, value))
	if err != nil {
		t.Fatalf("upsert %s: %v", key, err)
	}
	return r
}

func mustGet(t *testing.T, s *server.Server, key string, c metapb.ReadConsistency) *metapb.SeqV {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clustertest.WaitTimeout)
	defer cancel()
	v, err := s.Get(ctx, key, c)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return v
}

// manualTicks runs a test cluster on raft ticks the test gives
// (clustertest's manual time): it waits for nothing but the ticks it
// gives and the cluster settling.
var manualTicks = clustertest.Options{ManualTicks: true}

func follower(c *clustertest.Cluster, lead uint64) *clustertest.Node {
	for _, n := range c.Nodes() {
		if n.ID != lead {
			return n
		}
	}
	return nil
}

func TestWriteOnFollowerReadEverywhere(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	f := follower(c, lead)

	r := mustPut(t, f.Server, "k", "v1")
	if !r.GetApplied() || r.GetResult().GetSeq() == 0 {
		t.Fatalf("upsert through follower: %v", r)
	}
	for _, n := range c.Nodes() {
		v := mustGet(t, n.Server, "k", metapb.ReadConsistency_LINEARIZABLE)
		if string(v.GetData()) != "v1" || v.GetSeq() != r.GetResult().GetSeq() {
			t.Errorf("node %d linearizable read = %v, want v1 at seq %d", n.ID, v, r.GetResult().GetSeq())
		}
	}
	if got := len(c.Node(1).Server.Members()); got != 3 {
		t.Errorf("members = %d, want 3", got)
	}
}

func TestCompareAndSwapBySeq(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	c.WaitLeader()
	s := c.Node(2).Server
	ctx := c.Ctx()
	created, err := s.Upsert(ctx, &metapb.UpsertRequest{Key: "lock", Value: []byte("a"),
		MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: 0}})
	if err != nil || !created.GetApplied() {
		t.Fatalf("create-only on absent key: %v %v", created, err)
	}
	again, err := s.Upsert(ctx, &metapb.UpsertRequest{Key: "lock", Value: []byte("b"),
		MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: 0}})
	if err != nil || again.GetApplied() || string(again.GetResult().GetData()) != "a" {
		t.Fatalf("create-only on present key must not apply: %v %v", again, err)
	}
	swapped, err := c.Node(3).Server.Upsert(ctx, &metapb.UpsertRequest{Key: "lock", Value: []byte("c"),
		MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: created.GetResult().GetSeq()}})
	if err != nil || !swapped.GetApplied() || string(swapped.GetResult().GetData()) != "c" {
		t.Fatalf("swap at the current seq: %v %v", swapped, err)
	}
}

// An isolated leader must not serve a stale linearizable read, and the
// majority must elect a new leader and go on writing.
func TestIsolatedLeader(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	old := c.WaitLeader()
	mustPut(t, c.Node(old).Server, "k", "before")

	c.Isolate(old)
	lead := c.WaitLeader(old)
	mustPut(t, c.Node(lead).Server, "k", "after")

	// Raft's time stands still while the read waits: only a heartbeat
	// round that a majority answers could serve it, however long it waits.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	v, err := c.Node(old).Server.Get(ctx, "k", metapb.ReadConsistency_LINEARIZABLE)
	if err == nil {
		t.Fatalf("isolated old leader served a linearizable read: %v", v)
	}
	if !errors.Is(err, server.ErrTimeout) {
		t.Errorf("isolated read error = %v, want ErrTimeout", err)
	}

	// One heartbeat of the new leader brings the old one back, and the
	// append that follows catches it up.
	c.Heal()
	c.Tick(1)
	if v := c.Node(old).Server.StateMachine().Get("k", uint64(time.Now().UnixMilli())); string(v.GetData()) != "after" {
		t.Fatalf("the old leader, one heartbeat after the heal, holds %v, want after", v)
	}
	if v := mustGet(t, c.Node(old).Server, "k", metapb.ReadConsistency_LINEARIZABLE); string(v.GetData()) != "after" {
		t.Errorf("old leader after heal reads %q, want after", v.GetData())
	}
}

// A node that has lost the majority refuses writes rather than hanging.
func TestMinorityCannotWrite(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	f := follower(c, lead)
	c.Isolate(f.ID)
	// Raft's time stands still while the write waits: the proposal the
	// follower forwards is lost, and nothing else can commit it.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.Server.Upsert(ctx, put("x", "y")); err == nil {
		t.Fatal("isolated follower acknowledged a write")
	}
	// Two election timeouts later it knows no leader: a write fails as
	// not proposed.
	c.Tick(2 * clustertest.ElectionTick)
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.Server.Upsert(ctx, put("x", "y")); !errors.Is(err, server.ErrNotProposed) {
		t.Fatalf("isolated follower without a leader: %v, want ErrNotProposed", err)
	}
	c.Heal()
	c.Tick(1) // the leader's heartbeat
	mustPut(t, f.Server, "x", "y")
}

// A write whose request ended before raft took it is known not to be in
// the log (the client may retry it), and it is not.
func TestWriteWithEndedContextIsNotProposed(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	for _, n := range []*clustertest.Node{c.Node(lead), follower(c, lead)} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := n.Server.Upsert(ctx, put("ended", "x"))
		if !errors.Is(err, server.ErrNotProposed) || !errors.Is(err, server.ErrTimeout) {
			t.Fatalf("node %d: upsert with an ended request: %v, want ErrTimeout and ErrNotProposed", n.ID, err)
		}
	}
	mustPut(t, c.Node(lead).Server, "after", "y")
	c.Settle()
	for _, n := range c.Nodes() {
		if v := n.Server.StateMachine().Get("ended", uint64(time.Now().UnixMilli())); v != nil {
			t.Errorf("node %d holds the ended write: %v", n.ID, v)
		}
	}
}

func TestRestartKeepsAcknowledgedWrites(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	c.WaitLeader()
	acked := writeConcurrently(t, c, 4, 50)

	dirs := map[uint64]string{}
	for _, n := range c.Nodes() {
		dirs[n.ID] = c.Stop(n.ID)
	}
	for id, dir := range dirs {
		c.Restart(id, dir)
	}
	c.WaitLeader()
	for _, n := range c.Nodes() {
		for k, seq := range acked {
			v := mustGet(t, n.Server, k, metapb.ReadConsistency_LINEARIZABLE)
			if v.GetSeq() != seq {
				t.Fatalf("node %d after restart: %s at seq %d, want %d", n.ID, k, v.GetSeq(), seq)
			}
		}
	}
}

// writeConcurrently writes workers*each distinct keys through every node and
// returns the acknowledged ones with their seq.
func writeConcurrently(t *testing.T, c *clustertest.Cluster, workers, each int) map[string]uint64 {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]uint64{}
	var wg sync.WaitGroup
	nodes := c.Nodes()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := nodes[w%len(nodes)].Server
			for i := 0; i < each; i++ {
				k := fmt.Sprintf("w%d/k%03d", w, i)
				// A write whose outcome is unknown (the leader changed
				// under it) is written again; only acknowledged seqs count.
				var r *metapb.UpsertReply
				var err error
				for attempt := 0; attempt < 5; attempt++ {
					ctx, cancel := context.WithTimeout(context.Background(), clustertest.WaitTimeout)
					r, err = s.Upsert(ctx, put(k, k))
					cancel()
					if err == nil || !(errors.Is(err, server.ErrLeaderChanged) || errors.Is(err, server.ErrNoLeader)) {
						break
					}
				}
				if err != nil {
					t.Errorf("upsert %s: %v", k, err)
					return
				}
				mu.Lock()
				acked[k] = r.GetResult().GetSeq()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return acked
}

// joinAndCatchUp starts node id as a new member, and waits until it joined
// and applied what the leader has; it returns the node and the leader's
// state machine.
func joinAndCatchUp(t *testing.T, c *clustertest.Cluster, id uint64) (*clustertest.Node, *statemachine.StateMachine) {
	t.Helper()
	nd := c.Start(id, t.TempDir(), false)
	c.WaitJoined(nd)
	c.Settle()
	leader := c.Node(c.WaitLeader()).Server.StateMachine()
	if got, want := nd.Server.StateMachine().AppliedIndex(), leader.AppliedIndex(); got < want {
		t.Fatalf("node %d, joined and settled, applied %d, the leader %d", id, got, want)
	}
	return nd, leader
}

// A node that joins after the log was compacted catches up from a snapshot.
func TestJoinCatchesUpFromSnapshot(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, SnapshotLogsSinceLast: 20, MaxAppliedLogToKeep: 5})
	lead := c.WaitLeader()
	writeConcurrently(t, c, 3, 40)
	c.Eventually(func() bool {
		first, _ := c.Node(lead).Storage.FirstIndex()
		return first > 2
	}, "the leader compacts its log")

	n4, leader := joinAndCatchUp(t, c, 4)
	if got, want := n4.Server.StateMachine().Hash(), leader.Hash(); got != want {
		t.Errorf("node 4 state hash %x, leader %x", got, want)
	}
	if snap := n4.Storage.LoadedSnapshot(); snap != nil && snap.GetMetadata().GetIndex() != 0 {
		t.Errorf("a fresh node loaded a snapshot from disk at start: %v", snap.GetMetadata())
	}
	if _, err := n4.Storage.FirstIndex(); err != nil {
		t.Fatal(err)
	}
	if first, _ := n4.Storage.FirstIndex(); first <= 2 {
		t.Errorf("node 4 log starts at %d: it replayed the whole log instead of installing a snapshot", first)
	}
	if got := len(leader.Nodes()); got != 4 {
		t.Errorf("members = %d, want 4", got)
	}
}

func TestLeaveAndRejoinRules(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	f := follower(c, lead)
	ctx := c.Ctx()

	// Any node accepts the request and forwards it to the leader.
	reply, err := f.Server.Leave(ctx, &peerpb.LeaveRequest{ClusterName: "test", NodeId: 3})
	if err != nil {
		t.Fatalf("leave: %v", err)
	}
	if len(reply.GetNodes()) != 2 {
		t.Fatalf("members after leave = %v", reply.GetNodes())
	}
	// Wrong cluster name, and an address taken by another node, are refused.
	_, err = c.Node(1).Server.Join(ctx, &peerpb.JoinRequest{ClusterName: "other",
		Node: &metapb.Node{Id: 9, RaftAddress: "x:1"}})
	if !errors.Is(err, server.ErrClusterName) {
		t.Errorf("join with another cluster name: %v, want ErrClusterName", err)
	}
	_, err = c.Node(c.WaitLeader()).Server.Join(ctx, &peerpb.JoinRequest{ClusterName: "test",
		Node: &metapb.Node{Id: 9, RaftAddress: clustertest.Addr(1)}})
	if !errors.Is(err, server.ErrInvalidMember) {
		t.Errorf("join with a member's address: %v, want ErrInvalidMember", err)
	}
	// raft keeps the two largest ids for its storage threads.
	for _, id := range []uint64{math.MaxUint64, math.MaxUint64 - 1} {
		_, err = c.Node(c.WaitLeader()).Server.Join(ctx, &peerpb.JoinRequest{ClusterName: "test",
			Node: &metapb.Node{Id: id, RaftAddress: "x:1"}})
		if !errors.Is(err, server.ErrInvalidMember) {
			t.Errorf("join with id %d: %v, want ErrInvalidMember", id, err)
		}
	}
}

// A write forwarded to a leader that is lost before it replicates the write
// fails as soon as a new leader's first entry is applied, with an error that
// says its outcome is unknown, instead of hanging until the deadline.
func TestWriteLostWithLeaderFailsOnNewTerm(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	f := follower(c, lead)
	for _, n := range c.Nodes() {
		if n.ID != lead {
			c.Net.SetDrop(lead, n.ID, true) // the leader hears, but nobody hears it
		}
	}
	before := c.Node(lead).Server.AdminStatus().LastLogIndex
	errC := make(chan error, 1)
	go func() {
		_, err := f.Server.Upsert(c.Ctx(), put("lost", "x"))
		errC <- err
	}()
	// The write reaches the old leader's log (no tick is given: f still
	// has its leader) before the followers elect another leader, whose
	// first entry f applies.
	c.Eventually(func() bool { return c.Node(lead).Server.AdminStatus().LastLogIndex > before },
		"the old leader appended the write forwarded to it")
	c.WaitLeader(lead)
	select {
	case err := <-errC:
		if !errors.Is(err, server.ErrLeaderChanged) {
			t.Fatalf("write through a follower whose leader vanished: %v, want ErrLeaderChanged", err)
		}
	case <-time.After(clustertest.WaitTimeout):
		t.Fatal("the write lost with its leader still waits after a new leader's first entry")
	}
	c.Isolate(lead)
	newLead := c.WaitLeader(lead)
	mustPut(t, c.Node(newLead).Server, "after", "y")
}

// A node restarted with another gRPC address updates its member entry, one
// election timeout after it starts (its check runs on raft's ticks).
func TestRestartWithNewAddressUpdatesMemberTable(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	c.WaitLeader()
	dir := c.Stop(3)
	c.StartWith(3, dir, false, func(cfg *server.Config) { cfg.GrpcAddress = "new-host:9191" })
	c.Tick(clustertest.ElectionTick)
	for _, m := range c.Node(1).Server.Members() {
		if m.GetId() == 3 && (m.GetGrpcAddress() != "new-host:9191" || !m.GetVoter()) {
			t.Fatalf("node 3 one election timeout after its restart: %v, want a voter at new-host:9191", m)
		}
	}
}

// A node stops once it applies its own removal (ErrRemoved), as an etcd
// member does; the others go on.
func TestRemovedNodeStops(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	f := follower(c, lead)
	mustPut(t, f.Server, "before", "x")
	removeAndWaitStopped(t, c, lead, f)
	mustPut(t, c.Node(c.WaitLeader(f.ID)).Server, "after", "x")
}

// membersSpy records the Peer.Members calls each node made of its own
// (the removal check, removal.go) once they returned.
type membersSpy struct {
	mu    sync.Mutex
	asked map[uint64]int
}

func newMembersSpy() *membersSpy {
	return &membersSpy{asked: map[uint64]int{}}
}

// configure wraps a node's PeerClient (clustertest.Options.Configure).
func (s *membersSpy) configure(cfg *server.Config) {
	cfg.PeerClient = spyClient{PeerClient: cfg.PeerClient, id: cfg.ID, spy: s}
}

// count is the number of checks node id made so far.
func (s *membersSpy) count(id uint64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[id]
}

// checked fails unless nd made at least k checks in all and still runs.
// The checks run on the tick clock, which Settle waits for: a cluster that
// ticked and settled has made every check its ticks were due for.
func (s *membersSpy) checked(t *testing.T, nd *clustertest.Node, k int) {
	t.Helper()
	select {
	case <-nd.Server.Done():
		t.Fatalf("node %d stopped after %d checks of its membership: %v", nd.ID, s.count(nd.ID), nd.Server.Err())
	default:
	}
	if n := s.count(nd.ID); n < k {
		t.Fatalf("node %d made %d checks of its membership, want %d", nd.ID, n, k)
	}
}

type spyClient struct {
	server.PeerClient
	id  uint64
	spy *membersSpy
}

func (c spyClient) Members(ctx context.Context, addr string, req *peerpb.MembersRequest) (*peerpb.MembersReply, error) {
	reply, err := c.PeerClient.Members(ctx, addr, req)
	if req.GetFrom() == c.id && !req.GetForwarded() {
		c.spy.mu.Lock()
		c.spy.asked[c.id]++
		c.spy.mu.Unlock()
	}
	return reply, err
}

// leaderlessCheckTicks is how many ticks a member cut off takes, at most,
// to ask the leader whether it is still one (removal.go): it loses the
// leader within 2*ElectionTick-1 ticks, and its check comes at the second
// of its election-timeout timers that find no leader, one election
// timeout at most after it lost it, then another.
const leaderlessCheckTicks = 4 * clustertest.ElectionTick

// removeAndWaitStopped has the leader remove nd, on a cluster with manual
// ticks, and checks that nd has stopped with ErrRemoved after
// leaderlessCheckTicks ticks: the ticks make a removed node that hears
// nothing leaderless, so that it asks the leader.
func removeAndWaitStopped(t *testing.T, c *clustertest.Cluster, lead uint64, nd *clustertest.Node) {
	t.Helper()
	if _, err := c.Node(lead).Server.Leave(c.Ctx(), &peerpb.LeaveRequest{ClusterName: "test", NodeId: nd.ID}); err != nil {
		t.Fatalf("leave %d: %v", nd.ID, err)
	}
	c.Tick(leaderlessCheckTicks)
	select {
	case <-nd.Server.Done():
	default:
		t.Fatalf("node %d still runs %d ticks after its removal", nd.ID, leaderlessCheckTicks)
	}
	if err := nd.Server.Err(); !errors.Is(err, server.ErrRemoved) {
		t.Fatalf("node %d stopped with %v, want ErrRemoved", nd.ID, err)
	}
}

// tickUntil ticks c, one tick at a time, until cond holds, for at most
// two election timeouts.
func tickUntil(t *testing.T, c *clustertest.Cluster, cond func() bool, what string) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 2*clustertest.ElectionTick {
			t.Fatalf("not %s after %d ticks", what, i)
		}
		c.Tick(1)
	}
}

// A follower removed while it hears nothing (the usual case: the leader
// stops sending to it once it applies the removal) stops once the leader,
// asked after a few leaderless election timeouts, no longer lists it. A
// member that is only cut off does not.
func TestRemovedWhileCutOffStops(t *testing.T) {
	spy := newMembersSpy()
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Configure: spy.configure})
	lead := c.WaitLeader()
	var cut, removed *clustertest.Node
	for _, n := range c.Nodes() {
		if n.ID == lead {
			continue
		}
		if cut == nil {
			cut = n
		} else {
			removed = n
		}
	}
	mustPut(t, removed.Server, "before", "x")

	// Cut off, still a member: once it knows no leader it asks the
	// leader whether it is still a member, and keeps running; it asks
	// again only if it did. (The in-process peer client that Members goes
	// through ignores the network's faults, as a separate path to the
	// leader would.)
	asked := spy.count(cut.ID)
	c.Isolate(cut.ID)
	c.Tick(2 * clustertest.ElectionTick)
	if l := cut.Server.Status().GetLeaderId(); l != 0 {
		t.Fatalf("node %d, cut off for two election timeouts, still follows node %d", cut.ID, l)
	}
	c.Tick(leaderlessCheckTicks)
	spy.checked(t, cut, asked+2)
	c.Heal()
	tickUntil(t, c, func() bool { return cut.Server.Status().GetLeaderId() != 0 }, "the cut-off node to hear the leader again")

	// Removed while it hears nothing: it never applies its removal.
	c.Isolate(removed.ID)
	removeAndWaitStopped(t, c, lead, removed)
	if m := removed.Server.Members(); !slices.ContainsFunc(m, func(n *metapb.Node) bool { return n.GetId() == removed.ID }) {
		t.Fatalf("node %d's own member table %v: it should not have applied its removal", removed.ID, m)
	}
	mustPut(t, c.Node(c.WaitLeader(removed.ID)).Server, "after", "x")
}

// A node added back under the same id (raft_dir emptied, started with
// join) replays its old removal before its new addition: it asks the
// leader, which lists it, and keeps running.
func TestReaddedNodeKeepsRunning(t *testing.T) {
	spy := newMembersSpy()
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Configure: spy.configure})
	lead := c.WaitLeader()
	f := follower(c, lead)
	removeAndWaitStopped(t, c, lead, f)
	c.Stop(f.ID)
	asked := spy.count(f.ID)
	back := c.Start(f.ID, t.TempDir(), false)
	c.WaitJoined(back)
	// The check one election timeout after the replayed removal; then,
	// cut off, it asks again only if it kept running after the first.
	c.Tick(clustertest.ElectionTick)
	spy.checked(t, back, asked+1)
	c.Isolate(back.ID)
	c.Tick(leaderlessCheckTicks)
	spy.checked(t, back, asked+2)
	c.Heal()
	tickUntil(t, c, func() bool { return back.Server.Status().GetLeaderId() != 0 }, "the node added back to hear the leader again")
	mustPut(t, back.Server, "back", "x")
	if v := mustGet(t, back.Server, "back", metapb.ReadConsistency_LINEARIZABLE); string(v.GetData()) != "x" {
		t.Fatalf("read through the node added back: %v", v)
	}
}

// Peer.Members: a follower passes the question on to the leader once; a
// node asked as the leader that is not answers with ErrNoLeader instead
// of passing it on again.
func TestLeaderMembersForwardsOnce(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	f := follower(c, lead)
	reply, err := f.Server.LeaderMembers(c.Ctx(), &peerpb.MembersRequest{ClusterName: "test", From: 9})
	if err != nil || reply.GetLeaderId() != lead || len(reply.GetNodes()) != 3 {
		t.Fatalf("members through node %d: %v, %v; want node %d's 3 members", f.ID, reply, err, lead)
	}
	_, err = f.Server.LeaderMembers(c.Ctx(), &peerpb.MembersRequest{ClusterName: "test", From: 9, Forwarded: true})
	if !errors.Is(err, server.ErrNoLeader) {
		t.Fatalf("a forwarded request to a follower: %v, want ErrNoLeader", err)
	}
	if _, err := f.Server.LeaderMembers(c.Ctx(), &peerpb.MembersRequest{ClusterName: "other"}); !errors.Is(err, server.ErrClusterName) {
		t.Fatalf("another cluster's request: %v, want ErrClusterName", err)
	}
}

// An entry that does not decode stops the node with an error naming its
// index, instead of being applied as empty while its proposer waits.
func TestUndecodableEntryStopsNode(t *testing.T) {
	c := clustertest.New(t, 1, manualTicks)
	s := c.Node(c.WaitLeader()).Server
	mustPut(t, s, "k", "v")
	// A valid header (version 1, time 0) and a command that is not protobuf.
	data := append([]byte{statemachine.EntryVersion, 0, 0, 0, 0, 0, 0, 0, 0}, 0xff, 0xff, 0xff)
	if err := s.ProposeRaw(c.Ctx(), data); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	case <-c.Ctx().Done():
		t.Fatal("the node did not stop on an entry that does not decode")
	}
	if err := s.Err(); err == nil || !errors.Is(err, statemachine.ErrInvalidEntry) || !strings.Contains(err.Error(), "cannot be decoded") {
		t.Fatalf("Err() = %v, want one wrapping ErrInvalidEntry that says the entry cannot be decoded", err)
	}
}
