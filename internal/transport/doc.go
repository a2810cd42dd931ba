// Package transport carries raft messages between metasrv nodes.
//
// Two implementations share the Transport interface that the raft node
// uses:
//
//   - GRPC, between real nodes, over the Peer service of api/peerpb on the
//     raft port (raft_listen_host:raft_api_port);
//   - MemTransport on a MemNetwork, between nodes in one test process, with
//     faults (Cut, Isolate, SetDrop, Heal) and no sleeps.
//
// # A quiet MemNetwork
//
// A MemNetwork delivers each message at once, on its receiver's goroutine,
// or, once SetHold(true), holds every message until Deliver hands the held
// ones over from the caller's goroutine, in the order sent (etcd-io/raft's
// own tests step messages so). Either way it counts what is under way: the
// messages queued at receivers or being handled, and the unreachable and
// snapshot reports not yet made to senders.
//
// DeliverUntilQuiet(settle) is the barrier of tests that move raft's time
// by hand ("advance N ticks, deliver, assert"). Each round it calls settle,
// which returns once every node has handled what it was given (with
// raftnode, Node.Settle on each), delivers what is held, waits until
// nothing is under way, and it stops after a round in which nothing was
// sent, delivered or reported. Then the cluster is quiet: no node holds
// work, no message is anywhere, and nothing happens until a tick or a
// call. Goroutines with timers of their own are not waited for.
//
//	net := transport.NewMemNetwork()
//	... nodes with raftnode.Config.Ticks ...
//	for _, c := range ticks { c <- time.Time{} }
//	net.DeliverUntilQuiet(func() { for _, n := range nodes { _ = n.Settle(ctx, applied) } })
//	// assert: every consequence of that tick has happened
//
// What arrives is handed to a Handler (the raft node's owner); the outcome
// of sends comes back to it as ReportUnreachable and ReportSnapshot, and
// its Snapshots give the snapshot files that MsgSnaps stand for.
//
// # Usage
//
//	tr := transport.NewGRPC(transport.GRPCConfig{ID: 1, ClusterName: "c", AdvertiseAddr: "10.0.0.1:28004"}, handler)
//	defer tr.Stop()
//	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64 << 20))
//	peerpb.RegisterPeerServer(srv, grpcapi.NewPeer(tr, membership)) // Raft, Snapshot -> tr
//	tr.AddPeer(2, "10.0.0.2:28004")
//	tr.Send(rd.Messages) // from the Ready loop; never blocks
//
// # Wire protocol
//
// Each node opens one gRPC connection per peer and on it one long-lived
// client stream Peer.Raft. The connection is plaintext unless
// GRPCConfig.DialOptions bring TLS credentials (raft_tls_*), and carries
// raft_secret when they bring SecretCredentials (see Security). A goroutine per peer takes every
// message queued for that peer (QueueSize, default 4096), marshals each
// raftpb.Message with proto.Marshal and sends them as one RaftBatch of at
// most MaxBatchBytes (default 1 MiB):
//
//	RaftBatch{cluster_name, from: own id, from_address: AdvertiseAddr, to: peer id, msgs: [marshaled messages]}
//
// The receiver checks each batch: cluster_name must equal its own
// (codes.FailedPrecondition otherwise, naming both clusters), `to` and
// every message's To must be its id (codes.FailedPrecondition: the
// sender's address book is stale), from must not be 0 and every message
// must decode (codes.InvalidArgument). A refused batch ends the stream.
// Otherwise the messages go to Handler.Process in order. If from_address is
// set and the sender is not in the receiver's address book (and was not
// removed with RemovePeer), the receiver adds it: this is how a joining
// node learns the leader's address before it has applied any membership,
// and how the leader reaches a node it has not applied yet.
//
// A MsgSnap does not use the Raft stream, and its Snapshot.Data does not
// hold the state: it refers to a snapshot file of the sender's raft_dir
// (see Snapshots). Each one is sent on its own goroutine with a
// Peer.Snapshot client stream, in chunks of SnapshotChunkBytes (default
// 1 MiB), as one byte stream:
//
//	"\xffMSNAP1\n"  magic
//	uvarint n, then n bytes: the MsgSnap, protobuf, without its Data
//	the snapshot file, read from Snapshots.OpenSnapshot chunk by chunk
//
// The first chunk carries the header (cluster_name, from, from_address,
// to) and total_size, the length of the whole byte stream. The receiver
// checks the header as above and the magic, decodes the MsgSnap
// (codes.InvalidArgument unless it is a MsgSnap for it), and streams the
// rest, chunk by chunk,
// into Snapshots.ReceiveSnapshot, which stores and verifies the file;
// the stream must end exactly at total_size (codes.InvalidArgument
// otherwise, or if the file is refused). Neither side ever holds the
// snapshot whole in memory. Then the MsgSnap, its Data referring to the
// stored file, goes to Process, and the receiver acknowledges with
// SnapshotAck, or fails with codes.Unavailable if Process returned an
// error. The sender reports SnapshotFinish once the acknowledgement
// arrives and SnapshotFailure on any error, or when no chunk got through
// for SnapshotIdleTimeout (default 30s).
//
// Two unary calls ride the same connection. ProposalsDropped (one way,
// Transport.ReportDropped) tells a proposer that its forwarded proposals
// were dropped. Lease (Transport.ForwardLease, the only call that waits
// for an answer) takes a lease call of a follower's client (a keep-alive,
// a time-to-live) to the leader's Handler.PeerLease and brings back its
// answer; the header is checked as a batch's. On a MemNetwork the
// call runs on the caller's goroutine, through the same faults, and a
// held network does not hold it.
//
// # Delivery
//
// Best effort, as raft expects: messages may be lost, never duplicated or
// reordered within one stream. Messages to one peer arrive in the order
// Send got them while the Raft stream lasts; a snapshot travels on its own
// stream, so it is not ordered with the messages around it. Send never
// blocks: a message is dropped, and ReportUnreachable called for its
// destination, when the peer is unknown, its queue is full, or its stream
// failed (the whole batch in flight, and every message queued while the
// stream is reopened with a backoff of 50ms doubling to 1s). A message
// that gRPC accepted may still be lost if the connection breaks.
// Unreachable reports coalesce per peer. Every MsgSnap given to Send gets
// exactly one ReportSnapshot (unless the transport stops first).
//
// Handler methods are called from the transport's goroutines, never from
// inside Send, so Send may be called from a goroutine that the Handler
// itself waits for. After Stop returns, no Handler method is called.
//
// # Security
//
// The raft port serves only cluster members when its gRPC server is built
// with SecretServerOptions(raft_secret): every call (Raft, Snapshot, Join,
// Leave, Members, ProposalsDropped, Lease) must carry the secret in the
// metadata key SecretMetadataKey, or it fails with codes.Unauthenticated
// before its handler runs, so nothing it sent reaches raft. Peers send it with SecretCredentials in their dial
// options, which the transport and the membership client
// (server.GRPCPeerClient) both take. With raft_tls_* the server also
// requires a client certificate of the cluster's CA (mutual TLS), and the
// secret no longer travels in the clear.
//
// # Stats
//
// GRPC.Stats returns per-peer counters (messages, batches and bytes sent
// and received, drops, failures, snapshots) to be exported as metrics.
package transport
