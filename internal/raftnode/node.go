package raftnode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// Errors returned by Node.
var (
	// ErrStopped: the node has stopped (shut down, or a fatal storage error).
	ErrStopped = errors.New("raft node stopped")
	// ErrProposalDropped: a proposal forwarded by a peer was dropped because
	// this node knows no leader to hand it to, or too many forwarded
	// proposals are waiting for the Ready loop.
	ErrProposalDropped = errors.New("forwarded proposal dropped: no leader")
)

// Storage is the durable log the node reads and writes. raft reads it
// through the embedded raft.Storage from the Ready loop while the append
// goroutine calls Save: the two must be safe to call at the same time (as
// raft.MemoryStorage's methods are). Save is called from that one goroutine
// only, in log order.
type Storage interface {
	raft.Storage
	// Save durably writes, in this order, an incoming snapshot (nil or
	// empty: none), the entries and the hard state (nil: unchanged), and
	// fsyncs what raft needs durable (raft.MustSync: entries, a new term
	// or vote) before it returns; a commit index alone may be synced
	// later. An error is fatal: the node stops.
	Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error
}

// Transport sends messages to peers. Send is called by the Ready loop and
// the append goroutine, never by both at once, and must not block; the
// transport owns msgs after the call.
type Transport interface {
	Send(msgs []*raftpb.Message)
}

// Config configures a Node.
type Config struct {
	// ID of this node; never 0.
	ID uint64
	// TickInterval is the duration of one raft tick.
	TickInterval time.Duration
	// Ticks, when set, is the tick source instead of a ticker of
	// TickInterval: every value received is one raft tick (the value is
	// ignored). Tests give an unbuffered channel and send on it to advance
	// raft's time by hand; a send returns once the Ready loop took the
	// tick, and Settle then waits for its effects.
	Ticks <-chan time.Time
	// OnTick, if set, is called by the Ready loop after each tick it
	// takes (from the ticker or Ticks), before it takes any other work:
	// the owner's timers that count raft's ticks. It must not block.
	// Settle returns after the OnTick of every tick taken before it.
	OnTick func()
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
	// Dropped, when set, receives the entries of every proposal that a
	// peer forwarded to this node and that this node dropped without
	// appending or forwarding it (ErrProposalDropped), so that their
	// proposer can learn at once that they are not in the log. Called
	// from the Ready loop or a transport goroutine; must not block.
	Dropped func(ents []*raftpb.Entry)
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
	cfg Config
	lg  *slog.Logger
	mb  *queue[op]         // the Ready loop's mailbox
	aq  *queue[appendItem] // the append goroutine's work

	applyC     chan Apply
	readStateC chan raft.ReadState
	stopC      chan struct{}
	doneC      chan struct{}
	stopOnce   sync.Once
	// appenderDoneC is closed when the append goroutine has returned.
	appenderDoneC chan struct{}
	sendMu        sync.Mutex // Transport.Send is called by one goroutine at a time

	appends *appendTracker // nil unless cfg.ObserveAppend is set

	// activity counts the work that entered the node (mailbox ops, ticks,
	// append items, hand-offs to ApplyC and ReadStateC); handing counts
	// hand-offs under way; handedOff is the index of the last entry or
	// snapshot handed to ApplyC. Settle reads them (settle.go).
	activity  atomic.Uint64
	handing   atomic.Int32
	handedOff atomic.Uint64

	leader        atomic.Uint64
	leaderChanges atomic.Uint64
	state         atomic.Int32 // raft.StateType
	term          atomic.Uint64

	// Owned by the Ready loop.
	spare   []op // the mailbox buffer the loop hands back on its next take
	removed bool // this node was removed from the membership: take no proposals

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
		AsyncStorageWrites:        true,
		Logger:                    raftLogger{cfg.Logger},
	}
	n := &Node{
		cfg:        cfg,
		lg:         cfg.Logger,
		mb:         newQueue[op](),
		aq:         newQueue[appendItem](),
		applyC:     make(chan Apply, 128),
		readStateC: make(chan raft.ReadState, 1024),
		stopC:      make(chan struct{}),
		doneC:      make(chan struct{}),

		appenderDoneC: make(chan struct{}),
	}
	if cfg.ObserveAppend != nil {
		n.appends = newAppendTracker(cfg.ObserveAppend)
	}
	if hs, _, err := cfg.Storage.InitialState(); err == nil {
		n.term.Store(hs.GetTerm())
	}
	rn, err := raft.NewRawNode(rc)
	if err != nil {
		return nil, fmt.Errorf("raftnode: %w", err)
	}
	if len(cfg.Peers) > 0 {
		if err := rn.Bootstrap(cfg.Peers); err != nil {
			// As raft.StartNode: a storage that is not empty keeps its log.
			n.lg.Warn("raft bootstrap skipped", "node", cfg.ID, "err", err)
		}
	}
	go n.runAppender()
	go n.run(rn)
	return n, nil
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

// StopWith stops the node, as an expected end rather than a failure: Err
// returns reason (e.g. this node was removed from the cluster). It does not
// wait; Done is closed once the loop has stopped. A node already stopping
// keeps its first reason.
func (n *Node) StopWith(reason error) {
	n.mu.Lock()
	if n.mu.err == nil {
		n.mu.err = reason
	}
	n.mu.Unlock()
	n.lg.Info("raft node stopping", "node", n.cfg.ID, "reason", reason)
	n.stopOnce.Do(func() { close(n.stopC) })
}

// Stop stops the Ready loop and waits for it. ApplyC is closed once the
// loop has exited.
func (n *Node) Stop() {
	n.stopOnce.Do(func() { close(n.stopC) })
	<-n.doneC
}

// Done is closed when the node has stopped, on Stop or a fatal error.
func (n *Node) Done() <-chan struct{} { return n.doneC }

// Err is the error that stopped the node (a fatal one, or StopWith's
// reason), or nil.
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

// Propose appends data as a normal entry; on a follower raft forwards it to
// the leader. It returns once raft took it or refused it:
// raft.ErrProposalDropped means there is no leader to take it (or this node
// was removed, or leadership is being transferred). It does not wait for the
// entry to be persisted or committed.
//
// The proposals that wait in the mailbox together are stepped as one
// MsgProp (ready.go, proposeBatch): one append, and one MsgApp to each
// follower, for all of them.
func (n *Node) Propose(ctx context.Context, data []byte) error {
	return n.callOp(ctx, op{isProp: true, prop: data})
}

// ProposeConfChange proposes a membership change, as Propose.
func (n *Node) ProposeConfChange(ctx context.Context, cc *raftpb.ConfChangeV2) error {
	return n.call(ctx, func(rn *raft.RawNode) error {
		if n.removed {
			return raft.ErrProposalDropped
		}
		return rn.ProposeConfChange(cc)
	})
}

// ApplyConfChange applies a committed membership change to raft; called by
// the apply goroutine for every committed conf change entry. It returns nil
// when the node has stopped.
func (n *Node) ApplyConfChange(cc raftpb.ConfChangeI) *raftpb.ConfState {
	var cs *raftpb.ConfState
	err := n.call(context.Background(), func(rn *raft.RawNode) error {
		before := isMember(rn, n.cfg.ID)
		cs = rn.ApplyConfChange(cc)
		after := isMember(rn, n.cfg.ID)
		// As raft.Node: once removed, this node takes no proposals (until
		// it sees a new leader). A node that catches up on the log and
		// does not know yet that it is a member is not affected. Unlike
		// raft.Node, a node added back under the same id (it replays its
		// old removal, then its new addition) takes proposals again at
		// once: the leader it knows may not change.
		switch {
		case before && !after && !slices.Contains(cs.GetVoters(), n.cfg.ID) &&
			!slices.Contains(cs.GetVotersOutgoing(), n.cfg.ID):
			n.removed = true
		case after:
			n.removed = false
		}
		return nil
	})
	if err != nil {
		return nil
	}
	return cs
}

// isMember reports whether raft's configuration lists id, as a voter or a
// learner.
func isMember(rn *raft.RawNode, id uint64) bool {
	found := false
	rn.WithProgress(func(pid uint64, _ raft.ProgressType, _ tracker.Progress) {
		found = found || pid == id
	})
	return found
}

// ReadIndex asks for the commit index as of now; the answer arrives on
// ReadStateC with rctx as its RequestCtx.
func (n *Node) ReadIndex(ctx context.Context, rctx []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return n.post(func(rn *raft.RawNode) error {
		rn.ReadIndex(rctx)
		return nil
	})
}

// TransferLeadership asks the leader to hand leadership to transferee.
func (n *Node) TransferLeadership(_ context.Context, transferee uint64) {
	_ = n.post(func(rn *raft.RawNode) error {
		rn.TransferLeader(transferee)
		return nil
	})
}

// Campaign makes this node start an election.
func (n *Node) Campaign(ctx context.Context) error {
	return n.call(ctx, func(rn *raft.RawNode) error { return rn.Campaign() })
}

// Status is raft's full status, including follower progress on the leader;
// empty once the node has stopped.
func (n *Node) Status() raft.Status {
	var st raft.Status
	err := n.call(context.Background(), func(rn *raft.RawNode) error {
		st = rn.Status()
		return nil
	})
	if err != nil {
		return raft.Status{}
	}
	return st
}

// Leader is the id of the current leader as this node knows it; 0 = none.
func (n *Node) Leader() uint64 { return n.leader.Load() }

// LeaderChanges counts the times this node saw the leader change.
func (n *Node) LeaderChanges() uint64 { return n.leaderChanges.Load() }

// IsLeader reports whether this node is the leader.
func (n *Node) IsLeader() bool { return raft.StateType(n.state.Load()) == raft.StateLeader }

// State is this node's raft role.
func (n *Node) State() raft.StateType { return raft.StateType(n.state.Load()) }

// Term is the current term, as of the last Ready.
func (n *Node) Term() uint64 { return n.term.Load() }

// Process hands a message received from a peer to the Ready loop
// (transport.Handler); it never blocks. An error means the message was not
// taken: the node has stopped, or a forwarded proposal was dropped
// (ErrProposalDropped) because this node knows no leader or too many are
// waiting. raft's own refusals are logged by the loop at debug level.
func (n *Node) Process(_ context.Context, m *raftpb.Message) error {
	if n.appends != nil {
		n.appends.acked(m, time.Now())
	}
	if m.GetType() != raftpb.MessageType_MsgProp {
		return n.post(func(rn *raft.RawNode) error {
			if err := rn.Step(m); err != nil {
				n.lg.Debug("raft did not take a message", "from", m.GetFrom(), "type", m.GetType(), "err", err)
			}
			return nil
		})
	}
	// A forwarded proposal is dropped at once when this node knows no
	// leader; cfg.Dropped tells its proposer.
	if n.Leader() == 0 {
		n.dropped(m)
		return ErrProposalDropped
	}
	if err := n.stopped(); err != nil {
		return err
	}
	if n.cfg.Restamp != nil {
		for _, e := range m.Entries {
			if e.GetType() == raftpb.EntryType_EntryNormal && len(e.Data) > 0 {
				n.cfg.Restamp(e.Data)
			}
		}
	}
	if !n.push(op{run: func(rn *raft.RawNode) error { return n.stepForwarded(rn, m) }}, maxForwarded) {
		n.dropped(m)
		return ErrProposalDropped
	}
	return nil
}

// dropped hands the entries of a forwarded proposal this node dropped to
// cfg.Dropped.
func (n *Node) dropped(m *raftpb.Message) {
	if n.cfg.Dropped != nil && len(m.GetEntries()) > 0 {
		n.cfg.Dropped(m.GetEntries())
	}
}

// stepForwarded steps a proposal a peer forwarded, as a local one (as
// raft.Node does). raft never blocks on it: without a leader it drops it.
func (n *Node) stepForwarded(rn *raft.RawNode, m *raftpb.Message) error {
	err := raft.ErrProposalDropped
	if !n.removed {
		m.From = proto.Uint64(n.cfg.ID)
		err = rn.Step(m)
	}
	if err != nil {
		n.lg.Debug("forwarded proposal dropped", "entries", len(m.GetEntries()), "err", err)
		if errors.Is(err, raft.ErrProposalDropped) {
			n.dropped(m) // raft drops before it appends or forwards
		}
	}
	return err
}

// ReportUnreachable tells raft that a message to id could not be sent.
func (n *Node) ReportUnreachable(id uint64) {
	_ = n.post(func(rn *raft.RawNode) error {
		rn.ReportUnreachable(id)
		return nil
	})
}

// ReportSnapshot tells raft how sending a snapshot to id ended.
func (n *Node) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	_ = n.post(func(rn *raft.RawNode) error {
		rn.ReportSnapshot(id, status)
		return nil
	})
}

// post queues run for the Ready loop without waiting for it.
func (n *Node) post(run func(rn *raft.RawNode) error) error {
	if err := n.stopped(); err != nil {
		return err
	}
	n.push(op{run: run}, 0)
	return nil
}

// push queues o in the mailbox (see queue.push) and counts it as activity.
func (n *Node) push(o op, limit int) bool {
	n.activity.Add(1)
	return n.mb.push(o, limit)
}

// call queues run for the Ready loop and returns its error once the loop
// ran it. If ctx has ended already, or ends before the loop takes run,
// run is never called and call returns ctx's error.
func (n *Node) call(ctx context.Context, run func(rn *raft.RawNode) error) error {
	return n.callOp(ctx, op{run: run})
}

// callOp queues o, with a call of its own, and waits for its outcome, as
// call.
func (n *Node) callOp(ctx context.Context, o op) error {
	if err := n.stopped(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // never queued: the loop could take it before wait sees ctx
	}
	o.c = newCall()
	n.push(o, 0)
	return n.wait(ctx, o.c)
}

// wait waits for the outcome of c, an op in the mailbox: see call.
func (n *Node) wait(ctx context.Context, c *call) error {
	select {
	case err := <-c.errC:
		return err
	case <-ctx.Done():
		if c.state.CompareAndSwap(callPending, callCancelled) {
			return ctx.Err()
		}
		// The loop is running it: the outcome is known at once.
		select {
		case err := <-c.errC:
			return err
		case <-n.doneC:
			return n.stopped()
		}
	case <-n.doneC:
		return n.stopped()
	}
}

// stopped returns ErrStopped, with the fatal cause if there is one, once
// the node has stopped, and nil before.
func (n *Node) stopped() error {
	select {
	case <-n.doneC:
	default:
		return nil
	}
	if cause := n.Err(); cause != nil {
		return fmt.Errorf("%w: %v", ErrStopped, cause)
	}
	return ErrStopped
}
