package transport

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
)

// Raft serves Peer.Raft: a stream of batches from one peer. Every batch is
// checked (cluster name, addressee), its sender learned if unknown, and its
// messages handed to Handler.Process in order. The stream ends with an
// error status at the first bad batch.
func (t *GRPC) Raft(stream peerpb.Peer_RaftServer) error {
	ctx, cancel := t.streamContext(stream.Context())
	defer cancel()
	for {
		b, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return stream.SendAndClose(&peerpb.RaftAck{})
		}
		if err != nil {
			return err
		}
		if err := t.receiveBatch(ctx, b); err != nil {
			if !errors.Is(err, ErrStopped) && ctx.Err() == nil {
				t.lg.Warn("refused raft batch", "from", b.GetFrom(), "addr", b.GetFromAddress(), "err", err)
			}
			return toStatus(err)
		}
	}
}

func (t *GRPC) receiveBatch(ctx context.Context, b *peerpb.RaftBatch) error {
	if err := t.checkHeader(b.GetClusterName(), b.GetFrom(), b.GetFromAddress(), b.GetTo()); err != nil {
		return err
	}
	if !t.enter() {
		return ErrStopped
	}
	defer t.wg.Done()
	t.learn(b.GetFrom(), b.GetFromAddress())
	c := t.counters(b.GetFrom())
	for _, raw := range b.GetMsgs() {
		m := new(raftpb.Message)
		if err := proto.Unmarshal(raw, m); err != nil {
			return fmt.Errorf("%w: from node %d: %v", ErrBadMessage, b.GetFrom(), err)
		}
		c.msgsReceived.Add(1)
		c.bytesReceived.Add(uint64(len(raw)))
		if m.GetTo() != t.cfg.ID {
			return fmt.Errorf("%w: a message in a batch from node %d is for node %d, this is node %d",
				ErrWrongNode, b.GetFrom(), m.GetTo(), t.cfg.ID)
		}
		if err := t.h.Process(ctx, m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.lg.Debug("raft did not take a message", "from", m.GetFrom(), "type", m.GetType(), "err", err)
		}
	}
	return nil
}

// Snapshot serves Peer.Snapshot: one MsgSnap and its snapshot file, in
// chunks (see snapstream.go). The first chunk's header is checked, the
// MsgSnap decoded, and the file streamed into the Handler's
// ReceiveSnapshot, chunk by chunk, which stores and verifies it; the
// MsgSnap, its Data now referring to the stored file, goes to
// Handler.Process. An error from either goes back to the sender, who
// reports SnapshotFailure.
func (t *GRPC) Snapshot(stream peerpb.Peer_SnapshotServer) error {
	ctx, cancel := t.streamContext(stream.Context())
	defer cancel()
	m, from, addr, err := t.receiveSnapshot(stream)
	if err != nil {
		if !errors.Is(err, ErrStopped) && ctx.Err() == nil {
			t.lg.Warn("refused snapshot", "from", from, "addr", addr, "err", err)
		}
		return toStatus(err)
	}
	defer t.wg.Done() // entered by receiveSnapshot
	t.lg.Info("snapshot received", "from", from, "index", m.GetSnapshot().GetMetadata().GetIndex())
	if err := t.h.Process(ctx, m); err != nil {
		return toStatus(fmt.Errorf("%w: snapshot from node %d: %v", ErrRejected, from, err))
	}
	return stream.SendAndClose(&peerpb.SnapshotAck{})
}

// receiveSnapshot reads a whole snapshot stream: it stores the file with
// the Handler's ReceiveSnapshot and returns the MsgSnap referring to it.
// On success the transport is entered (t.wg): the caller calls Done.
func (t *GRPC) receiveSnapshot(stream peerpb.Peer_SnapshotServer) (m *raftpb.Message, from uint64, addr string, err error) {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return nil, 0, "", fmt.Errorf("%w: no chunk", ErrBadSnapshot)
	}
	if err != nil {
		return nil, 0, "", err
	}
	from, addr = first.GetFrom(), first.GetFromAddress()
	if err := t.checkHeader(first.GetClusterName(), from, addr, first.GetTo()); err != nil {
		return nil, from, addr, err
	}
	c := t.counters(from)
	r, err := newChunkReader(stream.Recv, first, func(n int) { c.bytesReceived.Add(uint64(n)) })
	if err != nil {
		return nil, from, addr, err
	}
	m, err = readSnapshotHeader(r, t.cfg.ID)
	if err != nil {
		return nil, from, addr, err
	}
	if !t.enter() {
		return nil, from, addr, ErrStopped
	}
	t.learn(from, addr)
	data, err := t.h.ReceiveSnapshot(m.GetSnapshot().GetMetadata(), r, int64(r.total-r.read))
	if err == nil {
		err = r.finish()
	} else if r.err != nil {
		err = r.err // the stream failed or broke its total_size
	} else {
		err = fmt.Errorf("%w: snapshot file from node %d: %v", ErrBadSnapshot, from, err)
	}
	if err != nil {
		t.wg.Done()
		return nil, from, addr, err
	}
	m.Snapshot.Data = data
	c.msgsReceived.Add(1)
	return m, from, addr, nil
}

// ProposalsDropped serves Peer.ProposalsDropped: the header is checked and
// the ids handed to Handler.ProposalsDropped.
func (t *GRPC) ProposalsDropped(_ context.Context, req *peerpb.ProposalsDroppedRequest) (*peerpb.ProposalsDroppedReply, error) {
	if err := t.checkHeader(req.GetClusterName(), req.GetFrom(), "", req.GetTo()); err != nil {
		return nil, toStatus(err)
	}
	if !t.enter() {
		return nil, toStatus(ErrStopped)
	}
	defer t.wg.Done()
	t.h.ProposalsDropped(req.GetFrom(), req.GetRequestIds())
	return &peerpb.ProposalsDroppedReply{}, nil
}

// Lease serves Peer.Lease: the header is checked and the call handed to
// Handler.PeerLease.
func (t *GRPC) Lease(ctx context.Context, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
	if err := t.checkHeader(req.GetClusterName(), req.GetFrom(), "", req.GetTo()); err != nil {
		return nil, toStatus(err)
	}
	if !t.enter() {
		return nil, toStatus(ErrStopped)
	}
	defer t.wg.Done()
	ctx, cancel := t.streamContext(ctx)
	defer cancel()
	reply, err := t.h.PeerLease(ctx, req.GetFrom(), req)
	return reply, toStatus(err)
}

// checkHeader validates the header of a batch, of a snapshot's first
// chunk, of a dropped-proposals report or of a forwarded lease call.
func (t *GRPC) checkHeader(cluster string, from uint64, addr string, to uint64) error {
	if cluster != t.cfg.ClusterName {
		return fmt.Errorf("%w: node %d (%s) is in cluster %q, this node %d is in cluster %q; check cluster_name in both configurations",
			ErrClusterMismatch, from, addr, cluster, t.cfg.ID, t.cfg.ClusterName)
	}
	if from == 0 {
		return fmt.Errorf("%w: from is 0", ErrBadMessage)
	}
	if to != t.cfg.ID {
		return fmt.Errorf("%w: node %d (%s) sent to node %d, but this is node %d; its address for node %d is stale or wrong",
			ErrWrongNode, from, addr, to, t.cfg.ID, to)
	}
	return nil
}

// streamContext derives the context handed to Process from an inbound
// stream's: it also ends when the transport stops.
func (t *GRPC) streamContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(t.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}
