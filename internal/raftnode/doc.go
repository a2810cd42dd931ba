// Package raftnode owns the go.etcd.io/raft node of one metasrv server: the
// Ready loop, the ticker (or a tick source a test drives), persistence before acknowledgement, and the
// hand-off of committed entries to the apply goroutine.
//
// # Goroutines
//
// The Ready loop (run) owns a raft.RawNode; nothing else touches it. Other
// goroutines reach it through its mailbox: Propose, ProposeConfChange,
// ApplyConfChange, Campaign and Status queue a call and wait for its
// outcome; Process (messages from peers), ReadIndex, TransferLeadership,
// ReportUnreachable and ReportSnapshot queue it and return. The loop steps
// everything queued at once, handles the Ready that results, steps what
// arrived meanwhile, and so on; then it waits for a tick or more work.
//
// raft runs with AsyncStorageWrites: the loop never waits for the disk.
// The append goroutine (runAppender) persists what the loop queues, while
// the loop goes on stepping proposals, acknowledgements and commits. It
// takes every Ready queued since its last Save and writes them with one
// Save (one fsync) where their entries follow each other.
//
// # One Ready
//
// The loop
//
//  1. publishes the term, leader changes and ReadStates,
//  2. queues raft's MsgStorageAppend (snapshot, hard state, entries and the
//     responses that must wait for them: acknowledgements and votes) to
//     the append goroutine,
//  3. sends every other message at once, as raft's contract for
//     AsyncStorageWrites allows: the leader's entries to followers while
//     its own Save of them runs (Raft thesis 10.2.1), a follower's
//     relayed proposals and read index requests and its answers to
//     heartbeats (a read index round does not wait for a follower's
//     fsync),
//  4. hands the committed entries raft released to ApplyC, and steps
//     raft's MsgStorageApplyResp (as Advance did).
//
// The append goroutine Saves (Storage.Save fsyncs), hands a saved snapshot
// to ApplyC, then sends the responses for peers (a follower's
// acknowledgements and votes) and has the loop step the responses for
// this node (its own acknowledgement, MsgStorageAppendResp). So:
//
//   - nothing is acknowledged, and no vote is cast, before the Save of
//     everything the node was handed before;
//   - raft releases committed entries only once they are saved on this
//     node, and a snapshot reaches ApplyC before the entries after it;
//   - a failed Save stops the node: Done is closed and Err says why. The
//     node never carries on after a failed write.
//
// While ApplyC or ReadStateC is full the loop keeps serving its mailbox:
// the apply goroutine calls ApplyConfChange.
//
// # Proposals
//
// Propose returns once raft took the proposal (appended on the leader, or
// handed to the transport towards the leader) or refused it
// (raft.ErrProposalDropped: no leader, a leadership transfer, this node was
// removed). A call whose ctx ends before the loop takes it is never
// stepped.
//
// Proposals forwarded by a follower arrive at the leader as MsgProp through
// Process. One that finds no leader known, or maxForwarded others waiting,
// is dropped at once (ErrProposalDropped); raft drops the others itself
// when it has no leader, or transfers leadership, by the time the loop
// steps them. Either way Config.Dropped gets the dropped entries, so that
// the proposer can be told that they are not in the log (the server does,
// with the transport's ReportDropped). Process never blocks the stream
// that carries the messages. The Restamp hook rewrites
// each forwarded entry's time with the receiving node's clock so that the
// leader's time is what reaches the log.
//
// # Time, and tests that move it by hand
//
// raft's only clock is its ticks. By default a ticker of
// Config.TickInterval makes them; Config.Ticks replaces it with a channel,
// every value received being one tick, so that a test advances raft's time
// by hand (an unbuffered channel: a send returns once the loop took the
// tick). Between ticks nothing times out: an election, a heartbeat or a
// check of the quorum happens only after the ticks that make it due.
//
// Settle is the barrier that makes "advance N ticks, deliver, assert"
// deterministic. It returns once the node holds no work: its mailbox is
// empty and the loop has handled every Ready that followed what was in it
// (or a tick it took), the append goroutine has saved and sent everything
// queued to it, every batch is handed to ApplyC and, given the apply
// goroutine's applied index as a wait function, applied. Work that one
// goroutine passes to another while Settle runs (the appender's responses
// to the loop, the apply goroutine's ApplyConfChange) is counted, and
// Settle goes round again until a round sees none. What is outside the
// node (messages in a transport, goroutines of its owner with timers of
// their own) is the caller's: transport.MemNetwork.DeliverUntilQuiet
// calls Settle on every node between rounds of delivery.
//
//	ticks := make(chan time.Time)
//	n, _ := raftnode.Start(raftnode.Config{ID: 1, Ticks: ticks, ...})
//	for range 10 {
//		ticks <- time.Time{}
//	}
//	_ = n.Settle(ctx, appliedWait) // every effect of the 10 ticks has happened
//
// Usage:
//
//	n, err := raftnode.Start(raftnode.Config{ID: 1, Storage: st, Transport: tr, ...})
//	go func() { for ap := range n.ApplyC() { ... } }()
//	err = n.Propose(ctx, data)
//	n.Stop()
package raftnode
