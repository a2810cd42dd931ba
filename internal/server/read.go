package server

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"
)

// readWaiter is one linearizable read waiting for a read index.
type readWaiter struct {
	ctx    context.Context
	indexC chan uint64 // buffered 1: the read loop never blocks on it
}

// linearizableRead returns once this node has applied everything committed
// before the call: a ReadIndex round confirms the leader's commit index, then
// the read waits for the local apply to reach it.
func (s *Server) linearizableRead(ctx context.Context) error {
	n := s.node.Load()
	if n == nil {
		return ErrNotStarted
	}
	w := &readWaiter{ctx: ctx, indexC: make(chan uint64, 1)}
	select {
	case s.readReqC <- w:
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting to start a linearizable read: %v", ErrTimeout, ctx.Err())
	case <-n.Done():
		return ErrStopped
	}
	var index uint64
	select {
	case index = <-w.indexC:
	case <-ctx.Done():
		return fmt.Errorf("%w: no read index from the leader (is there a leader?): %v", ErrTimeout, ctx.Err())
	case <-n.Done():
		return ErrStopped
	}
	select {
	case <-s.applied.wait(index):
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting to apply up to index %d: %v", ErrTimeout, index, ctx.Err())
	case <-n.Done():
		return ErrStopped
	}
}

// readLoop serves linearizable reads in batches: all reads that arrived
// while the previous round ran share the next ReadIndex round.
func (s *Server) readLoop() {
	n := s.node.Load()
	for {
		var batch []*readWaiter
		select {
		case w := <-s.readReqC:
			batch = append(batch, w)
		case <-n.Done():
			return
		}
	drain:
		for {
			select {
			case w := <-s.readReqC:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		s.serveReads(batch)
	}
}

// serveReads runs ReadIndex rounds, each with a fresh request context, until
// one succeeds or every waiter has given up.
func (s *Server) serveReads(batch []*readWaiter) {
	n := s.node.Load()
	attempt := s.electionTimeout()
	for len(batch) > 0 {
		var rctx [8]byte
		binary.BigEndian.PutUint64(rctx[:], s.readSeq.Add(1))
		ctx, cancel := context.WithTimeout(context.Background(), attempt)
		index, ok := s.readIndex(ctx, rctx[:])
		cancel()
		if ok {
			for _, w := range batch {
				w.indexC <- index
			}
			return
		}
		select {
		case <-n.Done():
			return
		default:
		}
		live := batch[:0]
		for _, w := range batch {
			if w.ctx.Err() == nil {
				live = append(live, w)
			}
		}
		batch = live
	}
}

// readIndex runs one ReadIndex round and waits for its ReadState. raft
// drops a ReadIndex without a word on a node that knows no leader, and a
// round sent to a leader that then lost office may never be answered: so
// the round starts only once a leader is known, and ends early (to be
// retried at once) when the leader changes, instead of holding every read
// on this node for the rest of the attempt.
func (s *Server) readIndex(ctx context.Context, rctx []byte) (uint64, bool) {
	n := s.node.Load()
	if err := s.waitLeader(ctx, n); err != nil {
		return 0, false
	}
	tick := max(s.cfg.TickInterval, time.Millisecond)
	changes := n.LeaderChanges()
	if err := n.ReadIndex(ctx, rctx); err != nil {
		// Dropped (the leader was lost meanwhile) or stopping: back off a
		// tick before the next attempt.
		select {
		case <-time.After(tick):
		case <-ctx.Done():
		case <-n.Done():
		}
		return 0, false
	}
	poll := time.NewTicker(tick)
	defer poll.Stop()
	for {
		select {
		case rs := <-n.ReadStateC():
			if string(rs.RequestCtx) == string(rctx) {
				return rs.Index, true
			}
			// A late answer to an earlier, abandoned attempt: ignore.
		case <-poll.C:
			if n.LeaderChanges() != changes {
				return 0, false
			}
		case <-ctx.Done():
			return 0, false
		case <-n.Done():
			return 0, false
		}
	}
}
