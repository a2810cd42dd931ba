package transport

import (
	"context"
	"errors"
	"io"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/metasrv/metasrv/api/peerpb"
)

// Handler receives what arrives from peers. It is implemented by the raft
// node's owner (internal/server passes it on to internal/raftnode).
//
// The transport calls it from its own goroutines, concurrently, never from
// inside Send. Process gets a context that is cancelled when the stream it
// came on ends or the transport stops; it should not block for long, since
// messages of one stream are processed in order, one at a time. After Stop
// returns the transport calls no Handler method again.
type Handler interface {
	// Process steps a message received from a peer into raft. The message
	// is the Handler's own (decoded from the wire or deep-copied). An error
	// is logged; for a snapshot it is sent back to the sender, who then
	// reports SnapshotFailure.
	Process(ctx context.Context, m *raftpb.Message) error
	// ReportUnreachable says that messages to id were dropped: the peer is
	// unknown, down, or its queue is full. Reports for one peer coalesce.
	ReportUnreachable(id uint64)
	// ReportSnapshot gives the outcome of sending a MsgSnap to id: exactly
	// one report for every MsgSnap passed to Send (unless Stop comes first).
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
	// ProposalsDropped says that peer from dropped proposals this node
	// made, forwarded to it, without putting them in the log (see
	// Transport.ReportDropped). requestIDs are this node's own ids.
	ProposalsDropped(from uint64, requestIDs []uint64)
	// PeerLease answers a lease call that peer from forwarded for its
	// client (Transport.ForwardLease) when this node is the leader; an
	// error when it is not, or cannot.
	PeerLease(ctx context.Context, from uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error)
	Snapshots
}

// Snapshots keeps the snapshot files that MsgSnaps stand for. A MsgSnap's
// Snapshot.Data does not hold the state machine's bytes but refers to a
// file of the node's raft_dir: the transport streams that file to the
// peer, and the peer's transport writes it to a file of its own raft_dir
// before it steps the MsgSnap, with Data referring to that file.
// (internal/storage implements it; the server passes it on.) Both are
// called from the transport's goroutines, concurrently.
type Snapshots interface {
	// OpenSnapshot opens the file of sn, the snapshot of a MsgSnap given
	// to Send, and returns its size. The transport closes it.
	OpenSnapshot(sn *raftpb.Snapshot) (io.ReadCloser, int64, error)
	// ReceiveSnapshot reads size bytes from r, the file of the snapshot md
	// that a peer streamed, stores and verifies them, and returns the
	// Data of the MsgSnap to hand to Process. An error refuses the
	// snapshot; a read error from r is returned wrapped.
	ReceiveSnapshot(md *raftpb.SnapshotMetadata, r io.Reader, size int64) ([]byte, error)
}

// Transport carries raft messages to peers. Both GRPC and MemTransport
// implement it. All methods are safe for concurrent use.
type Transport interface {
	// Send queues msgs for their destinations (m.To) and never blocks. The
	// transport owns msgs after the call: the caller must not modify them.
	// A message that cannot be queued (unknown peer, full queue, peer
	// unreachable) is dropped and the Handler's ReportUnreachable is called
	// for its destination; a dropped MsgSnap also gets
	// ReportSnapshot(SnapshotFailure).
	Send(msgs []*raftpb.Message)
	// AddPeer adds a peer or updates its address (no-op when unchanged).
	AddPeer(id uint64, addr string)
	// RemovePeer forgets a peer; messages queued for it are dropped.
	RemovePeer(id uint64)
	// ReportDropped tells peer to that proposals it made (its requestIDs)
	// were dropped here without entering the log; its Handler's
	// ProposalsDropped receives them. Best effort and never blocks: a
	// report that cannot be delivered is logged and forgotten (the
	// proposer then learns the outcome as before, from a term change or
	// its deadline).
	ReportDropped(to uint64, requestIDs []uint64)
	// ForwardLease asks peer to, the leader as this node knows it, to
	// answer a lease call (its Handler's PeerLease) and waits for the
	// answer until ctx ends. The caller sets req's id and op; the
	// transport sets its header (cluster_name, from, to). An error says
	// nothing of the lease (to is unknown, unreachable or not the
	// leader): the caller answers another way.
	ForwardLease(ctx context.Context, to uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error)
	// Stop stops every goroutine the transport started and waits for them.
	// Later calls of any method do nothing.
	Stop()
}

// Errors returned to peers by the gRPC handlers (as gRPC status errors,
// see toStatus) and logged by the sending side.
var (
	// ErrStopped: the transport was stopped; the peer retries elsewhere.
	ErrStopped = errors.New("transport stopped")
	// ErrClusterMismatch: a node of another cluster sent to this one. Check
	// cluster_name in both nodes' configuration.
	ErrClusterMismatch = errors.New("cluster name mismatch")
	// ErrWrongNode: a batch addressed to another node id reached this one;
	// the sender's address for that id is stale or wrong.
	ErrWrongNode = errors.New("message addressed to another node")
	// ErrBadMessage: a batch or message that does not decode or lacks
	// required fields (from, to).
	ErrBadMessage = errors.New("malformed raft message")
	// ErrBadSnapshot: a snapshot stream whose chunks do not add up to its
	// total_size, that does not start with a MsgSnap header of this
	// version, or whose file the receiver's Snapshots refused.
	ErrBadSnapshot = errors.New("malformed snapshot stream")
	// ErrRejected: the raft node refused a received snapshot (Process
	// returned an error).
	ErrRejected = errors.New("raft node refused the message")
	// ErrUnknownPeer: a call to a node that is not a known peer (on a
	// MemNetwork: that cannot be reached from the caller).
	ErrUnknownPeer = errors.New("unknown peer")
	// ErrBadSecret: a call on the raft port did not carry this cluster's
	// raft_secret (codes.Unauthenticated, see SecretServerOptions).
	ErrBadSecret = errors.New("not a cluster member: the call lacks this cluster's raft_secret")
)
