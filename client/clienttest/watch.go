package clienttest

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
)

// Defaults of the watch Options.
const (
	DefaultWatchBuffer      = 256
	DefaultProgressInterval = time.Second
)

// allKeysEnd is the key_end of a range without an upper bound: every key
// >= key, as metasrv (and etcd's range_end) reads it.
const allKeysEnd = "\x00"

// watcher is one Watch stream's registration in the Store. The Store hands
// it matching events under its lock, without blocking: when ch is full the
// watcher is cut off (a slow reader), as metasrv does.
type watcher struct {
	server      *Server
	key, keyEnd string
	filter      metapb.WatchRequest_Filter
	minRev      uint64 // events below are not sent (a start_revision ahead of the store)
	ch          chan *metapb.Event
	cut         chan error // receives the reason the stream must end; buffered 1
}

func (w *watcher) matches(ev *metapb.Event) bool {
	if ev.GetRevision() < w.minRev {
		return false
	}
	switch w.keyEnd {
	case "":
		if ev.GetKey() != w.key {
			return false
		}
	case allKeysEnd:
		if ev.GetKey() < w.key {
			return false
		}
	default:
		if ev.GetKey() < w.key || ev.GetKey() >= w.keyEnd {
			return false
		}
	}
	switch w.filter {
	case metapb.WatchRequest_UPDATE:
		return ev.GetCurrent() != nil
	case metapb.WatchRequest_DELETE:
		return ev.GetCurrent() == nil
	}
	return true
}

// offerLocked hands ev to w if it matches, cutting w off when its buffer is
// full.
func (st *Store) offerLocked(w *watcher, ev *metapb.Event) {
	if !w.matches(ev) {
		return
	}
	select {
	case w.ch <- ev:
	default:
		st.cutLocked(w, status.Errorf(codes.ResourceExhausted,
			"watch stream too slow: %d events are waiting to be sent; resume from the last revision received", cap(w.ch)))
	}
}

// cutLocked ends w's stream with err and unregisters it.
func (st *Store) cutLocked(w *watcher, err error) {
	st.unwatchLocked(w)
	select {
	case w.cut <- err:
	default:
	}
}

func (st *Store) removeWatcher(w *watcher) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.unwatchLocked(w)
}

func (st *Store) watchLocked(w *watcher) {
	st.watchers[w] = struct{}{}
	st.watchersChangedLocked()
}

func (st *Store) unwatchLocked(w *watcher) {
	if _, ok := st.watchers[w]; ok {
		delete(st.watchers, w)
		st.watchersChangedLocked()
	}
}

// watchersChangedLocked wakes the callers of WaitWatches.
func (st *Store) watchersChangedLocked() {
	close(st.watchersChanged)
	st.watchersChanged = make(chan struct{})
}

// waitWatchers waits until cond, called with the store locked, holds; it
// is checked again each time a watcher comes or goes. It returns ctx's
// error if ctx ends first.
func (st *Store) waitWatchers(ctx context.Context, cond func() bool) error {
	for {
		st.mu.Lock()
		ok, changed := cond(), st.watchersChanged
		st.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// progress returns the revision up to which w has been sent every
// change, when nothing is waiting in its buffer: the events are queued
// under the lock and sent by the goroutine asking, so an empty buffer
// means every event up to the store's revision is out. The marker goes
// out even when the revision did not move: it also tells the client the
// stream is alive.
func (st *Store) progress(w *watcher) (uint64, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(w.ch) > 0 {
		return 0, false
	}
	return st.rev, true
}

// EndWatches ends every Watch stream this server is serving with err (a
// gRPC status: codes.Unavailable for a node shutting down,
// codes.ResourceExhausted for a reader too slow) and returns how many.
func (s *Server) EndWatches(err error) int {
	st := s.cluster.Store
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for w := range st.watchers {
		if w.server == s {
			st.cutLocked(w, err)
			n++
		}
	}
	return n
}

// Watches returns the number of Watch streams this server is serving
// (registered in the store, past the initial flush or replay snapshot).
func (s *Server) Watches() int {
	st := s.cluster.Store
	st.mu.Lock()
	defer st.mu.Unlock()
	return s.watchesLocked()
}

func (s *Server) watchesLocked() int {
	n := 0
	for w := range s.cluster.Store.watchers {
		if w.server == s {
			n++
		}
	}
	return n
}

// WaitWatches waits until cond holds of the number of Watch streams this
// server is serving (Watches), checked now and each time a stream comes
// or goes, and returns nil; or ctx's error if ctx ends first. cond must
// not call the server's methods.
func (s *Server) WaitWatches(ctx context.Context, cond func(n int) bool) error {
	return s.cluster.Store.waitWatchers(ctx, func() bool { return cond(s.watchesLocked()) })
}

// WaitWatching waits until a server of the cluster serves a Watch stream
// and returns it (the first by index if several do), or ctx's error.
func (c *Cluster) WaitWatching(ctx context.Context) (*Server, error) {
	var serving *Server
	err := c.Store.waitWatchers(ctx, func() bool {
		for _, s := range c.Servers {
			if s.watchesLocked() > 0 {
				serving = s
				return true
			}
		}
		return false
	})
	return serving, err
}

// Watch is the metapb.MetaServer method: initial flush (the values, then
// flush_done carrying progress_revision = the snapshot's revision), or a
// replay from start_revision out of the history (OutOfRange at or below
// its compacted revision; a start_revision ahead of the store is accepted
// and waits), then live events, with a
// progress marker on an idle stream every progress_interval_ms.
func (s *Server) Watch(req *metapb.WatchRequest, stream grpc.ServerStreamingServer[metapb.WatchResponse]) error {
	switch {
	case req.GetKey() == "":
		return status.Error(codes.InvalidArgument, "watch: empty key")
	case req.GetKeyEnd() != "" && req.GetKeyEnd() != allKeysEnd && req.GetKeyEnd() <= req.GetKey():
		return status.Errorf(codes.InvalidArgument, "watch: empty range [%q, %q)", req.GetKey(), req.GetKeyEnd())
	case req.GetInitialFlush() && req.GetStartRevision() > 0:
		return status.Error(codes.InvalidArgument, "watch: initial_flush and start_revision are exclusive")
	case req.GetProgressIntervalMs() != 0 && (req.GetProgressIntervalMs() < 10 || req.GetProgressIntervalMs() > 3_600_000):
		return status.Errorf(codes.InvalidArgument, "watch: progress_interval_ms %d: want 0 or 10..3600000", req.GetProgressIntervalMs())
	}
	st := s.cluster.Store
	w := &watcher{
		server: s,
		key:    req.GetKey(),
		keyEnd: req.GetKeyEnd(),
		filter: req.GetFilter(),
		minRev: req.GetStartRevision(),
		ch:     make(chan *metapb.Event, s.opts.WatchBuffer),
		cut:    make(chan error, 1),
	}
	var first []*metapb.WatchResponse
	st.mu.Lock()
	switch {
	case req.GetInitialFlush():
		end := w.keyEnd
		switch end {
		case "":
			end = w.key + "\x00"
		case allKeysEnd:
			end = "" // no upper bound
		}
		st.rangeLocked(w.key, end, func(k string, v *metapb.SeqV) bool {
			first = append(first, &metapb.WatchResponse{
				Event:            &metapb.Event{Key: k, Seq: v.GetSeq(), Current: clone(v), Revision: v.GetModRevision()},
				IsInitialization: true,
			})
			return true
		})
		first = append(first, &metapb.WatchResponse{FlushDone: true, ProgressRevision: st.rev})
	case req.GetStartRevision() > 0:
		if req.GetStartRevision() <= st.compacted {
			compacted := st.compacted
			st.mu.Unlock()
			return status.Errorf(codes.OutOfRange, "compacted: the event history starts after revision %d, at or before the start_revision %d asked for; re-list the keys and watch again", compacted, req.GetStartRevision())
		}
		for _, ev := range st.history {
			if w.matches(ev) {
				first = append(first, &metapb.WatchResponse{Event: ev})
			}
		}
	}
	st.watchLocked(w)
	st.mu.Unlock()
	defer st.removeWatcher(w)

	send := func(r *metapb.WatchResponse) error {
		s.mu.Lock()
		h := s.mu.watchSend
		s.mu.Unlock()
		if h != nil {
			if err := h(r); err != nil {
				return err
			}
		}
		return stream.Send(r)
	}
	for _, r := range first {
		if err := send(r); err != nil {
			return err
		}
	}
	interval := s.opts.ProgressInterval
	if ms := req.GetProgressIntervalMs(); ms > 0 {
		interval = time.Duration(ms) * time.Millisecond
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case ev := <-w.ch:
			if err := send(&metapb.WatchResponse{Event: ev}); err != nil {
				return err
			}
		case err := <-w.cut:
			return err
		case <-tick.C:
			if p, ok := st.progress(w); ok {
				if err := send(&metapb.WatchResponse{ProgressRevision: p}); err != nil {
					return err
				}
			}
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		}
	}
}
