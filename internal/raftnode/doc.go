// Package raftnode owns the go.etcd.io/raft node of one metasrv server: the
// Ready loop, the ticker, persistence before acknowledgement, and the
// hand-off of committed entries to the apply goroutine.
//
// One goroutine, the Ready loop (run), owns a raft.RawNode; nothing else
// touches it. Other goroutines reach it through a mailbox: Propose,
// ProposeConfChange, ApplyConfChange, Campaign and Status queue a call and
// wait for its outcome; Process (messages from peers), ReadIndex,
// TransferLeadership, ReportUnreachable and ReportSnapshot queue it and
// return. The loop wakes on a tick or on work in the mailbox, steps
// everything queued at once, and then for every Ready
//
//  1. publishes leader changes and ReadStates,
//  2. on the leader, sends messages to followers while it persists (the
//     leader may send before its own write, Raft thesis 10.2.1),
//  3. persists the hard state, entries and any incoming snapshot through
//     Storage.Save, which fsyncs: nothing is acknowledged before that,
//  4. on a follower, sends messages after persisting,
//  5. hands the snapshot and committed entries to ApplyC in order, then
//     calls Advance,
//
// and steps what was queued meanwhile before it takes the next Ready: all
// the proposals and messages that arrived during one fsync share the next.
// While ApplyC or ReadStateC is full the loop keeps serving the mailbox:
// the apply goroutine calls ApplyConfChange.
//
// A failed Save stops the node: Done is closed and Err says why. The node
// never carries on after a failed write.
//
// Propose returns once raft took the proposal (appended on the leader, or
// handed to the transport towards the leader) or refused it
// (raft.ErrProposalDropped: no leader, a leadership transfer, this node was
// removed). A call whose ctx ends before the loop takes it is never stepped.
//
// Proposals forwarded by a follower arrive at the leader as MsgProp through
// Process. One that finds no leader known, or maxForwarded others waiting,
// is dropped at once (ErrProposalDropped); raft drops the others itself
// when it has no leader by the time the loop steps them. Process never
// blocks the stream that carries the messages. The Restamp hook rewrites
// each forwarded entry's time with the receiving node's clock so that the
// leader's time is what reaches the log.
//
// Usage:
//
//	n, err := raftnode.Start(raftnode.Config{ID: 1, Storage: st, Transport: tr, ...})
//	go func() { for ap := range n.ApplyC() { ... } }()
//	err = n.Propose(ctx, data)
//	n.Stop()
package raftnode
