package client

// How a Watcher resumes.
//
// A Watcher keeps one position, pos: every change of the watched range with
// revision <= pos has been handed to the caller (or queued for Next) or is
// covered by a server's progress marker ("every change up to
// progress_revision has been sent"). The changes of one revision (one raft
// entry) come one per response, so a stream may end in the middle of a
// revision: partRev > pos is then the revision whose first partN events
// were handed out. A stream that ends for any reason but a definite
// refusal is replaced by a new one, on the next endpoint unless the server
// only cut a slow reader off (RESOURCE_EXHAUSTED), asking for
// start_revision = partRev (dropping its first partN events, which every
// node sends in the same order) or else pos + 1. An event with a revision
// <= pos is dropped, so a server that repeats itself across a resume does
// not make the caller see an event twice.
//
// Where pos starts:
//
//   - StartRevision n given: pos = n - 1.
//   - Neither StartRevision nor InitialFlush: Watch asks an endpoint for
//     its revision (Status) and starts there, so that every change that
//     commits after Watch returns is delivered, and a stream lost before
//     its first event or progress marker resumes without a gap. The first
//     stream already asks for start_revision = revision + 1.
//   - InitialFlush: the initial values describe a snapshot at some
//     revision R the client is not told, unless the server puts
//     progress_revision on the flush_done marker. The Watcher buffers the
//     initial values and hands them out only when flush_done arrives, then
//     sets pos = the largest of (the flush_done progress_revision, the
//     largest mod_revision among the initial values, the revision the same
//     endpoint reported just before the stream opened). Each is <= R, so
//     nothing after the snapshot is skipped. A stream lost before
//     flush_done is discarded with its buffer and the flush starts over (on
//     resume no initial value has been handed out yet); after flush_done,
//     resumes use start_revision and never flush again.
//
// A stream that stays silent is given up as well: the server sends a
// progress marker on every idle interval, so a stream on which Next waits
// watchIdleTimeout (10 intervals, at least 10s) without a message is taken
// to be on a node that is unreachable without having closed the connection
// (a partition, a host that lost power) and is replaced like a lost one.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// statusTimeout bounds the Status call that anchors a watch's position.
const statusTimeout = 5 * time.Second

// Idle streams: the server's default progress interval and the bounds it
// accepts, and the least time a stream may stay silent before the Watcher
// gives it up.
const (
	defaultProgressInterval = time.Second
	minProgressInterval     = 10 * time.Millisecond
	maxProgressInterval     = time.Hour
	minWatchIdle            = 10 * time.Second
)

// WatchFilter selects the kinds of change a watch delivers.
type WatchFilter int

const (
	// FilterAll delivers updates and deletes.
	FilterAll WatchFilter = iota
	// FilterUpdate delivers only changes that leave a value (create or
	// update).
	FilterUpdate
	// FilterDelete delivers only deletes (including expiry).
	FilterDelete
)

// String returns "all", "update" or "delete".
func (f WatchFilter) String() string {
	switch f {
	case FilterUpdate:
		return "update"
	case FilterDelete:
		return "delete"
	default:
		return "all"
	}
}

// WatchOptions selects what a watch delivers. Set Key (with or without
// KeyEnd) or Prefix.
type WatchOptions struct {
	// Key alone watches that one key; with KeyEnd it watches the range
	// [Key, KeyEnd) in byte order, and KeyEnd "\x00" every key >= Key
	// (etcd's range_end). Keys may hold any bytes, UTF-8 or not.
	Key    string
	KeyEnd string
	// Prefix watches every key that starts with it (it sets the range to
	// [Prefix, the first string after every key with Prefix), bytewise as
	// etcd's clientv3.WithPrefix); it is exclusive with Key and KeyEnd.
	Prefix string

	// Filter selects updates, deletes or both (the default).
	Filter WatchFilter

	// InitialFlush first delivers the current value of every key in the
	// range (WatchEvent.Initialization), then one WatchEvent with
	// FlushDone, then the changes after those values. It happens once per
	// Watcher: a watch that resumes does not flush again. Exclusive with
	// StartRevision.
	InitialFlush bool

	// StartRevision > 0 delivers every change with revision >=
	// StartRevision from the server's history, then the live ones; a
	// StartRevision older than the history makes Next return ErrCompacted.
	// 0 (and no InitialFlush): every change that commits after Watch
	// returns.
	StartRevision uint64

	// ProgressInterval asks the server for a progress marker at this
	// interval on an idle stream: 0 (the server's default, 1s) or 10ms to
	// 1h. Markers
	// are not delivered; they let a resumed watch start close to where it
	// was instead of replaying from the last event, and show that the
	// stream is alive: one silent for 10 intervals (at least 10s) is given
	// up and resumed elsewhere.
	ProgressInterval time.Duration

	// OnResume, if set, is called each time the Watcher replaces a stream
	// that ended or could not be opened, before it waits and reconnects.
	// It runs on the goroutine calling Next and must not call Next.
	OnResume func(ResumeInfo)
}

// ResumeInfo tells OnResume why and from where a watch resumes.
type ResumeInfo struct {
	// Endpoint is the endpoint whose stream ended or failed to open.
	Endpoint string
	// Err is why (a gRPC status: codes.Unavailable for a lost node,
	// codes.ResourceExhausted for a reader too slow for the server, ...).
	Err error
	// StartRevision is the start_revision of the next stream; 0 while the
	// initial flush has not completed and is started over.
	StartRevision uint64
	// Failures counts the attempts in a row that got no answer (0 after a
	// stream that delivered something); the wait before the next attempt
	// grows with it.
	Failures int
}

// WatchEvent is one change of one key, one initial value, or the end of
// the initial values.
type WatchEvent struct {
	Key string
	// Revision is the revision of the change (the changes of one entry
	// share it); for an initial value, its mod revision.
	Revision uint64
	// Seq is the key's seq after the change (a delete takes none: the
	// deleted value's); for an initial value, the seq of that value.
	Seq uint64
	// Prev is the value before the change, Current the value after it;
	// Seq 0 means absent: Current.Seq == 0 is a delete, Prev.Seq == 0 a
	// create. An initial value has only Current.
	Prev, Current KV
	// Initialization marks the current values sent by InitialFlush.
	Initialization bool
	// FlushDone marks the end of the initial values; every other field is
	// zero.
	FlushDone bool
}

// IsDelete reports whether the event is a delete (the key has no value
// after it).
func (e WatchEvent) IsDelete() bool { return !e.FlushDone && !e.Current.Exists() }

// Watcher delivers the events of one watch through Next, resuming the
// server stream by itself (see Client.Watch). Next must be called from one
// goroutine at a time; Close may be called from any goroutine.
type Watcher struct {
	c        *Client
	ctx      context.Context
	cancel   context.CancelFunc
	what     string
	req      *metapb.WatchRequest // the template; start_revision and initial_flush set per stream
	onResume func(ResumeInfo)
	closed   atomic.Bool
	resumes  atomic.Int64
	idle     time.Duration // watchIdleTimeout

	// Position; see the top of this file.
	pos      uint64
	partRev  uint64 // > pos: the revision of which partN events were handed out
	partN    int
	skip     int  // events of partRev the current stream repeats, to drop
	flushing bool // the initial flush has not completed

	// The initial flush in progress on the current stream.
	flushBuf      []WatchEvent
	flushMax      uint64 // largest mod revision in flushBuf
	flushProgress uint64 // largest progress_revision seen during the flush
	flushAnchor   uint64 // the endpoint's revision before the stream opened

	pending []WatchEvent // ready for Next, in order
	err     error        // terminal: every later Next returns it

	stream       grpc.ServerStreamingClient[metapb.WatchResponse] // nil: none open
	streamCancel context.CancelFunc
	streamEp     string
	streamIdx    int
	idleTimer    *time.Timer // cancels a silent stream
	idleFired    atomic.Bool // idleTimer cancelled the current stream
	received     bool        // the current stream delivered a response
	failures     int         // attempts in a row that delivered nothing
	// flag records the token the last opening carried; authRenewed: a
	// refused token was renewed since the last response (see auth.go).
	flag        *sendFlag
	authRenewed bool
}

// Watch starts a watch of the keys opts selects and returns a Watcher that
// delivers its events, in revision order, through Next.
//
// The Watcher resumes by itself, with no event lost or repeated, when its
// stream breaks: after a disconnect, when the serving node is lost or shuts
// down (codes.Unavailable, on the next endpoint), or when the server cuts
// off a reader too slow to keep up (codes.ResourceExhausted: on the same
// endpoint; the events it could not send are replayed from its history).
// It reconnects with start_revision at the last event delivered (dropping
// the events of that revision it has already delivered), or after the last
// progress marker when larger, waiting a backoff (Client retry
// timing: 50ms doubling to 1s, jittered) between attempts that get no
// answer, for as long as ctx lasts. It stops only when ctx ends, Close is
// called, the Client is closed, or the server refuses the watch for good:
// ErrCompacted (the history no longer reaches back to where the watch must
// resume), ErrFutureRevision (a StartRevision beyond the cluster's revision
// + 1) or a request
// error such as codes.InvalidArgument, or when an event is larger than
// Config.MaxMessageSize (codes.ResourceExhausted from this side: raise it
// to the servers' grpc_api_max_message_size).
//
// Without StartRevision or InitialFlush, Watch first asks an endpoint for
// its revision (Status, with failover), so that every change that commits
// after Watch returns is delivered; that call is the only part of Watch
// that can fail on a down cluster. The stream itself opens on the first
// Next.
//
// ctx bounds the whole watch, not one call: cancel it (or call Close) to end
// the watch, and to free its stream. Next then returns an error wrapping
// ctx.Err() (or ErrWatchClosed).
func (c *Client) Watch(ctx context.Context, opts WatchOptions) (*Watcher, error) {
	req, what, err := opts.request()
	if err != nil {
		return nil, err
	}
	w := &Watcher{c: c, what: what, req: req, onResume: opts.OnResume, idle: watchIdleTimeout(opts.ProgressInterval, c.timing.watchIdleMin)}
	switch {
	case opts.InitialFlush:
		w.flushing = true
	case opts.StartRevision > 0:
		w.pos = opts.StartRevision - 1
	default:
		sctx, cancel := context.WithTimeout(ctx, statusTimeout)
		defer cancel()
		var st *metapb.StatusReply
		_, err := c.invoke(sctx, what+": read the current revision", kindRead, toEndpoint, func(ctx context.Context, mc metapb.MetaClient) error {
			var err error
			st, err = mc.Status(ctx, &metapb.StatusRequest{})
			return err
		})
		if err != nil {
			return nil, err
		}
		w.pos = st.GetRevision()
	}
	w.ctx, w.cancel = context.WithCancel(ctx)
	return w, nil
}

// request validates o and returns the watch request template and the
// watch's name for errors.
func (o WatchOptions) request() (*metapb.WatchRequest, string, error) {
	req := &metapb.WatchRequest{}
	var what string
	switch {
	case o.Prefix != "":
		if o.Key != "" || o.KeyEnd != "" {
			return nil, "", fmt.Errorf("%w: watch: set Prefix, or Key with or without KeyEnd, not both", ErrInvalidArgument)
		}
		req.Key, req.KeyEnd = o.Prefix, prefixEnd(o.Prefix)
		what = fmt.Sprintf("watch prefix %q", o.Prefix)
	case o.Key == "":
		return nil, "", fmt.Errorf("%w: watch: set Key or Prefix", ErrInvalidArgument)
	default:
		if o.KeyEnd != "" && o.KeyEnd != allKeysEnd && o.KeyEnd <= o.Key {
			return nil, "", fmt.Errorf("%w: watch: empty range [%q, %q): KeyEnd must sort after Key (or be \"\\x00\" for every key from Key)", ErrInvalidArgument, o.Key, o.KeyEnd)
		}
		req.Key, req.KeyEnd = o.Key, o.KeyEnd
		if o.KeyEnd == "" {
			what = fmt.Sprintf("watch key %q", o.Key)
		} else {
			what = fmt.Sprintf("watch range [%q, %q)", o.Key, o.KeyEnd)
		}
	}
	switch o.Filter {
	case FilterAll:
		req.Filter = metapb.WatchRequest_ALL
	case FilterUpdate:
		req.Filter = metapb.WatchRequest_UPDATE
	case FilterDelete:
		req.Filter = metapb.WatchRequest_DELETE
	default:
		return nil, "", fmt.Errorf("%w: watch: unknown filter %d", ErrInvalidArgument, int(o.Filter))
	}
	if o.InitialFlush && o.StartRevision > 0 {
		return nil, "", fmt.Errorf("%w: watch: set InitialFlush or StartRevision, not both", ErrInvalidArgument)
	}
	if o.ProgressInterval != 0 && (o.ProgressInterval < minProgressInterval || o.ProgressInterval > maxProgressInterval) {
		return nil, "", fmt.Errorf("%w: watch: ProgressInterval %v: want 0 (the server default) or %v..%v",
			ErrInvalidArgument, o.ProgressInterval, minProgressInterval, maxProgressInterval)
	}
	req.ProgressIntervalMs = uint64(o.ProgressInterval / time.Millisecond)
	return req, what, nil
}

// watchIdleTimeout is how long a stream may go without a message: 10
// progress intervals, at least floor.
func watchIdleTimeout(progressInterval, floor time.Duration) time.Duration {
	if progressInterval == 0 {
		progressInterval = defaultProgressInterval
	}
	return max(10*progressInterval, floor)
}

// allKeysEnd is the KeyEnd of a range without an upper bound: every key
// >= Key (etcd's range_end "\x00").
const allKeysEnd = "\x00"

// prefixEnd returns the end of the range of the keys with prefix p (p is
// not empty), bytewise as etcd's clientv3.GetPrefixRangeEnd: p with its
// last byte below 0xff incremented and the bytes after it dropped, or
// allKeysEnd when every byte is 0xff.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return allKeysEnd
}

// Next returns the next event, waiting for it as long as needed, and
// resuming the stream as needed. It returns an error only when the watch is
// over: ErrCompacted, ErrWatchClosed, an error wrapping the context's
// error (the watch's ctx ended), ErrClosed (the Client was closed), or the
// server's refusal of the request; every later call returns the same error.
func (w *Watcher) Next() (WatchEvent, error) {
	for {
		if len(w.pending) > 0 {
			ev := w.pending[0]
			w.pending[0] = WatchEvent{}
			w.pending = w.pending[1:]
			return ev, nil
		}
		if w.err != nil {
			return WatchEvent{}, w.err
		}
		if w.stream == nil {
			w.open()
			continue
		}
		// The idle timer runs only while waiting for the server: a
		// caller slow to call Next is not a silent server.
		w.idleTimer.Reset(w.idle)
		resp, err := w.stream.Recv()
		w.idleTimer.Stop()
		if err != nil {
			ep, i := w.streamEp, w.streamIdx
			w.closeStream()
			w.failed(ep, i, err)
			continue
		}
		if !w.received {
			w.received = true
			w.failures = 0
			w.authRenewed = false
		}
		w.handle(resp)
	}
}

// Close ends the watch and frees its stream; Next then returns
// ErrWatchClosed. It is idempotent and safe from any goroutine.
func (w *Watcher) Close() {
	w.closed.Store(true)
	w.cancel()
}

// Resumes returns how many times the watch replaced its stream (including
// attempts that failed to open one).
func (w *Watcher) Resumes() int { return int(w.resumes.Load()) }

// open opens a stream on the current endpoint, after a backoff when the
// previous attempts got no answer. On failure it leaves w.stream nil and
// records why (failed).
func (w *Watcher) open() {
	if w.failures > 0 {
		if err := sleep(w.ctx, w.backoff()); err != nil {
			w.stop(err)
			return
		}
	}
	if err := w.ctx.Err(); err != nil {
		w.stop(err)
		return
	}
	i := w.c.current()
	ep := w.c.endpoints[i]
	cc, err := w.c.conn(ep)
	if err != nil {
		w.failed(ep, i, err)
		return
	}
	if err := w.c.waitConnected(w.ctx, cc); err != nil {
		w.failed(ep, i, err)
		return
	}
	mc := metapb.NewMetaClient(cc)
	req := proto.Clone(w.req).(*metapb.WatchRequest)
	w.flag = new(sendFlag)
	fctx := context.WithValue(w.ctx, sendFlagKey{}, w.flag)
	if w.flushing {
		sctx, cancel := context.WithTimeout(fctx, statusTimeout)
		st, err := mc.Status(sctx, &metapb.StatusRequest{})
		cancel()
		if err != nil {
			w.failed(ep, i, fmt.Errorf("read the current revision: %w", err))
			return
		}
		w.flushAnchor = st.GetRevision()
		w.flushBuf, w.flushMax, w.flushProgress = nil, 0, 0
		req.InitialFlush = true
	} else {
		req.StartRevision, w.skip = w.resumeFrom()
	}
	sctx, cancel := context.WithCancel(fctx)
	stream, err := mc.Watch(sctx, req)
	if err != nil {
		cancel()
		w.failed(ep, i, err)
		return
	}
	w.stream, w.streamCancel, w.streamEp, w.streamIdx = stream, cancel, ep, i
	w.received = false
	w.idleFired.Store(false)
	w.idleTimer = time.AfterFunc(w.idle, func() {
		w.idleFired.Store(true)
		cancel()
	})
	w.idleTimer.Stop() // Next runs it around Recv
}

// resumeFrom returns the start_revision of the next stream and how many
// of its first events (those of partRev) were handed out already.
func (w *Watcher) resumeFrom() (start uint64, skip int) {
	if w.partN > 0 && w.partRev > w.pos {
		return w.partRev, w.partN
	}
	return w.pos + 1, 0
}

// handle takes one response of the stream.
func (w *Watcher) handle(resp *metapb.WatchResponse) {
	if p := resp.GetProgressRevision(); p > 0 {
		if w.flushing {
			w.flushProgress = max(w.flushProgress, p)
		} else {
			w.covered(p)
		}
	}
	if e := resp.GetEvent(); e != nil {
		ev := WatchEvent{
			Key:            e.GetKey(),
			Revision:       e.GetRevision(),
			Seq:            e.GetSeq(),
			Prev:           kvFromProto(e.GetKey(), e.GetPrev()),
			Current:        kvFromProto(e.GetKey(), e.GetCurrent()),
			Initialization: resp.GetIsInitialization(),
		}
		if w.flushing {
			w.flushBuf = append(w.flushBuf, ev)
			w.flushMax = max(w.flushMax, ev.Revision)
		} else {
			w.deliver(ev)
		}
	}
	if resp.GetFlushDone() && w.flushing {
		w.pending = append(w.pending, w.flushBuf...)
		w.pending = append(w.pending, WatchEvent{FlushDone: true})
		w.covered(max(w.flushAnchor, w.flushMax, w.flushProgress))
		w.flushing = false
		w.flushBuf = nil
	}
}

// deliver queues a change for Next unless it was handed out already (a
// server repeating itself across a resume).
func (w *Watcher) deliver(ev WatchEvent) {
	switch r := ev.Revision; {
	case r <= w.pos:
		// Covered by a progress marker or an earlier revision.
	case r == w.partRev:
		if w.skip > 0 {
			w.skip-- // one of the first partN events of partRev: handed out
			return
		}
		w.pending = append(w.pending, ev)
		w.partN++
	default:
		// A new revision: the stream sends in revision order, so every
		// revision before it is complete.
		w.pos, w.partRev, w.partN, w.skip = r-1, r, 1, 0
		w.pending = append(w.pending, ev)
	}
}

// covered records a progress marker: every change up to rev was sent.
func (w *Watcher) covered(rev uint64) {
	w.pos = max(w.pos, rev)
	if w.partRev <= w.pos {
		w.partRev, w.partN, w.skip = 0, 0, 0
	}
}

// failed handles the end of a stream, or the failure to open one, on
// endpoint ep (index i): it ends the watch on a definite refusal, else
// prepares the next attempt.
func (w *Watcher) failed(ep string, i int, err error) {
	if ctxErr := w.ctx.Err(); ctxErr != nil {
		w.stop(ctxErr)
		return
	}
	if errors.Is(err, ErrClosed) {
		w.setErr(fmt.Errorf("%s: %w", w.what, ErrClosed))
		return
	}
	if w.idleFired.Swap(false) {
		err = status.Errorf(codes.Unavailable, "no message from the server in %v, not even a progress marker: the node may be unreachable", w.idle)
	}
	code := status.Code(err)
	if errors.Is(err, io.EOF) {
		code = codes.Unavailable // the server ended the stream without a status
	}
	if !w.authRenewed && w.c.renewAfter(ep, w.flag, err) {
		// A refused token: open again on the same endpoint with a new
		// one, once (see auth.go).
		w.authRenewed = true
		w.resumes.Add(1)
		return
	}
	switch code {
	case codes.OutOfRange:
		start, _ := w.resumeFrom()
		if strings.HasPrefix(status.Convert(err).Message(), FutureRevisionMessage) {
			w.setErr(fmt.Errorf("%w: %s from revision %d, endpoint %s: %w", ErrFutureRevision, w.what, start, ep, err))
			return
		}
		w.setErr(fmt.Errorf("%w: %s from revision %d, endpoint %s: %w; start a new watch with an initial flush to get the current values",
			ErrCompacted, w.what, start, ep, err))
		return
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.PermissionDenied,
		codes.Unauthenticated, codes.FailedPrecondition, codes.Unimplemented:
		w.setErr(fmt.Errorf("%s: endpoint %s: %w", w.what, ep, err))
		return
	case codes.ResourceExhausted:
		if isRecvTooLarge(err) {
			// Resuming would receive the same event again.
			start, _ := w.resumeFrom()
			w.setErr(fmt.Errorf("%s from revision %d: endpoint %s: %w; raise Config.MaxMessageSize to the server's grpc_api_max_message_size",
				w.what, start, ep, err))
			return
		}
	}
	got := w.received
	if !got {
		w.failures++
	}
	w.received = false
	if code != codes.ResourceExhausted || !got {
		// The node may be gone: try the next one. A slow reader that was
		// cut off resumes where it was; a node that refused the stream
		// before sending anything (too many watchers) is left alone.
		w.c.advance(i)
	}
	w.resumes.Add(1)
	if w.onResume != nil {
		info := ResumeInfo{Endpoint: ep, Err: err, Failures: w.failures}
		if !w.flushing {
			info.StartRevision, _ = w.resumeFrom()
		}
		w.onResume(info)
	}
}

// isRecvTooLarge reports whether err is gRPC's refusal, on this side, of a
// message over Config.MaxMessageSize (ResourceExhausted, as a server
// cutting off a slow watcher is, but it says what it received).
func isRecvTooLarge(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "received message larger than max")
}

// backoff returns the wait before the next attempt: the Client's initial
// backoff doubling with every failure in a row, up to its maximum, jittered.
func (w *Watcher) backoff() time.Duration {
	d := w.c.timing.initialBackoff
	for n := 1; n < w.failures && d < w.c.timing.maxBackoff; n++ {
		d *= 2
	}
	return jitter(min(d, w.c.timing.maxBackoff))
}

// stop ends the watch because its context ended.
func (w *Watcher) stop(ctxErr error) {
	if w.closed.Load() {
		w.setErr(fmt.Errorf("%s: %w", w.what, ErrWatchClosed))
		return
	}
	w.setErr(fmt.Errorf("%s: %w", w.what, ctxErr))
}

// setErr ends the watch with err and frees its resources.
func (w *Watcher) setErr(err error) {
	w.err = err
	w.closeStream()
	w.cancel()
}

func (w *Watcher) closeStream() {
	if w.idleTimer != nil {
		w.idleTimer.Stop()
	}
	if w.streamCancel != nil {
		w.streamCancel()
	}
	w.stream, w.streamCancel, w.idleTimer = nil, nil, nil
}

// String names the watch, e.g. `watch prefix "a/"`.
func (w *Watcher) String() string { return w.what }
