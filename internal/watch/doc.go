// Package watch fans the state machine's change events out to watchers: a
// Hub that the apply goroutine publishes to, one bounded buffer per
// watcher, and the per-stream loop that sends a watch's responses.
//
// # Usage
//
// The server owns one Hub. Its apply goroutine publishes the events of
// every applied entry, and watch registration happens between two
// applies, under one mutex that the server holds around both:
//
//	// apply goroutine, for each entry:
//	mu.Lock()
//	res := sm.Apply(index, timeMs, cmd)
//	hub.Publish(res.Events)
//	mu.Unlock()
//
//	// a Watch request:
//	mu.Lock()
//	p := sm.Revision()        // every change <= p is in the state or history
//	view := sm.View()         // for initial_flush: the state at p
//	w, err := hub.Register(spec, p) // live events are those with revision > p
//	mu.Unlock()
//	defer w.Close()
//	err = w.Serve(ctx, Prelude{Flush: ...} or Prelude{ReplayFrom: s, History: sm}, send, interval)
//
// Because p, the view and the registration are taken at one point of the
// log, the stream misses nothing and repeats nothing: the prelude covers
// every change up to p (the state at p, or the history from
// start_revision to p) and the live events start at p+1.
//
// Positions are revisions: every change of one raft entry has its
// revision, and an entry's changes are published together, in the order
// made.
//
// # What a stream sends (Watcher.Serve)
//
//  1. The prelude. initial_flush: one is_initialization response per key
//     in range (event with key, current, seq = the key's seq and revision
//     = its mod_revision; the filter does not apply), then flush_done
//     with progress_revision = p. start_revision = s: every change with s
//     <= revision <= p in range and passing the filter, in order, then a
//     progress marker p. Neither: a progress marker p at once, which tells
//     the client that the watch is in place and from where it could
//     resume.
//  2. Live events in order, with no gap and no repeat.
//  3. On an idle stream (nothing sent for the progress interval) a
//     progress marker with the last revision the hub has published to
//     this watcher: every change in range up to it has been sent, so a
//     client resumes from progress_revision + 1 without replaying changes
//     of other keys.
//
// A stream never sends an event with a revision at or below what it
// already covered: a client that resumes with start_revision = s on a
// node that has not applied s - 1 yet gets nothing before s. A stream
// that ends in the middle of a revision names that revision to resume
// from: the events of one revision come in the same order on every node,
// so the client drops those it already has (the Go client does).
//
// # Grouped streams
//
// ServeGrouped sends the same stream grouped by revision (Grouped.Events
// gets one revision's matching events at once) and reports every marker,
// and how far the stream got after each delivery, to Grouped.Progress;
// Grouped.WakeC makes it deliver and report at once. etcd's watch
// (internal/etcdapi) is built on it. It has no initial flush and no size
// check.
//
// # Slow watchers and limits
//
// Publish never blocks and takes no lock a stream holds while sending.
// Each watcher has a buffer of at most BufferSize pending events (one
// batch is always accepted into an empty buffer, so a single large entry,
// a delete_by_prefix say, does not cut a watcher off on its own). When a
// batch does not fit, the watcher is cancelled with ErrSlowWatcher and
// removed; its stream ends with a message saying which start_revision
// resumes it. The apply loop never waits for a watcher.
//
// A Hub holds at most MaxWatchers watchers; Register beyond that returns
// ErrTooManyWatchers. With WithMaxMessageBytes, a response over that size
// (a value stored under a larger limit) is not sent: the stream ends with
// ErrEventTooLarge, naming the revision to resume after it.
//
// Events are shared between watchers and must not be modified.
//
// A stream blocked in send (a client that stopped reading, with the
// transport's flow-control window full) notices a cancellation only when
// the send returns; its buffer is freed at once, so it holds at most the
// message being sent.
package watch
