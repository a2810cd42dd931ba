package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
)

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// fakeHandler records what a transport hands it. Its channels are large
// and written without blocking, so a slow test never stalls a transport.
type fakeHandler struct {
	dataSnapshots
	msgC         chan *raftpb.Message
	unreachableC chan uint64
	snapshotC    chan snapshotReport
	droppedC     chan droppedReport
	// process, when set, runs first in Process; its error is returned.
	process func(m *raftpb.Message) error
	// receive, when set, sees every received snapshot file; its error
	// refuses it.
	receive func(file []byte) error
	// lease, when set, answers PeerLease; else it fails.
	lease func(ctx context.Context, from uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error)
}

func (h *fakeHandler) PeerLease(ctx context.Context, from uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
	if h.lease == nil {
		return nil, errors.New("fakeHandler: no lease calls here")
	}
	return h.lease(ctx, from, req)
}

func (h *fakeHandler) ReceiveSnapshot(md *raftpb.SnapshotMetadata, r io.Reader, size int64) ([]byte, error) {
	b, err := h.dataSnapshots.ReceiveSnapshot(md, r, size)
	if err == nil && h.receive != nil {
		err = h.receive(b)
	}
	return b, err
}

func newFakeHandler() *fakeHandler {
	return &fakeHandler{
		msgC:         make(chan *raftpb.Message, 1<<16),
		unreachableC: make(chan uint64, 1<<16),
		snapshotC:    make(chan snapshotReport, 1<<10),
		droppedC:     make(chan droppedReport, 1<<10),
	}
}

// droppedReport is one ProposalsDropped call.
type droppedReport struct {
	from uint64
	ids  []uint64
}

func (h *fakeHandler) ProposalsDropped(from uint64, ids []uint64) {
	h.droppedC <- droppedReport{from, ids}
}

// recvDropped waits for the next ProposalsDropped report.
func (h *fakeHandler) recvDropped(t *testing.T) droppedReport {
	t.Helper()
	select {
	case r := <-h.droppedC:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("no dropped-proposals report arrived")
		return droppedReport{}
	}
}

func (h *fakeHandler) Process(_ context.Context, m *raftpb.Message) error {
	if h.process != nil {
		if err := h.process(m); err != nil {
			return err
		}
	}
	select {
	case h.msgC <- m:
	default:
		panic("fakeHandler: msgC full")
	}
	return nil
}

func (h *fakeHandler) ReportUnreachable(id uint64) {
	select {
	case h.unreachableC <- id:
	default:
	}
}

func (h *fakeHandler) ReportSnapshot(id uint64, status raft.SnapshotStatus) {
	h.snapshotC <- snapshotReport{id, status}
}

// recv waits for the next message Process received.
func (h *fakeHandler) recv(t *testing.T) *raftpb.Message {
	t.Helper()
	select {
	case m := <-h.msgC:
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no message arrived")
		return nil
	}
}

// noMsg fails if a message was received.
func (h *fakeHandler) noMsg(t *testing.T) {
	t.Helper()
	select {
	case m := <-h.msgC:
		t.Fatalf("unexpected message %v", m)
	default:
	}
}

// waitUnreachable waits for a ReportUnreachable(id), skipping other ids.
func (h *fakeHandler) waitUnreachable(t *testing.T, id uint64) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case got := <-h.unreachableC:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("no ReportUnreachable(%d)", id)
		}
	}
}

// waitSnapshot waits for the next ReportSnapshot.
func (h *fakeHandler) waitSnapshot(t *testing.T) snapshotReport {
	t.Helper()
	select {
	case r := <-h.snapshotC:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("no ReportSnapshot")
		return snapshotReport{}
	}
}

// app returns a MsgApp carrying one entry of size bytes at index.
func app(from, to, index uint64, size int) *raftpb.Message {
	return &raftpb.Message{
		Type:    raftpb.MsgApp.Enum(),
		From:    proto.Uint64(from),
		To:      proto.Uint64(to),
		Term:    proto.Uint64(1),
		Index:   proto.Uint64(index),
		Entries: []*raftpb.Entry{{Index: proto.Uint64(index + 1), Term: proto.Uint64(1), Data: make([]byte, size)}},
	}
}

// snap returns a MsgSnap whose snapshot holds data.
func snap(from, to uint64, data []byte) *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MsgSnap.Enum(),
		From: proto.Uint64(from),
		To:   proto.Uint64(to),
		Term: proto.Uint64(1),
		Snapshot: &raftpb.Snapshot{
			Data: data,
			Metadata: &raftpb.SnapshotMetadata{
				Index:     proto.Uint64(100),
				Term:      proto.Uint64(1),
				ConfState: &raftpb.ConfState{Voters: []uint64{from, to}},
			},
		},
	}
}

// peerService serves a transport's Raft, Snapshot, ProposalsDropped and
// Lease as grpcapi.Peer does.
type peerService struct {
	peerpb.UnimplementedPeerServer
	t *GRPC
}

func (s peerService) Raft(st peerpb.Peer_RaftServer) error         { return s.t.Raft(st) }
func (s peerService) Snapshot(st peerpb.Peer_SnapshotServer) error { return s.t.Snapshot(st) }
func (s peerService) ProposalsDropped(ctx context.Context, req *peerpb.ProposalsDroppedRequest) (*peerpb.ProposalsDroppedReply, error) {
	return s.t.ProposalsDropped(ctx, req)
}
func (s peerService) Lease(ctx context.Context, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
	return s.t.Lease(ctx, req)
}

// node is a GRPC transport served on a loopback listener.
type node struct {
	id   uint64
	addr string
	h    *fakeHandler
	tr   *GRPC
	srv  *grpc.Server
	once sync.Once
}

// startNode starts node id of cluster on a new loopback port.
func startNode(t *testing.T, id uint64, cluster string) *node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveNode(t, l, id, cluster, GRPCConfig{})
}

// serveNode starts node id on l; cfg's ID, cluster and address are set.
func serveNode(t *testing.T, l net.Listener, id uint64, cluster string, cfg GRPCConfig) *node {
	t.Helper()
	n := &node{id: id, addr: l.Addr().String(), h: newFakeHandler()}
	n.tr, n.srv = serveTransport(l, id, cluster, cfg, n.h)
	t.Cleanup(n.stop)
	return n
}

// serveTransport starts a GRPC transport for node id with handler h and a
// gRPC server for it on l, with ServerFlowControl as the raft port has
// (or opts instead, when given); the caller stops both.
func serveTransport(l net.Listener, id uint64, cluster string, cfg GRPCConfig, h Handler, opts ...grpc.ServerOption) (*GRPC, *grpc.Server) {
	cfg.ID, cfg.ClusterName, cfg.AdvertiseAddr = id, cluster, l.Addr().String()
	tr := NewGRPC(cfg, h)
	if opts == nil {
		opts = ServerFlowControl()
	}
	srv := grpc.NewServer(opts...)
	peerpb.RegisterPeerServer(srv, peerService{t: tr})
	go func() { _ = srv.Serve(l) }()
	return tr, srv
}

// stop stops the server and then the transport (the order main uses).
func (n *node) stop() {
	n.once.Do(func() {
		n.srv.Stop()
		n.tr.Stop()
	})
}

// peerStats returns n's counters for peer id.
func (n *node) peerStats(id uint64) PeerStats {
	for _, s := range n.tr.Stats() {
		if s.ID == id {
			return s
		}
	}
	return PeerStats{ID: id}
}

// closedAddr returns a loopback address where nothing listens (yet).
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// leakCheck records the number of goroutines; the returned func fails the
// test unless it comes back to that number within a few seconds (gRPC's
// connection goroutines end shortly after Close returns).
func leakCheck(t *testing.T) func() {
	t.Helper()
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutines: %d before, %d after:\n%s", before, runtime.NumGoroutine(), buf)
			}
			// Polled: gRPC's goroutines end on their own after Close,
			// with no event to wait on.
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// dataSnapshots is a Snapshots for tests in which a snapshot's Data is its
// whole file: OpenSnapshot streams Data, and ReceiveSnapshot returns what
// it read as the Data of the received MsgSnap.
type dataSnapshots struct{}

func (dataSnapshots) OpenSnapshot(sn *raftpb.Snapshot) (io.ReadCloser, int64, error) {
	return io.NopCloser(bytes.NewReader(sn.GetData())), int64(len(sn.GetData())), nil
}

func (dataSnapshots) ReceiveSnapshot(_ *raftpb.SnapshotMetadata, r io.Reader, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
