package raftnode

import (
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3"
)

// queue carries work from other goroutines to one goroutine that drains
// it whole: push never blocks; take returns everything queued, so that the
// work that arrives while the drainer is busy (persisting a Ready, an
// fsync) is handled together. The Ready loop drains the mailbox (a
// queue[op]: the proposals and messages that arrive during one fsync are
// all stepped before the next Ready); the append goroutine drains the
// Readys to persist (all those that arrive during one fsync share the next).
type queue[T any] struct {
	// wakeC holds a token when something was pushed since the drainer
	// last took the queue; 1-buffered.
	wakeC chan struct{}
	mu    struct {
		sync.Mutex
		items   []T
		limited int // items pushed with a limit, among items
	}
}

// op is one piece of work for the loop. run is called with the RawNode on
// the loop's goroutine; when c is set, a caller waits for the outcome. An
// op with isProp set (and c) is a proposal of a normal entry of data prop
// instead: the loop steps the proposals queued together as one MsgProp.
type op struct {
	run    func(rn *raft.RawNode) error
	isProp bool
	prop   []byte
	c      *call
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

func newQueue[T any]() *queue[T] { return &queue[T]{wakeC: make(chan struct{}, 1)} }

func newCall() *call { return &call{errC: make(chan error, 1)} }

// push queues v and wakes the drainer. With limit > 0, v counts against
// it: push refuses v, and returns false, when limit such items wait.
func (q *queue[T]) push(v T, limit int) bool {
	q.mu.Lock()
	if limit > 0 {
		if q.mu.limited >= limit {
			q.mu.Unlock()
			return false
		}
		q.mu.limited++
	}
	wake := len(q.mu.items) == 0
	q.mu.items = append(q.mu.items, v)
	q.mu.Unlock()
	if wake {
		// Only the push that finds the queue empty leaves a token: the
		// drainer takes the whole queue after every token it takes, so an
		// item pushed behind others is taken with them.
		select {
		case q.wakeC <- struct{}{}:
		default:
		}
	}
	return true
}

// take returns everything queued, in order, and keeps spare (emptied) for
// the next pushes, so that the drainer and the pushers swap two buffers.
func (q *queue[T]) take(spare []T) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.mu.items
	q.mu.items = spare[:0]
	q.mu.limited = 0
	return items
}

// len is the number of items queued.
func (q *queue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.mu.items)
}
