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

	"github.com/metasrv/metasrv/api/peerpb"
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
// Messages are delivered at once, each receiver's in order on its own
// goroutine, unless the network holds them (SetHold): then they wait in
// the network until Deliver, as in etcd-io/raft's own tests.
// DeliverUntilQuiet is the network's half of the barrier behind "advance N
// ticks, deliver, assert": see doc.go.
//
// A MemNetwork needs no stopping: each MemTransport is stopped on its own.
type MemNetwork struct {
	mu struct {
		sync.Mutex
		nodes    map[uint64]*MemTransport
		drop     map[link]bool // one-way faults (Cut sets both ways)
		isolated map[uint64]bool
		hold     bool       // SetHold: Send queues in held
		held     []envelope // in the order sent
		// inflight counts the messages queued at receivers or being
		// handled, and the reports to senders not made yet; events counts
		// every send, delivery and report. DeliverUntilQuiet reads both.
		inflight int
		events   uint64
	}
	// quietC is signalled (under mu) when inflight drops to 0.
	quietC *sync.Cond
}

type link struct{ from, to uint64 }

// NewMemNetwork returns a network without nodes or faults.
func NewMemNetwork() *MemNetwork {
	n := &MemNetwork{}
	n.mu.nodes = make(map[uint64]*MemTransport)
	n.mu.drop = make(map[link]bool)
	n.mu.isolated = make(map[uint64]bool)
	n.quietC = sync.NewCond(&n.mu.Mutex)
	return n
}

// track counts one more message or report in flight.
func (n *MemNetwork) track() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.inflight++
	n.mu.events++
}

// untrack counts a message or report in flight as handled.
func (n *MemNetwork) untrack() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.mu.inflight--
	n.mu.events++
	if n.mu.inflight == 0 {
		n.quietC.Broadcast()
	}
}

// SetHold makes Send hold messages in the network (hold true) until
// Deliver, or deliver them at once again (false); turning it off delivers
// what is held. Faults apply on Send and again on delivery.
func (n *MemNetwork) SetHold(hold bool) {
	n.mu.Lock()
	n.mu.hold = hold
	n.mu.Unlock()
	if !hold {
		n.Deliver()
	}
}

// Held is the number of messages held (SetHold) waiting for Deliver.
func (n *MemNetwork) Held() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.mu.held)
}

// Deliver hands every message held now to its receiver, in the order they
// were sent, from the calling goroutine, and returns how many it took.
// Messages sent meanwhile (the receivers' Process returns before their
// raft node steps them) wait for the next Deliver. A message that a fault
// drops, or whose receiver is gone, is reported to its sender as
// unreachable, as on Send.
func (n *MemNetwork) Deliver() int {
	n.mu.Lock()
	held := n.mu.held
	n.mu.held = nil
	n.mu.events += uint64(len(held))
	n.mu.Unlock()
	for _, e := range held {
		r := n.route(e.from.id, e.to)
		if r == nil {
			e.from.dropped(e.to, e.m)
			continue
		}
		r.handleSync(e)
	}
	return len(held)
}

// maxQuietRounds bounds DeliverUntilQuiet: a cluster that is still busy
// after that many rounds is not going to be quiet.
const maxQuietRounds = 10000

// DeliverUntilQuiet delivers until the network and its nodes are quiet:
// each round calls settle (which must return once every node has handled
// what it was given: raftnode.Node.Settle on each), delivers what is held
// (SetHold) or waits until the messages and reports under way are handled,
// and ends once a round saw nothing sent, delivered or reported. It
// reports false if the network was still busy after maxQuietRounds rounds.
// Nothing outside the nodes and the network (a goroutine with a timer of
// its own that sends) is waited for.
func (n *MemNetwork) DeliverUntilQuiet(settle func()) bool {
	for range maxQuietRounds {
		n.mu.Lock()
		before := n.mu.events
		n.mu.Unlock()
		if settle != nil {
			settle()
		}
		n.Deliver()
		n.mu.Lock()
		for n.mu.inflight > 0 {
			n.quietC.Wait()
		}
		quiet := n.mu.events == before
		n.mu.Unlock()
		if quiet {
			return true
		}
	}
	return false
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
	t.rep.queued, t.rep.done = n.track, n.untrack
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
	// handleMu is held while Deliver hands a message to h, so that Stop
	// waits for it.
	handleMu sync.Mutex

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
	to      uint64 // the receiver's id, for a held envelope
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
		if r == nil || !t.net.send(r, envelope{from: t, to: to, m: copyMessage(m)}) {
			t.dropped(to, m)
		}
	}
}

// send holds e in the network (SetHold) or queues it at r; false if r is
// stopped or its queue is full.
func (n *MemNetwork) send(r *MemTransport, e envelope) bool {
	n.mu.Lock()
	if n.mu.hold {
		n.mu.held = append(n.mu.held, e)
		n.mu.events++
		n.mu.Unlock()
		return true
	}
	n.mu.Unlock()
	return r.enqueue(e)
}

// ReportDropped queues the report at to, in order with t's messages to it;
// see Transport.
func (t *MemTransport) ReportDropped(to uint64, requestIDs []uint64) {
	if t.isStopped() || len(requestIDs) == 0 {
		return
	}
	if r := t.net.route(t.id, to); r != nil {
		t.net.send(r, envelope{from: t, to: to, dropped: slices.Clone(requestIDs)})
	}
}

// ForwardLease calls the PeerLease of node to's handler from the calling
// goroutine, with a context that also ends when either transport stops;
// see Transport. Faults apply to the call and to its answer; a held
// network (SetHold) does not hold them.
func (t *MemTransport) ForwardLease(ctx context.Context, to uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
	if t.isStopped() {
		return nil, ErrStopped
	}
	r := t.net.route(t.id, to)
	if r == nil || !r.enter() {
		return nil, fmt.Errorf("%w: node %d cannot be reached from node %d", ErrUnknownPeer, to, t.id)
	}
	defer r.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.ctx, cancel)()
	defer context.AfterFunc(r.ctx, cancel)()
	req = &peerpb.LeaseForward{From: t.id, To: to, Id: req.GetId(), Op: req.GetOp()} // a MemNetwork has no cluster name
	reply, err := r.h.PeerLease(ctx, t.id, req)
	if err != nil {
		return nil, err
	}
	if t.net.route(to, t.id) != t {
		return nil, fmt.Errorf("%w: the answer of node %d to node %d was lost", ErrUnknownPeer, to, t.id)
	}
	return proto.Clone(reply).(*peerpb.LeaseForwardReply), nil
}

// enter registers a call to t's handler, which Stop waits for; false
// once t is stopped. The caller calls t.wg.Done when finished.
func (t *MemTransport) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		return false
	}
	t.wg.Add(1)
	return true
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
	// Counted before it is queued: the receiver may take it, handle it
	// and uncount it before a count after the send.
	t.net.track()
	select {
	case t.inC <- e:
		return true
	default:
		t.net.untrack()
		return false
	}
}

// deliver hands queued messages to the handler in order until Stop.
func (t *MemTransport) deliver() {
	for {
		select {
		case e := <-t.inC:
			t.handle(e)
			t.net.untrack()
		case <-t.stopC:
			return
		}
	}
}

// handleSync hands e to the handler from the calling goroutine (Deliver),
// unless t is stopped: then e is reported to its sender as unreachable.
func (t *MemTransport) handleSync(e envelope) {
	t.handleMu.Lock()
	defer t.handleMu.Unlock()
	if t.isStopped() {
		e.from.dropped(t.id, e.m)
		return
	}
	t.handle(e)
}

// handle hands one message or report to the handler, unless a fault now
// stands between its sender and t.
func (t *MemTransport) handle(e envelope) {
	if t.net.route(e.from.id, t.id) != t {
		e.from.dropped(t.id, e.m)
		return
	}
	if e.m == nil {
		t.h.ProposalsDropped(e.from.id, e.dropped)
		return
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
	t.handleMu.Lock() // a Deliver handing a message to h ends
	t.handleMu.Unlock()
	for {
		select {
		case e := <-t.inC:
			e.from.dropped(t.id, e.m)
			t.net.untrack()
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
