package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// Errors returned by Node.
var (
	// ErrStopped: the node has stopped (shut down, or a fatal storage error).
	ErrStopped = errors.New("raft node stopped")
	// ErrProposalDropped: a proposal forwarded by a peer was dropped because
	// this node knows no leader to hand it to.
	ErrProposalDropped = errors.New("forwarded proposal dropped: no leader")
)

// Storage is the durable log the node reads and writes. raft reads it through
// the embedded raft.Storage from its own goroutine; Save is called only from
// the Ready loop.
type Storage interface {
	raft.Storage
	// Save durably writes, in this order, an incoming snapshot (nil or
	// empty: none), the hard state (nil: unchanged) and entries, and fsyncs
	// before it returns. An error is fatal: the node stops.
	Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error
}

// Transport sends messages to peers. Send is called only from the Ready loop
// and must not block; the transport owns msgs after the call.
type Transport interface {
	Send(msgs []*raftpb.Message)
}

// Config configures a Node.
type Config struct {
	// ID of this node; never 0.
	ID uint64
	// TickInterval is the duration of one raft tick.
	TickInterval time.Duration
	// HeartbeatTick and ElectionTick are in ticks; see raft.Config.
	HeartbeatTick, ElectionTick int
	// Storage holds the log; already loaded (snapshot, hard state, entries).
	Storage Storage
	// Transport carries messages to peers.
	Transport Transport
	// Applied is the index the state machine already holds (the loaded
	// snapshot's index); raft hands out committed entries after it.
	Applied uint64
	// Peers, when non-empty, bootstraps a new cluster with these members
	// (raft.StartNode). Empty: restart from Storage, or wait to be added.
	Peers []raft.Peer
	// Restamp rewrites the time in a normal entry's data; called for every
	// entry of a MsgProp that another node forwarded to this one. May be nil.
	Restamp func(data []byte)
	// ObserveAppend, when set, receives on the leader the time each follower
	// took to acknowledge appended entries (send to MsgAppResp).
	ObserveAppend func(peer uint64, d time.Duration)
	// Logger receives raft's logs and the node's own. Required.
	Logger *slog.Logger
}

// Apply is one batch for the apply goroutine: restore Snapshot first (when
// not nil), then apply Entries in order.
type Apply struct {
	Snapshot *raftpb.Snapshot
	Entries  []*raftpb.Entry
}

// Node runs one go.etcd.io/raft node. All methods are safe for concurrent use.
type Node struct {
	cfg  Config
	lg   *slog.Logger
	raft raft.Node

	applyC     chan Apply
	readStateC chan raft.ReadState
	// forwardedC queues proposals other nodes forwarded (stepProposals).
	forwardedC     chan *raftpb.Message
	forwardedDoneC chan struct{}
	stopC          chan struct{}
	doneC          chan struct{}
	stopOnce       sync.Once

	appends *appendTracker // nil unless cfg.ObserveAppend is set

	leader        atomic.Uint64
	leaderChanges atomic.Uint64
	state         atomic.Int32 // raft.StateType
	term          atomic.Uint64

	mu struct {
		sync.Mutex
		err error
	}
}

// Start starts the node and its Ready loop.
func Start(cfg Config) (*Node, error) {
	if cfg.ID == 0 {
		return nil, errors.New("raftnode: ID must not be 0")
	}
	if cfg.Storage == nil || cfg.Transport == nil || cfg.Logger == nil {
		return nil, errors.New("raftnode: Storage, Transport and Logger are required")
	}
	rc := &raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.ElectionTick,
		HeartbeatTick:             cfg.HeartbeatTick,
		Storage:                   cfg.Storage,
		Applied:                   cfg.Applied,
		MaxSizePerMsg:             1 << 20,
		MaxCommittedSizePerReady:  64 << 20,
		MaxUncommittedEntriesSize: 1 << 30,
		MaxInflightMsgs:           1024,
		CheckQuorum:               true,
		PreVote:                   true,
		ReadOnlyOption:            raft.ReadOnlySafe,
		StepDownOnRemoval:         true,
		Logger:                    raftLogger{cfg.Logger},
	}
	n := &Node{
		cfg:        cfg,
		lg:         cfg.Logger,
		applyC:     make(chan Apply, 128),
		readStateC: make(chan raft.ReadState, 1024),
		forwardedC: make(chan *raftpb.Message, forwardedQueue),

		forwardedDoneC: make(chan struct{}),
		stopC:          make(chan struct{}),
		doneC:          make(chan struct{}),
	}
	if cfg.ObserveAppend != nil {
		n.appends = newAppendTracker(cfg.ObserveAppend)
	}
	if hs, _, err := cfg.Storage.InitialState(); err == nil {
		n.term.Store(hs.GetTerm())
	}
	if len(cfg.Peers) > 0 {
		n.raft = raft.StartNode(rc, cfg.Peers)
	} else {
		n.raft = raft.RestartNode(rc)
	}
	go n.run()
	go n.stepProposals()
	return n, nil
}

// run is the Ready loop, the only goroutine that reads n.raft.Ready().
func (n *Node) run() {
	defer close(n.doneC)
	defer close(n.applyC)
	defer n.raft.Stop()

	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			n.raft.Tick()
		case rd := <-n.raft.Ready():
			if err := n.handleReady(rd); err != nil {
				n.fail(err)
				return
			}
			n.raft.Advance()
		case <-n.stopC:
			return
		}
	}
}

// handleReady persists, sends and hands off one Ready. See doc.go.
func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		n.updateSoftState(rd.SoftState)
	}
	if rd.HardState != nil {
		n.term.Store(rd.HardState.GetTerm())
	}
	for _, rs := range rd.ReadStates {
		select {
		case n.readStateC <- rs:
		case <-n.stopC:
			return ErrStopped
		}
	}
	isLeader := raft.StateType(n.state.Load()) == raft.StateLeader
	if isLeader {
		if n.appends != nil {
			n.appends.sent(rd.Messages, time.Now())
		}
		n.cfg.Transport.Send(rd.Messages)
	}
	if err := n.cfg.Storage.Save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return fmt.Errorf("persist raft log: %w", err)
	}
	if !isLeader {
		n.cfg.Transport.Send(rd.Messages)
	}
	hasSnap := rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot)
	if hasSnap || len(rd.CommittedEntries) > 0 {
		ap := Apply{Entries: rd.CommittedEntries}
		if hasSnap {
			ap.Snapshot = rd.Snapshot
		}
		select {
		case n.applyC <- ap:
		case <-n.stopC:
			return ErrStopped
		}
	}
	return nil
}

func (n *Node) updateSoftState(ss *raft.SoftState) {
	old := n.leader.Swap(ss.Lead)
	n.state.Store(int32(ss.RaftState))
	if old != ss.Lead {
		n.leaderChanges.Add(1)
		n.lg.Info("leader changed", "node", n.cfg.ID, "old_leader", old, "leader", ss.Lead,
			"state", ss.RaftState.String(), "term", n.term.Load())
	}
}

func (n *Node) fail(err error) {
	n.mu.Lock()
	if n.mu.err == nil {
		n.mu.err = err
	}
	n.mu.Unlock()
	n.lg.Error("raft node stopped on a fatal error", "node", n.cfg.ID, "err", err)
}

// Fail stops the node because of err, found outside the Ready loop (a failed
// snapshot write, a log the state machine cannot apply). Err returns it.
func (n *Node) Fail(err error) {
	n.fail(err)
	n.stopOnce.Do(func() { close(n.stopC) })
}

// Stop stops the Ready loop and the raft node and waits for them. ApplyC is
// closed once the loop has exited.
func (n *Node) Stop() {
	n.stopOnce.Do(func() { close(n.stopC) })
	<-n.doneC
	<-n.forwardedDoneC
}

// Done is closed when the node has stopped, on Stop or a fatal error.
func (n *Node) Done() <-chan struct{} { return n.doneC }

// Err is the fatal error that stopped the node, or nil.
func (n *Node) Err() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.err
}

// ApplyC delivers snapshots and committed entries in log order. One
// goroutine must drain it; it is closed when the node stops.
func (n *Node) ApplyC() <-chan Apply { return n.applyC }

// ReadStateC delivers the results of ReadIndex calls.
func (n *Node) ReadStateC() <-chan raft.ReadState { return n.readStateC }

// Propose appends data as a normal entry. On a follower raft forwards it to
// the leader; raft.ErrProposalDropped means there is no leader to take it.
func (n *Node) Propose(ctx context.Context, data []byte) error {
	return n.liveErr(n.raft.Propose(ctx, data))
}

// ProposeConfChange proposes a membership change.
func (n *Node) ProposeConfChange(ctx context.Context, cc *raftpb.ConfChangeV2) error {
	return n.liveErr(n.raft.ProposeConfChange(ctx, cc))
}

// ApplyConfChange applies a committed membership change to raft; called by
// the apply goroutine for every committed conf change entry.
func (n *Node) ApplyConfChange(cc raftpb.ConfChangeI) *raftpb.ConfState {
	return n.raft.ApplyConfChange(cc)
}

// ReadIndex asks for the commit index as of now; the answer arrives on
// ReadStateC with rctx as its RequestCtx.
func (n *Node) ReadIndex(ctx context.Context, rctx []byte) error {
	return n.liveErr(n.raft.ReadIndex(ctx, rctx))
}

// TransferLeadership asks the leader to hand leadership to transferee.
func (n *Node) TransferLeadership(ctx context.Context, transferee uint64) {
	n.raft.TransferLeadership(ctx, n.Leader(), transferee)
}

// Campaign makes this node start an election.
func (n *Node) Campaign(ctx context.Context) error { return n.liveErr(n.raft.Campaign(ctx)) }

// Status is raft's full status, including follower progress on the leader.
func (n *Node) Status() raft.Status {
	select {
	case <-n.doneC:
		return raft.Status{}
	default:
	}
	return n.raft.Status()
}

// Leader is the id of the current leader as this node knows it; 0 = none.
func (n *Node) Leader() uint64 { return n.leader.Load() }

// LeaderChanges counts the times this node saw the leader change.
func (n *Node) LeaderChanges() uint64 { return n.leaderChanges.Load() }

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return raft.StateType(n.state.Load()) == raft.StateLeader }

// State is this node's raft role.
func (n *Node) State() raft.StateType { return raft.StateType(n.state.Load()) }

// Term is the current term as last persisted.
func (n *Node) Term() uint64 { return n.term.Load() }

// Process steps a message received from a peer (transport.Handler).
func (n *Node) Process(ctx context.Context, m *raftpb.Message) error {
	if n.appends != nil {
		n.appends.acked(m, time.Now())
	}
	if m.GetType() != raftpb.MessageType_MsgProp {
		return n.liveErr(n.raft.Step(ctx, m))
	}
	// raft takes a proposal only while it knows a leader, and Step blocks
	// until then. A forwarded proposal must never block the stream it came
	// on: the heartbeats that would tell this node the new leader queue
	// behind it, and the node stays leaderless for good. So proposals go
	// through their own bounded queue (stepProposals); one that finds no
	// leader, or a full queue, is dropped, and the proposer learns that its
	// outcome is unknown when the term changes.
	if n.Leader() == 0 {
		return ErrProposalDropped
	}
	if n.cfg.Restamp != nil {
		for _, e := range m.Entries {
			if e.GetType() == raftpb.EntryType_EntryNormal && len(e.Data) > 0 {
				n.cfg.Restamp(e.Data)
			}
		}
	}
	select {
	case n.forwardedC <- m:
		return nil
	default:
		return ErrProposalDropped
	}
}

// stepProposals steps the proposals other nodes forwarded, one at a time,
// each waiting at most an election timeout for raft to take it.
func (n *Node) stepProposals() {
	defer close(n.forwardedDoneC)
	// base ends when the node stops, so no Step outlives it.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	go func() {
		select {
		case <-n.stopC:
			cancelBase()
		case <-base.Done():
		}
	}()
	wait := time.Duration(n.cfg.ElectionTick) * n.cfg.TickInterval
	for {
		select {
		case m := <-n.forwardedC:
			if n.Leader() == 0 {
				continue // dropped: see Process
			}
			ctx, cancel := context.WithTimeout(base, wait)
			if err := n.raft.Step(ctx, m); err != nil {
				n.lg.Debug("forwarded proposal dropped", "from", m.GetFrom(), "err", err)
			}
			cancel()
		case <-n.stopC:
			return
		}
	}
}

// forwardedQueue bounds the forwarded proposals waiting to be stepped.
const forwardedQueue = 4096

// ReportUnreachable tells raft that a message to id could not be sent.
func (n *Node) ReportUnreachable(id uint64) { n.raft.ReportUnreachable(id) }

// ReportSnapshot tells raft how sending a snapshot to id ended.
func (n *Node) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	n.raft.ReportSnapshot(id, status)
}

// liveErr maps raft's ErrStopped to ours, keeping the fatal cause.
func (n *Node) liveErr(err error) error {
	if errors.Is(err, raft.ErrStopped) {
		if cause := n.Err(); cause != nil {
			return fmt.Errorf("%w: %v", ErrStopped, cause)
		}
		return ErrStopped
	}
	return err
}
