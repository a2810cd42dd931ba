package server

import (
	"context"
	"fmt"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/watch"
)

// Watch serves one watch stream on this node until ctx ends, send fails or
// the watch is cut off; send is called from this goroutine only. The
// request is validated by the caller (internal/grpcapi); initial_flush
// takes precedence over start_seq.
//
// The watcher registers between two applies (see applyMu), at the last seq
// P this node applied: initial_flush sends the keys in range as of P
// (hiding keys expired by the wall clock, as reads do), start_seq replays
// the history from start_seq to P, and live events follow from P+1. See
// internal/watch for what the stream sends.
//
// A start_seq beyond this node's last seq + 1 is checked against the
// leader's commit index first (this node may lag): still beyond, it is
// refused with ErrFutureSeq. start_seq = last seq + 1 is the next change.
//
// Errors: ctx's; send's; ErrFutureSeq; one wrapping
// statemachine.ErrCompacted when the history no longer reaches start_seq;
// watch.ErrTooManyWatchers; watch.ErrEventTooLarge; and, with
// the start_seq that resumes the watch, watch.ErrSlowWatcher,
// watch.ErrInterrupted (this node installed a snapshot) or watch.ErrClosed
// (the server is stopping).
func (s *Server) Watch(ctx context.Context, req *metapb.WatchRequest, send func(*metapb.WatchResponse) error) error {
	if s.node.Load() == nil {
		return ErrNotStarted
	}
	if err := s.checkStartSeq(ctx, req.GetStartSeq()); err != nil {
		return err
	}
	spec := watch.Spec{Key: req.GetKey(), KeyEnd: req.GetKeyEnd(), Filter: req.GetFilter()}
	var p watch.Prelude

	s.applyMu.Lock()
	at := s.sm.LastSeq()
	switch {
	case req.GetInitialFlush():
		p.Flush = viewAt{view: s.sm.View(), nowMs: s.nowMs()}
	case req.GetStartSeq() > 0:
		p.ReplayFrom, p.History = req.GetStartSeq(), s.sm
	}
	w, err := s.hub.Register(spec, at)
	s.applyMu.Unlock()
	if err != nil {
		return err
	}
	defer w.Close()

	every := time.Duration(req.GetProgressIntervalMs()) * time.Millisecond
	return w.Serve(ctx, p, send, every)
}

// checkStartSeq refuses a start_seq beyond the last seq + 1 with
// ErrFutureSeq. Only such a start_seq costs a linearizable read (at most
// two election timeouts): this node may lag behind changes the client saw
// on another node.
func (s *Server) checkStartSeq(ctx context.Context, startSeq uint64) error {
	if startSeq == 0 || startSeq <= s.sm.LastSeq()+1 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 2*s.electionTimeout())
	defer cancel()
	if err := s.linearizableRead(rctx); err != nil {
		return fmt.Errorf("start_seq %d is beyond this node's last seq %d + 1, and it could not check with the leader: %w",
			startSeq, s.sm.LastSeq(), err)
	}
	if last := s.sm.LastSeq(); startSeq > last+1 {
		return fmt.Errorf("%w: start_seq %d is beyond the last seq %d + 1: resume from a seq this cluster gave you (at most %d), or watch without start_seq",
			ErrFutureSeq, startSeq, last, last+1)
	}
	return nil
}

// WatcherCount returns the number of watch streams this node serves.
func (s *Server) WatcherCount() int { return s.hub.Count() }

// CloseWatches ends every watch stream with watch.ErrClosed and refuses
// new ones, so that a graceful stop of the gRPC server does not wait for
// them; their clients resume on another node. Stop calls it too.
func (s *Server) CloseWatches() { s.hub.Close() }

// viewAt is a state machine View read at a fixed wall clock.
type viewAt struct {
	view  *statemachine.View
	nowMs uint64
}

func (v viewAt) Range(key, keyEnd string, fn func(*metapb.KV) bool) {
	v.view.Range(key, keyEnd, v.nowMs, fn)
}
