package client

import "errors"

// Errors returned by the client, wrapped with the operation, the endpoint and
// the underlying cause; test for them with errors.Is. A gRPC status returned by
// a server stays reachable through the wrapping: status.Code(err) and
// status.FromError(err) still report it.
var (
	// ErrNoEndpoints: Config.Endpoints is empty.
	ErrNoEndpoints = errors.New("no endpoints given: set at least one host:port of a metasrv grpc_api_address")

	// ErrInvalidEndpoint: an endpoint is not host:port with a numeric port.
	ErrInvalidEndpoint = errors.New("invalid endpoint")

	// ErrInvalidArgument: a request the client refuses to send (an empty
	// key, a negative TTL, both TTL and ExpireAtMs, a value on a delete).
	ErrInvalidArgument = errors.New("invalid argument")

	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client is closed")

	// ErrUnavailable: no endpoint answered; every one was down or refused
	// the request with codes.Unavailable until the retries ran out.
	ErrUnavailable = errors.New("no metasrv endpoint available")

	// ErrMaybeApplied: a write reached a server and then failed without an
	// answer (the connection broke, the server said Unavailable, or the
	// context ended while it was in flight). It may or may not have been
	// applied; the client does not retry it on its own because a second
	// copy could apply twice. Read the key to find out, then decide.
	ErrMaybeApplied = errors.New("write may or may not have been applied")

	// ErrCompacted: a watch asked for changes older than the server's event
	// history holds (the server answered codes.OutOfRange), so it cannot
	// go on without losing events. Watcher.Next returns it when the
	// WatchOptions.StartRevision you gave is too old, or when a watch that was
	// cut off resumed too late (the writes since ran past the history).
	// Recover by starting a new watch with WatchOptions.InitialFlush: it
	// sends the current values (replace what you hold), then the changes.
	ErrCompacted = errors.New("watch history compacted")

	// ErrFutureRevision: a watch's WatchOptions.StartRevision is beyond
	// the next revision the cluster will give (the server answered
	// codes.OutOfRange with a message starting with FutureRevisionMessage,
	// as etcd's clientv3 tells a future revision from a compacted one).
	// Resume from a revision this cluster gave you, or watch without
	// StartRevision.
	ErrFutureRevision = errors.New("watch start_revision is in the future")

	// ErrWatchClosed: Watcher.Next after Watcher.Close.
	ErrWatchClosed = errors.New("watch is closed")
)

// FutureRevisionMessage starts the message of the OutOfRange status a
// server answers a watch whose start_revision is in the future with; any
// other OutOfRange is a compacted history.
const FutureRevisionMessage = "start_revision is in the future"
