package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
)

// errSnapshotStalled ends a snapshot send that made no progress for
// SnapshotIdleTimeout.
var errSnapshotStalled = errors.New("snapshot send made no progress")

// peer is the sending side towards one peer: one connection, one goroutine
// (run) that owns the long-lived Raft stream, and one goroutine per
// snapshot in flight.
type peer struct {
	t      *GRPC
	id     uint64
	addr   string
	conn   *grpc.ClientConn
	client peerpb.PeerClient
	stats  *counters
	msgC   chan *raftpb.Message

	// ctx is cancelled when the peer is removed or the transport stops.
	ctx    context.Context
	cancel context.CancelFunc
	// callWG counts the calls to the peer besides run's stream (snapshot
	// sends and dropped-proposal reports on goroutines of their own,
	// forwarded lease calls on their callers'): run closes conn after
	// they end. Add is called under t.mu while the peer is in
	// t.mu.peers, so always before run's Wait.
	callWG sync.WaitGroup

	failing bool // run: the last attempt failed (log the next failure at debug)
}

func newPeer(t *GRPC, id uint64, addr string, conn *grpc.ClientConn, c *counters) *peer {
	p := &peer{
		t:      t,
		id:     id,
		addr:   addr,
		conn:   conn,
		client: peerpb.NewPeerClient(conn),
		stats:  c,
		msgC:   make(chan *raftpb.Message, t.cfg.QueueSize),
	}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	return p
}

// run sends queued messages in batches on a Raft stream until the peer is
// removed. A failed stream is dropped; it reopens after a backoff, during
// which new messages are dropped and reported at once.
func (p *peer) run() {
	defer func() {
		p.callWG.Wait()
		p.conn.Close()
	}()
	var s *raftStream
	defer func() {
		if s != nil {
			s.close()
		}
	}()
	delay := minRetryDelay
	var carry []byte // a marshaled message that did not fit the last batch
	for {
		if carry == nil {
			select {
			case m := <-p.msgC:
				carry, _ = p.marshal(m)
				continue
			case <-p.ctx.Done():
				return
			}
		}
		b := p.t.newBatch(p.id)
		carry = p.fill(b, carry)
		var err error
		if s == nil {
			s, err = p.openStream()
		}
		if err == nil {
			err = s.send(b)
		}
		if err != nil {
			if s != nil {
				s.close()
				s = nil
			}
			p.fail(b, err)
			if !p.pause(delay) {
				return
			}
			delay = min(2*delay, maxRetryDelay)
			continue
		}
		p.sent(b)
		delay = minRetryDelay
	}
}

// marshal encodes m; false (and an error log) if it cannot be. The result
// is never nil when true.
func (p *peer) marshal(m *raftpb.Message) ([]byte, bool) {
	data, err := proto.Marshal(m)
	if err != nil {
		p.stats.msgsDropped.Add(1)
		p.t.lg.Error("cannot marshal raft message; dropped", "peer", p.id, "type", m.GetType(), "err", err)
		return nil, false
	}
	if data == nil {
		data = []byte{}
	}
	return data, true
}

// fill puts first into b, then every queued message while the batch stays
// within MaxBatchBytes. It returns the marshaled message that did not fit.
func (p *peer) fill(b *peerpb.RaftBatch, first []byte) []byte {
	b.Msgs = append(b.Msgs, first)
	size := len(first)
	for {
		select {
		case m := <-p.msgC:
			data, ok := p.marshal(m)
			if !ok {
				continue
			}
			if size+len(data) > p.t.cfg.MaxBatchBytes {
				return data
			}
			b.Msgs = append(b.Msgs, data)
			size += len(data)
		default:
			return nil
		}
	}
}

// sent counts a batch handed to the stream.
func (p *peer) sent(b *peerpb.RaftBatch) {
	p.stats.batchesSent.Add(1)
	p.stats.msgsSent.Add(uint64(len(b.Msgs)))
	for _, m := range b.Msgs {
		p.stats.bytesSent.Add(uint64(len(m)))
	}
	if p.failing {
		p.failing = false
		p.t.lg.Info("peer reachable again", "peer", p.id, "addr", p.addr)
	}
}

// fail counts and reports a batch that was not sent.
func (p *peer) fail(b *peerpb.RaftBatch, err error) {
	p.stats.sendFailures.Add(1)
	p.stats.msgsDropped.Add(uint64(len(b.Msgs)))
	p.t.rep.unreachable(p.id)
	if p.ctx.Err() != nil {
		return
	}
	lvl := p.t.lg.Warn
	if p.failing {
		lvl = p.t.lg.Debug
	}
	p.failing = true
	lvl("cannot send to peer; messages dropped, retrying", "peer", p.id, "addr", p.addr, "msgs", len(b.Msgs), "err", err)
}

// pause waits d, dropping (and reporting) messages queued meanwhile: they
// would be stale by the time the peer is back. False if the peer is gone.
func (p *peer) pause(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			return true
		case <-p.msgC:
			p.stats.msgsDropped.Add(1)
			p.t.rep.unreachable(p.id)
		case <-p.ctx.Done():
			return false
		}
	}
}

// raftStream is one open Peer.Raft client stream.
type raftStream struct {
	stream peerpb.Peer_RaftClient
	cancel context.CancelFunc
}

func (p *peer) openStream() (*raftStream, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	st, err := p.client.Raft(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open raft stream: %w", err)
	}
	return &raftStream{stream: st, cancel: cancel}, nil
}

func (s *raftStream) send(b *peerpb.RaftBatch) error {
	if err := s.stream.Send(b); err != nil {
		return streamError(s.stream, new(peerpb.RaftAck), err)
	}
	return nil
}

func (s *raftStream) close() { s.cancel() }

// streamError returns the status the server ended a client stream with,
// when Send reports only io.EOF.
func streamError(st grpc.ClientStream, reply any, err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	if rerr := st.RecvMsg(reply); rerr != nil && !errors.Is(rerr, io.EOF) {
		return rerr
	}
	return fmt.Errorf("peer closed the stream: %w", err)
}

// reportDroppedTimeout bounds one ProposalsDropped call.
const reportDroppedTimeout = 5 * time.Second

// startReportDroppedLocked sends ids to the peer with ProposalsDropped on
// its own goroutine. t.mu is held and p is in t.mu.peers.
func (p *peer) startReportDroppedLocked(ids []uint64) {
	req := &peerpb.ProposalsDroppedRequest{
		ClusterName: p.t.cfg.ClusterName,
		From:        p.t.cfg.ID,
		To:          p.id,
		RequestIds:  ids,
	}
	p.callWG.Add(1)
	p.t.goLocked(func() {
		defer p.callWG.Done()
		ctx, cancel := context.WithTimeout(p.ctx, reportDroppedTimeout)
		defer cancel()
		if _, err := p.client.ProposalsDropped(ctx, req); err != nil {
			p.t.lg.Debug("cannot report dropped proposals to their proposer", "peer", p.id,
				"proposals", len(ids), "err", err)
		}
	})
}

// startSnapshotLocked sends m on its own goroutine. t.mu is held and p is
// in t.mu.peers.
func (p *peer) startSnapshotLocked(m *raftpb.Message) {
	p.callWG.Add(1)
	p.t.goLocked(func() {
		defer p.callWG.Done()
		p.sendSnapshot(m)
	})
}

// sendSnapshot streams m and reports the outcome.
func (p *peer) sendSnapshot(m *raftpb.Message) {
	start := time.Now()
	size, err := p.streamSnapshot(m)
	if err != nil {
		p.stats.snapshotFailures.Add(1)
		p.t.lg.Warn("snapshot send failed", "peer", p.id, "addr", p.addr,
			"index", m.GetSnapshot().GetMetadata().GetIndex(), "err", err)
		p.t.rep.snapshot(p.id, raft.SnapshotFailure)
		return
	}
	p.stats.snapshotsSent.Add(1)
	p.t.lg.Info("snapshot sent", "peer", p.id, "index", m.GetSnapshot().GetMetadata().GetIndex(),
		"bytes", size, "took", time.Since(start))
	p.t.rep.snapshot(p.id, raft.SnapshotFinish)
}

// streamSnapshot sends m with Peer.Snapshot: the snapshot stream header
// (snapshotHeader: m without its Data), then m's snapshot file, read from
// the Handler's Snapshots in chunks of SnapshotChunkBytes; the first chunk
// carries the call's header and total_size. It returns the bytes sent.
// Neither the file nor the message is ever held whole in memory.
func (p *peer) streamSnapshot(m *raftpb.Message) (int64, error) {
	f, size, err := p.t.h.OpenSnapshot(m.GetSnapshot())
	if err != nil {
		return 0, fmt.Errorf("open snapshot file: %w", err)
	}
	defer f.Close()
	head, err := snapshotHeader(m)
	if err != nil {
		return 0, err
	}
	total := int64(len(head)) + size

	ctx, cancel := context.WithCancelCause(p.ctx)
	defer cancel(nil)
	idle := p.t.cfg.SnapshotIdleTimeout
	watchdog := time.AfterFunc(idle, func() { cancel(fmt.Errorf("%w for %v", errSnapshotStalled, idle)) })
	defer watchdog.Stop()
	cause := func(err error) error {
		if c := context.Cause(ctx); c != nil && !errors.Is(err, c) {
			return fmt.Errorf("%w (%v)", c, err)
		}
		return err
	}

	st, err := p.client.Snapshot(ctx)
	if err != nil {
		return 0, cause(fmt.Errorf("open snapshot stream: %w", err))
	}
	chunk := p.t.cfg.SnapshotChunkBytes
	var sent int64
	for sent < total {
		// A new buffer each time: gRPC may hold on to a sent message.
		buf := make([]byte, min(int64(chunk), total-sent))
		n := 0
		if sent < int64(len(head)) {
			n = copy(buf, head[sent:])
		}
		if _, err := io.ReadFull(f, buf[n:]); err != nil {
			return sent, fmt.Errorf("read snapshot file: %w", err)
		}
		c := &peerpb.SnapshotChunk{Data: buf}
		if sent == 0 {
			c.ClusterName = p.t.cfg.ClusterName
			c.From = p.t.cfg.ID
			c.FromAddress = p.t.cfg.AdvertiseAddr
			c.To = p.id
			c.TotalSize = uint64(total)
		}
		if err := st.Send(c); err != nil {
			return sent, cause(streamError(st, new(peerpb.SnapshotAck), err))
		}
		sent += int64(len(buf))
		p.stats.bytesSent.Add(uint64(len(buf)))
		watchdog.Reset(idle)
	}
	if _, err := st.CloseAndRecv(); err != nil {
		return sent, cause(err)
	}
	return sent, nil
}
