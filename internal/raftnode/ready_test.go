package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// drainApply reads ApplyC in the background and returns the data of the
// normal entries applied so far.
func drainApply(t *testing.T, n *Node) (applied func() []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ap := range n.ApplyC() {
			mu.Lock()
			for _, e := range ap.Entries {
				if e.GetType() == raftpb.EntryNormal && len(e.GetData()) > 0 {
					got = append(got, string(e.GetData()))
				}
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { n.Stop(); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// startHeldInSave starts a single-node leader whose Ready loop is held in
// the Save of the entry "first"; ApplyC is drained in the background.
func startHeldInSave(t *testing.T) (n *Node, st *memStorage, g *saveGate, applied func() []string) {
	t.Helper()
	st = &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n = startSingle(t, st, nil)
	waitLeader(t, n)
	applied = drainApply(t, n)
	g, entered := st.holdSaves()
	if err := n.Propose(context.Background(), []byte("first")); err != nil {
		t.Fatal(err)
	}
	entered(t)
	return n, st, g, applied
}

// Without a leader raft refuses a proposal at once (raft.Node made Propose
// wait until a leader was known or ctx ended).
func TestProposeWithoutLeaderFailsAtOnce(t *testing.T) {
	tests := []struct {
		name    string
		propose func(ctx context.Context, n *Node) error
	}{
		{"Propose", func(ctx context.Context, n *Node) error { return n.Propose(ctx, []byte("x")) }},
		{"ProposeConfChange", func(ctx context.Context, n *Node) error {
			return n.ProposeConfChange(ctx, &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{
				{Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(4)}}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Start(Config{
				ID: 1, TickInterval: time.Hour, HeartbeatTick: 1, ElectionTick: 5, // never elects
				Storage: &memStorage{MemoryStorage: raft.NewMemoryStorage()}, Transport: nopTransport{},
				Peers:  []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}},
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(n.Stop)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tt.propose(ctx, n); !errors.Is(err, raft.ErrProposalDropped) {
				t.Fatalf("%s without a leader = %v, want raft.ErrProposalDropped", tt.name, err)
			}
		})
	}
}

// Proposals and messages that arrive while the loop persists a Ready are
// stepped together and persisted by one Save; Process never waits for it.
func TestWorkArrivingDuringSaveSharesOneReady(t *testing.T) {
	n, st, g, applied := startHeldInSave(t)

	const local, forwarded = 50, 30
	var wg sync.WaitGroup
	errC := make(chan error, local)
	for i := range local {
		wg.Go(func() { errC <- n.Propose(context.Background(), fmt.Appendf(nil, "local %d", i)) })
	}
	for i := range forwarded {
		m := &raftpb.Message{Type: raftpb.MsgProp.Enum(), From: proto.Uint64(2), To: proto.Uint64(1),
			Entries: []*raftpb.Entry{{Data: fmt.Appendf(nil, "forwarded %d", i)}}}
		if err := n.Process(context.Background(), m); err != nil {
			t.Fatalf("Process while the loop saves: %v", err)
		}
	}
	waitFor(t, "all proposals queued", func() bool { return n.mb.len() == local+forwarded })
	st.releaseSaves(g)
	wg.Wait()
	close(errC)
	for err := range errC {
		if err != nil {
			t.Fatalf("Propose: %v", err)
		}
	}
	waitFor(t, "all entries applied", func() bool { return len(applied()) == 1+local+forwarded })
	if !slices.Contains(st.saveBatches(), local+forwarded) {
		t.Fatalf("entries per Save %v: want one Save of all %d queued proposals", st.saveBatches(), local+forwarded)
	}
}

// A proposal whose ctx ends before the loop takes it is never proposed.
func TestProposeCancelledBeforeTakenIsNotProposed(t *testing.T) {
	n, st, g, applied := startHeldInSave(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := n.Propose(ctx, []byte("cancelled")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose with an ended ctx = %v, want context.Canceled", err)
	}
	st.releaseSaves(g)
	if err := n.Propose(context.Background(), []byte("last")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "last applied", func() bool { return slices.Contains(applied(), "last") })
	if got, want := applied(), []string{"first", "last"}; !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}
}

// The apply goroutine calls ApplyConfChange while the loop waits for it to
// take a batch from a full ApplyC: the loop must serve it meanwhile.
func TestApplyConfChangeWhileApplyCIsFull(t *testing.T) {
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n := startSingle(t, st, nil)
	waitLeader(t, n)
	for i := 0; len(n.ApplyC()) < cap(n.applyC); i++ {
		if i > 100*cap(n.applyC) {
			t.Fatal("ApplyC never filled up")
		}
		if err := n.Propose(context.Background(), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// One more commit makes the loop wait on the full ApplyC.
	if err := n.Propose(context.Background(), []byte("more")); err != nil {
		t.Fatal(err)
	}
	done := make(chan *raftpb.ConfState, 1)
	go func() {
		done <- n.ApplyConfChange(&raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{
			{Type: raftpb.ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(2)}}})
	}()
	select {
	case cs := <-done:
		if !slices.Contains(cs.GetLearners(), 2) {
			t.Fatalf("conf state %v, want learner 2", cs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ApplyConfChange blocked while ApplyC was full")
	}
	if st := n.Status(); st.Lead != 1 {
		t.Fatalf("Status while ApplyC is full: leader %d", st.Lead)
	}
}

// Callers waiting for the loop when it stops get ErrStopped, and so does
// everything after.
func TestStopEndsWaitingCalls(t *testing.T) {
	n, st, g, _ := startHeldInSave(t)
	errC := make(chan error, 1)
	go func() { errC <- n.Propose(context.Background(), []byte("waiting")) }()
	waitFor(t, "the proposal queued", func() bool { return n.mb.len() == 1 })
	stopped := make(chan struct{})
	go func() { n.Stop(); close(stopped) }()
	<-n.stopC
	st.releaseSaves(g)
	<-stopped
	if err := <-errC; !errors.Is(err, ErrStopped) {
		t.Fatalf("waiting Propose = %v, want ErrStopped", err)
	}
	if err := n.Propose(context.Background(), []byte("after")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Propose after Stop = %v, want ErrStopped", err)
	}
	if err := n.Err(); err != nil {
		t.Fatalf("Err after Stop = %v, want nil: Stop is not a failure", err)
	}
	if err := n.Process(context.Background(), &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(),
		From: proto.Uint64(2), To: proto.Uint64(1)}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Process after Stop = %v, want ErrStopped", err)
	}
	if st := n.Status(); st.ID != 0 {
		t.Fatalf("Status after Stop = %+v, want empty", st)
	}
}

// Forwarded proposals wait in the mailbox up to maxForwarded; past that
// they are dropped at once.
func TestForwardedProposalsBounded(t *testing.T) {
	n, st, g, applied := startHeldInSave(t)
	forward := func(i int) error {
		return n.Process(context.Background(), &raftpb.Message{Type: raftpb.MsgProp.Enum(),
			From: proto.Uint64(2), To: proto.Uint64(1), Entries: []*raftpb.Entry{{Data: fmt.Appendf(nil, "%d", i)}}})
	}
	for i := range maxForwarded {
		if err := forward(i); err != nil {
			t.Fatalf("forwarded proposal %d: %v", i, err)
		}
	}
	if err := forward(maxForwarded); !errors.Is(err, ErrProposalDropped) {
		t.Fatalf("forwarded proposal past the bound = %v, want ErrProposalDropped", err)
	}
	st.releaseSaves(g)
	waitFor(t, "forwarded proposals applied", func() bool { return len(applied()) == 1+maxForwarded })
	if err := forward(maxForwarded + 1); err != nil {
		t.Fatalf("forwarded proposal once the loop caught up: %v", err)
	}
}
