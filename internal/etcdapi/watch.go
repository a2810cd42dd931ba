package etcdapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/watch"
)

// watchBackend is what the watch service needs of a node (part of
// Server).
type watchBackend interface {
	// WatchGrouped serves one watcher until ctx ends (server.Server's:
	// the native watch machinery, grouped by revision).
	WatchGrouped(ctx context.Context, req *metapb.WatchRequest, g watch.Grouped) error
	// Revision is the revision this node applied last; cheap.
	Revision() uint64
	// CompactRevision is the oldest revision the history reaches back
	// to (a Range at it is served, below it is compacted); cheap.
	CompactRevision() uint64
	// Compact drops the history below rev through raft and returns the
	// store's revision.
	Compact(ctx context.Context, rev uint64) (uint64, error)
}

// DefaultProgressNotifyInterval is Config.ProgressNotifyInterval's
// default: etcd's (--watch-progress-notify-interval).
const DefaultProgressNotifyInterval = 10 * time.Minute

// noLeaderChecks is how many checks a second apart may find no leader
// before a stream that asked for one (hasleader) ends: etcd's
// maxNoLeaderCnt.
const noLeaderChecks = 3

// progressWait bounds how long a progress request waits for the
// stream's watchers to deliver what this node has applied.
const progressWait = time.Second

// watchService serves etcdserverpb.Watch on the server's watch machinery:
// one native watcher (WatchGrouped) per etcd watcher, many on one stream.
type watchService struct {
	pb.UnimplementedWatchServer
	s *Service
}

// watchStream is the state of one Watch call.
type watchStream struct {
	s      *Service
	ctx    context.Context
	fail   context.CancelCauseFunc
	sendMu sync.Mutex
	stream pb.Watch_WatchServer
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		watchers map[int64]*etcdWatcher
		nextID   int64
	}
}

// etcdWatcher is one watcher of a stream.
type etcdWatcher struct {
	id       int64
	req      *pb.WatchCreateRequest
	cancel   context.CancelFunc
	wakeC    chan struct{}
	covered  atomic.Uint64
	noPut    bool
	noDelete bool
}

// Watch serves the bidirectional stream: create, cancel and progress
// requests in, watch responses out. An interruption of the node's
// watches (a snapshot installed, a slow watcher cut off, a stop) ends
// the stream with codes.Unavailable, so that clientv3 resumes every
// watcher from what it received, on this node or another.
func (w *watchService) Watch(stream pb.Watch_WatchServer) error {
	ctx, fail := context.WithCancelCause(stream.Context())
	ws := &watchStream{s: w.s, ctx: ctx, fail: fail, stream: stream}
	ws.mu.watchers = make(map[int64]*etcdWatcher)
	defer ws.wg.Wait()
	defer fail(nil)

	if requireLeader(ctx) {
		if !w.s.hasLeader() {
			return rpctypes.ErrGRPCNoLeader
		}
		ws.wg.Add(1)
		go ws.monitorLeader()
	}
	// Recv returns only once the call ends (the handler returned) or the
	// client sends: it runs apart, not tracked by wg.
	recvErr := make(chan error, 1)
	go func() { recvErr <- ws.recvLoop() }()
	select {
	case err := <-recvErr:
		if err == nil {
			return nil // the client closed its side
		}
		fail(err)
	case <-ctx.Done():
	}
	return context.Cause(ctx)
}

func requireLeader(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return false
	}
	vs := md.Get(rpctypes.MetadataRequireLeaderKey)
	return len(vs) > 0 && vs[0] == rpctypes.MetadataHasLeader
}

// monitorLeader ends the stream with etcd's ErrGRPCNoLeader once no
// leader was known for noLeaderChecks checks in a row.
func (ws *watchStream) monitorLeader() {
	defer ws.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-ws.ctx.Done():
			return
		case <-t.C:
		}
		if ws.s.hasLeader() {
			missed = 0
			continue
		}
		if missed++; missed >= noLeaderChecks {
			ws.fail(rpctypes.ErrGRPCNoLeader)
			return
		}
	}
}

// recvLoop handles the client's requests until the stream ends: nil when
// the client closed its side (the watchers go on until the call ends).
func (ws *watchStream) recvLoop() error {
	for {
		req, err := ws.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled {
				return context.Canceled
			}
			return err
		}
		switch r := req.RequestUnion.(type) {
		case *pb.WatchRequest_CreateRequest:
			if r.CreateRequest != nil {
				if err := ws.create(r.CreateRequest); err != nil {
					return err
				}
			}
		case *pb.WatchRequest_CancelRequest:
			if r.CancelRequest != nil {
				if err := ws.cancel(r.CancelRequest.WatchId); err != nil {
					return err
				}
			}
		case *pb.WatchRequest_ProgressRequest:
			if r.ProgressRequest != nil {
				ws.wg.Add(1)
				go ws.progress()
			}
		}
	}
}

// send sends one response; the stream's sends are serialized.
func (ws *watchStream) send(r *pb.WatchResponse) error {
	ws.sendMu.Lock()
	defer ws.sendMu.Unlock()
	return ws.stream.Send(r)
}

// create registers a watcher and answers Created, as etcd's recvLoop.
func (ws *watchStream) create(creq *pb.WatchCreateRequest) error {
	header := ws.s.header(ws.s.srv.Revision())
	refuse := func(reason string) error {
		return ws.send(&pb.WatchResponse{Header: header, WatchId: -1, Created: true, Canceled: true, CancelReason: reason})
	}
	if creq.StartRevision < 0 {
		return refuse(rpctypes.ErrCompacted.Error())
	}
	key := creq.Key
	if len(key) == 0 {
		key = []byte{0} // etcd: \x00 is the smallest key
	}
	if err := ws.s.checkKey("watch key", key); err != nil {
		return refuse(err.Error())
	}
	// range_end as etcd's: empty is the key alone, "\x00" every key >= key
	// (watch.Spec reads them so).
	spec := &metapb.WatchRequest{Key: string(key), KeyEnd: string(creq.RangeEnd), StartRevision: uint64(creq.StartRevision)}
	wt := &etcdWatcher{req: creq, wakeC: make(chan struct{}, 1)}
	for _, f := range creq.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			wt.noPut = true
		case pb.WatchCreateRequest_NODELETE:
			wt.noDelete = true
		}
	}
	switch {
	case wt.noPut && !wt.noDelete:
		spec.Filter = metapb.WatchRequest_DELETE
	case wt.noDelete && !wt.noPut:
		spec.Filter = metapb.WatchRequest_UPDATE
	}
	spec.ProgressIntervalMs = uint64(ws.s.cfg.ProgressNotifyInterval.Milliseconds())

	ws.mu.Lock()
	id := creq.WatchId
	if id == 0 {
		for ws.mu.watchers[ws.mu.nextID] != nil {
			ws.mu.nextID++
		}
		id = ws.mu.nextID
		ws.mu.nextID++
	} else if ws.mu.watchers[id] != nil {
		ws.mu.Unlock()
		return refuse("mvcc: duplicate watch ID provided on the WatchStream")
	}
	wt.id = id
	wctx, cancel := context.WithCancel(ws.ctx)
	wt.cancel = cancel
	ws.mu.watchers[id] = wt
	ws.mu.Unlock()

	// Created goes out before the watcher runs, so before its events.
	if err := ws.send(&pb.WatchResponse{Header: header, WatchId: id, Created: true}); err != nil {
		cancel()
		return err
	}
	ws.wg.Add(1)
	go ws.run(wctx, wt, spec)
	return nil
}

// run serves one watcher until it is cancelled or fails.
func (ws *watchStream) run(ctx context.Context, wt *etcdWatcher, req *metapb.WatchRequest) {
	defer ws.wg.Done()
	defer wt.cancel()
	g := watch.Grouped{
		Events: func(evs []*metapb.Event) error { return ws.sendEvents(wt, evs) },
		// The revisions pending together go in one response, as etcd
		// sends a watcher that fell behind what it missed.
		MaxBatchBytes: ws.s.cfg.Limits.MaxRequestBytes,
		Progress:      func(rev uint64, idle bool) error { return ws.sendProgress(wt, rev, idle) },
		WakeC:         wt.wakeC,
	}
	err := ws.s.srv.WatchGrouped(ctx, req, g)
	if ctx.Err() != nil {
		return // cancelled by the client, or the stream ended
	}
	var ce *statemachine.CompactedError
	switch {
	case errors.As(err, &ce):
		ws.remove(wt.id)
		err = ws.send(&pb.WatchResponse{Header: ws.s.header(ws.s.srv.Revision()), WatchId: wt.id,
			CompactRevision: int64(ce.CompactRevision), Canceled: true})
	case errors.Is(err, statemachine.ErrFutureRevision):
		ws.remove(wt.id)
		err = ws.send(&pb.WatchResponse{Header: ws.s.header(ws.s.srv.Revision()), WatchId: wt.id,
			Canceled: true, CancelReason: rpctypes.ErrFutureRev.Error()})
	default:
		// An interruption (a snapshot installed, too slow, a stop): the
		// client resumes every watcher of the stream from what it has.
		err = status.Error(codes.Unavailable, fmt.Sprintf("etcdserver: watch interrupted, resume it: %v", err))
	}
	if err != nil {
		ws.fail(err)
	}
}

// remove forgets watcher id and returns it (nil if it was not there).
func (ws *watchStream) remove(id int64) *etcdWatcher {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	wt := ws.mu.watchers[id]
	delete(ws.mu.watchers, id)
	return wt
}

// cancel ends watcher id and answers Canceled, as etcd does; an unknown
// id gets no answer.
func (ws *watchStream) cancel(id int64) error {
	wt := ws.remove(id)
	if wt == nil {
		return nil
	}
	wt.cancel()
	return ws.send(&pb.WatchResponse{Header: ws.s.header(ws.s.srv.Revision()), WatchId: id, Canceled: true})
}

// sendEvents sends the events of one or more whole revisions that pass
// wt's filters, as etcd's events in one response (fragmented when asked
// and too large).
func (ws *watchStream) sendEvents(wt *etcdWatcher, evs []*metapb.Event) error {
	out := make([]*mvccpb.Event, 0, len(evs))
	// etcd reads an event's prev_kv at its revision - 1, and leaves it out
	// when that revision is compacted; so does this face, though the
	// history still holds it (Kubernetes' watch cache relies on it).
	compacted := ws.s.srv.CompactRevision()
	for _, ev := range evs {
		put := ev.GetCurrent() != nil
		if (put && wt.noPut) || (!put && wt.noDelete) {
			continue
		}
		out = append(out, ws.s.events.convert(ev, wt.req.PrevKv && ev.GetRevision() > compacted))
	}
	if len(out) == 0 {
		return nil
	}
	rev := max(ws.s.srv.Revision(), evs[len(evs)-1].GetRevision())
	r := &pb.WatchResponse{Header: ws.s.header(rev), WatchId: wt.id, Events: out}
	if wt.req.Fragment {
		return sendFragments(r, ws.s.cfg.Limits.MaxRequestBytes, ws.send)
	}
	return ws.send(r)
}

// sendProgress records how far wt got and, for an idle watcher created
// with progress_notify, sends a progress notification at rev: the
// client resumes after it.
func (ws *watchStream) sendProgress(wt *etcdWatcher, rev uint64, idle bool) error {
	wt.covered.Store(rev)
	if !idle || !wt.req.ProgressNotify {
		return nil
	}
	return ws.send(&pb.WatchResponse{Header: ws.s.header(rev), WatchId: wt.id})
}

// progress answers a progress request: once every watcher of the stream
// has delivered what this node had applied (or after progressWait), one
// notification for all (watch id -1) at the revision they all reached.
func (ws *watchStream) progress() {
	defer ws.wg.Done()
	target := ws.s.srv.Revision()
	ws.mu.Lock()
	wts := make([]*etcdWatcher, 0, len(ws.mu.watchers))
	for _, wt := range ws.mu.watchers {
		wts = append(wts, wt)
	}
	ws.mu.Unlock()
	reached := func() uint64 {
		rev := target
		for _, wt := range wts {
			rev = min(rev, wt.covered.Load())
		}
		return rev
	}
	deadline := time.Now().Add(progressWait)
	for reached() < target && time.Now().Before(deadline) {
		for _, wt := range wts {
			select {
			case wt.wakeC <- struct{}{}:
			default:
			}
		}
		select {
		case <-ws.ctx.Done():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := ws.send(&pb.WatchResponse{Header: ws.s.header(reached()), WatchId: -1}); err != nil {
		ws.fail(err)
	}
}

// eventCacheSlots is how many converted events eventCache holds: the
// watchers of a change send it within far fewer revisions.
const eventCacheSlots = 1024

// eventCache converts each native event to etcd's once for every watcher
// that sends it (etcd's benchmark watches one key with 1000 watchers):
// the watch hub hands every watcher the same *metapb.Event. A slot holds
// the latest event converted at its revision and prev_kv choice; a miss
// converts again. The converted events are shared and never changed
// after: gRPC only reads them when it marshals a response.
type eventCache struct {
	slots [eventCacheSlots]atomic.Pointer[cachedEvent]
}

type cachedEvent struct {
	src    *metapb.Event
	prevKV bool
	ev     *mvccpb.Event
}

// convert returns etcdEvent(src, prevKV), converted once.
func (c *eventCache) convert(src *metapb.Event, prevKV bool) *mvccpb.Event {
	i := 2 * src.GetRevision()
	if prevKV {
		i++
	}
	slot := &c.slots[i%eventCacheSlots]
	if e := slot.Load(); e != nil && e.src == src && e.prevKV == prevKV {
		return e.ev
	}
	ev := etcdEvent(src, prevKV)
	slot.Store(&cachedEvent{src: src, prevKV: prevKV, ev: ev})
	return ev
}

// etcdEvent is a native event as etcd's: a put's kv is the new value
// with its create/mod revision and version; a delete's holds the key and
// the deletion's revision. prev_kv when asked and the key existed.
func etcdEvent(ev *metapb.Event, prevKV bool) *mvccpb.Event {
	out := &mvccpb.Event{}
	if cur := ev.GetCurrent(); cur != nil {
		out.Type = mvccpb.Event_PUT
		out.Kv = keyValue(&metapb.KV{Key: ev.GetKey(), Value: cur})
	} else {
		out.Type = mvccpb.Event_DELETE
		out.Kv = &mvccpb.KeyValue{Key: []byte(ev.GetKey()), ModRevision: int64(ev.GetRevision())}
	}
	if prev := ev.GetPrev(); prevKV && prev != nil {
		out.PrevKv = keyValue(&metapb.KV{Key: ev.GetKey(), Value: prev})
	}
	return out
}

// sendFragments is etcd's: a response over maxBytes with more than one
// event goes out in parts, each but the last marked Fragment, each with
// at least one event.
func sendFragments(wr *pb.WatchResponse, maxBytes int, send func(*pb.WatchResponse) error) error {
	if proto.Size(wr) < maxBytes || len(wr.Events) < 2 {
		return send(wr)
	}
	idx := 0
	for {
		cur := &pb.WatchResponse{Header: wr.Header, WatchId: wr.WatchId, Fragment: true}
		for _, ev := range wr.Events[idx:] {
			cur.Events = append(cur.Events, ev)
			if len(cur.Events) > 1 && proto.Size(cur) >= maxBytes {
				cur.Events = cur.Events[:len(cur.Events)-1]
				break
			}
			idx++
		}
		if idx == len(wr.Events) {
			cur.Fragment = false
		}
		if err := send(cur); err != nil {
			return err
		}
		if !cur.Fragment {
			return nil
		}
	}
}

// hasLeader reports whether this node knows a leader.
func (s *Service) hasLeader() bool { return s.srv.Status().GetLeaderId() != 0 }
