package transport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/metasrv/metasrv/api/peerpb"
)

// memCluster joins ids to a new MemNetwork; the transports stop at cleanup.
func memCluster(t *testing.T, ids ...uint64) (*MemNetwork, map[uint64]*MemTransport, map[uint64]*fakeHandler) {
	t.Helper()
	n := NewMemNetwork()
	trs, hs := map[uint64]*MemTransport{}, map[uint64]*fakeHandler{}
	for _, id := range ids {
		hs[id] = newFakeHandler()
		trs[id] = n.Join(id, hs[id])
		t.Cleanup(trs[id].Stop)
	}
	return n, trs, hs
}

// expectIndex waits for the next message at h and checks where it is from
// and its index: messages dropped before it never arrive.
func expectIndex(t *testing.T, h *fakeHandler, from, index uint64) {
	t.Helper()
	if m := h.recv(t); m.GetFrom() != from || m.GetIndex() != index {
		t.Fatalf("got index %d from %d, want %d from %d", m.GetIndex(), m.GetFrom(), index, from)
	}
}

func TestMemDeliversInOrderAndCopies(t *testing.T) {
	_, trs, hs := memCluster(t, 1, 2, 3)
	var sent []*raftpb.Message
	for i := uint64(1); i <= 1000; i++ {
		msgs := []*raftpb.Message{app(1, 2, i, 8), app(1, 3, i, 8)}
		sent = append(sent, msgs[0])
		trs[1].Send(msgs)
	}
	for i := uint64(1); i <= 1000; i++ {
		m := hs[2].recv(t)
		if m.GetIndex() != i {
			t.Fatalf("node 2: index %d, want %d", m.GetIndex(), i)
		}
		if m == sent[i-1] || &m.GetEntries()[0].Data[0] == &sent[i-1].GetEntries()[0].Data[0] {
			t.Fatal("receiver shares memory with the sender")
		}
		expectIndex(t, hs[3], 1, i)
	}
	hs[1].noMsg(t)
}

func TestMemFaults(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(n *MemNetwork)
		blocked [][2]uint64 // from, to
		open    [][2]uint64
	}{
		{"cut", func(n *MemNetwork) { n.Cut(1, 2) }, [][2]uint64{{1, 2}, {2, 1}}, [][2]uint64{{1, 3}, {3, 1}, {2, 3}, {3, 2}}},
		{"isolate", func(n *MemNetwork) { n.Isolate(3) }, [][2]uint64{{1, 3}, {3, 1}, {2, 3}, {3, 2}}, [][2]uint64{{1, 2}, {2, 1}}},
		{"one-way drop", func(n *MemNetwork) { n.SetDrop(1, 2, true) }, [][2]uint64{{1, 2}}, [][2]uint64{{2, 1}, {1, 3}, {3, 1}, {2, 3}, {3, 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, trs, hs := memCluster(t, 1, 2, 3)
			tt.fault(n)
			for _, l := range tt.blocked {
				trs[l[0]].Send([]*raftpb.Message{app(l[0], l[1], 1, 0)})
				hs[l[0]].waitUnreachable(t, l[1])
			}
			for _, l := range tt.open {
				trs[l[0]].Send([]*raftpb.Message{app(l[0], l[1], 1, 0)})
				expectIndex(t, hs[l[1]], l[0], 1)
			}
			n.Heal()
			for _, l := range tt.blocked {
				trs[l[0]].Send([]*raftpb.Message{app(l[0], l[1], 2, 0)})
				expectIndex(t, hs[l[1]], l[0], 2) // index 1 was dropped
			}
		})
	}
}

func TestMemSetDropOff(t *testing.T) {
	n, trs, hs := memCluster(t, 1, 2)
	n.SetDrop(1, 2, true)
	trs[1].Send([]*raftpb.Message{app(1, 2, 1, 0)})
	hs[1].waitUnreachable(t, 2)
	n.SetDrop(1, 2, false)
	trs[1].Send([]*raftpb.Message{app(1, 2, 2, 0)})
	expectIndex(t, hs[2], 1, 2)
}

func TestMemSnapshot(t *testing.T) {
	n, trs, hs := memCluster(t, 1, 2)
	trs[1].Send([]*raftpb.Message{snap(1, 2, []byte("state")), app(1, 2, 101, 0)})
	if m := hs[2].recv(t); m.GetType() != raftpb.MsgSnap || string(m.GetSnapshot().GetData()) != "state" {
		t.Fatalf("got %v", m)
	}
	expectIndex(t, hs[2], 1, 101)
	if r := hs[1].waitSnapshot(t); r != (snapshotReport{2, raft.SnapshotFinish}) {
		t.Fatalf("report %+v", r)
	}

	n.Cut(1, 2)
	trs[1].Send([]*raftpb.Message{snap(1, 2, nil)})
	if r := hs[1].waitSnapshot(t); r != (snapshotReport{2, raft.SnapshotFailure}) {
		t.Fatalf("cut: %+v", r)
	}
	hs[1].waitUnreachable(t, 2)
	n.Heal()

	hs[2].process = func(m *raftpb.Message) error { return errors.New("refused") }
	trs[1].Send([]*raftpb.Message{snap(1, 2, nil)})
	if r := hs[1].waitSnapshot(t); r != (snapshotReport{2, raft.SnapshotFailure}) {
		t.Fatalf("refused: %+v", r)
	}
}

func TestMemUnknownStoppedAndRejoined(t *testing.T) {
	n, trs, hs := memCluster(t, 1, 2)
	trs[1].Send([]*raftpb.Message{app(1, 9, 1, 0), snap(1, 9, nil)})
	hs[1].waitUnreachable(t, 9)
	if r := hs[1].waitSnapshot(t); r != (snapshotReport{9, raft.SnapshotFailure}) {
		t.Fatalf("report %+v", r)
	}

	trs[2].Stop()
	trs[1].Send([]*raftpb.Message{app(1, 2, 1, 0)})
	hs[1].waitUnreachable(t, 2)
	trs[2].Send([]*raftpb.Message{app(2, 1, 1, 0)}) // stopped: dropped silently
	hs[1].noMsg(t)

	h2 := newFakeHandler()
	tr2 := n.Join(2, h2)
	defer tr2.Stop()
	trs[1].Send([]*raftpb.Message{app(1, 2, 2, 0)})
	expectIndex(t, h2, 1, 2)
	hs[2].noMsg(t)

	defer func() {
		if recover() == nil {
			t.Error("joining a live id did not panic")
		}
	}()
	n.Join(2, h2)
}

func TestMemPeersAddressBook(t *testing.T) {
	_, trs, _ := memCluster(t, 1)
	trs[1].AddPeer(2, "a:1")
	trs[1].AddPeer(3, "b:1")
	trs[1].AddPeer(1, "self")
	trs[1].AddPeer(2, "a:2")
	trs[1].RemovePeer(3)
	if got := trs[1].Peers(); len(got) != 1 || got[2] != "a:2" {
		t.Fatalf("peers %v", got)
	}
}

func TestMemStopLeavesNoGoroutines(t *testing.T) {
	check := leakCheck(t)
	n := NewMemNetwork()
	var trs []*MemTransport
	for id := uint64(1); id <= 3; id++ {
		trs = append(trs, n.Join(id, newFakeHandler()))
	}
	for i := uint64(1); i <= 100; i++ {
		trs[0].Send([]*raftpb.Message{app(1, 2, i, 0), app(1, 3, i, 0), app(1, 4, i, 0)})
	}
	for _, tr := range trs {
		tr.Stop()
	}
	check()
}

func TestMemSendToSelf(t *testing.T) {
	_, trs, hs := memCluster(t, 1)
	trs[1].Send([]*raftpb.Message{app(1, 1, 1, 0)})
	hs[1].waitUnreachable(t, 1)
	hs[1].noMsg(t)
}

// A dropped-proposals report is delivered in order with the messages, and
// not across a fault.
func TestMemReportDropped(t *testing.T) {
	net, trs, hs := memCluster(t, 1, 2)
	trs[1].Send([]*raftpb.Message{app(1, 2, 1, 8)})
	trs[1].ReportDropped(2, []uint64{5})
	expectIndex(t, hs[2], 1, 1)
	if r := hs[2].recvDropped(t); r.from != 1 || !slices.Equal(r.ids, []uint64{5}) {
		t.Fatalf("got report %+v, want from 1 of ids [5]", r)
	}
	net.Cut(1, 2)
	trs[1].ReportDropped(2, []uint64{6})
	net.Heal()
	trs[1].ReportDropped(2, []uint64{8})
	if r := hs[2].recvDropped(t); !slices.Equal(r.ids, []uint64{8}) {
		t.Fatalf("got report %+v, want ids [8]: the one sent across the cut must be lost", r)
	}
}

// A network that holds messages delivers none until Deliver, which hands
// them over in the order sent from the caller's goroutine; a fault made
// meanwhile drops them on delivery.
func TestMemHoldDeliversOnDeliver(t *testing.T) {
	n, trs, hs := memCluster(t, 1, 2, 3)
	n.SetHold(true)
	for i := uint64(1); i <= 3; i++ {
		trs[1].Send([]*raftpb.Message{app(1, 2, i, 8), app(1, 3, i, 8)})
	}
	hs[2].noMsg(t)
	hs[3].noMsg(t)
	if got := n.Held(); got != 6 {
		t.Fatalf("Held() = %d, want 6", got)
	}
	if got := n.Deliver(); got != 6 {
		t.Fatalf("Deliver() = %d, want 6", got)
	}
	for i := uint64(1); i <= 3; i++ {
		for _, to := range []uint64{2, 3} {
			select {
			case m := <-hs[to].msgC:
				if m.GetIndex() != i {
					t.Fatalf("node %d: index %d, want %d", to, m.GetIndex(), i)
				}
			default:
				t.Fatalf("node %d: index %d not handed over when Deliver returned", to, i)
			}
		}
	}
	if got := n.Deliver(); got != 0 {
		t.Fatalf("Deliver() with nothing held = %d", got)
	}

	trs[1].Send([]*raftpb.Message{app(1, 2, 4, 8)})
	n.Cut(1, 2)
	n.Deliver()
	hs[2].noMsg(t)
	hs[1].waitUnreachable(t, 2)
	n.Heal()

	// Turning hold off delivers what is held.
	trs[1].Send([]*raftpb.Message{app(1, 3, 5, 8)})
	n.SetHold(false)
	select {
	case m := <-hs[3].msgC:
		if m.GetIndex() != 5 {
			t.Fatalf("index %d, want 5", m.GetIndex())
		}
	default:
		t.Fatal("SetHold(false) did not deliver the held message")
	}
	trs[1].Send([]*raftpb.Message{app(1, 3, 6, 8)})
	expectIndex(t, hs[3], 1, 6)
}

// DeliverUntilQuiet returns only once the messages that deliveries caused
// have arrived too, whether the network holds messages or not: here each
// node answers a message of index i with one of index i-1, ten hops in all.
func TestMemDeliverUntilQuiet(t *testing.T) {
	for _, hold := range []bool{false, true} {
		t.Run(fmt.Sprintf("hold=%v", hold), func(t *testing.T) {
			n, trs, hs := memCluster(t, 1, 2)
			n.SetHold(hold)
			for id, h := range hs {
				peer := 3 - id
				h.process = func(m *raftpb.Message) error {
					if i := m.GetIndex(); i > 1 {
						trs[id].Send([]*raftpb.Message{app(id, peer, i-1, 8)})
					}
					return nil
				}
			}
			rounds := 0
			trs[1].Send([]*raftpb.Message{app(1, 2, 10, 8)})
			if !n.DeliverUntilQuiet(func() { rounds++ }) {
				t.Fatal("DeliverUntilQuiet gave up")
			}
			if got := len(hs[1].msgC) + len(hs[2].msgC); got != 10 {
				t.Fatalf("%d messages arrived when DeliverUntilQuiet returned, want all 10", got)
			}
			if rounds == 0 {
				t.Fatal("settle was never called")
			}
		})
	}
}

// A forwarded lease call reaches the other node's handler with the
// sender's id and brings back its answer; a fault either way, or a
// stopped receiver, fails it.
func TestMemForwardLease(t *testing.T) {
	net, trs, hs := memCluster(t, 1, 2)
	hs[2].lease = func(_ context.Context, from uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
		return &peerpb.LeaseForwardReply{Found: from == 1 && req.GetTo() == 2, Ttl: 10 * req.GetId()}, nil
	}
	ctx := context.Background()
	call := func() (*peerpb.LeaseForwardReply, error) {
		return trs[1].ForwardLease(ctx, 2, &peerpb.LeaseForward{Id: 3})
	}
	if r, err := call(); err != nil || !r.GetFound() || r.GetTtl() != 30 {
		t.Fatalf("keep-alive of lease 3: %v, %v; want found (from node 1 to node 2), TTL 30", r, err)
	}
	for _, fault := range []struct {
		name string
		set  func()
	}{
		{"request cut", func() { net.SetDrop(1, 2, true) }},
		{"answer cut", func() { net.SetDrop(2, 1, true) }},
		{"isolated", func() { net.Isolate(2) }},
	} {
		fault.set()
		if _, err := call(); !errors.Is(err, ErrUnknownPeer) {
			t.Errorf("%s: err %v, want ErrUnknownPeer", fault.name, err)
		}
		net.Heal()
	}

	// Stopping the receiver ends a call in its handler, and waits for it.
	entered, returned := make(chan struct{}), make(chan struct{})
	hs[2].lease = func(ctx context.Context, _ uint64, _ *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
		close(entered)
		<-ctx.Done()
		close(returned)
		return nil, ctx.Err()
	}
	errC := make(chan error, 1)
	go func() {
		_, err := call()
		errC <- err
	}()
	<-entered
	trs[2].Stop()
	select {
	case <-returned:
	default:
		t.Error("Stop returned while a call was still in the handler")
	}
	if err := <-errC; !errors.Is(err, context.Canceled) {
		t.Errorf("a call to a node that stopped meanwhile: err %v, want context.Canceled", err)
	}
	if _, err := call(); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("to a stopped node: err %v, want ErrUnknownPeer", err)
	}
	trs[1].Stop()
	if _, err := call(); !errors.Is(err, ErrStopped) {
		t.Errorf("from a stopped node: err %v, want ErrStopped", err)
	}
}
