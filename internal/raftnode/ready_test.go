package raftnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// applyLog is what drainApply read from ApplyC.
type applyLog struct {
	mu      sync.Mutex
	data    []string // of the normal entries with data, in order
	index   uint64   // of the last entry or snapshot read
	waiters map[uint64]chan struct{}
}

// drainApply reads ApplyC in the background, as an apply goroutine would.
func drainApply(t *testing.T, n *Node) *applyLog {
	t.Helper()
	l := &applyLog{waiters: map[uint64]chan struct{}{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ap := range n.ApplyC() {
			l.mu.Lock()
			if ap.Snapshot != nil {
				l.index = ap.Snapshot.GetMetadata().GetIndex()
			}
			for _, e := range ap.Entries {
				l.index = e.GetIndex()
				if e.GetType() == raftpb.EntryNormal && len(e.GetData()) > 0 {
					l.data = append(l.data, string(e.GetData()))
				}
			}
			for i, c := range l.waiters {
				if i <= l.index {
					close(c)
					delete(l.waiters, i)
				}
			}
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { n.Stop(); <-done })
	return l
}

// applied returns the data of the normal entries read so far.
func (l *applyLog) applied() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.data)
}

// wait returns a channel closed once the entry at index was read (the
// applied argument of Node.Settle).
func (l *applyLog) wait(index uint64) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := make(chan struct{})
	if index <= l.index {
		close(c)
		return c
	}
	if w, ok := l.waiters[index]; ok {
		return w
	}
	l.waiters[index] = c
	return c
}

// waitQueued waits until k ops are in n's mailbox, pushed by other
// goroutines while the loop is held. It yields to them: nothing here
// waits for time to pass.
func waitQueued(t *testing.T, n *Node, k int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.mb.len() < k {
		if time.Now().After(deadline) {
			t.Fatalf("%d ops queued, want %d", n.mb.len(), k)
		}
		runtime.Gosched()
	}
}

// holdLoop keeps the Ready loop busy until release is called: what
// arrives meanwhile waits in the mailbox.
func holdLoop(t *testing.T, n *Node) (release func()) {
	t.Helper()
	heldC, releaseC := make(chan struct{}), make(chan struct{})
	n.mb.push(op{run: func(*raft.RawNode) error {
		close(heldC)
		<-releaseC
		return nil
	}}, 0)
	select {
	case <-heldC:
	case <-time.After(10 * time.Second):
		t.Fatal("the Ready loop never ran the holding op")
	}
	var once sync.Once
	release = func() { once.Do(func() { close(releaseC) }) }
	t.Cleanup(release)
	return release
}

// releaseAndWait releases the held loop (holdLoop), waits for the
// proposers of wg, fails the test on an error one of them sent to errC,
// and settles n.
func releaseAndWait(t *testing.T, n *Node, release func(), wg *sync.WaitGroup, errC chan error) {
	t.Helper()
	release()
	wg.Wait()
	close(errC)
	for err := range errC {
		if err != nil {
			t.Fatalf("Propose: %v", err)
		}
	}
	settle(n)
}

// settle returns once the Ready loop has handled everything queued before
// the call: the second Status is served only after the Ready that follows
// the work served with the first.
func settle(n *Node) {
	n.Status()
	n.Status()
}

// queuedEntries is the number of entries in each Ready waiting for the
// append goroutine.
func queuedEntries(n *Node) []int {
	n.aq.mu.Lock()
	defer n.aq.mu.Unlock()
	var got []int
	for _, it := range n.aq.mu.items {
		got = append(got, len(it.m.GetEntries()))
	}
	return got
}

// recordTransport keeps what the node sends.
type recordTransport struct {
	mu   sync.Mutex
	msgs []*raftpb.Message
}

func (r *recordTransport) Send(msgs []*raftpb.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
}

// sent reports whether a message matching ok was sent.
func (r *recordTransport) sent(ok func(m *raftpb.Message) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.msgs, ok)
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
				ID: 1, Ticks: make(chan time.Time), HeartbeatTick: 1, ElectionTick: 5, // never ticks: never elects
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

// startHeldInSave starts a single-node leader whose append goroutine is
// held in the Save of the entry "first"; ApplyC is drained in the
// background.
func startHeldInSave(t *testing.T) (n *Node, st *memStorage, g *saveGate, applied *applyLog) {
	t.Helper()
	st = &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n = startSingle(t, st, nil)
	applied = drainApply(t, n)
	settleNode(t, n, applied.wait)
	g, entered := st.holdSaves(t)
	if err := n.Propose(context.Background(), []byte("first")); err != nil {
		t.Fatal(err)
	}
	entered(t)
	return n, st, g, applied
}

// Proposals and messages that arrive while the loop is busy are stepped
// together into one Ready.
func TestWorkArrivingWhileLoopBusySharesOneReady(t *testing.T) {
	// Readys wait in the append queue behind the Save of "first", to be
	// counted there.
	n, st, g, applied := startHeldInSave(t)
	release := holdLoop(t, n)
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
			t.Fatalf("Process while the loop is busy: %v", err)
		}
	}
	waitQueued(t, n, local+forwarded)
	releaseAndWait(t, n, release, &wg, errC)
	if got := queuedEntries(n); !slices.Contains(got, local+forwarded) {
		t.Fatalf("entries per queued Ready %v: want one Ready of all %d proposals", got, local+forwarded)
	}
	st.releaseSaves(g)
	settleNode(t, n, applied.wait)
	if got := applied.applied(); len(got) != 1+local+forwarded {
		t.Fatalf("applied %d entries, want %d", len(got), 1+local+forwarded)
	}
}

// The loop goes on stepping while the append goroutine is in Save, and the
// Readys that pile up meanwhile are persisted by one Save (with raft.Node,
// or a loop that saves itself, each Propose here waited for the Save).
func TestStepsWhileSavingAndBatchesSaves(t *testing.T) {
	n, st, g, applied := startHeldInSave(t)
	const more = 20
	for i := range more {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.Propose(ctx, fmt.Appendf(nil, "%d", i))
		cancel()
		if err != nil {
			t.Fatalf("Propose %d while a Save is in progress: %v", i, err)
		}
		settle(n) // one Ready each
	}
	if got := queuedEntries(n); len(got) != more {
		t.Fatalf("queued Readys hold %v entries, want %d Readys of 1", got, more)
	}
	if got := applied.applied(); len(got) != 0 {
		t.Fatalf("applied %q before any of it was durable", got)
	}
	st.releaseSaves(g)
	settleNode(t, n, applied.wait)
	if got := applied.applied(); len(got) != 1+more {
		t.Fatalf("applied %d entries, want %d", len(got), 1+more)
	}
	if !slices.Contains(st.saveBatches(), more) {
		t.Fatalf("entries per Save %v: want one Save of the %d queued Readys", st.saveBatches(), more)
	}
}

// Durability as doc.go states it: a node acknowledges entries, and casts
// a vote, only after they are saved; a follower sends everything else
// (relayed requests, answers to heartbeats) at once; the leader sends new
// entries to followers before its own Save is done.
func TestSendsAroundSave(t *testing.T) {
	start := func(t *testing.T, id uint64) (*Node, *memStorage, *recordTransport) {
		t.Helper()
		st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
		tr := &recordTransport{}
		n, err := Start(Config{
			ID: id, Ticks: make(chan time.Time), HeartbeatTick: 1, ElectionTick: 5, // never ticks: elections by hand
			Storage: st, Transport: tr, Peers: []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		settleNode(t, n, drainApply(t, n).wait)
		if last, _ := st.LastIndex(); last != 3 {
			t.Fatalf("last saved index %d, want the 3 bootstrap entries", last)
		}
		return n, st, tr
	}
	msg := func(typ raftpb.MessageType, from, to, term uint64) *raftpb.Message {
		return &raftpb.Message{Type: typ.Enum(), From: proto.Uint64(from), To: proto.Uint64(to), Term: proto.Uint64(term)}
	}
	is := func(typ raftpb.MessageType) func(*raftpb.Message) bool {
		return func(m *raftpb.Message) bool { return m.GetType() == typ }
	}

	t.Run("follower", func(t *testing.T) {
		n, st, tr := start(t, 2)
		g, entered := st.holdSaves(t)
		app := msg(raftpb.MsgApp, 1, 2, 2)
		app.LogTerm, app.Index, app.Commit = proto.Uint64(1), proto.Uint64(3), proto.Uint64(3)
		app.Entries = []*raftpb.Entry{{Term: proto.Uint64(2), Index: proto.Uint64(4), Data: []byte("x")}}
		if err := n.Process(context.Background(), app); err != nil {
			t.Fatal(err)
		}
		entered(t)
		hb := msg(raftpb.MsgHeartbeat, 1, 2, 2)
		hb.Commit = proto.Uint64(3)
		if err := n.Process(context.Background(), hb); err != nil {
			t.Fatal(err)
		}
		// A proposal it relays to the leader does not wait.
		if err := n.Propose(context.Background(), []byte("relayed")); err != nil {
			t.Fatal(err)
		}
		settle(n)
		if tr.sent(is(raftpb.MsgAppResp)) {
			t.Fatal("the follower acknowledged entry 4 before its Save returned")
		}
		if !tr.sent(is(raftpb.MsgHeartbeatResp)) {
			t.Fatal("the answer to the heartbeat waited for the follower's Save")
		}
		if !tr.sent(func(m *raftpb.Message) bool { return m.GetType() == raftpb.MsgProp && m.GetTo() == 1 }) {
			t.Fatal("the relayed proposal waited for the follower's Save")
		}
		st.releaseSaves(g)
		settleNode(t, n, nil)
		if !tr.sent(func(m *raftpb.Message) bool {
			return m.GetType() == raftpb.MsgAppResp && !m.GetReject() && m.GetIndex() == 4
		}) {
			t.Fatal("no ack of entry 4 once it was saved")
		}
	})

	t.Run("voter", func(t *testing.T) {
		n, st, tr := start(t, 2)
		g, entered := st.holdSaves(t)
		vote := msg(raftpb.MsgVote, 3, 2, 2)
		vote.LogTerm, vote.Index = proto.Uint64(1), proto.Uint64(3)
		if err := n.Process(context.Background(), vote); err != nil {
			t.Fatal(err)
		}
		entered(t) // the new term and the vote
		settle(n)
		if tr.sent(is(raftpb.MsgVoteResp)) {
			t.Fatal("the vote was cast before the Save of the term and vote returned")
		}
		st.releaseSaves(g)
		settleNode(t, n, nil)
		if !tr.sent(func(m *raftpb.Message) bool {
			return m.GetType() == raftpb.MsgVoteResp && m.GetTo() == 3 && !m.GetReject()
		}) {
			t.Fatal("no vote for node 3 once the Save returned")
		}
	})

	t.Run("leader", func(t *testing.T) {
		n, st, tr := start(t, 1)
		if err := n.Campaign(context.Background()); err != nil {
			t.Fatal(err)
		}
		settleNode(t, n, nil)
		if !tr.sent(is(raftpb.MsgPreVote)) {
			t.Fatal("no pre-vote request after Campaign")
		}
		_ = n.Process(context.Background(), msg(raftpb.MsgPreVoteResp, 2, 1, 2))
		settleNode(t, n, nil)
		if !tr.sent(is(raftpb.MsgVote)) {
			t.Fatal("no vote request after a pre-vote granted")
		}
		_ = n.Process(context.Background(), msg(raftpb.MsgVoteResp, 2, 1, 2))
		settleNode(t, n, nil)
		if !n.IsLeader() {
			t.Fatal("node 1 is not leader with its vote and node 2's")
		}
		ack := msg(raftpb.MsgAppResp, 2, 1, 2)
		ack.Index = proto.Uint64(4) // the leader's empty entry
		_ = n.Process(context.Background(), ack)
		settleNode(t, n, nil)
		if last, _ := st.LastIndex(); last != 4 {
			t.Fatalf("last saved index %d, want the leader's empty entry 4", last)
		}

		g, entered := st.holdSaves(t)
		if err := n.Propose(context.Background(), []byte("x")); err != nil {
			t.Fatal(err)
		}
		entered(t)
		settle(n) // the loop only: the append goroutine is held in Save
		if !tr.sent(func(m *raftpb.Message) bool {
			return m.GetType() == raftpb.MsgApp && m.GetTo() == 2 &&
				slices.ContainsFunc(m.GetEntries(), func(e *raftpb.Entry) bool { return string(e.GetData()) == "x" })
		}) {
			t.Fatal("entry x was not sent while the leader saved it")
		}
		st.releaseSaves(g)
	})
}

// A proposal whose ctx ends while it waits in the mailbox is never
// proposed: the loop skips it.
func TestProposeCancelledBeforeTakenIsNotProposed(t *testing.T) {
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n := startSingle(t, st, nil)
	applied := drainApply(t, n)

	release := holdLoop(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- n.Propose(ctx, []byte("cancelled")) }()
	waitQueued(t, n, 1)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose whose ctx ended while queued = %v, want context.Canceled", err)
	}
	release()
	if err := n.Propose(context.Background(), []byte("last")); err != nil {
		t.Fatal(err)
	}
	settleNode(t, n, applied.wait)
	if got, want := applied.applied(), []string{"last"}; !slices.Equal(got, want) {
		t.Fatalf("applied %q, want %q", got, want)
	}
}

// The apply goroutine calls ApplyConfChange while the loop waits for it to
// take a batch from a full ApplyC: the loop must serve it meanwhile.
func TestApplyConfChangeWhileApplyCIsFull(t *testing.T) {
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n := startSingle(t, st, nil)
	for i := 0; len(n.ApplyC()) < cap(n.applyC); i++ {
		if i > 100*cap(n.applyC) {
			t.Fatal("ApplyC never filled up")
		}
		if err := n.Propose(context.Background(), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
		settle(n)
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
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n := startSingle(t, st, nil)
	drainApply(t, n)

	release := holdLoop(t, n)
	errC := make(chan error, 1)
	go func() { errC <- n.Propose(context.Background(), []byte("waiting")) }()
	waitQueued(t, n, 1)
	stopped := make(chan struct{})
	go func() { n.Stop(); close(stopped) }()
	<-n.stopC
	release()
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
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	n := startSingle(t, st, nil)
	applied := drainApply(t, n)

	release := holdLoop(t, n)
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
	release()
	settleNode(t, n, applied.wait)
	if got := applied.applied(); len(got) != maxForwarded {
		t.Fatalf("applied %d forwarded proposals, want %d", len(got), maxForwarded)
	}
	if err := forward(maxForwarded + 1); err != nil {
		t.Fatalf("forwarded proposal once the loop caught up: %v", err)
	}
}

// The proposals that wait in the mailbox together are stepped as one
// MsgProp, split where their data would pass maxProposalBatchBytes: a
// follower forwards each batch to the leader as one message (a leader
// appends it and sends each follower one MsgApp). A proposal whose caller
// gave up is left out.
func TestProposalsQueuedTogetherAreOneMsgProp(t *testing.T) {
	st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
	tr := &recordTransport{}
	n, err := Start(Config{
		ID: 2, Ticks: make(chan time.Time), HeartbeatTick: 1, ElectionTick: 5, // never ticks
		Storage: st, Transport: tr, Peers: []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	settleNode(t, n, drainApply(t, n).wait)
	// Node 1 leads term 2.
	hb := &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(1), To: proto.Uint64(2),
		Term: proto.Uint64(2), Commit: proto.Uint64(3)}
	if err := n.Process(context.Background(), hb); err != nil {
		t.Fatal(err)
	}
	settleNode(t, n, nil)
	if n.Leader() != 1 {
		t.Fatalf("leader %d, want 1", n.Leader())
	}

	release := holdLoop(t, n)
	const small = 20
	var wg sync.WaitGroup
	errC := make(chan error, 2*small+1)
	propose := func(data []byte) { wg.Go(func() { errC <- n.Propose(context.Background(), data) }) }
	for i := range small {
		propose(fmt.Appendf(nil, "a%d", i))
	}
	waitQueued(t, n, small)
	propose(slices.Repeat([]byte("b"), maxProposalBatchBytes))
	waitQueued(t, n, small+1)
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() { gaveUp <- n.Propose(ctx, []byte("cancelled")) }()
	waitQueued(t, n, small+2)
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("Propose whose ctx ended while queued = %v, want context.Canceled", err)
	}
	for i := range small {
		propose(fmt.Appendf(nil, "c%d", i))
	}
	waitQueued(t, n, 2*small+2)
	releaseAndWait(t, n, release, &wg, errC)

	var got []string // per MsgProp to the leader: the first letters of its entries
	tr.mu.Lock()
	for _, m := range tr.msgs {
		if m.GetType() != raftpb.MsgProp || m.GetTo() != 1 {
			continue
		}
		var letters []byte
		for _, e := range m.GetEntries() {
			letters = append(letters, e.GetData()[0])
		}
		got = append(got, string(letters))
	}
	tr.mu.Unlock()
	want := []string{strings.Repeat("a", small), "b", strings.Repeat("c", small)}
	if !slices.Equal(got, want) {
		t.Fatalf("MsgProps to the leader, by their entries' first letters: %q, want %q", got, want)
	}
}
