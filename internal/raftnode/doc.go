// Package raftnode owns the go.etcd.io/raft node of one metasrv server: the
// Ready loop, the ticker, persistence before acknowledgement, and the
// hand-off of committed entries to the apply goroutine.
//
// One goroutine (run) owns the raft.Node's Ready channel. For every Ready it
//
//  1. publishes leader changes and ReadStates,
//  2. on the leader, sends messages to followers while it persists (the
//     leader may send before its own write, Raft thesis 10.2.1),
//  3. persists the hard state, entries and any incoming snapshot through
//     Storage.Save, which fsyncs: nothing is acknowledged before that,
//  4. on a follower, sends messages after persisting,
//  5. hands the snapshot and committed entries to ApplyC in order, then
//     calls Advance.
//
// A failed Save stops the node: Done is closed and Err says why. The node
// never carries on after a failed write.
//
// Proposals forwarded by a follower arrive at the leader as MsgProp through
// Process; the Restamp hook rewrites each entry's time with the receiving
// node's clock so that the leader's time is what reaches the log.
//
// Usage:
//
//	n, err := raftnode.Start(raftnode.Config{ID: 1, Storage: st, Transport: tr, ...})
//	go func() { for ap := range n.ApplyC() { ... } }()
//	err = n.Propose(ctx, data)
//	n.Stop()
package raftnode
