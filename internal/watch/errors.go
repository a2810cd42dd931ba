package watch

import "errors"

// Errors of the hub and of a stream. The gRPC layer maps them to status
// codes; a stream wraps the reason a watcher was cancelled with the
// start_revision that resumes it.
var (
	// ErrSlowWatcher: the watcher's buffer was full when new events came:
	// its client reads more slowly than changes are made. The watcher was
	// removed; the client resumes with the start_revision the error names.
	ErrSlowWatcher = errors.New("watcher too slow")
	// ErrTooManyWatchers: the hub already holds MaxWatchers watchers.
	ErrTooManyWatchers = errors.New("too many watchers")
	// ErrClosed: the hub was closed (the server is stopping); new watchers
	// are refused and every watcher ends with it. Watch on another node.
	ErrClosed = errors.New("watch hub closed: the server is stopping")
	// ErrInterrupted: the watcher was cancelled by CancelAll, because the
	// node can no longer serve its changes continuously (the server gives
	// the cause). The client resumes with the start_revision the error names.
	ErrInterrupted = errors.New("watch interrupted")
	// ErrEventTooLarge: a response (an event with its previous and
	// current value, or a key of the initial flush) is larger than the
	// message limit (WithMaxMessageBytes): its value was stored under a
	// larger limit. Resuming at the same revision would fail again; the error
	// names the revision to resume after it.
	ErrEventTooLarge = errors.New("watch event too large")
)
