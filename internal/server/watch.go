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
// takes precedence over start_revision.
//
// The watcher registers between two applies (see applyMu), at the
// revision P this node applied: initial_flush sends the keys in range as
// of P (hiding keys expired by the wall clock, as reads do),
// start_revision replays the history from start_revision to P, and live
// events follow from P+1. See internal/watch for what the stream sends.
//
// A start_revision beyond this node's revision + 1 is checked against the
// leader's commit index first (this node may lag): still beyond, it is
// refused with ErrFutureRevision. start_revision = revision + 1 is the
// next change.
//
// Errors: ctx's; send's; ErrFutureRevision; one wrapping
// statemachine.ErrCompacted when the history no longer reaches
// start_revision; watch.ErrTooManyWatchers; watch.ErrEventTooLarge; and,
// with the start_revision that resumes the watch, watch.ErrSlowWatcher,
// watch.ErrInterrupted (this node installed a snapshot) or
// watch.ErrClosed (the server is stopping).
func (s *Server) Watch(ctx context.Context, req *metapb.WatchRequest, send func(*metapb.WatchResponse) error) error {
	w, p, err := s.registerWatch(ctx, req)
	if err != nil {
		return err
	}
	defer w.Close()
	every := time.Duration(req.GetProgressIntervalMs()) * time.Millisecond
	return w.Serve(ctx, p, send, every)
}

// WatchGrouped is Watch with the output grouped by revision
// (watch.Watcher.ServeGrouped), for etcd's watch: the same registration,
// history and errors; initial_flush is not served (an etcd watch has
// none) and no size limit applies.
func (s *Server) WatchGrouped(ctx context.Context, req *metapb.WatchRequest, g watch.Grouped) error {
	if req.GetInitialFlush() {
		return fmt.Errorf("server: a grouped watch has no initial flush")
	}
	w, p, err := s.registerWatch(ctx, req)
	if err != nil {
		return err
	}
	defer w.Close()
	every := time.Duration(req.GetProgressIntervalMs()) * time.Millisecond
	return w.ServeGrouped(ctx, p, g, every)
}

// registerWatch checks req's start_revision and registers its watcher
// between two applies, with the prelude that leads up to it.
func (s *Server) registerWatch(ctx context.Context, req *metapb.WatchRequest) (*watch.Watcher, watch.Prelude, error) {
	var p watch.Prelude
	if s.node.Load() == nil {
		return nil, p, ErrNotStarted
	}
	if err := s.checkStartRevision(ctx, req.GetStartRevision()); err != nil {
		return nil, p, err
	}
	spec := watch.Spec{Key: req.GetKey(), KeyEnd: req.GetKeyEnd(), Filter: req.GetFilter()}

	s.applyMu.Lock()
	at := s.sm.Revision()
	switch {
	case req.GetInitialFlush():
		p.Flush = viewAt{view: s.sm.View(), nowMs: s.nowMs()}
	case req.GetStartRevision() > 0:
		p.ReplayFrom, p.History = req.GetStartRevision(), s.sm
	}
	w, err := s.hub.Register(spec, at)
	s.applyMu.Unlock()
	return w, p, err
}

// Revision returns the revision this node applied last; cheap.
func (s *Server) Revision() uint64 { return s.sm.Revision() }

// CompactRevision returns the oldest revision a Range at a revision or a
// watch may ask for on this node (etcd's compact revision); cheap.
func (s *Server) CompactRevision() uint64 { return s.sm.CompactRevision() }

// checkStartRevision refuses a start_revision beyond the revision + 1
// with ErrFutureRevision. Only such a start_revision costs a linearizable
// read (at most two election timeouts): this node may lag behind changes
// the client saw on another node.
func (s *Server) checkStartRevision(ctx context.Context, start uint64) error {
	if start == 0 || start <= s.sm.Revision()+1 {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 2*s.electionTimeout())
	defer cancel()
	if err := s.linearizableRead(rctx); err != nil {
		return fmt.Errorf("start_revision %d is beyond this node's revision %d + 1, and it could not check with the leader: %w",
			start, s.sm.Revision(), err)
	}
	if rev := s.sm.Revision(); start > rev+1 {
		return fmt.Errorf("%w: start_revision %d is beyond the revision %d + 1: resume from a revision this cluster gave you (at most %d), or watch without start_revision",
			ErrFutureRevision, start, rev, rev+1)
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
