// Package clustertest runs N-node metasrv clusters inside one test process:
// real servers, raft nodes and storage (in t.TempDir()), connected by the
// in-memory transport so that tests can cut, isolate and heal links.
//
//	c := clustertest.New(t, 3)
//	lead := c.WaitLeader()
//	c.Isolate(lead)
//	...
//
// # Manual time
//
// By default raft ticks every 10 ms of real time and tests wait by
// polling (Eventually). With Options.ManualTicks raft's time moves only
// when the test says so: c.Tick(n) gives every running node one tick, n
// times, and settles after each; c.Settle() returns once the cluster is
// quiet: every node's mailbox, append queue and apply channel are empty,
// everything handed to the apply goroutines is applied, and no message is
// queued or being handled anywhere (transport.MemNetwork's
// DeliverUntilQuiet around server.Server.Settle). Messages still flow at
// once (c.Net.SetHold holds them for a test that steps them by hand), so
// writes and reads need no ticks; elections, heartbeats and the quorum
// checks need them. A test then proves that something does not happen by
// advancing raft's time, settling and asserting, which cannot pass
// vacuously on a slow machine:
//
//	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
//	lead := c.WaitLeader() // ticks until a leader is elected
//	c.Isolate(f)
//	c.Tick(10 * clustertest.ElectionTick) // nothing happens in between
//	// assert
//
// The servers' removal check and address refresh count raft's ticks too
// (server's tick clock), and Settle waits for what they set off. Their
// other timers (read retries, join and membership retries, snapshot
// retries) still run on real time, at multiples of 10 ms.
package clustertest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/raftnode"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/storage"
	"github.com/metasrv/metasrv/internal/transport"
)

// Options tune a test cluster.
type Options struct {
	// SnapshotLogsSinceLast and MaxAppliedLogToKeep as in server.Config;
	// defaults 1000 and 100.
	SnapshotLogsSinceLast, MaxAppliedLogToKeep uint64
	// Now is the clock of every node; nil = time.Now. A Clock's Now
	// makes expiry controllable.
	Now func() time.Time
	// HistorySize as in server.Config (the watch history); 0 = default.
	HistorySize int
	// MaxMessageSize is grpc_api_max_message_size: server.Config's
	// MaxMessageBytes, and the message limit and DefaultLimits of
	// ServePublic. 0 = 4 MiB (gRPC's default receive limit).
	MaxMessageSize int
	// Configure, if set, adjusts the server config of every node started,
	// before StartWith's own hook.
	Configure func(*server.Config)
	// ManualTicks makes raft's time move only with Tick (see the package
	// comment); WaitLeader then ticks until a leader is elected.
	ManualTicks bool
}

// Tick timing: 10 ms ticks, a heartbeat every tick, elections after 20-40
// ticks: slow enough that a loaded machine running -race does not see
// spurious elections, fast enough for failover tests.
const (
	tickInterval  = 10 * time.Millisecond
	heartbeatTick = 1
	// ElectionTick is the election timeout in ticks: a follower that
	// hears no leader campaigns after ElectionTick to 2*ElectionTick-1
	// ticks.
	ElectionTick = 20
	// WaitTimeout bounds every wait of this package.
	WaitTimeout = 20 * time.Second
	// maxElectionTicks bounds how long WaitLeader ticks with ManualTicks.
	maxElectionTicks = 10 * ElectionTick
)

// Cluster is a set of in-process nodes on one MemNetwork.
type Cluster struct {
	t    testing.TB
	opts Options
	Net  *transport.MemNetwork

	mu struct {
		sync.Mutex
		nodes map[uint64]*Node
	}
}

// Node is one member of a Cluster.
type Node struct {
	ID        uint64
	Dir       string
	Server    *server.Server
	Storage   *storage.Storage
	Transport *transport.MemTransport
	// JoinC gets the outcome of joining (nil at once for other nodes).
	JoinC <-chan error
	// ticks is raft's tick source with ManualTicks, else nil.
	ticks chan time.Time
}

// Addr is the raft address of node id inside the test network.
func Addr(id uint64) string { return fmt.Sprintf("node-%d:1", id) }

// New starts node 1 as a single-node cluster and joins nodes 2..n to it.
func New(t testing.TB, n int, opts ...Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Net: transport.NewMemNetwork()}
	if len(opts) > 0 {
		c.opts = opts[0]
	}
	if c.opts.SnapshotLogsSinceLast == 0 {
		c.opts.SnapshotLogsSinceLast = 1000
	}
	if c.opts.MaxAppliedLogToKeep == 0 {
		c.opts.MaxAppliedLogToKeep = 100
	}
	c.mu.nodes = make(map[uint64]*Node)
	t.Cleanup(c.StopAll)

	c.Start(1, t.TempDir(), true)
	c.WaitLeader()
	for id := uint64(2); id <= uint64(n); id++ {
		nd := c.Start(id, t.TempDir(), false)
		c.WaitJoined(nd)
	}
	return c
}

// Start starts node id on dir: single bootstraps a new cluster, otherwise
// the node joins through node 1 (ignored when dir already holds a cluster).
func (c *Cluster) Start(id uint64, dir string, single bool) *Node {
	return c.StartWith(id, dir, single, nil)
}

// StartWith is Start with a hook that adjusts the server config (nil: none).
func (c *Cluster) StartWith(id uint64, dir string, single bool, configure func(*server.Config)) *Node {
	c.t.Helper()
	lg := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", id)
	st, err := storage.Open(dir, id, "test", lg)
	if err != nil {
		c.t.Fatalf("open storage of node %d: %v", id, err)
	}
	cfg := server.Config{
		ID: id, ClusterName: "test", Version: "test",
		RaftAddress: Addr(id), GrpcAddress: Addr(id),
		TickInterval: tickInterval, HeartbeatTick: heartbeatTick, ElectionTick: ElectionTick,
		SnapshotLogsSinceLast: c.opts.SnapshotLogsSinceLast,
		MaxAppliedLogToKeep:   c.opts.MaxAppliedLogToKeep,
		Single:                single,
		WaitLeaderTimeout:     WaitTimeout,
		PeerClient:            peerClient{c},
		Now:                   c.opts.Now,
		HistorySize:           c.opts.HistorySize,
		MaxMessageBytes:       c.maxMessageSize(),
		Logger:                lg,
	}
	if !single {
		cfg.Join = []string{Addr(1)}
	}
	var ticks chan time.Time
	if c.opts.ManualTicks {
		ticks = make(chan time.Time)
		cfg.Ticks = ticks
	}
	if c.opts.Configure != nil {
		c.opts.Configure(&cfg)
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(cfg, st)
	if err != nil {
		c.t.Fatalf("new server %d: %v", id, err)
	}
	tr := c.Net.Join(id, srv)
	joinC, err := srv.Start(tr)
	if err != nil {
		c.t.Fatalf("start server %d: %v", id, err)
	}
	nd := &Node{ID: id, Dir: dir, Server: srv, Storage: st, Transport: tr, JoinC: joinC, ticks: ticks}
	c.mu.Lock()
	c.mu.nodes[id] = nd
	c.mu.Unlock()
	// Cleanups run last registered first: this one, registered after dir
	// was made (a t.TempDir of the caller), stops the node before dir is
	// removed, so that no snapshot is being written into it meanwhile.
	c.t.Cleanup(func() {
		c.mu.Lock()
		current := c.mu.nodes[id] == nd
		c.mu.Unlock()
		if current {
			c.Stop(id)
		}
	})
	return nd
}

// WaitJoined waits for a joining node's join to succeed. With ManualTicks
// it gives a tick every tickInterval of waiting: the join's retries and
// its polls of the learner's progress run on real time, and a learner
// that catches up from a snapshot needs the leader's heartbeats to go on.
func (c *Cluster) WaitJoined(nd *Node) {
	c.t.Helper()
	if c.opts.ManualTicks {
		deadline := time.After(WaitTimeout)
		for {
			select {
			case err := <-nd.JoinC:
				if err != nil {
					c.t.Fatalf("node %d could not join: %v", nd.ID, err)
				}
				c.Settle()
				return
			case <-deadline:
				c.t.Fatalf("node %d did not join within %s", nd.ID, WaitTimeout)
			case <-time.After(tickInterval):
				c.Tick(1)
			}
		}
	}
	select {
	case err := <-nd.JoinC:
		if err != nil {
			c.t.Fatalf("node %d could not join: %v", nd.ID, err)
		}
	case <-time.After(WaitTimeout):
		c.t.Fatalf("node %d did not join within %s", nd.ID, WaitTimeout)
	}
}

// Node returns a running node, or nil.
func (c *Cluster) Node(id uint64) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.nodes[id]
}

// Nodes returns the running nodes, by id.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Node
	for _, n := range c.mu.nodes {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *Node) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Stop stops node id (as a crash would: nothing more is written) and
// returns its directory for Restart.
func (c *Cluster) Stop(id uint64) string {
	c.mu.Lock()
	nd := c.mu.nodes[id]
	delete(c.mu.nodes, id)
	c.mu.Unlock()
	if nd == nil {
		return ""
	}
	nd.Server.Stop()
	nd.Transport.Stop()
	if err := nd.Storage.Close(); err != nil {
		c.t.Errorf("close storage of node %d: %v", id, err)
	}
	return nd.Dir
}

// Restart starts a stopped node again from its directory.
func (c *Cluster) Restart(id uint64, dir string) *Node { return c.Start(id, dir, false) }

// StopAll stops every node.
func (c *Cluster) StopAll() {
	for _, nd := range c.Nodes() {
		c.Stop(nd.ID)
	}
}

// Isolate cuts node id off from every other node.
func (c *Cluster) Isolate(id uint64) { c.Net.Isolate(id) }

// Heal removes every network fault.
func (c *Cluster) Heal() { c.Net.Heal() }

// Leader returns the id of a node that is leader, or 0.
func (c *Cluster) Leader() uint64 {
	for _, nd := range c.Nodes() {
		if st := nd.Server.Status(); st.GetState() == "leader" {
			return nd.ID
		}
	}
	return 0
}

// WaitLeader waits until some running node other than exclude is leader,
// and returns its id. With ManualTicks it settles, and ticks until then
// (failing after maxElectionTicks ticks).
func (c *Cluster) WaitLeader(exclude ...uint64) uint64 {
	c.t.Helper()
	elected := func() uint64 {
		lead := c.Leader()
		if slices.Contains(exclude, lead) {
			return 0
		}
		return lead
	}
	if c.opts.ManualTicks {
		for i := 0; ; i++ {
			c.Settle()
			if lead := elected(); lead != 0 {
				return lead
			}
			if i == maxElectionTicks {
				c.t.Fatalf("no leader elected after %d ticks", i)
			}
			c.tick()
		}
	}
	var lead uint64
	c.Eventually(func() bool {
		lead = elected()
		return lead != 0
	}, "a leader is elected")
	return lead
}

// Tick advances raft's time by n ticks with ManualTicks: every running
// node gets one tick and the cluster settles (Settle), n times.
func (c *Cluster) Tick(n int) {
	c.t.Helper()
	if !c.opts.ManualTicks {
		c.t.Fatal("clustertest: Tick needs Options.ManualTicks")
	}
	for range n {
		c.tick()
		c.Settle()
	}
}

// tick gives every running node one tick.
func (c *Cluster) tick() {
	for _, nd := range c.Nodes() {
		select {
		case nd.ticks <- time.Time{}:
		case <-nd.Server.Done():
		}
	}
}

// Settle returns once the cluster is quiet: every running node holds no
// work and has applied what it committed, and no message is queued or
// being handled (see the package comment). Messages held with
// c.Net.SetHold are delivered.
func (c *Cluster) Settle() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	var err error
	quiet := c.Net.DeliverUntilQuiet(func() {
		for _, nd := range c.Nodes() {
			if e := nd.Server.Settle(ctx); e != nil && !errors.Is(e, raftnode.ErrStopped) && err == nil {
				err = fmt.Errorf("settle node %d: %w", nd.ID, e)
			}
		}
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if !quiet {
		c.t.Fatal("the cluster never became quiet")
	}
}

// Eventually polls cond until it holds, failing the test after WaitTimeout.
func (c *Cluster) Eventually(cond func() bool, what string) {
	c.t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting until %s", WaitTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Settled settles the cluster (Settle) and fails the test unless cond
// then holds: with ManualTicks, the counterpart of Eventually, which
// cannot pass by waiting long enough.
func (c *Cluster) Settled(cond func() bool, what string) {
	c.t.Helper()
	c.Settle()
	if !cond() {
		c.t.Fatalf("the cluster settled, and not %s", what)
	}
}

// Ctx returns a context bounded by WaitTimeout.
func (c *Cluster) Ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	c.t.Cleanup(cancel)
	return ctx
}

// peerClient routes join and leave requests to the in-process servers.
type peerClient struct{ c *Cluster }

func (p peerClient) server(addr string) (*server.Server, error) {
	for _, nd := range p.c.Nodes() {
		if Addr(nd.ID) == addr {
			return nd.Server, nil
		}
	}
	return nil, fmt.Errorf("%w: no running node at %s", server.ErrNoLeader, addr)
}

func (p peerClient) Join(ctx context.Context, addr string, req *peerpb.JoinRequest) (*peerpb.JoinReply, error) {
	s, err := p.server(addr)
	if err != nil {
		return nil, err
	}
	return s.Join(ctx, req)
}

func (p peerClient) Leave(ctx context.Context, addr string, req *peerpb.LeaveRequest) (*peerpb.LeaveReply, error) {
	s, err := p.server(addr)
	if err != nil {
		return nil, err
	}
	return s.Leave(ctx, req)
}

func (p peerClient) Members(ctx context.Context, addr string, req *peerpb.MembersRequest) (*peerpb.MembersReply, error) {
	s, err := p.server(addr)
	if err != nil {
		return nil, err
	}
	return s.LeaderMembers(ctx, req)
}
