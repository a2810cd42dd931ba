package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
)

// maxSnapshotPrealloc caps the buffer allocated up front for a snapshot,
// whatever total_size claims; past it the buffer grows as chunks arrive.
const maxSnapshotPrealloc = 64 << 20

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

// Snapshot serves Peer.Snapshot: one MsgSnap in chunks. It is reassembled,
// checked against total_size, decoded and handed to Handler.Process; an
// error from Process goes back to the sender, who reports
// SnapshotFailure.
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
	if !t.enter() {
		return toStatus(ErrStopped)
	}
	defer t.wg.Done()
	t.learn(from, addr)
	t.lg.Info("snapshot received", "from", from, "index", m.GetSnapshot().GetMetadata().GetIndex())
	if err := t.h.Process(ctx, m); err != nil {
		return toStatus(fmt.Errorf("%w: snapshot from node %d: %v", ErrRejected, from, err))
	}
	return stream.SendAndClose(&peerpb.SnapshotAck{})
}

// receiveSnapshot reads a whole snapshot stream and decodes its message.
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
	a, err := newAssembler(first.GetTotalSize())
	if err != nil {
		return nil, from, addr, err
	}
	c := t.counters(from)
	for chunk := first; ; {
		if err := a.add(chunk.GetData()); err != nil {
			return nil, from, addr, err
		}
		c.bytesReceived.Add(uint64(len(chunk.GetData())))
		chunk, err = stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, from, addr, err
		}
	}
	data, err := a.bytes()
	if err != nil {
		return nil, from, addr, err
	}
	m, err = decodeSnapshot(data, t.cfg.ID)
	if err != nil {
		return nil, from, addr, err
	}
	c.msgsReceived.Add(1)
	return m, from, addr, nil
}

// decodeSnapshot decodes a reassembled snapshot message addressed to id.
func decodeSnapshot(data []byte, id uint64) (*raftpb.Message, error) {
	m := new(raftpb.Message)
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if m.GetType() != raftpb.MsgSnap {
		return nil, fmt.Errorf("%w: holds a %v, not a MsgSnap", ErrBadSnapshot, m.GetType())
	}
	if m.GetTo() != id {
		return nil, fmt.Errorf("%w: snapshot for node %d, this is node %d", ErrWrongNode, m.GetTo(), id)
	}
	return m, nil
}

// checkHeader validates the header of a batch or of a snapshot's first
// chunk.
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

// assembler reassembles a snapshot from its chunks.
type assembler struct {
	total uint64
	buf   []byte
}

func newAssembler(total uint64) (*assembler, error) {
	if total == 0 {
		return nil, fmt.Errorf("%w: first chunk has no total_size", ErrBadSnapshot)
	}
	if total > math.MaxInt {
		return nil, fmt.Errorf("%w: total_size %d is too large", ErrBadSnapshot, total)
	}
	return &assembler{total: total, buf: make([]byte, 0, min(total, maxSnapshotPrealloc))}, nil
}

func (a *assembler) add(p []byte) error {
	if uint64(len(a.buf))+uint64(len(p)) > a.total {
		return fmt.Errorf("%w: chunks exceed total_size %d", ErrBadSnapshot, a.total)
	}
	a.buf = append(a.buf, p...)
	return nil
}

// bytes returns the whole message once every byte has arrived.
func (a *assembler) bytes() ([]byte, error) {
	if uint64(len(a.buf)) != a.total {
		return nil, fmt.Errorf("%w: got %d of total_size %d bytes", ErrBadSnapshot, len(a.buf), a.total)
	}
	return a.buf, nil
}
