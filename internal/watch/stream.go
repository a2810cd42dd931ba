package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// Send sends one response to the watch's client; an error means the
// stream is broken and ends Serve.
type Send func(*metapb.WatchResponse) error

// Snapshot is the state at the watcher's AfterRevision, read for the
// initial flush (internal/server adapts a statemachine.View).
type Snapshot interface {
	// Range calls fn for every present key in [key, keyEnd), in ascending
	// key order, until fn returns false. fn owns the KV.
	Range(key, keyEnd string, fn func(*metapb.KV) bool)
}

// History replays past changes (statemachine.StateMachine implements it).
type History interface {
	// EventsBetween calls fn for every change with from <= revision <=
	// to, in the order made, until fn returns false; fn owns each event.
	// It returns an error (statemachine.ErrCompacted) when it no longer
	// holds every change from from on.
	EventsBetween(from, to uint64, fn func(*metapb.Event) bool) error
}

// Prelude is what a stream sends before its live events: the initial
// flush (Flush set), the replay of the history from ReplayFrom (> 0, with
// History), or, with neither, nothing but the marker.
type Prelude struct {
	Flush      Snapshot
	ReplayFrom uint64
	History    History
}

// Grouped receives the output of ServeGrouped: whole revisions instead of
// one response per event (etcd's watch responses). Both functions are
// called from the serving goroutine only.
type Grouped struct {
	// Events sends the matching events of one revision, in the order
	// made, or, with MaxBatchBytes, of consecutive revisions; the stream
	// owns nothing of the slice after the call (the events themselves
	// are shared and read-only). A revision's events are never split
	// between calls.
	Events func(evs []*metapb.Event) error
	// MaxBatchBytes, when > 0, lets one Events call carry the events of
	// every revision that is pending together (a watcher behind the
	// writes, a replay of the history) while their keys and values total
	// at most MaxBatchBytes (and eventOverhead an event); a revision over
	// it goes alone. 0: one revision a call.
	MaxBatchBytes int
	// Progress says that every matching change up to rev has been sent.
	// idle: nothing was sent for the progress interval (a marker the
	// client may want); else it comes after the prelude and after every
	// delivery, for the caller to know how far the stream got.
	Progress func(rev uint64, idle bool) error
	// WakeC, if not nil, makes the stream deliver what is pending and
	// report Progress at once (etcd's progress request).
	WakeC <-chan struct{}
}

// errOwnerClosed ends Serve when the watcher's owner closed it meanwhile.
var errOwnerClosed = errors.New("watcher closed")

// stream is the state of one Serve call.
type stream struct {
	w    *Watcher
	send Send
	// covered: every matching change with revision <= covered has been
	// sent (or the client had it already: start_revision - 1). Events at
	// or below it are never sent again. While the events of a revision
	// are being sent, covered is the revision before it: a stream that
	// ends then resumes at that revision, and the client drops the events
	// of it that it already has.
	covered uint64
	// flushing: the initial flush has started and not completed; a
	// stream that ends now cannot be resumed from a seq.
	flushing bool
	// group, when set, takes the output by revision (ServeGrouped);
	// batch holds the events being collected: of one revision, or of
	// consecutive ones holding batchBytes of keys and values.
	group      *Grouped
	batch      []*metapb.Event
	batchBytes int
}

// Serve sends the watch's responses until ctx ends, send fails or the
// watcher is cancelled: first the prelude and a marker (see the package
// doc), then the live events, with a progress marker whenever nothing was
// sent for progressEvery (<= 0: DefaultProgressInterval). It returns
// ctx's error, send's error, the history's error (ErrCompacted) or the
// cancellation reason wrapped with the start_revision that resumes the
// watch.
// The caller still closes the watcher.
func (w *Watcher) Serve(ctx context.Context, p Prelude, send Send, progressEvery time.Duration) error {
	if progressEvery <= 0 {
		progressEvery = DefaultProgressInterval
	}
	st := &stream{w: w, send: limitSize(send, w.hub.opts.maxMessageBytes)}
	if err := st.prelude(ctx, p); err != nil {
		return err
	}
	return st.live(ctx, progressEvery)
}

// ServeGrouped is Serve with the output grouped by revision (g): the
// same events in the same order, each revision's in one call, and the
// markers as Progress calls. The initial flush is not served (Prelude
// without Flush); no size limit applies (the caller fragments).
func (w *Watcher) ServeGrouped(ctx context.Context, p Prelude, g Grouped, progressEvery time.Duration) error {
	if progressEvery <= 0 {
		progressEvery = DefaultProgressInterval
	}
	if p.Flush != nil {
		return errors.New("watch: a grouped stream has no initial flush")
	}
	st := &stream{w: w, group: &g}
	if err := st.prelude(ctx, p); err != nil {
		return err
	}
	return st.live(ctx, progressEvery)
}

// limitSize returns send, refusing a response over maxBytes (0: no limit)
// with ErrEventTooLarge.
func limitSize(send Send, maxBytes int) Send {
	if maxBytes <= 0 {
		return send
	}
	return func(r *metapb.WatchResponse) error {
		ev := r.GetEvent()
		// The fields other than the key and the values take less than
		// 256 bytes: most responses need no exact size.
		if len(ev.GetKey())+len(ev.GetPrev().GetData())+len(ev.GetCurrent().GetData())+256 <= maxBytes {
			return send(r)
		}
		n := proto.Size(r)
		if n <= maxBytes {
			return send(r)
		}
		if r.GetIsInitialization() {
			return fmt.Errorf("%w: key %q is %d bytes with its value, over the message limit of %d bytes (grpc_api_max_message_size): "+
				"it was stored under a larger limit; raise grpc_api_max_message_size, or watch without initial_flush",
				ErrEventTooLarge, ev.GetKey(), n, maxBytes)
		}
		return fmt.Errorf("%w: the event of revision %d (key %q) is %d bytes with its previous and current value, over the message limit of %d bytes (grpc_api_max_message_size): "+
			"a value was stored under a larger limit; raise grpc_api_max_message_size, or watch again with start_revision = %d to skip it (and the rest of revision %d)",
			ErrEventTooLarge, ev.GetRevision(), ev.GetKey(), n, maxBytes, ev.GetRevision()+1, ev.GetRevision())
	}
}

func (st *stream) prelude(ctx context.Context, p Prelude) error {
	w := st.w
	switch {
	case p.Flush != nil:
		st.flushing = true
		var err error
		p.Flush.Range(w.spec.Key, w.spec.rangeEnd(), func(kv *metapb.KV) bool {
			if err = st.interrupted(ctx); err != nil {
				return false
			}
			err = st.send(&metapb.WatchResponse{
				Event:            &metapb.Event{Key: kv.GetKey(), Seq: kv.GetValue().GetSeq(), Current: kv.GetValue()},
				IsInitialization: true,
			})
			return err == nil
		})
		if err != nil {
			return err
		}
		if err := st.interrupted(ctx); err != nil {
			return err
		}
		if err := st.send(&metapb.WatchResponse{FlushDone: true, ProgressRevision: w.after}); err != nil {
			return err
		}
		st.flushing = false
		st.covered = w.after
		return nil

	case p.ReplayFrom > 0:
		st.covered = p.ReplayFrom - 1
		if p.ReplayFrom <= w.after {
			var err error
			herr := p.History.EventsBetween(p.ReplayFrom, w.after, func(ev *metapb.Event) bool {
				// The history is in order: every change before ev's
				// revision has been sent (unless a batch holds it) or
				// does not match.
				if len(st.batch) == 0 {
					st.covered = max(st.covered, ev.GetRevision()-1)
				}
				if err = st.interrupted(ctx); err != nil {
					return false
				}
				if w.spec.Matches(ev) {
					err = st.sendEvent(ev)
				}
				return err == nil
			})
			if herr != nil {
				return herr
			}
			if err != nil {
				return err
			}
			if err := st.flushBatch(); err != nil {
				return err
			}
		}
	}
	if err := st.interrupted(ctx); err != nil {
		return err
	}
	return st.sendProgress(w.after)
}

func (st *stream) live(ctx context.Context, every time.Duration) error {
	w := st.w
	timer := time.NewTimer(every)
	defer timer.Stop()
	var wakeC <-chan struct{}
	if st.group != nil {
		wakeC = st.group.WakeC
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.doneC:
			return st.ended()
		case <-wakeC:
			if _, seen, err := st.sendPending(); err != nil {
				return err
			} else if err := st.group.Progress(max(st.covered, seen), false); err != nil {
				return err
			}
		case <-w.readyC:
			sent, _, err := st.sendPending()
			if err != nil {
				return err
			}
			if sent {
				timer.Reset(every)
			}
		case <-timer.C:
			sent, seen, err := st.sendPending()
			if err != nil {
				return err
			}
			if !sent {
				if err := st.sendMarker(seen, true); err != nil {
					return err
				}
			}
			timer.Reset(every)
		}
	}
}

// sendPending sends the events waiting in the buffer; sent reports
// whether anything went out, seen is the last revision published to the
// watcher when they were taken: every matching change up to it has now
// been sent.
func (st *stream) sendPending() (sent bool, seen uint64, err error) {
	events, seen := st.w.take()
	for _, ev := range events {
		if ev.GetRevision() <= st.covered {
			continue
		}
		if err := st.sendEvent(ev); err != nil {
			return sent, seen, err
		}
		sent = true
	}
	if err := st.flushBatch(); err != nil {
		return sent, seen, err
	}
	st.covered = max(st.covered, seen)
	if sent && st.group != nil {
		if err := st.group.Progress(st.covered, false); err != nil {
			return sent, seen, err
		}
	}
	return sent, seen, nil
}

// sendEvent sends ev, of a revision above covered; covered becomes the
// revision before it (the events of ev's revision may go on).
func (st *stream) sendEvent(ev *metapb.Event) error {
	rev := ev.GetRevision()
	if rev <= st.covered {
		return nil
	}
	if st.group != nil {
		size := eventBytes(ev)
		if n := len(st.batch); n > 0 && st.batch[n-1].GetRevision() != rev &&
			(st.group.MaxBatchBytes <= 0 || st.batchBytes+size > st.group.MaxBatchBytes) {
			if err := st.flushBatch(); err != nil {
				return err
			}
		}
		if len(st.batch) == 0 {
			// Until the batch is sent, the stream resumes at its first
			// revision.
			st.covered = rev - 1
		}
		st.batch = append(st.batch, ev)
		st.batchBytes += size
		return nil
	}
	st.covered = rev - 1
	return st.send(&metapb.WatchResponse{Event: ev})
}

// flushBatch sends the events collected in a grouped stream; once sent,
// the stream covers every revision before the last one (whose events may
// go on).
func (st *stream) flushBatch() error {
	if len(st.batch) == 0 {
		return nil
	}
	evs := st.batch
	st.batch, st.batchBytes = nil, 0
	if err := st.group.Events(evs); err != nil {
		return err
	}
	st.covered = max(st.covered, evs[len(evs)-1].GetRevision()-1)
	return nil
}

// eventBytes is what an event weighs in a batch: its key and values, and
// eventOverhead for the rest of it (revisions, seqs, lengths).
func eventBytes(ev *metapb.Event) int {
	return eventOverhead + len(ev.GetKey()) + len(ev.GetPrev().GetData()) + len(ev.GetCurrent().GetData())
}

const eventOverhead = 128

// sendProgress sends the marker that ends the prelude.
func (st *stream) sendProgress(rev uint64) error { return st.sendMarker(rev, false) }

// sendMarker sends a marker: every change up to rev (or up to what the
// stream covered, if more) has been sent; idle: nothing else was sent
// for the interval.
func (st *stream) sendMarker(rev uint64, idle bool) error {
	rev = max(st.covered, rev)
	var err error
	if st.group != nil {
		err = st.group.Progress(rev, idle)
	} else {
		err = st.send(&metapb.WatchResponse{ProgressRevision: rev})
	}
	if err != nil {
		return err
	}
	st.covered = rev
	return nil
}

// interrupted returns the reason to stop now, or nil: the watcher was
// cancelled or ctx ended.
func (st *stream) interrupted(ctx context.Context) error {
	select {
	case <-st.w.doneC:
		return st.ended()
	default:
	}
	return ctx.Err()
}

// ended wraps the reason the watcher was cancelled with how to resume.
func (st *stream) ended() error {
	reason := st.w.Err()
	if reason == nil {
		reason = errOwnerClosed
	}
	if st.flushing {
		return fmt.Errorf("%w; the initial flush did not complete: watch again with initial_flush", reason)
	}
	return fmt.Errorf("%w; resume the watch with start_revision = %d", reason, st.covered+1)
}
