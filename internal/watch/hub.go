package watch

import (
	"fmt"
	"sync"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
)

// Defaults of a Hub and of a stream.
const (
	// DefaultBufferSize is how many events may wait for one watcher's
	// stream before the watcher is cut off as too slow.
	DefaultBufferSize = 4096
	// DefaultMaxWatchers is how many watchers one Hub holds at most.
	DefaultMaxWatchers = 10000
	// DefaultProgressInterval is how long a stream stays silent before it
	// sends a progress marker.
	DefaultProgressInterval = time.Second
)

// Option configures a Hub in NewHub.
type Option func(*options)

type options struct {
	bufferSize      int
	maxWatchers     int
	maxMessageBytes int
}

// WithBufferSize sets how many events may wait for one watcher's stream
// before the watcher is cancelled with ErrSlowWatcher. Default
// DefaultBufferSize; at least 1. Memory: the events are shared between
// watchers, so a full buffer costs a pointer per event.
func WithBufferSize(n int) Option { return func(o *options) { o.bufferSize = max(n, 1) } }

// WithMaxWatchers sets how many watchers the hub holds at most. Default
// DefaultMaxWatchers; at least 1. Publish costs O(watchers) per batch.
func WithMaxWatchers(n int) Option { return func(o *options) { o.maxWatchers = max(n, 1) } }

// WithMaxMessageBytes sets the largest response a stream may send, in
// bytes (the gRPC message limit, grpc_api_max_message_size); a response
// over it ends the stream with ErrEventTooLarge instead of failing in
// the transport, where the client would resume at the same event for
// ever. Default 0: no check.
func WithMaxMessageBytes(n int) Option { return func(o *options) { o.maxMessageBytes = max(n, 0) } }

// Spec is what a watcher watches: the keys in [Key, KeyEnd) (KeyEnd empty:
// Key alone; "\x00": every key >= Key, as etcd's range_end) and the kind
// of change.
type Spec struct {
	Key, KeyEnd string
	// Filter: ALL, UPDATE (events with a current value) or DELETE (events
	// without one: deletions and expiries).
	Filter metapb.WatchRequest_Filter
}

// InRange reports whether key is in the watched range.
func (s Spec) InRange(key string) bool {
	switch s.KeyEnd {
	case "":
		return key == s.Key
	case "\x00":
		return s.Key <= key
	}
	return s.Key <= key && key < s.KeyEnd
}

// Matches reports whether the watcher wants ev: its key is in range and
// it passes the filter.
func (s Spec) Matches(ev *metapb.Event) bool {
	if !s.InRange(ev.GetKey()) {
		return false
	}
	switch s.Filter {
	case metapb.WatchRequest_UPDATE:
		return ev.GetCurrent() != nil
	case metapb.WatchRequest_DELETE:
		return ev.GetCurrent() == nil
	default:
		return true
	}
}

// rangeEnd is the exclusive end of the range as Flush.Range takes it:
// KeyEnd ("\x00": to the end), or the smallest key after Key when KeyEnd
// is empty.
func (s Spec) rangeEnd() string {
	if s.KeyEnd == "" {
		return s.Key + "\x00"
	}
	return s.KeyEnd
}

// Hub fans published events out to its watchers. Publish is called by one
// goroutine (the apply loop); Register, CancelAll, Close, Count and the
// watchers' methods from any goroutine.
type Hub struct {
	opts options
	mu   struct {
		sync.Mutex
		watchers map[*Watcher]struct{}
		closed   bool
	}
}

// NewHub returns an empty hub.
func NewHub(opts ...Option) *Hub {
	h := &Hub{opts: options{bufferSize: DefaultBufferSize, maxWatchers: DefaultMaxWatchers}}
	for _, o := range opts {
		o(&h.opts)
	}
	h.mu.watchers = make(map[*Watcher]struct{})
	return h
}

// Register adds a watcher that gets every published event with revision
// > afterRev that spec matches. The caller must make sure no event with
// revision > afterRev was published before Register returns (see the
// package doc) and must Close the watcher when done.
//
// It returns ErrClosed after Close and an error wrapping
// ErrTooManyWatchers when the hub is full.
func (h *Hub) Register(spec Spec, afterRev uint64) (*Watcher, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mu.closed {
		return nil, ErrClosed
	}
	if n := len(h.mu.watchers); n >= h.opts.maxWatchers {
		return nil, fmt.Errorf("%w: this node serves %d watch streams, its limit: close watches you no longer need, or watch through another node",
			ErrTooManyWatchers, n)
	}
	w := &Watcher{
		hub:    h,
		spec:   spec,
		after:  afterRev,
		readyC: make(chan struct{}, 1),
		doneC:  make(chan struct{}),
	}
	w.mu.seen = afterRev
	h.mu.watchers[w] = struct{}{}
	return w, nil
}

// Publish hands the events of one or more entries, in the order they were
// made (ascending revisions), to every watcher they match. It
// never blocks: a watcher whose buffer cannot take its share is cancelled
// with ErrSlowWatcher and removed. The hub keeps the events (shared by the
// watchers, read-only from now on); the caller must not modify them.
func (h *Hub) Publish(events []*metapb.Event) {
	if len(events) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.mu.watchers {
		if !w.offer(events, h.opts.bufferSize) {
			delete(h.mu.watchers, w)
		}
	}
}

// CancelAll cancels every watcher with an error wrapping ErrInterrupted
// that gives reason; the hub stays open for new watchers.
func (h *Hub) CancelAll(reason string) {
	h.cancelAll(fmt.Errorf("%w: %s", ErrInterrupted, reason))
}

// Close cancels every watcher with ErrClosed and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	h.mu.closed = true
	h.mu.Unlock()
	h.cancelAll(ErrClosed)
}

func (h *Hub) cancelAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.mu.watchers {
		w.cancel(err)
		delete(h.mu.watchers, w)
	}
}

// Count returns the number of registered watchers.
func (h *Hub) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.mu.watchers)
}

// Watcher is one registration: the events waiting to be sent to one
// stream. Its owner (the goroutine serving the stream) calls Serve and
// Close; the hub fills and cancels it.
type Watcher struct {
	hub   *Hub
	spec  Spec
	after uint64
	// readyC has a value when events were added since the last take.
	readyC chan struct{}
	// doneC is closed when the watcher is cancelled or closed.
	doneC chan struct{}
	mu    struct {
		sync.Mutex
		// pending are the matching events not yet taken, in order.
		pending []*metapb.Event
		// seen is the revision of the last event offered to this
		// watcher, matching or not (afterRev before the first).
		seen uint64
		err  error
		done bool
	}
}

// Spec returns what the watcher watches.
func (w *Watcher) Spec() Spec { return w.spec }

// AfterRevision returns the revision the watcher was registered at: it
// gets the events after it.
func (w *Watcher) AfterRevision() uint64 { return w.after }

// Done is closed when the hub cancelled the watcher (Err says why) or its
// owner closed it.
func (w *Watcher) Done() <-chan struct{} { return w.doneC }

// Err returns why the hub cancelled the watcher: an error wrapping
// ErrSlowWatcher, ErrInterrupted or ErrClosed; nil while it is active or
// when its owner closed it.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.err
}

// Close removes the watcher from the hub and drops its pending events.
// Idempotent.
func (w *Watcher) Close() {
	w.hub.mu.Lock()
	delete(w.hub.mu.watchers, w)
	w.hub.mu.Unlock()
	w.cancel(nil)
}

// cancel ends the watcher with err (nil: closed by its owner); the first
// call wins.
func (w *Watcher) cancel(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancelLocked(err)
}

func (w *Watcher) cancelLocked(err error) {
	if w.mu.done {
		return
	}
	w.mu.done = true
	w.mu.err = err
	w.mu.pending = nil
	close(w.doneC)
}

// offer appends the matching events to the buffer; false means the
// watcher is done (cancelled now for being too slow, or before) and must
// be removed. Called with the hub's lock held.
func (w *Watcher) offer(events []*metapb.Event, limit int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.done {
		return false
	}
	before := len(w.mu.pending)
	for _, ev := range events {
		if ev.GetRevision() <= w.after {
			continue // published before the registration point
		}
		w.mu.seen = ev.GetRevision()
		if w.spec.Matches(ev) {
			w.mu.pending = append(w.mu.pending, ev)
		}
	}
	if len(w.mu.pending) == before {
		return true
	}
	if before > 0 && len(w.mu.pending) > limit {
		w.cancelLocked(fmt.Errorf("%w: %d events were waiting to be sent (the limit is %d) when %d more came",
			ErrSlowWatcher, before, limit, len(w.mu.pending)-before))
		return false
	}
	select {
	case w.readyC <- struct{}{}:
	default: // a wake-up is already pending
	}
	return true
}

// take removes and returns the pending events, with the revision of the
// last event offered: once the events are sent, the stream has sent every
// matching change up to seen. Publish offers whole entries, so the events
// taken are every matching change of their revisions.
func (w *Watcher) take() (events []*metapb.Event, seen uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	events, w.mu.pending = w.mu.pending, nil
	return events, w.mu.seen
}
