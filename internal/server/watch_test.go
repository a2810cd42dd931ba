package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/watch"
)

// watchClient runs one Server.Watch in the background, as a gRPC stream
// would, and hands its responses to the test.
type watchClient struct {
	respC  chan *metapb.WatchResponse
	errC   chan error
	cancel context.CancelFunc
	// covered: every change in range up to it has been received (the
	// highest event revision or progress marker seen; the writes of these
	// tests change one key of a range per entry).
	covered uint64
}

// startWatch starts a watch on s. block, when not nil, holds every send
// until it is closed: a client that does not read.
func startWatch(t *testing.T, s *server.Server, req *metapb.WatchRequest, block <-chan struct{}) *watchClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w := &watchClient{respC: make(chan *metapb.WatchResponse, 1<<16), errC: make(chan error, 1), cancel: cancel}
	go func() {
		w.errC <- s.Watch(ctx, req, func(r *metapb.WatchResponse) error {
			if block != nil {
				select {
				case <-block:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			select {
			case w.respC <- r:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return w
}

// next returns the next response; it fails the test if the watch ends.
func (w *watchClient) next(t *testing.T) *metapb.WatchResponse {
	t.Helper()
	select {
	case r := <-w.respC:
		w.note(r)
		return r
	case err := <-w.errC:
		t.Fatalf("watch ended: %v", err)
	case <-time.After(clustertest.WaitTimeout):
		t.Fatalf("no watch response within %s", clustertest.WaitTimeout)
	}
	return nil
}

func (w *watchClient) note(r *metapb.WatchResponse) {
	if ev := r.GetEvent(); ev != nil && !r.GetIsInitialization() {
		w.covered = max(w.covered, ev.GetRevision())
	}
	w.covered = max(w.covered, r.GetProgressRevision())
}

// eventsUntil collects change events until the watch has covered rev.
func (w *watchClient) eventsUntil(t *testing.T, rev uint64) []*metapb.Event {
	t.Helper()
	var out []*metapb.Event
	for w.covered < rev {
		if r := w.next(t); r.GetEvent() != nil && !r.GetIsInitialization() {
			out = append(out, r.GetEvent())
		}
	}
	return out
}

// end waits for the watch to end and returns its error, after taking
// every response it sent before.
func (w *watchClient) end(t *testing.T) (error, []*metapb.Event) {
	t.Helper()
	var err error
	select {
	case err = <-w.errC:
	case <-time.After(clustertest.WaitTimeout):
		t.Fatalf("the watch did not end within %s", clustertest.WaitTimeout)
	}
	var out []*metapb.Event
	for {
		select {
		case r := <-w.respC:
			w.note(r)
			if r.GetEvent() != nil && !r.GetIsInitialization() {
				out = append(out, r.GetEvent())
			}
		default:
			return err, out
		}
	}
}

func seqsOf(events []*metapb.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, ev := range events {
		out[i] = ev.GetSeq()
	}
	return out
}

// acked records acknowledged writes by seq, with their revisions.
type acked struct {
	mu   sync.Mutex
	keys map[uint64]string
	revs map[uint64]uint64
}

func (a *acked) add(v *metapb.SeqV, key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.keys == nil {
		a.keys, a.revs = map[uint64]string{}, map[uint64]uint64{}
	}
	a.keys[v.GetSeq()] = key
	a.revs[v.GetSeq()] = v.GetModRevision()
}

// rev returns the revision of the acknowledged write of seq.
func (a *acked) rev(seq uint64) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.revs[seq]
}

// lastRev returns the largest revision of the acknowledged writes of keys
// with prefix.
func (a *acked) lastRev(prefix string) uint64 {
	seqs := a.seqs(prefix)
	return a.rev(seqs[len(seqs)-1])
}

// seqs returns the acknowledged seqs of keys with prefix, ascending.
func (a *acked) seqs(prefix string) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []uint64
	for seq, k := range a.keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, seq)
		}
	}
	slices.Sort(out)
	return out
}

// writeKeys upserts n keys named prefix%03d through s and records them.
func writeKeys(t *testing.T, s *server.Server, a *acked, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("%s%03d", prefix, i)
		r := mustPut(t, s, k, k)
		a.add(r.GetResult(), k)
	}
}

func checkEvents(t *testing.T, got []*metapb.Event, want []uint64, a *acked) {
	t.Helper()
	if !slices.Equal(seqsOf(got), want) {
		t.Fatalf("watched seqs %v,\nwant the acknowledged writes %v", seqsOf(got), want)
	}
	for _, ev := range got {
		a.mu.Lock()
		k := a.keys[ev.GetSeq()]
		a.mu.Unlock()
		if ev.GetKey() != k || ev.GetCurrent().GetSeq() != ev.GetSeq() || string(ev.GetCurrent().GetData()) != k {
			t.Fatalf("event %v, want the write of %q at seq %d", ev, k, ev.GetSeq())
		}
	}
}

func TestTxnThroughFollower(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	f := follower(c, lead)
	ctx := c.Ctx()
	createOnce := &metapb.TxnRequest{
		Condition: []*metapb.TxnCondition{{Key: "t", Op: metapb.TxnCondition_EQ, Target: &metapb.TxnCondition_Seq{Seq: 0}}},
		IfThen: []*metapb.TxnOp{
			{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "t", Value: []byte("v1")}}},
			{Request: &metapb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &metapb.FetchIncreaseU64{Key: "n", Delta: 1}}},
		},
		ElseThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: "t"}}}},
	}
	r, err := f.Server.Txn(ctx, createOnce)
	if err != nil {
		t.Fatalf("txn through follower: %v", err)
	}
	if !r.GetSuccess() || r.GetExecutionPath() != "then" || len(r.GetResponses()) != 2 {
		t.Fatalf("first txn = %v, want then with 2 responses", r)
	}
	put := r.GetResponses()[0].GetPut()
	if put.GetCurrent().GetSeq() == 0 || r.GetResponses()[1].GetFetchIncreaseU64().GetAfter() != 1 {
		t.Fatalf("first txn responses = %v", r.GetResponses())
	}
	for _, n := range c.Nodes() {
		if v := mustGet(t, n.Server, "t", metapb.ReadConsistency_LINEARIZABLE); v.GetSeq() != put.GetCurrent().GetSeq() {
			t.Errorf("node %d reads t at seq %d, want %d", n.ID, v.GetSeq(), put.GetCurrent().GetSeq())
		}
	}

	r, err = c.Node(lead).Server.Txn(ctx, createOnce)
	if err != nil || r.GetSuccess() || r.GetExecutionPath() != "else" ||
		string(r.GetResponses()[0].GetGet().GetValue().GetData()) != "v1" {
		t.Fatalf("second txn = %v, %v; want else with get t = v1", r, err)
	}

	// A counter on a value that is not a JSON number counts from 0, as
	// in databend-meta, and all ops of the transaction share a revision.
	r, err = f.Server.Txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{
		{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "u", Value: []byte("x")}}},
		{Request: &metapb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &metapb.FetchIncreaseU64{Key: "t", Delta: 1}}},
	}})
	if err != nil || r.GetResponses()[1].GetFetchIncreaseU64().GetAfter() != 1 {
		t.Fatalf("counter on a non-number: %v, %v; want after = 1", r, err)
	}
	u := mustGet(t, f.Server, "u", metapb.ReadConsistency_LINEARIZABLE)
	tv := mustGet(t, f.Server, "t", metapb.ReadConsistency_LINEARIZABLE)
	if string(tv.GetData()) != "1" || u.GetModRevision() != tv.GetModRevision() || u.GetModRevision() != f.Server.Status().GetRevision() {
		t.Errorf("u = %v, t = %v, revision %d: want t = 1, both at the revision", u, tv, f.Server.Status().GetRevision())
	}
}

// A write that never entered the log says so, for safe retries.
func TestNotProposedWithoutLeader(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	f := follower(c, lead)
	c.Isolate(f.ID)
	c.Tick(2 * clustertest.ElectionTick)
	if l := f.Server.Status().GetLeaderId(); l != 0 {
		t.Fatalf("node %d, cut off for two election timeouts, still follows node %d", f.ID, l)
	}
	// Raft's time stands still while the calls wait: no leader can be
	// elected meanwhile.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := f.Server.Upsert(ctx, put("k", "v"))
	if !errors.Is(err, server.ErrNotProposed) || !errors.Is(err, server.ErrNoLeader) {
		t.Errorf("upsert without a leader: %v, want ErrNoLeader and ErrNotProposed", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = f.Server.Txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{
		{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "k", Value: []byte("v")}}}}})
	if !errors.Is(err, server.ErrNotProposed) {
		t.Errorf("txn without a leader: %v, want ErrNotProposed", err)
	}
	c.Heal()
}

// A watch on one node sees the writes made through every node, in seq
// order, with no gap and no repeat, and nothing outside its range.
func TestWatchSeesWritesFromEveryNode(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	f := follower(c, lead)
	w := startWatch(t, f.Server, &metapb.WatchRequest{Key: "w/", KeyEnd: "w0"}, nil)
	if r := w.next(t); r.GetEvent() != nil || r.GetFlushDone() {
		t.Fatalf("first response %v, want a progress marker", r)
	}

	var a acked
	var wg sync.WaitGroup
	for i, nd := range c.Nodes() {
		wg.Go(func() {
			writeKeys(t, nd.Server, &a, fmt.Sprintf("w/%d/", i), 30)
			writeKeys(t, nd.Server, &a, fmt.Sprintf("x/%d/", i), 10) // out of range
		})
	}
	wg.Wait()
	want := a.seqs("w/")
	checkEvents(t, w.eventsUntil(t, a.lastRev("w/")), want, &a)
}

func TestWatchInitialFlushThenChanges(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	s := c.Node(lead).Server
	mustPut(t, s, "a", "a")
	b1 := mustPut(t, s, "b/1", "1").GetResult().GetSeq()
	b2 := mustPut(t, s, "b/2", "2").GetResult().GetSeq()
	cRev := mustPut(t, s, "c", "c").GetResult().GetModRevision()
	f := follower(c, lead)
	c.Settle()
	if got := f.Server.StateMachine().Revision(); got < cRev {
		t.Fatalf("the follower, settled, is at revision %d, want %d", got, cRev)
	}

	w := startWatch(t, f.Server, &metapb.WatchRequest{Key: "b/", KeyEnd: "b0", InitialFlush: true}, nil)
	for _, want := range []struct {
		key string
		seq uint64
	}{{"b/1", b1}, {"b/2", b2}} {
		r := w.next(t)
		if !r.GetIsInitialization() || r.GetEvent().GetKey() != want.key || r.GetEvent().GetSeq() != want.seq ||
			r.GetEvent().GetCurrent().GetSeq() != want.seq {
			t.Fatalf("initial response %v, want %s at seq %d", r, want.key, want.seq)
		}
	}
	done := w.next(t)
	if !done.GetFlushDone() || done.GetProgressRevision() < cRev {
		t.Fatalf("after the values: %v, want flush_done with progress_revision >= %d", done, cRev)
	}

	b3 := mustPut(t, s, "b/3", "3").GetResult()
	del, err := s.Upsert(c.Ctx(), &metapb.UpsertRequest{Key: "b/1", Op: metapb.UpsertRequest_DELETE})
	if err != nil {
		t.Fatal(err)
	}
	delRev := s.StateMachine().Revision()
	evs := w.eventsUntil(t, delRev)
	if len(evs) != 2 || evs[0].GetKey() != "b/3" || evs[0].GetSeq() != b3.GetSeq() || evs[0].GetRevision() != b3.GetModRevision() ||
		evs[1].GetKey() != "b/1" || evs[1].GetCurrent() != nil || evs[1].GetPrev().GetSeq() != del.GetPrev().GetSeq() ||
		evs[1].GetSeq() != b1 || evs[1].GetRevision() != delRev {
		t.Fatalf("changes after the flush: %v, want put b/3 then delete b/1 (at revision %d, seq %d: a delete takes none)", evs, delRev, b1)
	}
}

// A watch cancelled mid-stream and resumed from its last revision + 1, on
// another node, loses nothing and repeats nothing.
func TestWatchResumeFromStartRevision(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	nodes := c.Nodes()
	first := startWatch(t, nodes[0].Server, &metapb.WatchRequest{Key: "r/", KeyEnd: "r0"}, nil)
	first.next(t) // the marker: the watch is in place

	var a acked
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		writeKeys(t, c.Node(lead).Server, &a, "r/", 150)
	}()
	var got []*metapb.Event
	for len(got) < 40 {
		if r := first.next(t); r.GetEvent() != nil {
			got = append(got, r.GetEvent())
		}
	}
	first.cancel()
	_, rest := first.end(t)
	got = append(got, rest...)

	second := startWatch(t, nodes[1].Server, &metapb.WatchRequest{Key: "r/", KeyEnd: "r0", StartRevision: first.covered + 1}, nil)
	<-writing
	want := a.seqs("r/")
	got = append(got, second.eventsUntil(t, a.lastRev("r/"))...)
	checkEvents(t, got, want, &a)
}

func TestWatchCompacted(t *testing.T) {
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true, HistorySize: 5})
	s := c.Node(c.WaitLeader()).Server
	var a acked
	writeKeys(t, s, &a, "h/", 20)
	last, lastSeq := s.StateMachine().Revision(), s.StateMachine().LastSeq()

	w := startWatch(t, s, &metapb.WatchRequest{Key: "h/", KeyEnd: "h0", StartRevision: 1}, nil)
	err, _ := w.end(t)
	if !errors.Is(err, statemachine.ErrCompacted) {
		t.Fatalf("resume from revision 1 with a history of 5: %v, want ErrCompacted", err)
	}
	if !strings.Contains(err.Error(), "revision + 1") {
		t.Errorf("compacted error %q does not say how to recover", err)
	}

	w = startWatch(t, s, &metapb.WatchRequest{Key: "h/", KeyEnd: "h0", StartRevision: last - 2}, nil)
	checkEvents(t, w.eventsUntil(t, last), []uint64{lastSeq - 2, lastSeq - 1, lastSeq}, &a)
}

// A watcher that does not read is cut off while writes go on; the other
// watchers keep receiving everything, and the slow one can resume.
func TestSlowWatcherCutOff(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	s := c.Node(lead).Server
	f := follower(c, lead)
	fast := startWatch(t, f.Server, &metapb.WatchRequest{Key: "s/", KeyEnd: "s0"}, nil)
	fast.next(t)
	block := make(chan struct{})
	slow := startWatch(t, f.Server, &metapb.WatchRequest{Key: "s/", KeyEnd: "s0"}, block)
	c.Eventually(func() bool { return f.Server.WatcherCount() == 2 }, "both watchers are registered")

	// Each transaction publishes MaxTxnOps events at once: enough of them
	// overflow the slow watcher's buffer.
	batches := watch.DefaultBufferSize/statemachine.MaxTxnOps + 2
	var a acked
	for b := range batches {
		req := &metapb.TxnRequest{}
		for i := range statemachine.MaxTxnOps {
			k := fmt.Sprintf("s/%d/%04d", b, i)
			req.IfThen = append(req.IfThen, &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: k, Value: []byte(k)}}})
		}
		r, err := s.Txn(c.Ctx(), req)
		if err != nil {
			t.Fatalf("txn %d while a watcher is stuck: %v", b, err)
		}
		for _, resp := range r.GetResponses() {
			a.add(resp.GetPut().GetCurrent(), resp.GetPut().GetKey())
		}
	}
	c.Eventually(func() bool { return f.Server.WatcherCount() == 1 }, "the slow watcher is removed")
	writeKeys(t, s, &a, "s/after/", 5) // writes go on

	want := a.seqs("s/")
	checkEvents(t, fast.eventsUntil(t, a.lastRev("s/")), want, &a)

	close(block) // the client reads again and learns why its stream ended
	err, _ := slow.end(t)
	if !errors.Is(err, watch.ErrSlowWatcher) || !strings.Contains(err.Error(), "resume the watch with start_revision") {
		t.Fatalf("slow watch ended with %v, want ErrSlowWatcher saying how to resume", err)
	}
	// It got its first marker before it was cut off: it resumes after it.
	resumed := startWatch(t, f.Server, &metapb.WatchRequest{Key: "s/", KeyEnd: "s0", StartRevision: slow.covered + 1}, nil)
	checkEvents(t, resumed.eventsUntil(t, a.lastRev("s/")), want, &a)
}

// A key with a ttl expires at the same revision on every node, is hidden
// from reads at once, and every watcher gets its delete event.
func TestTTLExpiryIdenticalOnEveryNode(t *testing.T) {
	clock := clustertest.NewClock(time.Now())
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Now: clock.Now})
	lead := c.WaitLeader()
	f := follower(c, lead)
	r, err := f.Server.Upsert(c.Ctx(), &metapb.UpsertRequest{Key: "lease", Value: []byte("me"), TtlMs: 1000})
	if err != nil {
		t.Fatal(err)
	}
	putSeq := r.GetResult().GetSeq()
	watchers := map[uint64]*watchClient{}
	for _, nd := range c.Nodes() {
		watchers[nd.ID] = startWatch(t, nd.Server, &metapb.WatchRequest{Key: "lease", Filter: metapb.WatchRequest_DELETE}, nil)
		watchers[nd.ID].next(t)
	}

	clock.Advance(2 * time.Second)
	for _, nd := range c.Nodes() {
		if v := mustGet(t, nd.Server, "lease", metapb.ReadConsistency_SERIALIZABLE); v != nil {
			t.Errorf("node %d still shows the expired key: %v", nd.ID, v)
		}
	}
	// The next entry sweeps the key out of the state on every node.
	tick := mustPut(t, c.Node(lead).Server, "tick", "1").GetResult()
	for id, w := range watchers {
		evs := w.eventsUntil(t, tick.GetModRevision())
		if len(evs) != 1 || evs[0].GetKey() != "lease" || evs[0].GetCurrent() != nil ||
			evs[0].GetPrev().GetSeq() != putSeq || evs[0].GetRevision() != tick.GetModRevision() {
			t.Errorf("node %d watcher got %v, want the removal of lease (seq %d) at revision %d", id, evs, putSeq, tick.GetModRevision())
		}
	}
	if tick.GetSeq() != putSeq+1 {
		t.Errorf("the write after the expiry took seq %d, want %d: an expiry takes no seq", tick.GetSeq(), putSeq+1)
	}
	c.Settle()
	leader := c.Node(lead).Server.StateMachine()
	for _, nd := range c.Nodes() {
		sm := nd.Server.StateMachine()
		if sm.AppliedIndex() != leader.AppliedIndex() {
			t.Errorf("node %d, settled, applied %d, the leader %d", nd.ID, sm.AppliedIndex(), leader.AppliedIndex())
		}
		if sm.Hash() != leader.Hash() {
			t.Errorf("node %d state hash %x, leader %x", nd.ID, sm.Hash(), leader.Hash())
		}
		if sm.KeyCount() != 1 {
			t.Errorf("node %d holds %d keys, want 1 (tick)", nd.ID, sm.KeyCount())
		}
	}
}

// A follower that falls behind the leader's log installs a snapshot: its
// watchers are cut off, and resume from their last revision without a gap.
func TestSnapshotInstallInterruptsWatchers(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, SnapshotLogsSinceLast: 20, MaxAppliedLogToKeep: 5})
	lead := c.WaitLeader()
	f := follower(c, lead)
	w := startWatch(t, f.Server, &metapb.WatchRequest{Key: "p/", KeyEnd: "p0"}, nil)
	w.next(t)
	var a acked
	writeKeys(t, c.Node(lead).Server, &a, "p/a/", 5)
	w.eventsUntil(t, a.rev(a.seqs("p/")[4]))

	c.Isolate(f.ID)
	writeKeys(t, c.Node(lead).Server, &a, "p/b/", 100)
	applied := f.Server.StateMachine().AppliedIndex()
	c.Eventually(func() bool {
		first, _ := c.Node(lead).Storage.FirstIndex()
		return first > applied+1
	}, "the leader compacts its log past the follower")
	// The leader's next heartbeat finds the follower; it gets the snapshot.
	c.Heal()
	c.Tick(1)

	err, _ := w.end(t)
	if !errors.Is(err, watch.ErrInterrupted) || !strings.Contains(err.Error(), "snapshot") {
		t.Fatalf("watch across a snapshot install ended with %v, want ErrInterrupted naming the snapshot", err)
	}
	writeKeys(t, c.Node(lead).Server, &a, "p/c/", 5)
	resumed := startWatch(t, f.Server, &metapb.WatchRequest{Key: "p/", KeyEnd: "p0", StartRevision: w.covered + 1}, nil)
	want := a.seqs("p/")
	got := resumed.eventsUntil(t, a.lastRev("p/"))
	checkEvents(t, got, want[5:], &a)
}

func TestStopEndsWatches(t *testing.T) {
	c := clustertest.New(t, 1, manualTicks)
	id := c.WaitLeader()
	w := startWatch(t, c.Node(id).Server, &metapb.WatchRequest{Key: "k"}, nil)
	w.next(t)
	c.Stop(id)
	if err, _ := w.end(t); !errors.Is(err, watch.ErrClosed) {
		t.Fatalf("watch on a stopped server ended with %v, want ErrClosed", err)
	}
}
