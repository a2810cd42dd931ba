package config

import "time"

// Tuning of the node that the config file does not expose, named here so
// that main reads as wiring and a change is made in one place.
const (
	// PublicStreamWorkers is how many goroutines serve public gRPC calls
	// (grpc.NumStreamWorkers): about the concurrent calls a busy node
	// sees. Workers serve calls on goroutines whose stacks have already
	// grown (docs/PERFORMANCE.md: +9-10% ops/s on get and put 100/10).
	PublicStreamWorkers = 64

	// RaftMinRecvMessageSize is the smallest limit of a message the raft
	// port receives; the limit is raised to grpc_api_max_message_size
	// (RaftRecvMessageSize) so that every entry a client may propose
	// replicates. Batches of entries stay under 1 MiB
	// (transport.DefaultMaxBatchBytes).
	RaftMinRecvMessageSize = 64 << 20

	// PeerKeepaliveTime and PeerKeepaliveTimeout: a node pings a peer
	// connection idle for PeerKeepaliveTime and drops it when no answer
	// comes within PeerKeepaliveTimeout, to detect a dead peer that never
	// resets its connection.
	PeerKeepaliveTime    = 10 * time.Second
	PeerKeepaliveTimeout = 5 * time.Second

	// KeepaliveMinTime is the most frequent client ping the raft and
	// public gRPC servers accept (clients ping long-lived watch streams
	// and peer streams to detect a dead node); it must not exceed
	// PeerKeepaliveTime.
	KeepaliveMinTime = 5 * time.Second

	// HTTPReadHeaderTimeout bounds reading a request's headers on the
	// admin and metrics HTTP servers.
	HTTPReadHeaderTimeout = 10 * time.Second

	// ShutdownGrace is how long a node shutting down (SIGINT, SIGTERM)
	// lets public gRPC calls finish before it cuts them off.
	ShutdownGrace = 5 * time.Second
)

// RaftRecvMessageSize returns the limit of a message the raft port
// receives: RaftMinRecvMessageSize, or grpc_api_max_message_size when
// larger.
func (c *Config) RaftRecvMessageSize() int {
	return max(RaftMinRecvMessageSize, c.GrpcAPIMaxMessageSize)
}
