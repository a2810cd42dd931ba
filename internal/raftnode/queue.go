package raftnode

import (
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3"
)

// mailbox carries work from other goroutines to the Ready loop, the only
// goroutine that touches the raft.RawNode. post never blocks; the loop takes
// everything queued at once, so the proposals and messages that arrive while
// it persists one Ready are all stepped before the next Ready (one fsync for
// all of them).
type mailbox struct {
	// wakeC holds a token when something was posted since the loop last
	// took the queue; 1-buffered.
	wakeC chan struct{}
	mu    struct {
		sync.Mutex
		ops       []op
		forwarded int // MsgProps from peers among ops
	}
}

// op is one piece of work for the loop. run is called with the RawNode on
// the loop's goroutine; when c is set, a caller waits for the outcome.
type op struct {
	run func(rn *raft.RawNode) error
	c   *call
}

// call is the caller's side of an op it waits for. Whoever first moves
// state away from callPending owns the op: the loop runs it, or the caller
// gives up on it and the loop skips it.
type call struct {
	state atomic.Int32
	errC  chan error // 1-buffered: the loop never blocks on it
}

const (
	callPending int32 = iota
	callTaken
	callCancelled
)

// maxForwarded bounds the proposals forwarded by peers that wait in the
// mailbox; past it they are dropped (the loop is far behind).
const maxForwarded = 4096

func newMailbox() *mailbox { return &mailbox{wakeC: make(chan struct{}, 1)} }

func newCall() *call { return &call{errC: make(chan error, 1)} }

// post queues o and wakes the loop.
func (mb *mailbox) post(o op) {
	mb.mu.Lock()
	wake := len(mb.mu.ops) == 0
	mb.mu.ops = append(mb.mu.ops, o)
	mb.mu.Unlock()
	if wake {
		mb.wake()
	}
}

// postForwarded queues a proposal forwarded by a peer unless maxForwarded
// of them are already waiting; it reports whether o was queued.
func (mb *mailbox) postForwarded(o op) bool {
	mb.mu.Lock()
	if mb.mu.forwarded >= maxForwarded {
		mb.mu.Unlock()
		return false
	}
	mb.mu.forwarded++
	wake := len(mb.mu.ops) == 0
	mb.mu.ops = append(mb.mu.ops, o)
	mb.mu.Unlock()
	if wake {
		mb.wake()
	}
	return true
}

// wake leaves a token for the loop. A token is only left by the post that
// finds the queue empty: the loop empties the queue after every token it
// takes, so a post that finds it non-empty is taken with the others.
func (mb *mailbox) wake() {
	select {
	case mb.wakeC <- struct{}{}:
	default:
	}
}

// take returns everything queued, in order, and keeps spare (emptied) for
// the next posts, so that the loop and the posters swap two buffers.
func (mb *mailbox) take(spare []op) []op {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	ops := mb.mu.ops
	mb.mu.ops = spare[:0]
	mb.mu.forwarded = 0
	return ops
}

// len is the number of ops queued.
func (mb *mailbox) len() int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return len(mb.mu.ops)
}
