package raftnode

import (
	"runtime"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// run is the Ready loop, the only goroutine that touches rn. It steps
// everything queued and handles Readys until raft has none, stepping what
// arrived meanwhile before each next Ready; then it waits for a tick, work
// in the mailbox or Stop. It never waits for the disk: the append
// goroutine persists.
func (n *Node) run(rn *raft.RawNode) {
	defer close(n.doneC)
	defer close(n.applyC) // after the append goroutine, which sends snapshots
	defer func() { <-n.appenderDoneC }()
	defer n.stopOnce.Do(func() { close(n.stopC) })
	defer func() {
		// raftLogger.Fatal: the node fails, then the defers above stop it.
		if r := recover(); r != nil {
			f, ok := r.(raftFatal)
			if !ok {
				panic(r)
			}
			n.fail(f.err)
		}
	}()

	ticks := n.cfg.Ticks
	if ticks == nil {
		ticker := time.NewTicker(n.cfg.TickInterval)
		defer ticker.Stop()
		ticks = ticker.C
	}
	for {
		for {
			select {
			case <-n.stopC:
				return
			default:
			}
			n.serve(rn)
			if !rn.HasReady() {
				break
			}
			if err := n.handleReady(rn, rn.Ready()); err != nil {
				return // ErrStopped: the only error
			}
		}
		select {
		case <-ticks:
			n.activity.Add(1)
			rn.Tick()
			if n.cfg.OnTick != nil {
				n.cfg.OnTick()
			}
		case <-n.mb.wakeC:
			// Let the goroutines that are runnable push their work
			// first (under load, the gRPC handlers with proposals):
			// the proposals drained together are one MsgProp, so one
			// MsgApp per follower instead of one each. It costs a
			// yield; under load it saves most of the peer messages.
			runtime.Gosched()
		case <-n.stopC:
			return
		}
	}
}

// serve runs every op in the mailbox, in order; the proposals that follow
// one another are stepped together (proposeBatch).
func (n *Node) serve(rn *raft.RawNode) {
	ops := n.mb.take(n.spare)
	for i := 0; i < len(ops); {
		if ops[i].isProp {
			j := i + 1
			for j < len(ops) && ops[j].isProp {
				j++
			}
			n.proposeBatch(rn, ops[i:j])
			clear(ops[i:j]) // let the callers' data go
			i = j
			continue
		}
		o := ops[i]
		ops[i] = op{} // let the messages and callers' data go
		i++
		if o.c == nil {
			_ = o.run(rn) // fire and forget: run logs what it must
			continue
		}
		if !o.c.state.CompareAndSwap(callPending, callTaken) {
			continue // the caller gave up before raft saw it
		}
		o.c.errC <- o.run(rn)
	}
	n.spare = ops
}

// maxProposalBatchBytes bounds the data of the proposals stepped as one
// MsgProp (raft's MaxSizePerMsg): a follower forwards the batch to the
// leader as one message. A larger proposal goes alone.
const maxProposalBatchBytes = 1 << 20

// proposeBatch steps the proposals of ops (each with isProp and c set) whose
// callers still wait, as few MsgProps of at most maxProposalBatchBytes as
// it can, in order, and tells each caller the outcome of its MsgProp.
// raft takes or refuses a MsgProp whole: on the leader it appends every
// entry and sends each follower one MsgApp for them, not one each; on a
// follower it forwards them to the leader in one message.
func (n *Node) proposeBatch(rn *raft.RawNode, ops []op) {
	var (
		ents  []*raftpb.Entry
		calls []*call
		size  int
	)
	flush := func() {
		if len(ents) == 0 {
			return
		}
		err := raft.ErrProposalDropped
		if !n.removed {
			err = rn.Step(&raftpb.Message{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(n.cfg.ID), Entries: ents})
		}
		for _, c := range calls {
			c.errC <- err
		}
		ents, calls, size = nil, nil, 0
	}
	for _, o := range ops {
		if !o.c.state.CompareAndSwap(callPending, callTaken) {
			continue // the caller gave up before raft saw it
		}
		if size > 0 && size+len(o.prop) > maxProposalBatchBytes {
			flush()
		}
		ents = append(ents, &raftpb.Entry{Data: o.prop})
		calls = append(calls, o.c)
		size += len(o.prop)
	}
	flush()
}

// handleReady sends, queues for persisting and hands off one Ready (raft
// runs with AsyncStorageWrites). See doc.go.
func (n *Node) handleReady(rn *raft.RawNode, rd raft.Ready) error {
	if rd.HardState != nil {
		n.term.Store(rd.HardState.GetTerm())
	}
	if rd.SoftState != nil {
		n.updateSoftState(rd.SoftState)
	}
	for _, rs := range rd.ReadStates {
		if err := handOff(n, rn, n.readStateC, rs); err != nil {
			return err
		}
	}
	var storageAppend, storageApply *raftpb.Message
	peers := rd.Messages[:0] // raft is done with the slice
	for _, m := range rd.Messages {
		switch m.GetTo() {
		case raft.LocalAppendThread:
			storageAppend = m
		case raft.LocalApplyThread:
			storageApply = m
		default:
			peers = append(peers, m)
		}
	}
	// raft holds back in storageAppend's responses what must wait for the
	// Save (acknowledgements and votes); everything else goes at once, on
	// every node: the leader's entries to followers while its own Save of
	// them runs (Raft thesis 10.2.1), a follower's relayed proposals and
	// read index requests and its answers to heartbeats.
	//
	// The Save is queued before the sends, not after: Go runs the
	// goroutine woken last first on this P, so the peer goroutines send
	// before the append goroutine blocks the P in fsync. The other order
	// delayed each MsgApp by ~100 µs (docs/PERFORMANCE.md).
	if storageAppend != nil {
		n.queueAppend(appendItem{m: storageAppend})
	}
	if n.appends != nil {
		n.appends.sent(peers, time.Now())
	}
	n.send(peers)
	if storageApply != nil {
		// raft hands out only entries that are durable here.
		ents := storageApply.GetEntries()
		if err := handOff(n, rn, n.applyC, Apply{Entries: ents}); err != nil {
			return err
		}
		if len(ents) > 0 {
			n.handedOff.Store(ents[len(ents)-1].GetIndex())
		}
		// As raft.Node's Advance: the entries count as applied once
		// they are handed over.
		for _, m := range storageApply.GetResponses() {
			_ = rn.Step(m)
		}
	}
	return nil
}

// send hands msgs to the transport; the Ready loop and the append
// goroutine both send, one at a time.
func (n *Node) send(msgs []*raftpb.Message) {
	if len(msgs) == 0 {
		return
	}
	n.sendMu.Lock()
	defer n.sendMu.Unlock()
	n.cfg.Transport.Send(msgs)
}

// handOff sends v on c and serves the mailbox while c is full: the
// goroutine that drains c may itself be waiting for the loop (the apply
// goroutine calls ApplyConfChange). raft.Node, too, stepped messages while
// a Ready was out.
func handOff[T any](n *Node, rn *raft.RawNode, c chan<- T, v T) error {
	n.handing.Add(1)
	defer n.handing.Add(-1)
	defer n.activity.Add(1) // Settle sees a hand-off that ends during it
	for {
		select {
		case <-n.stopC:
			return ErrStopped
		default:
		}
		select {
		case c <- v:
			return nil
		case <-n.mb.wakeC:
			n.serve(rn)
		case <-n.stopC:
			return ErrStopped
		}
	}
}

func (n *Node) updateSoftState(ss *raft.SoftState) {
	old := n.leader.Swap(ss.Lead)
	n.state.Store(int32(ss.RaftState))
	if old != ss.Lead {
		if ss.Lead != 0 {
			n.removed = false // as raft.Node: proposals again once a leader is known
		}
		n.leaderChanges.Add(1)
		n.lg.Info("leader changed", "node", n.cfg.ID, "old_leader", old, "leader", ss.Lead,
			"state", ss.RaftState.String(), "term", n.term.Load())
	}
}
