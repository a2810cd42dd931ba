package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/h2count"
)

func TestGRPCDeliversInOrder(t *testing.T) {
	n1, n2 := startNode(t, 1, "c"), startNode(t, 2, "c")
	n1.tr.AddPeer(2, n2.addr)

	const total = 2000
	var index uint64
	for index < total {
		// Sends of 1..50 messages, as a Ready loop makes them.
		var msgs []*raftpb.Message
		for k := 1 + rand.IntN(50); k > 0 && index < total; k-- {
			index++
			msgs = append(msgs, app(1, 2, index, 100))
		}
		n1.tr.Send(msgs)
	}
	for want := uint64(1); want <= total; want++ {
		m := n2.h.recv(t)
		if m.GetIndex() != want || m.GetFrom() != 1 || m.GetType() != raftpb.MsgApp || len(m.GetEntries()[0].GetData()) != 100 {
			t.Fatalf("message %d: got %v", want, m)
		}
	}
	sent, recv := n1.peerStats(2), n2.peerStats(1)
	if sent.MsgsSent != total || sent.BatchesSent == 0 || sent.BatchesSent > total || sent.MsgsDropped != 0 {
		t.Errorf("sender stats %+v", sent)
	}
	if recv.MsgsReceived != total || recv.BytesReceived != sent.BytesSent {
		t.Errorf("receiver stats %+v, sender sent %d bytes", recv, sent.BytesSent)
	}
	t.Logf("%d messages in %d batches", sent.MsgsSent, sent.BatchesSent)
}

func TestGRPCThreeNodesFullMesh(t *testing.T) {
	nodes := []*node{startNode(t, 1, "c"), startNode(t, 2, "c"), startNode(t, 3, "c")}
	for _, a := range nodes {
		for _, b := range nodes {
			a.tr.AddPeer(b.id, b.addr) // its own id is ignored
		}
	}
	const each = 300
	for i := uint64(1); i <= each; i++ {
		for _, a := range nodes {
			var msgs []*raftpb.Message
			for _, b := range nodes {
				if a != b {
					msgs = append(msgs, app(a.id, b.id, i, 10))
				}
			}
			a.tr.Send(msgs)
		}
	}
	for _, b := range nodes {
		next := map[uint64]uint64{} // sender -> next index expected
		for range 2 * each {
			m := b.h.recv(t)
			next[m.GetFrom()]++
			if m.GetIndex() != next[m.GetFrom()] || m.GetTo() != b.id {
				t.Fatalf("node %d: got index %d from %d, want %d", b.id, m.GetIndex(), m.GetFrom(), next[m.GetFrom()])
			}
		}
	}
}

// TestGRPCStaticWindowsSendNoPings sends 100 messages one at a time, each
// once the one before was delivered, as raft batches flow under light
// load. With the windows of ServerFlowControl (and the transport's dial
// options) no ping goes either way; with gRPC's default on the server, the
// server pings to estimate its window.
func TestGRPCStaticWindowsSendNoPings(t *testing.T) {
	for _, tt := range []struct {
		name      string
		opts      []grpc.ServerOption
		wantPings bool
	}{
		{"ServerFlowControl", ServerFlowControl(), false},
		{"gRPC's default windows", []grpc.ServerOption{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l1, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			h := newFakeHandler()
			tr2, srv := serveTransport(l, 2, "c", GRPCConfig{}, h, tt.opts...)
			defer tr2.Stop()
			defer srv.Stop()
			var d h2count.Dialer
			n1 := serveNode(t, l1, 1, "c", GRPCConfig{DialOptions: []grpc.DialOption{grpc.WithContextDialer(d.Dial)}})
			n1.tr.AddPeer(2, l.Addr().String())
			for i := uint64(1); i <= 100; i++ {
				n1.tr.Send([]*raftpb.Message{app(1, 2, i, 100)})
				if m := h.recv(t); m.GetIndex() != i {
					t.Fatalf("got index %d, want %d", m.GetIndex(), i)
				}
			}
			sent, received := d.Pings()
			if got := sent+received > 0; got != tt.wantPings {
				t.Errorf("pings sent %d, received %d; want some: %v", sent, received, tt.wantPings)
			}
		})
	}
}

func TestGRPCBatchesQueuedMessages(t *testing.T) {
	tr := NewGRPC(GRPCConfig{ID: 1, ClusterName: "c", MaxBatchBytes: 1000}, newFakeHandler())
	defer tr.Stop()
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p := newPeer(tr, 2, "127.0.0.1:1", conn, new(counters))

	for i := range 30 {
		p.msgC <- app(1, 2, uint64(i+1), 50) // about 70 bytes marshaled
	}
	first, _ := p.marshal(<-p.msgC)
	var batches [][][]byte
	for carry := first; carry != nil; {
		b := tr.newBatch(2)
		carry = p.fill(b, carry)
		if b.GetTo() != 2 || b.GetFrom() != 1 || b.GetClusterName() != "c" {
			t.Fatalf("header %+v", b)
		}
		batches = append(batches, b.GetMsgs())
	}
	if len(p.msgC) != 0 {
		t.Fatalf("%d messages left in the queue", len(p.msgC))
	}
	var index uint64
	for i, msgs := range batches {
		size := 0
		for _, raw := range msgs {
			size += len(raw)
			m := new(raftpb.Message)
			if err := proto.Unmarshal(raw, m); err != nil {
				t.Fatal(err)
			}
			index++
			if m.GetIndex() != index {
				t.Fatalf("batch %d: index %d, want %d", i, m.GetIndex(), index)
			}
		}
		if size > 1000 {
			t.Errorf("batch %d holds %d bytes, over MaxBatchBytes", i, size)
		}
	}
	if index != 30 || len(batches) < 2 {
		t.Fatalf("%d messages in %d batches", index, len(batches))
	}

	// A message larger than MaxBatchBytes travels alone.
	p.msgC <- app(1, 2, 1, 10)
	b := tr.newBatch(2)
	big, _ := p.marshal(app(1, 2, 0, 5000))
	carry := p.fill(b, big)
	if len(b.GetMsgs()) != 1 || carry == nil {
		t.Fatalf("big message: batch of %d, carry %v", len(b.GetMsgs()), carry != nil)
	}
}

func TestGRPCLearnsPeerFromFromAddress(t *testing.T) {
	n1, n2 := startNode(t, 1, "c"), startNode(t, 2, "c")
	n1.tr.AddPeer(2, n2.addr) // n2 does not know n1: a joining node, say

	n1.tr.Send([]*raftpb.Message{app(1, 2, 1, 0)})
	n2.h.recv(t)
	if got := n2.tr.Peers()[1]; got != n1.addr {
		t.Fatalf("n2 learned %q for node 1, want %q", got, n1.addr)
	}
	n2.tr.Send([]*raftpb.Message{app(2, 1, 7, 0)})
	if m := n1.h.recv(t); m.GetIndex() != 7 {
		t.Fatalf("reply: %v", m)
	}

	// A removed peer is not learned again from its messages.
	n2.tr.RemovePeer(1)
	n1.tr.Send([]*raftpb.Message{app(1, 2, 2, 0)})
	n2.h.recv(t)
	if _, ok := n2.tr.Peers()[1]; ok {
		t.Fatal("removed peer learned again")
	}
	n2.tr.AddPeer(1, n1.addr)
	n2.tr.Send([]*raftpb.Message{app(2, 1, 8, 0)})
	if m := n1.h.recv(t); m.GetIndex() != 8 {
		t.Fatalf("after AddPeer: %v", m)
	}
}

// rawClient opens a connection to addr for hand-made streams.
func rawClient(t *testing.T, addr string) peerpb.PeerClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return peerpb.NewPeerClient(conn)
}

func TestGRPCRaftRefusesBadBatches(t *testing.T) {
	n2 := startNode(t, 2, "prod")
	client := rawClient(t, n2.addr)
	good, _ := proto.Marshal(app(1, 2, 1, 0))
	toOther, _ := proto.Marshal(app(1, 3, 1, 0))
	tests := []struct {
		name  string
		batch *peerpb.RaftBatch
		code  codes.Code
		text  string
	}{
		{"wrong cluster", &peerpb.RaftBatch{ClusterName: "test", From: 1, To: 2, Msgs: [][]byte{good}}, codes.FailedPrecondition, `cluster "test"`},
		{"wrong to", &peerpb.RaftBatch{ClusterName: "prod", From: 1, To: 3, Msgs: [][]byte{good}}, codes.FailedPrecondition, "this is node 2"},
		{"message to another node", &peerpb.RaftBatch{ClusterName: "prod", From: 1, To: 2, Msgs: [][]byte{toOther}}, codes.FailedPrecondition, "for node 3"},
		{"from 0", &peerpb.RaftBatch{ClusterName: "prod", To: 2, Msgs: [][]byte{good}}, codes.InvalidArgument, "from is 0"},
		{"garbage", &peerpb.RaftBatch{ClusterName: "prod", From: 1, To: 2, Msgs: [][]byte{{0xff, 0xff, 0xff}}}, codes.InvalidArgument, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := client.Raft(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Send(tt.batch); err != nil {
				t.Fatal(err)
			}
			_, err = st.CloseAndRecv()
			if status.Code(err) != tt.code || !contains(err.Error(), tt.text) {
				t.Fatalf("got %v, want %v containing %q", err, tt.code, tt.text)
			}
		})
	}
	n2.h.noMsg(t)
	if _, ok := n2.tr.Peers()[1]; ok {
		t.Fatal("a refused sender was learned")
	}
}

func TestGRPCWrongClusterNeverDelivers(t *testing.T) {
	n1, n2 := startNode(t, 1, "test"), startNode(t, 2, "prod")
	n1.tr.AddPeer(2, n2.addr)
	// The first batch on a stream is refused by the server; the sender
	// sees it at its next send, drops that batch and reports.
	deadline := time.After(waitTimeout)
	for i := uint64(1); ; i++ {
		n1.tr.Send([]*raftpb.Message{app(1, 2, i, 0)})
		select {
		case id := <-n1.h.unreachableC:
			if id != 2 {
				t.Fatalf("unreachable %d", id)
			}
			n2.h.noMsg(t)
			if n1.peerStats(2).SendFailures == 0 {
				t.Fatal("no send failure counted")
			}
			return
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("sender never saw the refusal")
		}
	}
}

func TestGRPCSnapshot(t *testing.T) {
	n1, n2 := startNode(t, 1, "c"), startNode(t, 2, "c")
	n1.tr.AddPeer(2, n2.addr)
	data := make([]byte, 5<<20+123)
	for i := range data {
		data[i] = byte(rand.Uint32())
	}
	n1.tr.Send([]*raftpb.Message{snap(1, 2, data), app(1, 2, 101, 10)})

	var got *raftpb.Message
	for range 2 { // the MsgApp travels on its own stream; either may come first
		if m := n2.h.recv(t); m.GetType() == raftpb.MsgSnap {
			got = m
		}
	}
	if got == nil || !bytes.Equal(got.GetSnapshot().GetData(), data) || got.GetSnapshot().GetMetadata().GetIndex() != 100 {
		t.Fatal("snapshot not delivered intact")
	}
	if r := n1.h.waitSnapshot(t); r != (snapshotReport{2, raft.SnapshotFinish}) {
		t.Fatalf("report %+v", r)
	}
	s := n1.peerStats(2)
	if s.SnapshotsSent != 1 || s.SnapshotFailures != 0 || s.BytesSent < uint64(len(data)) {
		t.Errorf("stats %+v", s)
	}
	if r := n2.peerStats(1); r.BytesReceived < uint64(len(data)) {
		t.Errorf("receiver stats %+v", r)
	}
}

func TestGRPCSnapshotFailures(t *testing.T) {
	n1, n2 := startNode(t, 1, "c"), startNode(t, 2, "c")
	data := []byte("state")

	// Unknown peer.
	n1.tr.Send([]*raftpb.Message{snap(1, 2, data)})
	if r := n1.h.waitSnapshot(t); r != (snapshotReport{2, raft.SnapshotFailure}) {
		t.Fatalf("unknown peer: %+v", r)
	}
	n1.h.waitUnreachable(t, 2)

	// The receiver's raft refuses it.
	n2.h.process = func(m *raftpb.Message) error {
		if m.GetType() == raftpb.MsgSnap {
			return errors.New("node stopped")
		}
		return nil
	}
	n1.tr.AddPeer(2, n2.addr)
	n1.tr.Send([]*raftpb.Message{snap(1, 2, data)})
	if r := n1.h.waitSnapshot(t); r != (snapshotReport{2, raft.SnapshotFailure}) {
		t.Fatalf("refused: %+v", r)
	}

	// The peer is down.
	n1.tr.AddPeer(3, closedAddr(t))
	n1.tr.Send([]*raftpb.Message{snap(1, 3, data)})
	if r := n1.h.waitSnapshot(t); r != (snapshotReport{3, raft.SnapshotFailure}) {
		t.Fatalf("down: %+v", r)
	}
	if s := n1.peerStats(3); s.SnapshotFailures != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestGRPCSnapshotStalls(t *testing.T) {
	// A peer that accepts TCP connections but never speaks.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	n1 := serveNode(t, mustListen(t), 1, "c", GRPCConfig{SnapshotIdleTimeout: 200 * time.Millisecond})
	n1.tr.AddPeer(2, l.Addr().String())
	n1.tr.Send([]*raftpb.Message{snap(1, 2, []byte("x"))})
	if r := n1.h.waitSnapshot(t); r != (snapshotReport{2, raft.SnapshotFailure}) {
		t.Fatalf("report %+v", r)
	}
}

func mustListen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestGRPCSnapshotServerRefusesBadStreams(t *testing.T) {
	n2 := startNode(t, 2, "c")
	client := rawClient(t, n2.addr)
	stream := func(m *raftpb.Message) []byte {
		head, err := snapshotHeader(m)
		if err != nil {
			t.Fatal(err)
		}
		return append(head, m.GetSnapshot().GetData()...)
	}
	msg := stream(snap(1, 2, []byte("snapshot data")))
	notSnap, _ := proto.Marshal(app(1, 2, 1, 0))
	notSnap = append(binary.AppendUvarint([]byte(snapshotStreamMagic), uint64(len(notSnap))), notSnap...)
	toOther := stream(snap(1, 3, nil))
	refused := stream(snap(1, 2, []byte("refuse me")))
	noMagic, _ := proto.Marshal(snap(1, 2, []byte("snapshot data"))) // a whole MsgSnap, not a snapshot stream
	n2.h.receive = func(b []byte) error {
		if string(b) == "refuse me" {
			return errors.New("bad file")
		}
		return nil
	}
	hdr := func(total int, data []byte) *peerpb.SnapshotChunk {
		return &peerpb.SnapshotChunk{ClusterName: "c", From: 1, To: 2, TotalSize: uint64(total), Data: data}
	}
	tests := []struct {
		name   string
		chunks []*peerpb.SnapshotChunk
		code   codes.Code
		text   string
	}{
		{"no chunk", nil, codes.InvalidArgument, "no chunk"},
		{"wrong cluster", []*peerpb.SnapshotChunk{{ClusterName: "x", From: 1, To: 2, TotalSize: uint64(len(msg)), Data: msg}}, codes.FailedPrecondition, "cluster"},
		{"no total_size", []*peerpb.SnapshotChunk{hdr(0, msg)}, codes.InvalidArgument, "total_size"},
		{"short", []*peerpb.SnapshotChunk{hdr(len(msg)+1, msg)}, codes.InvalidArgument, "got"},
		{"long", []*peerpb.SnapshotChunk{hdr(len(msg), msg[:5]), {Data: msg}}, codes.InvalidArgument, "exceed"},
		{"long after the file", []*peerpb.SnapshotChunk{hdr(len(msg), msg), {Data: []byte("x")}}, codes.InvalidArgument, "exceed"},
		{"not a MsgSnap", []*peerpb.SnapshotChunk{hdr(len(notSnap), notSnap)}, codes.InvalidArgument, "not a MsgSnap"},
		{"for another node", []*peerpb.SnapshotChunk{hdr(len(toOther), toOther)}, codes.FailedPrecondition, "node 3"},
		{"no magic", []*peerpb.SnapshotChunk{hdr(len(noMagic), noMagic[:3]), {Data: noMagic[3:9]}, {Data: noMagic[9:]}}, codes.InvalidArgument, "magic"},
		{"file refused", []*peerpb.SnapshotChunk{hdr(len(refused), refused)}, codes.InvalidArgument, "bad file"},
		{"ok in chunks", []*peerpb.SnapshotChunk{hdr(len(msg), msg[:3]), {Data: msg[3:7]}, {Data: msg[7:]}}, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := client.Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.chunks {
				if err := st.Send(c); err != nil {
					break // refused early; CloseAndRecv has the status
				}
			}
			_, err = st.CloseAndRecv()
			if status.Code(err) != tt.code || (err != nil && !contains(err.Error(), tt.text)) {
				t.Fatalf("got %v, want %v containing %q", err, tt.code, tt.text)
			}
		})
	}
	// Only the good stream got through.
	if m := n2.h.recv(t); !bytes.Equal(m.GetSnapshot().GetData(), []byte("snapshot data")) {
		t.Fatalf("got %v", m)
	}
	n2.h.noMsg(t)
}

func TestGRPCUnknownPeer(t *testing.T) {
	n1 := startNode(t, 1, "c")
	n1.tr.Send([]*raftpb.Message{app(1, 9, 1, 0)})
	n1.h.waitUnreachable(t, 9)
	if s := n1.peerStats(9); s.MsgsDropped != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestGRPCPeerDownThenUp(t *testing.T) {
	n1 := startNode(t, 1, "c")
	addr := closedAddr(t)
	n1.tr.AddPeer(2, addr)

	n1.tr.Send([]*raftpb.Message{app(1, 2, 1, 0)})
	n1.h.waitUnreachable(t, 2)

	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	n2 := serveNode(t, l, 2, "c", GRPCConfig{})
	// Raft keeps sending (heartbeats); one gets through once reconnected.
	deadline := time.After(waitTimeout)
	for i := uint64(2); ; i++ {
		n1.tr.Send([]*raftpb.Message{app(1, 2, i, 0)})
		select {
		case m := <-n2.h.msgC:
			t.Logf("reconnected: message %d of %d arrived", m.GetIndex(), i)
			return
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatal("no message arrived after the peer started")
		}
	}
}

func TestGRPCAddPeerChangesAddress(t *testing.T) {
	n1, n2 := startNode(t, 1, "c"), startNode(t, 2, "c")
	n1.tr.AddPeer(2, closedAddr(t))
	n1.tr.Send([]*raftpb.Message{app(1, 2, 1, 0)})
	n1.h.waitUnreachable(t, 2)

	n1.tr.AddPeer(2, n2.addr)
	if got := n1.tr.Peers()[2]; got != n2.addr {
		t.Fatalf("address %q", got)
	}
	n1.tr.Send([]*raftpb.Message{app(1, 2, 2, 0)})
	if m := n2.h.recv(t); m.GetIndex() != 2 {
		t.Fatalf("got %v", m)
	}
}

func TestGRPCRemovePeer(t *testing.T) {
	n1, n2 := startNode(t, 1, "c"), startNode(t, 2, "c")
	n1.tr.AddPeer(2, n2.addr)
	n1.tr.Send([]*raftpb.Message{app(1, 2, 1, 0)})
	n2.h.recv(t)
	n1.tr.RemovePeer(2)
	n1.tr.Send([]*raftpb.Message{app(1, 2, 2, 0)})
	n1.h.waitUnreachable(t, 2)
	if len(n1.tr.Peers()) != 0 {
		t.Fatalf("peers %v", n1.tr.Peers())
	}
}

func TestGRPCStopLeavesNoGoroutines(t *testing.T) {
	check := leakCheck(t)
	nodes := []*node{startNode(t, 1, "c"), startNode(t, 2, "c"), startNode(t, 3, "c")}
	for _, a := range nodes {
		for _, b := range nodes {
			a.tr.AddPeer(b.id, b.addr)
		}
	}
	// A peer that accepts connections and never answers, and one that is
	// down: Stop must not wait for either.
	silent := mustListen(t)
	defer silent.Close()
	nodes[0].tr.AddPeer(4, silent.Addr().String())
	nodes[0].tr.AddPeer(5, closedAddr(t))
	for i := uint64(1); i <= 50; i++ {
		for _, a := range nodes {
			a.tr.Send([]*raftpb.Message{app(a.id, a.id%3+1, i, 10), app(a.id, 4, i, 10), app(a.id, 5, i, 10)})
		}
	}
	nodes[0].tr.Send([]*raftpb.Message{snap(1, 2, make([]byte, 3<<20)), snap(1, 4, []byte("x"))})
	for _, n := range nodes {
		for range 50 {
			n.h.recv(t)
		}
	}

	done := make(chan struct{})
	go func() {
		for _, n := range nodes {
			n.stop()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Stop did not return")
	}
	for _, n := range nodes {
		n.tr.Stop() // again: a no-op
		n.tr.Send([]*raftpb.Message{app(1, 2, 1, 0)})
		n.tr.AddPeer(7, "127.0.0.1:1")
		if len(n.tr.Peers()) != 0 {
			t.Fatalf("node %d has peers after Stop", n.id)
		}
	}
	silent.Close()
	check()
}

func TestGRPCInboundAfterStop(t *testing.T) {
	n2 := startNode(t, 2, "c")
	client := rawClient(t, n2.addr)
	st, err := client.Raft(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n2.tr.Stop() // the server still runs
	raw, _ := proto.Marshal(app(1, 2, 1, 0))
	if err := st.Send(&peerpb.RaftBatch{ClusterName: "c", From: 1, To: 2, Msgs: [][]byte{raw}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CloseAndRecv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	n2.h.noMsg(t)
}

// A dropped-proposals report reaches the proposer's handler; one to an
// unknown peer is forgotten; a forged one of another cluster or for
// another node is refused.
func TestGRPCReportDropped(t *testing.T) {
	n1, n2 := startNode(t, 1, "c"), startNode(t, 2, "c")
	n1.tr.AddPeer(2, n2.addr)
	n1.tr.ReportDropped(2, []uint64{7, 9})
	if r := n2.h.recvDropped(t); r.from != 1 || !slices.Equal(r.ids, []uint64{7, 9}) {
		t.Fatalf("got report %+v, want from 1 of ids [7 9]", r)
	}
	n1.tr.ReportDropped(3, []uint64{1}) // unknown peer: nothing, no panic
	n1.tr.ReportDropped(2, nil)         // nothing to report

	client := rawClient(t, n2.addr)
	tests := []struct {
		name string
		req  *peerpb.ProposalsDroppedRequest
		code codes.Code
		text string
	}{
		{"wrong cluster", &peerpb.ProposalsDroppedRequest{ClusterName: "x", From: 1, To: 2, RequestIds: []uint64{1}}, codes.FailedPrecondition, `cluster "x"`},
		{"wrong to", &peerpb.ProposalsDroppedRequest{ClusterName: "c", From: 1, To: 3, RequestIds: []uint64{1}}, codes.FailedPrecondition, "this is node 2"},
		{"from 0", &peerpb.ProposalsDroppedRequest{ClusterName: "c", To: 2, RequestIds: []uint64{1}}, codes.InvalidArgument, "from is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ProposalsDropped(context.Background(), tt.req)
			if status.Code(err) != tt.code || !contains(err.Error(), tt.text) {
				t.Fatalf("got %v, want %v containing %q", err, tt.code, tt.text)
			}
		})
	}
	select {
	case r := <-n2.h.droppedC:
		t.Fatalf("unexpected report %+v", r)
	default:
	}
}

// A forwarded lease call reaches the leader's handler with the sender's
// id, its op and lease, and brings back its answer over the peer's
// connection; the handler's error, an unknown peer and a forged header
// come back as errors, and a call ends when the peer is removed.
func TestGRPCForwardLease(t *testing.T) {
	n1, n2 := startNode(t, 1, "c"), startNode(t, 2, "c")
	entered, block := make(chan struct{}), make(chan struct{})
	n2.h.lease = func(ctx context.Context, from uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
		if from != 1 || req.GetFrom() != 1 || req.GetTo() != 2 || req.GetClusterName() != "c" {
			return nil, fmt.Errorf("header from %d: %v", from, req)
		}
		switch req.GetId() {
		case 5:
			if req.GetOp() == peerpb.LeaseForward_TIME_TO_LIVE {
				return &peerpb.LeaseForwardReply{Found: true, RemainingMs: 1500}, nil
			}
			return &peerpb.LeaseForwardReply{Found: true, Ttl: 30}, nil
		case 6:
			return &peerpb.LeaseForwardReply{}, nil
		case 8:
			close(entered)
			<-ctx.Done() // the call is cut off
			close(block)
			return nil, ctx.Err()
		}
		return nil, errors.New("node 2 is not the leader")
	}
	n1.tr.AddPeer(2, n2.addr)
	ctx := context.Background()
	call := func(to uint64, id int64, op peerpb.LeaseForward_Op) (*peerpb.LeaseForwardReply, error) {
		return n1.tr.ForwardLease(ctx, to, &peerpb.LeaseForward{Id: id, Op: op})
	}
	if r, err := call(2, 5, peerpb.LeaseForward_KEEP_ALIVE); err != nil || !r.GetFound() || r.GetTtl() != 30 {
		t.Fatalf("keep-alive of lease 5: %v, %v; want found, TTL 30", r, err)
	}
	if r, err := call(2, 5, peerpb.LeaseForward_TIME_TO_LIVE); err != nil || !r.GetFound() || r.GetRemainingMs() != 1500 {
		t.Fatalf("time to live of lease 5: %v, %v; want found, 1500 ms", r, err)
	}
	if r, err := call(2, 6, peerpb.LeaseForward_KEEP_ALIVE); err != nil || r.GetFound() {
		t.Fatalf("keep-alive of lease 6: %v, %v; want not found", r, err)
	}
	if _, err := call(2, 7, peerpb.LeaseForward_KEEP_ALIVE); err == nil || !contains(err.Error(), "not the leader") {
		t.Fatalf("a call refused by the handler: err %v, want its error", err)
	}
	if _, err := call(3, 5, peerpb.LeaseForward_KEEP_ALIVE); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("a call to an unknown peer: err %v, want ErrUnknownPeer", err)
	}
	defer func() {
		n1.stop()
		if _, err := call(2, 5, peerpb.LeaseForward_KEEP_ALIVE); !errors.Is(err, ErrStopped) {
			t.Errorf("a call from a stopped transport: err %v, want ErrStopped", err)
		}
	}()

	errC := make(chan error, 1)
	go func() {
		_, err := call(2, 8, peerpb.LeaseForward_KEEP_ALIVE)
		errC <- err
	}()
	<-entered
	n1.tr.RemovePeer(2)
	select {
	case err := <-errC:
		if status.Code(err) != codes.Canceled {
			t.Fatalf("a call to a removed peer: err %v, want Canceled", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("a call to a removed peer did not end")
	}
	<-block

	client := rawClient(t, n2.addr)
	for _, tt := range []struct {
		name string
		req  *peerpb.LeaseForward
		code codes.Code
		text string
	}{
		{"wrong cluster", &peerpb.LeaseForward{ClusterName: "x", From: 1, To: 2, Id: 5}, codes.FailedPrecondition, `cluster "x"`},
		{"wrong to", &peerpb.LeaseForward{ClusterName: "c", From: 1, To: 3, Id: 5}, codes.FailedPrecondition, "this is node 2"},
		{"from 0", &peerpb.LeaseForward{ClusterName: "c", To: 2, Id: 5}, codes.InvalidArgument, "from is 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Lease(ctx, tt.req)
			if status.Code(err) != tt.code || !contains(err.Error(), tt.text) {
				t.Fatalf("got %v, want %v containing %q", err, tt.code, tt.text)
			}
		})
	}
}
