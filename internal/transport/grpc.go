package transport

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/metasrv/metasrv/api/peerpb"
)

// GRPCConfig configures a GRPC transport.
type GRPCConfig struct {
	// ID is this node's raft id; never 0.
	ID uint64
	// ClusterName is sent with every batch and checked on receipt: nodes of
	// different clusters refuse each other's messages.
	ClusterName string
	// AdvertiseAddr is this node's raft address as peers reach it, sent as
	// from_address so that a peer that does not know this node yet can
	// answer. Empty: peers cannot learn it.
	AdvertiseAddr string
	// Logger receives the transport's logs. Nil: discarded.
	Logger *slog.Logger
	// DialOptions are added after the defaults (insecure credentials, a
	// reconnect backoff of at most 1s), so they can override them, e.g.
	// with TLS credentials or keepalive parameters. A keepalive more
	// frequent than 5 minutes needs a matching keepalive.EnforcementPolicy
	// on the peers' gRPC servers.
	DialOptions []grpc.DialOption

	// QueueSize is the number of messages queued per peer before Send
	// drops. Default 4096.
	QueueSize int
	// MaxBatchBytes caps the marshaled messages in one RaftBatch; a single
	// larger message travels alone. Keep it well under the peers' gRPC
	// MaxRecvMsgSize. Default 1 MiB.
	MaxBatchBytes int
	// SnapshotChunkBytes is the size of one SnapshotChunk. Default 1 MiB.
	SnapshotChunkBytes int
	// SnapshotIdleTimeout fails a snapshot send when no chunk (or the final
	// acknowledgement) got through for this long. Default 30s.
	SnapshotIdleTimeout time.Duration
}

// Flow-control windows of the peer connections, in bytes, static on both
// ends: NewGRPC dials with them and ServerFlowControl serves them on the
// raft port. gRPC's default window grows by estimating the bandwidth-delay
// product, which pings the other end whenever data arrives while no such
// ping is out: at the rate raft batches flow, a ping and its ack for nearly
// every batch, a third of the raft port's reads and writes
// (docs/PERFORMANCE.md). 4 MiB a stream still moves a snapshot at 80 MB/s
// over a 50 ms round trip.
const (
	StreamWindow = 4 << 20
	ConnWindow   = 16 << 20
)

// ServerFlowControl returns the options of the raft port's gRPC server that
// set its flow-control windows to StreamWindow and ConnWindow.
func ServerFlowControl() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.StaticStreamWindowSize(StreamWindow), grpc.StaticConnWindowSize(ConnWindow)}
}

// Defaults of GRPCConfig.
const (
	DefaultQueueSize           = 4096
	DefaultMaxBatchBytes       = 1 << 20
	DefaultSnapshotChunkBytes  = 1 << 20
	DefaultSnapshotIdleTimeout = 30 * time.Second
)

// Reconnect backoff of a peer's message stream.
const (
	minRetryDelay = 50 * time.Millisecond
	maxRetryDelay = time.Second
)

func (c GRPCConfig) withDefaults() GRPCConfig {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if c.SnapshotChunkBytes <= 0 {
		c.SnapshotChunkBytes = DefaultSnapshotChunkBytes
	}
	if c.SnapshotIdleTimeout <= 0 {
		c.SnapshotIdleTimeout = DefaultSnapshotIdleTimeout
	}
	return c
}

// GRPC is the Transport between real nodes: it sends over gRPC streams of
// the Peer service and serves that service's Raft and Snapshot methods.
type GRPC struct {
	cfg      GRPCConfig
	h        Handler
	lg       *slog.Logger
	rep      *reporter
	dialOpts []grpc.DialOption

	// ctx is cancelled by Stop; every goroutine and stream derives from it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine, and inbound Process calls

	mu struct {
		sync.Mutex
		stopped bool
		peers   map[uint64]*peer
		// removed holds ids RemovePeer dropped: they are not learned again
		// from a from_address (a removed node may keep sending).
		removed map[uint64]bool
		stats   map[uint64]*counters
	}
}

var _ Transport = (*GRPC)(nil)

// NewGRPC returns a running transport with no peers. h receives what
// arrives through Raft and Snapshot, and the outcome of sends.
func NewGRPC(cfg GRPCConfig, h Handler) *GRPC {
	if cfg.ID == 0 {
		panic("transport: GRPCConfig.ID must not be 0")
	}
	cfg = cfg.withDefaults()
	t := &GRPC{
		cfg: cfg,
		h:   h,
		lg:  cfg.Logger.With("component", "transport", "id", cfg.ID),
		rep: newReporter(h),
	}
	t.dialOpts = append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   time.Second,
			},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithStaticStreamWindowSize(StreamWindow),
		grpc.WithStaticConnWindowSize(ConnWindow),
	}, cfg.DialOptions...)
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.mu.peers = make(map[uint64]*peer)
	t.mu.removed = make(map[uint64]bool)
	t.mu.stats = make(map[uint64]*counters)
	t.mu.Lock()
	t.goLocked(func() { t.rep.run(t.ctx.Done()) })
	t.mu.Unlock()
	return t
}

// goLocked runs f on a tracked goroutine. t.mu is held and not stopped.
func (t *GRPC) goLocked(f func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}

// enter registers an inbound call of the Handler so that Stop waits for
// it; false once stopped. The caller calls t.wg.Done when finished.
func (t *GRPC) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		return false
	}
	t.wg.Add(1)
	return true
}

// Send queues msgs per destination peer; see Transport.
func (t *GRPC) Send(msgs []*raftpb.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		return
	}
	for _, m := range msgs {
		to := m.GetTo()
		p := t.mu.peers[to]
		switch {
		case p == nil:
			t.countersLocked(to).msgsDropped.Add(1)
			t.lg.Debug("dropped message to unknown peer", "to", to, "type", m.GetType())
			t.dropLocked(to, m)
		case m.GetType() == raftpb.MsgSnap:
			p.startSnapshotLocked(m)
		default:
			select {
			case p.msgC <- m:
			default:
				p.stats.msgsDropped.Add(1)
				t.dropLocked(to, m)
			}
		}
	}
}

// ReportDropped sends the report to peer to on its own goroutine; see
// Transport.
func (t *GRPC) ReportDropped(to uint64, requestIDs []uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped || len(requestIDs) == 0 {
		return
	}
	p := t.mu.peers[to]
	if p == nil {
		t.lg.Debug("cannot report dropped proposals to an unknown peer", "peer", to, "proposals", len(requestIDs))
		return
	}
	p.startReportDroppedLocked(slices.Clone(requestIDs))
}

// ForwardLease calls Peer.Lease on peer to, over the connection its raft
// messages take; see Transport.
func (t *GRPC) ForwardLease(ctx context.Context, to uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
	t.mu.Lock()
	p := t.mu.peers[to]
	if t.mu.stopped || p == nil {
		stopped := t.mu.stopped
		t.mu.Unlock()
		if stopped {
			return nil, ErrStopped
		}
		return nil, fmt.Errorf("%w: node %d is not a known peer", ErrUnknownPeer, to)
	}
	p.callWG.Add(1)
	t.mu.Unlock()
	defer p.callWG.Done()
	// The call ends with the peer (removed, or the transport stopped).
	ctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(p.ctx, cancel)()
	defer cancel()
	req = &peerpb.LeaseForward{ClusterName: t.cfg.ClusterName, From: t.cfg.ID, To: to, Id: req.GetId(), Op: req.GetOp()}
	return p.client.Lease(ctx, req)
}

// dropLocked reports a message that was not sent.
func (t *GRPC) dropLocked(to uint64, m *raftpb.Message) {
	t.rep.unreachable(to)
	if m.GetType() == raftpb.MsgSnap {
		t.countersLocked(to).snapshotFailures.Add(1)
		t.rep.snapshot(to, raft.SnapshotFailure)
	}
}

// AddPeer adds a peer or changes its address. Messages queued for the old
// address are dropped. Ids 0 and this node's own are ignored.
func (t *GRPC) AddPeer(id uint64, addr string) {
	if id == 0 || id == t.cfg.ID || addr == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mu.removed, id)
	t.addPeerLocked(id, addr)
}

func (t *GRPC) addPeerLocked(id uint64, addr string) {
	if t.mu.stopped {
		return
	}
	if old := t.mu.peers[id]; old != nil {
		if old.addr == addr {
			return
		}
		t.removePeerLocked(old)
	}
	conn, err := grpc.NewClient(addr, t.dialOpts...)
	if err != nil {
		t.lg.Error("cannot create a client for peer; messages to it are dropped",
			"peer", id, "addr", addr, "err", err)
		return
	}
	p := newPeer(t, id, addr, conn, t.countersLocked(id))
	t.mu.peers[id] = p
	t.goLocked(p.run)
	t.lg.Info("peer added", "peer", id, "addr", addr)
}

// RemovePeer forgets a peer: its streams are closed, queued messages and a
// snapshot in flight are dropped (the snapshot reports SnapshotFailure).
// The peer is not learned again from its from_address until AddPeer.
func (t *GRPC) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.stopped {
		return
	}
	t.mu.removed[id] = true
	if p := t.mu.peers[id]; p != nil {
		t.removePeerLocked(p)
		t.lg.Info("peer removed", "peer", id, "addr", p.addr)
	}
}

func (t *GRPC) removePeerLocked(p *peer) {
	delete(t.mu.peers, p.id)
	p.cancel() // its goroutines end; the last closes the connection
}

// learn adds the sender of an inbound stream to the address book when it is
// not known yet (see the package doc).
func (t *GRPC) learn(id uint64, addr string) {
	if addr == "" || id == 0 || id == t.cfg.ID {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.peers[id] != nil || t.mu.removed[id] {
		return
	}
	t.lg.Info("learned peer address from its messages", "peer", id, "addr", addr)
	t.addPeerLocked(id, addr)
}

// Stop closes every stream and connection, stops every goroutine the
// transport started and waits for them and for Handler calls in progress.
// Inbound streams then end with codes.Unavailable at their next batch; the
// gRPC server that serves them owns their goroutines.
func (t *GRPC) Stop() {
	t.mu.Lock()
	if t.mu.stopped {
		t.mu.Unlock()
		return
	}
	t.mu.stopped = true
	for _, p := range t.mu.peers {
		t.removePeerLocked(p)
	}
	t.mu.Unlock()
	t.cancel()
	t.wg.Wait()
}

// Peers returns the address book: peer id -> address.
func (t *GRPC) Peers() map[uint64]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[uint64]string, len(t.mu.peers))
	for id, p := range t.mu.peers {
		out[id] = p.addr
	}
	return out
}

// Stats returns the counters of every peer that traffic was exchanged with
// (or attempted), ordered by id.
func (t *GRPC) Stats() []PeerStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PeerStats, 0, len(t.mu.stats))
	for _, id := range slices.Sorted(maps.Keys(t.mu.stats)) {
		addr := ""
		if p := t.mu.peers[id]; p != nil {
			addr = p.addr
		}
		out = append(out, t.mu.stats[id].snapshot(id, addr))
	}
	return out
}

func (t *GRPC) counters(id uint64) *counters {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.countersLocked(id)
}

func (t *GRPC) countersLocked(id uint64) *counters {
	c := t.mu.stats[id]
	if c == nil {
		c = new(counters)
		t.mu.stats[id] = c
	}
	return c
}

// newBatch returns an empty RaftBatch from this node to id.
func (t *GRPC) newBatch(to uint64) *peerpb.RaftBatch {
	return &peerpb.RaftBatch{
		ClusterName: t.cfg.ClusterName,
		From:        t.cfg.ID,
		FromAddress: t.cfg.AdvertiseAddr,
		To:          to,
	}
}
