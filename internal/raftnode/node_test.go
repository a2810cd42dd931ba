package raftnode

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// memStorage is a Storage kept in memory whose Save can be made to fail or
// to wait at a gate.
type memStorage struct {
	*raft.MemoryStorage
	mu      sync.Mutex
	failErr error
	saves   int
	batches []int // entries per Save
	gate    *saveGate
}

// saveGate holds Saves back: each one signals enteredC, then waits until
// the gate is opened.
type saveGate struct {
	enteredC chan struct{}
	openC    chan struct{}
}

func (m *memStorage) Save(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot) error {
	m.mu.Lock()
	g := m.gate
	m.mu.Unlock()
	if g != nil {
		g.enteredC <- struct{}{}
		<-g.openC
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failErr != nil {
		return m.failErr
	}
	m.saves++
	m.batches = append(m.batches, len(ents))
	if snap != nil && !raft.IsEmptySnap(snap) {
		if err := m.ApplySnapshot(snap); err != nil {
			return err
		}
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		if err := m.SetHardState(hs); err != nil {
			return err
		}
	}
	return m.Append(ents)
}

func (m *memStorage) setFail(err error) {
	m.mu.Lock()
	m.failErr = err
	m.mu.Unlock()
}

// holdSaves makes the next Saves wait at a gate; the returned function
// waits until the Ready loop is inside a Save.
func (m *memStorage) holdSaves(t *testing.T) (g *saveGate, entered func(t *testing.T)) {
	g = &saveGate{enteredC: make(chan struct{}, 1), openC: make(chan struct{})}
	m.mu.Lock()
	m.gate = g
	m.mu.Unlock()
	// A failed test must not leave the append goroutine, and so Stop,
	// stuck at the gate.
	t.Cleanup(func() { m.releaseSaves(g) })
	return g, func(t *testing.T) {
		t.Helper()
		select {
		case <-g.enteredC:
		case <-time.After(10 * time.Second):
			t.Fatal("the Ready loop never reached Save")
		}
	}
}

// releaseSaves lets every Save through from now on.
func (m *memStorage) releaseSaves(g *saveGate) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gate == g {
		m.gate = nil
		close(g.openC)
	}
}

func (m *memStorage) saveBatches() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.batches)
}

type nopTransport struct{}

func (nopTransport) Send([]*raftpb.Message) {}

// startSingle starts node 1 alone, with raft's time moved by hand, and
// ticks it until it is leader.
func startSingle(t *testing.T, st Storage, restamp func([]byte)) *Node {
	t.Helper()
	ticks := make(chan time.Time)
	n, err := Start(Config{
		ID: 1, Ticks: ticks, HeartbeatTick: 1, ElectionTick: 5,
		Storage: st, Transport: nopTransport{}, Peers: []raft.Peer{{ID: 1}},
		Restamp: restamp,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	// raft campaigns after ElectionTick to 2*ElectionTick-1 ticks.
	for i := 0; !n.IsLeader(); i++ {
		if i == 2*5 {
			t.Fatalf("node 1 alone is not leader after %d ticks", i)
		}
		ticks <- time.Time{}
		settleNode(t, n, nil)
	}
	return n
}

// settleNode waits until n holds no work (Node.Settle), and, with
// applied set, until the entries it handed to ApplyC are applied.
func settleNode(t *testing.T, n *Node, applied func(uint64) <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Settle(ctx, applied); err != nil {
		t.Fatalf("settle node %d: %v", n.cfg.ID, err)
	}
}

// nextEntry returns the next committed normal entry with data.
func nextEntry(t *testing.T, n *Node) *raftpb.Entry {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ap, ok := <-n.ApplyC():
			if !ok {
				t.Fatal("ApplyC closed")
			}
			for _, e := range ap.Entries {
				if e.GetType() == raftpb.EntryNormal && len(e.GetData()) > 0 {
					return e
				}
			}
		case <-timeout:
			t.Fatal("no committed entry")
		}
	}
}

func TestProposeIsPersistedThenApplied(t *testing.T) {
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n := startSingle(t, st, nil)
	if err := n.Propose(context.Background(), []byte("hello")); err != nil {
		t.Fatal(err)
	}
	e := nextEntry(t, n)
	if string(e.GetData()) != "hello" {
		t.Fatalf("applied %q", e.GetData())
	}
	last, _ := st.LastIndex()
	if last < e.GetIndex() {
		t.Fatalf("entry %d applied before it was saved (last saved %d)", e.GetIndex(), last)
	}
}

// A failed write stops the node: it never carries on after it.
func TestSaveFailureStopsNode(t *testing.T) {
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n := startSingle(t, st, nil)
	boom := errors.New("fsync: input/output error")
	st.setFail(boom)
	_ = n.Propose(context.Background(), []byte("x"))
	select {
	case <-n.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("node kept running after a failed Save")
	}
	if !errors.Is(n.Err(), boom) {
		t.Fatalf("Err() = %v, want the fsync error", n.Err())
	}
	if err := n.Propose(context.Background(), []byte("y")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Propose after failure = %v, want ErrStopped", err)
	}
}

// Forwarded proposals are restamped by the receiving node; other messages
// are not touched.
func TestProcessRestampsForwardedProposals(t *testing.T) {
	tests := []struct {
		name    string
		msg     *raftpb.Message
		stamped int
	}{
		{"forwarded proposal", &raftpb.Message{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1),
			Entries: []*raftpb.Entry{{Data: []byte("a")}, {Data: []byte("b")}}}, 2},
		{"empty entry skipped", &raftpb.Message{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1),
			Entries: []*raftpb.Entry{{}}}, 0},
		{"heartbeat untouched", &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(2), To: proto.Uint64(1),
			Term: proto.Uint64(0)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			stamped := 0
			st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
			n := startSingle(t, st, func([]byte) { mu.Lock(); stamped++; mu.Unlock() })
			_ = n.Process(context.Background(), tt.msg)
			mu.Lock()
			defer mu.Unlock()
			if stamped != tt.stamped {
				t.Fatalf("restamped %d entries, want %d", stamped, tt.stamped)
			}
		})
	}
}

// A proposal forwarded to a node that knows no leader must not block the
// stream that carried it (found by the chaos suite: the node then never
// received the heartbeats of the new leader and stayed leaderless).
func TestForwardedProposalWithoutLeaderIsDropped(t *testing.T) {
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n, err := Start(Config{
		ID: 1, Ticks: make(chan time.Time), HeartbeatTick: 1, ElectionTick: 5, // never ticks: never elects
		Storage: st, Transport: nopTransport{}, Peers: []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	done := make(chan error, 1)
	go func() {
		done <- n.Process(context.Background(), &raftpb.Message{Type: raftpb.MsgProp.Enum(),
			From: proto.Uint64(2), To: proto.Uint64(1), Entries: []*raftpb.Entry{{Data: []byte("x")}}})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrProposalDropped) {
			t.Fatalf("Process = %v, want ErrProposalDropped", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Process blocked on a forwarded proposal while the node knows no leader")
	}
	// The stream goes on: a heartbeat is still taken.
	if err := n.Process(context.Background(), &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(),
		From: proto.Uint64(2), To: proto.Uint64(1), Term: proto.Uint64(1)}); err != nil {
		t.Fatalf("heartbeat after the dropped proposal: %v", err)
	}
}

// A call whose ctx has ended already is never queued: the Ready loop,
// which here does not run, could take it before the caller sees ctx end,
// and a proposal its caller gave up on would reach the log.
func TestCallWithEndedContextIsNotQueued(t *testing.T) {
	n := &Node{mb: newQueue[op](), doneC: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Propose(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose = %v, want context.Canceled", err)
	}
	if err := n.call(ctx, func(*raft.RawNode) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("call = %v, want context.Canceled", err)
	}
	if got := n.mb.len(); got != 0 {
		t.Fatalf("%d ops queued for the loop, want none", got)
	}
}

// raft's Logger.Fatal, called on the Ready loop as raft would, stops the
// node through its failure path: Err says why, the process goes on.
func TestRaftFatalStopsNode(t *testing.T) {
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n := startSingle(t, st, nil)
	lg := raftLogger{slog.New(slog.NewTextHandler(io.Discard, nil))}
	err := n.call(context.Background(), func(*raft.RawNode) error {
		lg.Fatalf("index %d out of range", 7)
		return nil
	})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("the call that hit Fatal returned %v, want ErrStopped", err)
	}
	<-n.Done()
	if err := n.Err(); !errors.Is(err, ErrRaftFatal) || !strings.Contains(err.Error(), "index 7 out of range") {
		t.Fatalf("Err() = %v, want ErrRaftFatal with raft's message", err)
	}
}

// raft's time moves only with Config.Ticks: a node alone does not
// campaign before ElectionTick ticks, however long it runs, and campaigns
// (and wins) by 2*ElectionTick-1 ticks.
func TestTicksDriveElections(t *testing.T) {
	ticks := make(chan time.Time)
	n, err := Start(Config{
		ID: 1, Ticks: ticks, HeartbeatTick: 1, ElectionTick: 5,
		Storage: &memStorage{MemoryStorage: raft.NewMemoryStorage()}, Transport: nopTransport{},
		Peers:  []raft.Peer{{ID: 1}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	settleNode(t, n, nil)
	term := n.Term()
	for i := 1; i < 5; i++ {
		ticks <- time.Time{}
		settleNode(t, n, nil)
		if n.State() != raft.StateFollower || n.Term() != term {
			t.Fatalf("after %d ticks, fewer than ElectionTick: %v in term %d, want a follower in term %d", i, n.State(), n.Term(), term)
		}
	}
	for i := 5; i < 10; i++ {
		ticks <- time.Time{}
	}
	settleNode(t, n, nil)
	if !n.IsLeader() {
		t.Fatalf("after 2*ElectionTick-1 ticks: %v, want leader", n.State())
	}
}
