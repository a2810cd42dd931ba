package raftnode

import (
	"context"

	"go.etcd.io/raft/v3"
)

// Settle returns once the node holds no work: the Ready loop has stepped
// everything in its mailbox (and a tick it already took) and handled every
// Ready that followed, the append goroutine has saved and sent everything
// queued to it, every batch is handed to ApplyC, and, when applied is set,
// applied(index) (a channel closed once the apply goroutine has applied up
// to index) says the apply goroutine has applied the last of them. It
// repeats these waits until one round saw no new work enter the node, so
// that work one goroutine passes to another during a round is waited for
// too. It returns ctx's error, or ErrStopped once the node stops.
//
// Settle is the node's half of the barrier behind "advance N ticks,
// deliver, assert" (with Config.Ticks and transport.MemNetwork's
// DeliverUntilQuiet): once it returns, nothing more happens in the node
// until a tick, a message or a call arrives. It does not keep them out:
// work that arrives while it runs makes it wait for that work too.
func (n *Node) Settle(ctx context.Context, applied func(index uint64) <-chan struct{}) error {
	for {
		before := n.activity.Load()
		// The first op runs after everything queued before it, the second
		// after the Readys that work produced.
		for range 2 {
			if err := n.barrier(ctx); err != nil {
				return err
			}
		}
		if err := n.appendBarrier(ctx); err != nil {
			return err
		}
		if applied != nil {
			select {
			case <-applied(n.handedOff.Load()):
			case <-ctx.Done():
				return ctx.Err()
			case <-n.doneC:
				return n.stopped()
			}
		}
		if n.activity.Load() == before && n.handing.Load() == 0 {
			return nil
		}
	}
}

// barrier returns once the Ready loop has run an op queued now. It is not
// counted as activity.
func (n *Node) barrier(ctx context.Context) error {
	if err := n.stopped(); err != nil {
		return err
	}
	c := newCall()
	n.mb.push(op{run: func(*raft.RawNode) error { return nil }, c: c}, 0)
	return n.wait(ctx, c)
}

// appendBarrier returns once the append goroutine has saved and sent
// everything queued before the call.
func (n *Node) appendBarrier(ctx context.Context) error {
	doneC := make(chan struct{})
	n.aq.push(appendItem{barrier: doneC}, 0)
	select {
	case <-doneC:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.doneC:
		return n.stopped()
	}
}
