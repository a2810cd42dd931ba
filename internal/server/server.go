package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/raftnode"
	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/watch"
)

// Errors returned by Server. The gRPC layer maps them to status codes.
var (
	// ErrNoLeader: the cluster has no leader right now (an election is under
	// way or a majority is down); retry later.
	ErrNoLeader = errors.New("no raft leader")
	// ErrStopped: the server is shutting down or stopped on a fatal error.
	ErrStopped = errors.New("server stopped")
	// ErrTimeout: the request did not complete in time; a write may or may
	// not have been applied.
	ErrTimeout = errors.New("request timed out")
	// ErrNotStarted: a peer message arrived before Start.
	ErrNotStarted = errors.New("server not started")
	// ErrNoCluster: raft_dir holds no cluster and neither single nor join
	// was given.
	ErrNoCluster = errors.New("raft_dir holds no cluster state")
	// ErrClusterName: a peer belongs to another cluster.
	ErrClusterName = errors.New("cluster name mismatch")
	// ErrLeaderChanged: the leader changed while a write was in flight; it
	// may or may not have been applied.
	ErrLeaderChanged = errors.New("leader changed")
	// ErrNotLeader: the operation must run on the leader. TransferLeader
	// returns it as a *NotLeaderError, which names the leader.
	ErrNotLeader = errors.New("not the leader")
	// ErrInvalidTransfer: a leadership transfer to a node that is not
	// another voter (a non-member, a learner, the leader itself), or with
	// no other voter to take over.
	ErrInvalidTransfer = errors.New("cannot transfer leadership")
	// ErrInvalidMember: a join or leave request that cannot be applied.
	ErrInvalidMember = errors.New("invalid membership change")
	// ErrNotMember: a leave request names a node that is not a member
	// (the leader decides); nothing was removed. Peer.Leave answers it
	// with codes.NotFound, which GRPCPeerClient turns back into an error
	// that matches ErrNotMember.
	ErrNotMember = errors.New("no such member")
	// ErrNotProposed accompanies another error (ErrNoLeader, ErrNotStarted)
	// when the write certainly never entered the raft log: retrying it
	// cannot apply it twice. Errors without it leave the outcome unknown.
	ErrNotProposed = errors.New("the write was not proposed")
	// ErrRemoved: the leader no longer lists this node as a member, and it
	// stopped (Err). Its raft_dir no longer belongs to the cluster: to add
	// the node back, empty raft_dir and start it with join.
	ErrRemoved = errors.New("this node was removed from the cluster")
	// ErrFutureRevision: a watch's start_revision is beyond the next
	// revision the cluster will assign (its revision + 1), even after this
	// node caught up with the leader's commit index. The error names the
	// revision. Its text is client.FutureRevisionMessage, which the Go
	// client matches.
	ErrFutureRevision = errors.New("start_revision is in the future")
)

// Storage is what the server needs of internal/storage beyond what the raft
// node reads: the log is loaded before New.
type Storage interface {
	raftnode.Storage
	// Bootstrapped reports whether raft_dir already holds cluster state.
	Bootstrapped() bool
	// LoadedSnapshot is the snapshot Open loaded (nil or empty: none).
	LoadedSnapshot() *raftpb.Snapshot
	// HardState is the hard state Open loaded (empty: none).
	HardState() *raftpb.HardState
	snapshotStorage
}

// Peers is the part of the transport that tracks member addresses. Called
// from the apply goroutine.
type Peers interface {
	raftnode.Transport
	AddPeer(id uint64, addr string)
	RemovePeer(id uint64)
	// ReportDropped tells peer to that its proposals requestIDs were
	// dropped here (transport.Transport.ReportDropped).
	ReportDropped(to uint64, requestIDs []uint64)
	// ForwardLease asks the leader to answer a lease call of this node's
	// client (transport.Transport.ForwardLease).
	ForwardLease(ctx context.Context, to uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error)
}

// Config configures a Server.
type Config struct {
	ID          uint64
	ClusterName string
	Version     string
	// RaftAddress and GrpcAddress are this node's advertised addresses.
	RaftAddress, GrpcAddress string
	// AdminAddress is this node's admin API address as a client should
	// use it (host:port; "": not served or unknown). The leader tells it
	// to the followers that ask (Peer.Members), so that one asked to
	// transfer leadership can say where the leader's admin API is.
	AdminAddress string
	// TickInterval is one raft tick; HeartbeatTick and ElectionTick count ticks.
	TickInterval time.Duration
	// Ticks, when set, drives raft's ticks instead of a ticker (see
	// raftnode.Config.Ticks), and with them the removal check and the
	// address refresh (tickclock.go); the other timers of the server
	// (read and join retries, snapshot retries) still use TickInterval.
	// For tests that move raft's time by hand.
	Ticks                       <-chan time.Time
	HeartbeatTick, ElectionTick int
	// SnapshotLogsSinceLast: take a snapshot once this many entries were
	// applied since the last one and they hold at least as many bytes as
	// it (see snapshotDue).
	SnapshotLogsSinceLast uint64
	// MaxAppliedLogToKeep: entries kept in the log before a snapshot.
	MaxAppliedLogToKeep uint64
	// Single bootstraps a one-node cluster when raft_dir is empty.
	Single bool
	// Join lists raft addresses of members to join when raft_dir is empty.
	Join []string
	// WaitLeaderTimeout bounds how long joining retries.
	WaitLeaderTimeout time.Duration
	// JoinRetrying, when set, is called from the join goroutine with each
	// failed join attempt that will be retried (databend-meta says it on
	// stderr). It must not block.
	JoinRetrying func(Retry)
	// ObserveAppend, when set, gets the leader's per-follower append
	// latency (see raftnode.Config.ObserveAppend).
	ObserveAppend func(peer uint64, d time.Duration)
	// PeerClient reaches other nodes' peer API for join and leave; nil =
	// GRPCPeerClient with PeerDialOptions.
	PeerClient PeerClient
	// PeerDialOptions are the default PeerClient's dial options: the raft
	// port's TLS credentials and raft_secret, as the transport's.
	PeerDialOptions []grpc.DialOption
	// HistorySize is how many of the most recent changes the state
	// machine keeps so that a watch can resume from a seq
	// (watch_history_size); 0 = statemachine.DefaultHistorySize. Every
	// node of a cluster must use the same value: the history is part of
	// the replicated state.
	HistorySize int
	// HistoryRetention is how long a change stays in that history, by
	// the entries' time (watch_history_retention); 0 = no limit by time.
	// The same on every node.
	HistoryRetention time.Duration
	// MaxMessageBytes is the largest message the public API sends
	// (grpc_api_max_message_size); 0 = no bound. Every write carries it
	// (peerpb.Command.max_reply_bytes), so that one whose reply would be
	// larger is refused without being applied; a watch response over it
	// ends the stream with watch.ErrEventTooLarge.
	MaxMessageBytes int
	// Now is the wall clock; nil = time.Now. Entries are stamped with it on
	// the leader, and reads use it to hide expired keys.
	Now    func() time.Time
	Logger *slog.Logger
}

// Server ties the raft node and the state machine together: it proposes
// writes and waits for their results, serves reads, and changes membership.
type Server struct {
	cfg     Config
	lg      *slog.Logger
	storage Storage
	sm      *statemachine.StateMachine
	peers   Peers
	node    atomic.Pointer[raftnode.Node]

	stats     stats
	proposals *proposals
	applied   *appliedWait
	reqID     atomic.Uint64
	readSeq   atomic.Uint64
	readReqC  chan *readWaiter
	dataSize  dataSizeCache

	// membershipMu serializes membership changes on the leader.
	membershipMu sync.Mutex
	confState    *raftpb.ConfState // owned by the apply goroutine
	snapIndex    uint64            // owned by the apply goroutine
	// logBytes: bytes of the entries applied after snapIndex (countLog),
	// owned by the apply goroutine.
	logBytes uint64
	// snapSlack: percent added to the byte threshold of the next
	// snapshot (snapshotDue), owned by the apply goroutine.
	snapSlack   uint64
	appliedTerm uint64 // term of the last applied entry, owned by the apply goroutine
	// snapshotWanted: a node was added since the last snapshot, owned by
	// the apply goroutine.
	snapshotWanted bool
	snapshotting   atomic.Bool
	// removedC asks watchRemoval for a check: this node applied its own
	// removal (noteRemoved). mayAsk: this node has been a member, so the
	// leader's membership decides whether it was removed (removal.go).
	removedC chan struct{}
	mayAsk   atomic.Bool
	// clock runs the removal check and the address refresh on raft's
	// ticks (tickclock.go).
	clock *tickClock
	// join is where joining stands (AdminStatus.Join); nil once joined,
	// or when not joining.
	join       atomic.Pointer[JoinStatus]
	knownPeers map[uint64]bool // owned by the apply goroutine

	// hub fans the events of applied entries out to watch streams.
	hub *watch.Hub
	// applyMu is held by the apply goroutine around each Apply (or
	// snapshot restore) together with its hub.Publish (or CancelAll), and
	// by watch registration, so that a watcher registers between two
	// applies: it reads the last seq and registers for the events after
	// it with nothing published in between.
	applyMu sync.Mutex
	// leaseTerm is the term in which this node, as the leader, extended
	// the leases (or found none): it proposes expiries only in that term
	// (lease.go).
	leaseTerm atomic.Uint64
	// renewals: the keep-alives this node answered from memory as the
	// leader (lease.go).
	renewals renewals
	// snapshotRequested: TriggerSnapshot (admin.go) asks the apply
	// goroutine for a snapshot now.
	snapshotRequested atomic.Bool

	stopC    chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// New creates a server over a loaded storage. It restores the state machine
// from the storage's snapshot. Start it with Start.
func New(cfg Config, st Storage) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PeerClient == nil {
		cfg.PeerClient = GRPCPeerClient{DialOptions: cfg.PeerDialOptions}
	}
	if cfg.Logger == nil {
		return nil, errors.New("server: Logger is required")
	}
	if cfg.HistorySize == 0 {
		cfg.HistorySize = statemachine.DefaultHistorySize
	}
	s := &Server{
		cfg:       cfg,
		lg:        cfg.Logger,
		storage:   st,
		sm:        statemachine.New(statemachine.WithHistorySize(cfg.HistorySize), statemachine.WithHistoryRetention(cfg.HistoryRetention)),
		hub:       watch.NewHub(watch.WithMaxMessageBytes(cfg.MaxMessageBytes)),
		proposals: newProposals(),
		readReqC:  make(chan *readWaiter, 4096),
		stopC:     make(chan struct{}),
		confState: &raftpb.ConfState{},
		snapSlack: drawSnapshotSlack(),
		removedC:  make(chan struct{}, 1),
		clock:     newTickClock(),
	}
	// Request ids must not repeat across restarts: a replayed entry of an
	// earlier incarnation must not match a new waiter.
	s.reqID.Store(uint64(cfg.Now().UnixNano()))
	if snap := st.LoadedSnapshot(); snap != nil && !raft.IsEmptySnap(snap) {
		if err := s.restoreSnapshot(snap); err != nil {
			return nil, fmt.Errorf("restore snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
		}
	}
	s.applied = newAppliedWait(s.sm.AppliedIndex())
	return s, nil
}

// StateMachine exposes the state machine for reads by the admin layer.
func (s *Server) StateMachine() *statemachine.StateMachine { return s.sm }

// Start starts the raft node, the apply and read loops and, for a node that
// joins, the join loop in the background; the returned channel gets the
// join outcome (nil at once when not joining).
func (s *Server) Start(peers Peers) (<-chan error, error) {
	s.peers = peers
	s.syncPeers()

	rc := raftnode.Config{
		ID:            s.cfg.ID,
		TickInterval:  s.cfg.TickInterval,
		Ticks:         s.cfg.Ticks,
		OnTick:        s.clock.tick,
		HeartbeatTick: s.cfg.HeartbeatTick,
		ElectionTick:  s.cfg.ElectionTick,
		Storage:       s.storage,
		Transport:     peers,
		Applied:       s.sm.AppliedIndex(),
		Restamp:       func(data []byte) { statemachine.Restamp(data, s.nowMs()) },
		Dropped:       s.droppedForwarded,
		ObserveAppend: s.cfg.ObserveAppend,
		Logger:        s.lg,
	}
	joining := false
	switch {
	case s.storage.Bootstrapped():
		s.lg.Info("restarting from raft_dir; single and join are ignored", "id", s.cfg.ID,
			"applied", s.sm.AppliedIndex())
		// Only a member gets raft state: it may since have been removed
		// (even past the snapshot it restarts from).
		s.mayAsk.Store(true)
	case s.cfg.Single:
		ctx, err := proto.Marshal(&peerpb.ConfChangeContext{Node: s.self(true)})
		if err != nil {
			return nil, err
		}
		rc.Peers = []raft.Peer{{ID: s.cfg.ID, Context: ctx}}
		s.lg.Info("initializing a single-node cluster", "id", s.cfg.ID, "cluster", s.cfg.ClusterName)
	case len(s.cfg.Join) > 0:
		joining = true
		s.lg.Info("starting empty, to join a cluster", "id", s.cfg.ID, "join", s.cfg.Join)
	default:
		return nil, fmt.Errorf("%w: set single = true to initialize a new cluster, or join = [\"host:raft_port\"] to join one", ErrNoCluster)
	}
	// The first timers of the tick clock, set before the node takes its
	// first tick.
	refreshT, removalT, lessorT := s.clock.after(s.cfg.ElectionTick), s.clock.after(s.cfg.ElectionTick), s.clock.after(1)
	n, err := raftnode.Start(rc)
	if err != nil {
		return nil, err
	}
	s.node.Store(n)

	s.goFunc(s.applyLoop)
	s.goFunc(s.readLoop)
	s.goFunc(func() { s.refreshSelfAddress(refreshT) })
	s.goFunc(func() { s.watchRemoval(removalT) })
	s.goFunc(func() { s.lessorLoop(lessorT) })
	if s.storage.Bootstrapped() || s.cfg.Single {
		s.goFunc(func() { s.campaignIfAlone(n, max(s.storage.HardState().GetCommit(), uint64(len(rc.Peers)))) })
	}

	joinC := make(chan error, 1)
	if !joining {
		joinC <- nil
		return joinC, nil
	}
	deadline := time.Now().Add(s.cfg.WaitLeaderTimeout)
	s.join.Store(&JoinStatus{Via: s.cfg.Join, Until: deadline})
	s.goFunc(func() { joinC <- s.joinCluster(deadline) })
	return joinC, nil
}

// campaignIfAlone starts an election at once when this node is the only
// member, so that a new single-node cluster, or a restarted one, does not
// wait an election timeout before serving. raft refuses to campaign before
// the committed membership is applied (up to commit), so wait for that,
// and retry for a few ticks in case raft has not yet taken the Advance;
// the election timeout remains the fallback.
func (s *Server) campaignIfAlone(n *raftnode.Node, commit uint64) {
	select {
	case <-s.applied.wait(commit):
	case <-n.Done():
		return
	}
	nodes := s.sm.Nodes()
	if len(nodes) != 1 || nodes[0].GetId() != s.cfg.ID {
		return
	}
	for i := 0; i < 10 && n.Leader() == 0; i++ {
		if err := n.Campaign(context.Background()); err != nil {
			return
		}
		select {
		case <-time.After(s.cfg.TickInterval):
		case <-n.Done():
			return
		}
	}
}

func (s *Server) goFunc(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Stop ends every watch stream (ErrClosed), stops the raft node and every
// goroutine, and waits for them. It does not close the storage.
func (s *Server) Stop() {
	s.hub.Close()
	s.stopOnce.Do(func() { close(s.stopC) })
	if n := s.node.Load(); n != nil {
		n.Stop()
	}
	s.wg.Wait()
}

// Done is closed when the raft node stops, on Stop, a fatal error or this
// node's removal from the cluster; Err then says why.
func (s *Server) Done() <-chan struct{} {
	if n := s.node.Load(); n != nil {
		return n.Done()
	}
	return s.stopC
}

// Err is the fatal error that stopped the node, an error wrapping
// ErrRemoved, or nil.
func (s *Server) Err() error {
	if n := s.node.Load(); n != nil {
		return n.Err()
	}
	return nil
}

func (s *Server) nowMs() uint64 { return uint64(s.cfg.Now().UnixMilli()) }

// self describes this node as a member.
func (s *Server) self(voter bool) *metapb.Node {
	return &metapb.Node{Id: s.cfg.ID, RaftAddress: s.cfg.RaftAddress, GrpcAddress: s.cfg.GrpcAddress, Voter: voter}
}

// Process, ReportUnreachable and ReportSnapshot implement the transport's
// Handler by passing messages to the raft node.
func (s *Server) Process(ctx context.Context, m *raftpb.Message) error {
	n := s.node.Load()
	if n == nil {
		return ErrNotStarted
	}
	return n.Process(ctx, m)
}

// ReportUnreachable tells raft a peer could not be reached.
func (s *Server) ReportUnreachable(id uint64) {
	if n := s.node.Load(); n != nil {
		n.ReportUnreachable(id)
	}
}

// droppedForwarded is raftnode's Config.Dropped: the entries of proposals
// that peers forwarded to this node and that it dropped. Each proposer is
// told the request ids of its own, so that it fails them at once as not
// proposed (safe to retry) instead of waiting for a term change or its
// deadline (outcome unknown).
func (s *Server) droppedForwarded(ents []*raftpb.Entry) {
	byProposer := map[uint64][]uint64{}
	for _, e := range ents {
		if e.GetType() != raftpb.EntryNormal || len(e.GetData()) == 0 {
			continue
		}
		_, cmd, err := statemachine.DecodeEntry(e.GetData())
		if err != nil {
			continue // not a proposal of this version: its proposer is unknown
		}
		byProposer[cmd.GetProposer()] = append(byProposer[cmd.GetProposer()], cmd.GetRequestId())
	}
	for proposer, ids := range byProposer {
		if proposer == s.cfg.ID { // forwarded back to the node that made it
			s.ProposalsDropped(proposer, ids)
		} else if s.peers != nil {
			s.peers.ReportDropped(proposer, ids)
		}
	}
}

// ProposalsDropped fails this node's proposals that node from dropped
// without putting them in the log (transport.Handler).
func (s *Server) ProposalsDropped(from uint64, requestIDs []uint64) {
	err := fmt.Errorf("%w: %w: node %d dropped the proposal (it knew no leader, leadership was being transferred, or too many proposals were waiting); retry",
		ErrNoLeader, ErrNotProposed, from)
	for _, id := range requestIDs {
		s.proposals.trigger(id, &statemachine.Result{Err: err})
	}
}

// ReportSnapshot tells raft how a snapshot send ended.
func (s *Server) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	if n := s.node.Load(); n != nil {
		n.ReportSnapshot(id, status)
	}
}
