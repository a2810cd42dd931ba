package raftnode

import (
	"errors"
	"fmt"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// appendItem is one Ready's share of the append goroutine's work.
type appendItem struct {
	// m is raft's MsgStorageAppend: a snapshot, hard state and entries to
	// persist, and the responses to deliver once they are durable. nil
	// in a barrier.
	m *raftpb.Message
	// barrier, when set, is closed once everything queued before it is
	// saved and sent (Settle); the item carries nothing else.
	barrier chan struct{}
}

// queueAppend queues it for the append goroutine and counts it as
// activity (Settle).
func (n *Node) queueAppend(it appendItem) {
	n.activity.Add(1)
	n.aq.push(it, 0)
}

// runAppender is the append goroutine: it persists what the Ready loop
// queues, in order, while the loop goes on stepping. See doc.go.
func (n *Node) runAppender() {
	defer close(n.appenderDoneC)
	var b saveBatch
	var items []appendItem
	for {
		select {
		case <-n.aq.wakeC:
		case <-n.stopC:
			return
		}
		items = n.aq.take(items)
		err := n.persist(&b, items)
		clear(items)
		if errors.Is(err, ErrStopped) {
			return
		}
		if err != nil {
			n.Fail(err)
			return
		}
	}
}

// persist saves items with as few Saves as it can: everything that can be
// written as one Save (entries that follow each other, a snapshot only
// first) is, then the responses go out.
func (n *Node) persist(b *saveBatch, items []appendItem) error {
	for _, it := range items {
		if it.barrier != nil {
			if err := n.flush(b); err != nil {
				return err
			}
			close(it.barrier)
			continue
		}
		if !b.canTake(it.m) {
			if err := n.flush(b); err != nil {
				return err
			}
		}
		b.add(n.cfg.ID, it.m)
	}
	return n.flush(b)
}

// flush saves b, hands a saved snapshot to ApplyC, sends b's messages to
// peers and has the Ready loop step the responses for this node.
func (n *Node) flush(b *saveBatch) error {
	defer b.reset()
	if b.hs != nil || len(b.ents) > 0 || b.snap != nil {
		if err := n.cfg.Storage.Save(b.hs, b.ents, b.snap); err != nil {
			return fmt.Errorf("persist raft log: %w", err)
		}
		if b.snap != nil {
			// Before the responses: raft hands out no committed entry
			// after the snapshot until it has stepped them.
			select {
			case n.applyC <- Apply{Snapshot: b.snap}:
				n.handedOff.Store(b.snap.GetMetadata().GetIndex())
				n.activity.Add(1)
			case <-n.stopC:
				return ErrStopped
			}
		}
	}
	if len(b.peers) > 0 {
		n.send(b.peers)
	}
	if len(b.self) > 0 {
		self := b.self
		b.self = nil // now the loop's
		n.push(op{run: func(rn *raft.RawNode) error {
			for _, m := range self {
				if err := rn.Step(m); err != nil {
					n.lg.Debug("raft did not take a storage response", "type", m.GetType(), "err", err)
				}
			}
			return nil
		}}, 0)
	}
	return nil
}

// saveBatch gathers what one Save writes and what goes out after it.
type saveBatch struct {
	hs    *raftpb.HardState
	ents  []*raftpb.Entry
	snap  *raftpb.Snapshot
	last  uint64            // index of the last entry, or of snap; 0: neither
	self  []*raftpb.Message // responses to this node, in order
	peers []*raftpb.Message // responses to peers, in order
}

// canTake reports whether m can be written by the same Save as b: a
// snapshot only into an empty batch, entries only right after b's.
func (b *saveBatch) canTake(m *raftpb.Message) bool {
	if !raft.IsEmptySnap(m.GetSnapshot()) {
		return b.hs == nil && b.last == 0 && len(b.self) == 0 && len(b.peers) == 0
	}
	ents := m.GetEntries()
	return len(ents) == 0 || b.last == 0 || ents[0].GetIndex() == b.last+1
}

// add puts m's writes and responses into b.
func (b *saveBatch) add(self uint64, m *raftpb.Message) {
	// raft sets the hard state's fields only when it changed.
	if m.Term != nil || m.Vote != nil || m.Commit != nil {
		b.hs = &raftpb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
	}
	if snap := m.GetSnapshot(); !raft.IsEmptySnap(snap) {
		b.snap = snap
		b.last = snap.GetMetadata().GetIndex()
	}
	if ents := m.GetEntries(); len(ents) > 0 {
		b.ents = append(b.ents, ents...)
		b.last = ents[len(ents)-1].GetIndex()
	}
	for _, r := range m.GetResponses() {
		if r.GetTo() == self {
			b.self = append(b.self, r)
		} else {
			b.peers = append(b.peers, r)
		}
	}
}

// reset empties b, keeping the entries' buffer (Storage does not retain
// the slice).
func (b *saveBatch) reset() {
	clear(b.ents)
	*b = saveBatch{ents: b.ents[:0]}
}
