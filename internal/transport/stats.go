package transport

import "sync/atomic"

// PeerStats is a snapshot of the traffic exchanged with one peer since the
// transport started. Every field is a monotonic counter, ready to be
// exported as a Prometheus counter labelled by peer id.
type PeerStats struct {
	ID uint64
	// Address is the peer's current address; empty when the peer is not
	// (or no longer) in the address book.
	Address string

	// MsgsSent, BatchesSent: raft messages and RaftBatches handed to a
	// Raft stream. BytesSent counts marshaled messages and snapshot chunks.
	MsgsSent, BatchesSent, BytesSent uint64
	// MsgsReceived, BytesReceived: messages received from the peer,
	// snapshots included.
	MsgsReceived, BytesReceived uint64
	// MsgsDropped: messages dropped on the way out (unknown peer, full
	// queue, failed stream); each led to a ReportUnreachable.
	MsgsDropped uint64
	// SendFailures: failed attempts to open or write a Raft stream.
	SendFailures uint64
	// SnapshotsSent, SnapshotFailures: MsgSnap sends that ended with
	// SnapshotFinish and SnapshotFailure.
	SnapshotsSent, SnapshotFailures uint64
}

// counters is the live, lock-free form of PeerStats.
type counters struct {
	msgsSent, batchesSent, bytesSent atomic.Uint64
	msgsReceived, bytesReceived      atomic.Uint64
	msgsDropped, sendFailures        atomic.Uint64
	snapshotsSent, snapshotFailures  atomic.Uint64
}

func (c *counters) snapshot(id uint64, addr string) PeerStats {
	return PeerStats{
		ID:               id,
		Address:          addr,
		MsgsSent:         c.msgsSent.Load(),
		BatchesSent:      c.batchesSent.Load(),
		BytesSent:        c.bytesSent.Load(),
		MsgsReceived:     c.msgsReceived.Load(),
		BytesReceived:    c.bytesReceived.Load(),
		MsgsDropped:      c.msgsDropped.Load(),
		SendFailures:     c.sendFailures.Load(),
		SnapshotsSent:    c.snapshotsSent.Load(),
		SnapshotFailures: c.snapshotFailures.Load(),
	}
}
