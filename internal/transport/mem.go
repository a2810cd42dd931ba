package transport

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// memQueueSize is the number of messages queued per receiver before Send
// drops, as GRPCConfig.QueueSize.
const memQueueSize = DefaultQueueSize

// MemNetwork connects MemTransports in one process, for tests of the code
// above the transport. Messages are copied through their wire encoding, so
// a receiver never shares memory with its sender. Faults (Cut, Isolate,
// SetDrop) apply to messages being sent and to those already queued; a
// message they drop is reported to its sender as unreachable.
//
// A MemNetwork needs no stopping: each MemTransport is stopped on its own.
type MemNetwork struct {
	mu struct {
		sync.Mutex
		nodes    map[uint64]*MemTransport
		drop     map[link]bool // one-way faults (Cut sets both ways)
		isolated map[uint64]bool
	}
}

type link struct{ from, to uint64 }

// NewMemNetwork returns a network without nodes or faults.
func NewMemNetwork() *MemNetwork {
	n := &MemNetwork{}
	n.mu.nodes = make(map[uint64]*MemTransport)
	n.mu.drop = make(map[link]bool)
	n.mu.isolated = make(map[uint64]bool)
	return n
}

// Join attaches node id with handler h and returns its transport. Once
// that transport is stopped, the id may join again (a restarted node). It
// panics if id is 0 or already attached. A MsgSnap's snapshot file is
// copied from the sender's Snapshots (its Handler) to h's on delivery.
func (n *MemNetwork) Join(id uint64, h Handler) *MemTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id == 0 || n.mu.nodes[id] != nil {
		panic(fmt.Sprintf("transport: MemNetwork.Join: node id %d is 0 or already joined", id))
	}
	t := &MemTransport{
		net:   n,
		id:    id,
		h:     h,
		rep:   newReporter(h),
		inC:   make(chan envelope, memQueueSize),
		stopC: make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.peers = make(map[uint64]string)
	n.mu.nodes[id] = t
	t.wg.Add(2)
	go func() {
		defer t.wg.Done()
		t.rep.run(t.stopC)
	}()
	go func() {
		defer t.wg.Done()
		t.deliver()
	}()
	return t
}

// Cut drops every message between a and b, both ways, until Heal.
func (n *MemNetwork) Cut(a, b uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.drop[link{a, b}] = true
	n.mu.drop[link{b, a}] = true
}

// Isolate drops every message to and from id until Heal.
func (n *MemNetwork) Isolate(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.isolated[id] = true
}

// SetDrop drops (drop true) or lets through (false) messages from one node
// to another, one way.
func (n *MemNetwork) SetDrop(from, to uint64, drop bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if drop {
		n.mu.drop[link{from, to}] = true
	} else {
		delete(n.mu.drop, link{from, to})
	}
}

// Heal removes every fault: cuts, isolations and one-way drops.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.mu.drop)
	clear(n.mu.isolated)
}

// route returns the receiver of a message from one node to another, or
// nil if it is not attached, a fault is in the way, or it is the sender
// (as GRPC, which never has itself as a peer).
func (n *MemNetwork) route(from, to uint64) *MemTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if from == to || n.mu.drop[link{from, to}] || n.mu.isolated[from] || n.mu.isolated[to] {
		return nil
	}
	return n.mu.nodes[to]
}

func (n *MemNetwork) leave(t *MemTransport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.nodes[t.id] == t {
		delete(n.mu.nodes, t.id)
	}
}

// MemTransport is one node's Transport on a MemNetwork. Send delivers to
// any node attached to the network, in order per receiver, through the
// receiver's goroutine; AddPeer and RemovePeer only keep the address book
// that Peers returns (the in-memory network needs no addresses). A
// delivered MsgSnap is reported to its sender as SnapshotFinish (or
// SnapshotFailure if the receiver's Process failed).
type MemTransport struct {
	net *MemNetwork
	id  uint64
	h   Handler
	rep *reporter
	inC chan envelope

	ctx    context.Context // cancelled by Stop: Process calls end
	cancel context.CancelFunc
	stopC  chan struct{}
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		stopped bool
		peers   map[uint64]string
	}
}

var _ Transport = (*MemTransport)(nil)

// envelope is one delivery: a message, or (m nil) a ReportDropped.
type envelope struct {
	from    *MemTransport
	m       *raftpb.Message
	dropped []uint64
}

// ID is the node id the transport joined with.
func (t *MemTransport) ID() uint64 { return t.id }

// Send copies msgs and queues them at their receivers; see Transport.
func (t *MemTransport) Send(msgs []*raftpb.Message) {
	if t.isStopped() {
		return
	}
	for _, m := range msgs {
		to := m.GetTo()
		r := t.net.route(t.id, to)
		if r == nil || !r.enqueue(envelope{from: t, m: copyMessage(m)}) {
			t.dropped(to, m)
		}
	}
}

// ReportDropped queues the report at to, in order with t's messages to it;
// see Transport.
func (t *MemTransport) ReportDropped(to uint64, requestIDs []uint64) {
	if t.isStopped() || len(requestIDs) == 0 {
		return
	}
	if r := t.net.route(t.id, to); r != nil {
		r.enqueue(envelope{from: t, dropped: slices.Clone(requestIDs)})
	}
}

// dropped reports to t's handler that a message to id was not delivered.
func (t *MemTransport) dropped(to uint64, m *raftpb.Message) {
	if m == nil {
		return // a ReportDropped: best effort
	}
	t.rep.unreachable(to)
	if m.GetType() == raftpb.MsgSnap {
		t.rep.snapshot(to, raft.SnapshotFailure)
	}
}

// enqueue queues e for delivery; false if t is stopped or its queue full.
func (t *MemTransport) enqueue(e envelope) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		return false
	}
	select {
	case t.inC <- e:
		return true
	default:
		return false
	}
}

// deliver hands queued messages to the handler in order until Stop.
func (t *MemTransport) deliver() {
	for {
		select {
		case e := <-t.inC:
			if t.net.route(e.from.id, t.id) != t {
				e.from.dropped(t.id, e.m)
				continue
			}
			if e.m == nil {
				t.h.ProposalsDropped(e.from.id, e.dropped)
				continue
			}
			var err error
			if e.m.GetType() == raftpb.MsgSnap {
				err = t.fetchSnapshot(e)
			}
			if err == nil {
				err = t.h.Process(t.ctx, e.m)
			}
			if e.m.GetType() == raftpb.MsgSnap {
				status := raft.SnapshotFinish
				if err != nil {
					status = raft.SnapshotFailure
				}
				e.from.rep.snapshot(t.id, status)
			}
		case <-t.stopC:
			return
		}
	}
}

// fetchSnapshot copies the file of the MsgSnap e carries from its sender's
// Snapshots into t's, as GRPC streams it, and points the message at the
// copy.
func (t *MemTransport) fetchSnapshot(e envelope) error {
	f, size, err := e.from.h.OpenSnapshot(e.m.GetSnapshot())
	if err != nil {
		return fmt.Errorf("open snapshot file on node %d: %w", e.from.id, err)
	}
	defer f.Close()
	data, err := t.h.ReceiveSnapshot(e.m.GetSnapshot().GetMetadata(), f, size)
	if err != nil {
		return fmt.Errorf("%w: snapshot file from node %d: %v", ErrBadSnapshot, e.from.id, err)
	}
	e.m.Snapshot.Data = data
	return nil
}

// AddPeer records id's address (see Peers).
func (t *MemTransport) AddPeer(id uint64, addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.mu.stopped && id != t.id && id != 0 {
		t.mu.peers[id] = addr
	}
}

// RemovePeer forgets id's address.
func (t *MemTransport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mu.peers, id)
}

// Peers returns the address book kept by AddPeer and RemovePeer.
func (t *MemTransport) Peers() map[uint64]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.mu.peers)
}

// Stop detaches the node from the network, stops its goroutines and waits
// for them. Messages still queued for it are reported to their senders as
// unreachable.
func (t *MemTransport) Stop() {
	t.mu.Lock()
	if t.mu.stopped {
		t.mu.Unlock()
		return
	}
	t.mu.stopped = true
	t.mu.Unlock()
	t.net.leave(t)
	t.cancel()
	close(t.stopC)
	t.wg.Wait()
	for {
		select {
		case e := <-t.inC:
			e.from.dropped(t.id, e.m)
		default:
			return
		}
	}
}

func (t *MemTransport) isStopped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mu.stopped
}

// copyMessage returns a copy of m made through its wire encoding, as a
// real receiver would see it.
func copyMessage(m *raftpb.Message) *raftpb.Message {
	data, err := proto.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("transport: cannot marshal %v: %v", m.GetType(), err))
	}
	out := new(raftpb.Message)
	if err := proto.Unmarshal(data, out); err != nil {
		panic(fmt.Sprintf("transport: cannot unmarshal %v: %v", m.GetType(), err))
	}
	return out
}
