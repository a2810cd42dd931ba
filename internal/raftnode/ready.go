package raftnode

import (
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
)

// run is the Ready loop, the only goroutine that touches rn. It wakes on a
// tick, on work in the mailbox or on Stop; then it steps everything queued
// and handles Readys until raft has none, stepping what arrived meanwhile
// before each next Ready.
func (n *Node) run(rn *raft.RawNode) {
	defer close(n.doneC)
	defer close(n.applyC)

	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			rn.Tick()
		case <-n.mb.wakeC:
		case <-n.stopC:
			return
		}
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
			rd := rn.Ready()
			if err := n.handleReady(rn, rd); err != nil {
				if !errors.Is(err, ErrStopped) {
					n.fail(err)
				}
				return
			}
			rn.Advance(rd)
		}
	}
}

// serve runs every op in the mailbox, in order.
func (n *Node) serve(rn *raft.RawNode) {
	ops := n.mb.take(n.spare)
	for i := range ops {
		o := ops[i]
		ops[i] = op{} // let the messages and callers' data go
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

// handleReady persists, sends and hands off one Ready. See doc.go.
func (n *Node) handleReady(rn *raft.RawNode, rd raft.Ready) error {
	if rd.SoftState != nil {
		n.updateSoftState(rd.SoftState)
	}
	if rd.HardState != nil {
		n.term.Store(rd.HardState.GetTerm())
	}
	for _, rs := range rd.ReadStates {
		if err := handOff(n, rn, n.readStateC, rs); err != nil {
			return err
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
		if err := handOff(n, rn, n.applyC, ap); err != nil {
			return err
		}
	}
	return nil
}

// handOff sends v on c and serves the mailbox while c is full: the
// goroutine that drains c may itself be waiting for the loop (the apply
// goroutine calls ApplyConfChange). raft.Node, too, stepped messages while
// a Ready was out.
func handOff[T any](n *Node, rn *raft.RawNode, c chan<- T, v T) error {
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
