package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
)

// waitTimeout bounds every wait of these tests; nothing sleeps.
const waitTimeout = 10 * time.Second

func update(seq uint64, key string) *metapb.Event {
	return &metapb.Event{Key: key, Seq: seq, Revision: seq, Current: &metapb.SeqV{Seq: seq, Data: []byte(key)}}
}

func del(seq uint64, key string) *metapb.Event {
	return &metapb.Event{Key: key, Seq: seq - 1, Revision: seq, Prev: &metapb.SeqV{Seq: seq - 1}}
}

func TestSpecMatches(t *testing.T) {
	all, upd, dl := metapb.WatchRequest_ALL, metapb.WatchRequest_UPDATE, metapb.WatchRequest_DELETE
	tests := []struct {
		name string
		spec Spec
		ev   *metapb.Event
		want bool
	}{
		{"single key, same key", Spec{Key: "a"}, update(1, "a"), true},
		{"single key, longer key", Spec{Key: "a"}, update(1, "ab"), false},
		{"single key, other key", Spec{Key: "a"}, update(1, "b"), false},
		{"range start is inclusive", Spec{Key: "a/", KeyEnd: "a0"}, update(1, "a/"), true},
		{"range inside", Spec{Key: "a/", KeyEnd: "a0"}, update(1, "a/x/y"), true},
		{"range end is exclusive", Spec{Key: "a/", KeyEnd: "a0"}, update(1, "a0"), false},
		{"before range", Spec{Key: "a/", KeyEnd: "a0"}, update(1, "a"), false},
		{"to the end, binary key", Spec{Key: "a", KeyEnd: "\x00"}, update(1, "\xff\xff"), true},
		{"to the end, before the start", Spec{Key: "a", KeyEnd: "\x00"}, update(1, "\x00\xff"), false},
		{"binary range", Spec{Key: "\x00", KeyEnd: "\xff"}, update(1, "\xc3("), true},
		{"all passes update", Spec{Key: "a", Filter: all}, update(1, "a"), true},
		{"all passes delete", Spec{Key: "a", Filter: all}, del(2, "a"), true},
		{"update passes update", Spec{Key: "a", Filter: upd}, update(1, "a"), true},
		{"update drops delete", Spec{Key: "a", Filter: upd}, del(2, "a"), false},
		{"delete drops update", Spec{Key: "a", Filter: dl}, update(1, "a"), false},
		{"delete passes delete", Spec{Key: "a", Filter: dl}, del(2, "a"), true},
		{"filter after range", Spec{Key: "a", Filter: dl}, del(2, "b"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.spec.Matches(tt.ev); got != tt.want {
				t.Errorf("%+v.Matches(%v) = %v, want %v", tt.spec, tt.ev, got, tt.want)
			}
		})
	}
}

// collector is a Send that records what a stream sends and lets the test
// wait for it.
type collector struct {
	mu    sync.Mutex
	resps []*metapb.WatchResponse
	cond  chan struct{} // closed and replaced on every send
	block chan struct{} // non-nil: send blocks until it is closed
}

func newCollector() *collector { return &collector{cond: make(chan struct{})} }

func (c *collector) send(r *metapb.WatchResponse) error {
	if c.block != nil {
		<-c.block
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resps = append(c.resps, r)
	close(c.cond)
	c.cond = make(chan struct{})
	return nil
}

// waitFor waits until cond holds for the responses sent so far.
func (c *collector) waitFor(t *testing.T, what string, cond func([]*metapb.WatchResponse) bool) []*metapb.WatchResponse {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		resps, ch := append([]*metapb.WatchResponse(nil), c.resps...), c.cond
		c.mu.Unlock()
		if cond(resps) {
			return resps
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; got %v", what, resps)
		}
	}
}

// eventSeqs returns the seqs of the events (not initialization) in resps.
func eventSeqs(resps []*metapb.WatchResponse) []uint64 {
	var out []uint64
	for _, r := range resps {
		if r.GetEvent() != nil && !r.GetIsInitialization() {
			out = append(out, r.GetEvent().GetRevision())
		}
	}
	return out
}

func hasEvent(seq uint64) func([]*metapb.WatchResponse) bool {
	return func(rs []*metapb.WatchResponse) bool {
		s := eventSeqs(rs)
		return len(s) > 0 && s[len(s)-1] >= seq
	}
}

// serve runs w.Serve in the background and returns its result channel.
func serve(ctx context.Context, w *Watcher, p Prelude, c *collector, every time.Duration) <-chan error {
	errC := make(chan error, 1)
	go func() { errC <- w.Serve(ctx, p, c.send, every) }()
	return errC
}

func waitErr(t *testing.T, errC <-chan error) error {
	t.Helper()
	select {
	case err := <-errC:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return")
		return nil
	}
}

// history is a History over a slice of events, seq 1..n, of which the
// first floor-1 are compacted.
type history struct {
	mu     sync.Mutex
	events []*metapb.Event // events[i].Seq == i+1
	floor  uint64
}

var errCompacted = errors.New("compacted")

func (h *history) add(ev *metapb.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
}

func (h *history) EventsBetween(from, to uint64, fn func(*metapb.Event) bool) error {
	h.mu.Lock()
	evs := h.events
	floor := h.floor
	h.mu.Unlock()
	if from < max(floor, 1) {
		return fmt.Errorf("%w: history starts at %d", errCompacted, floor)
	}
	for seq := from; seq <= to && seq <= uint64(len(evs)); seq++ {
		if !fn(evs[seq-1]) {
			return nil
		}
	}
	return nil
}

// snapshot is a Snapshot over sorted KVs.
type snapshot []*metapb.KV

func (s snapshot) Range(key, keyEnd string, fn func(*metapb.KV) bool) {
	for _, kv := range s {
		if kv.GetKey() >= key && kv.GetKey() < keyEnd && !fn(kv) {
			return
		}
	}
}

func TestPublishFansOutByRangeAndFilter(t *testing.T) {
	events := []*metapb.Event{
		update(1, "a"), update(2, "a/1"), update(3, "b"), del(4, "a/1"),
		update(5, "a/2"), del(6, "a"), update(7, "a0"),
	}
	tests := []struct {
		name string
		spec Spec
		want []uint64
	}{
		{"one key", Spec{Key: "a"}, []uint64{1, 6}},
		{"prefix range", Spec{Key: "a/", KeyEnd: "a0"}, []uint64{2, 4, 5}},
		{"prefix updates", Spec{Key: "a/", KeyEnd: "a0", Filter: metapb.WatchRequest_UPDATE}, []uint64{2, 5}},
		{"prefix deletes", Spec{Key: "a/", KeyEnd: "a0", Filter: metapb.WatchRequest_DELETE}, []uint64{4}},
		{"everything", Spec{Key: "\x00", KeyEnd: "\x00"}, []uint64{1, 2, 3, 4, 5, 6, 7}},
		{"nothing", Spec{Key: "c"}, nil},
	}
	h := NewHub()
	ws := make([]*Watcher, len(tests))
	for i, tt := range tests {
		w, err := h.Register(tt.spec, 0)
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	h.Publish(events[:3])
	h.Publish(nil)
	h.Publish(events[3:])
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, seen := ws[i].take()
			var seqs []uint64
			for _, ev := range got {
				seqs = append(seqs, ev.GetRevision())
			}
			if fmt.Sprint(seqs) != fmt.Sprint(tt.want) {
				t.Errorf("events %v, want %v", seqs, tt.want)
			}
			if seen != 7 {
				t.Errorf("seen = %d, want 7 (every published seq, matching or not)", seen)
			}
		})
	}
}

func TestRegisterSkipsEventsAtOrBeforeItsSeq(t *testing.T) {
	h := NewHub()
	w, err := h.Register(Spec{Key: "a"}, 5)
	if err != nil {
		t.Fatal(err)
	}
	h.Publish([]*metapb.Event{update(4, "a"), update(5, "a"), update(6, "a")})
	got, _ := w.take()
	if len(got) != 1 || got[0].GetRevision() != 6 {
		t.Fatalf("events %v, want only seq 6", got)
	}
}

// A watcher whose stream does not keep up is cut off with a reason that
// says where to resume; the others keep receiving, and Publish never
// blocks.
func TestSlowWatcherCancelledOthersKeepReceiving(t *testing.T) {
	const bufSize, total = 8, 100
	h := NewHub(WithBufferSize(bufSize))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	fast, _ := h.Register(Spec{Key: "k"}, 0)
	slow, _ := h.Register(Spec{Key: "k"}, 0)
	other, _ := h.Register(Spec{Key: "other"}, 0)
	defer fast.Close()
	defer slow.Close()
	defer other.Close()

	fastC := newCollector()
	fastErrC := serve(ctx, fast, Prelude{}, fastC, time.Hour)
	fastC.waitFor(t, "the initial marker", func(rs []*metapb.WatchResponse) bool { return len(rs) == 1 })

	slowC := newCollector()
	slowC.block = make(chan struct{})
	slowErrC := serve(ctx, slow, Prelude{}, slowC, time.Hour)

	for seq := uint64(1); seq <= total; seq++ {
		h.Publish([]*metapb.Event{update(seq, "k")})
		// The fast one keeps up: wait for each event, so that only the
		// slow one can overflow.
		fastC.waitFor(t, fmt.Sprintf("event %d", seq), hasEvent(seq))
	}

	select {
	case <-slow.Done():
	default:
		t.Fatal("the slow watcher was not cancelled")
	}
	if !errors.Is(slow.Err(), ErrSlowWatcher) {
		t.Fatalf("slow watcher's reason = %v, want ErrSlowWatcher", slow.Err())
	}
	if n := h.Count(); n != 2 {
		t.Errorf("Count = %d, want 2 (the slow watcher removed)", n)
	}
	close(slowC.block) // the client reads again: the stream ends
	err := waitErr(t, slowErrC)
	if !errors.Is(err, ErrSlowWatcher) || !strings.Contains(err.Error(), "resume the watch with start_revision = 1") {
		t.Errorf("slow stream ended with %v; want ErrSlowWatcher saying to resume with start_revision = 1", err)
	}

	got := eventSeqs(fastC.waitFor(t, "every event", hasEvent(total)))
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("fast watcher got %v, want 1..%d in order", got, total)
		}
	}
	if evs, _ := other.take(); len(evs) != 0 {
		t.Errorf("the watcher of another key got %v", evs)
	}
	cancel()
	if err := waitErr(t, fastErrC); !errors.Is(err, context.Canceled) {
		t.Errorf("fast stream ended with %v, want context.Canceled", err)
	}
}

// One batch larger than the buffer is accepted by an empty buffer: a
// single large entry does not cut a watcher off on its own.
func TestLargeBatchFitsAnEmptyBuffer(t *testing.T) {
	h := NewHub(WithBufferSize(2))
	w, _ := h.Register(Spec{Key: "a", KeyEnd: "b"}, 0)
	batch := []*metapb.Event{update(1, "a1"), update(2, "a2"), update(3, "a3"), update(4, "a4")}
	h.Publish(batch)
	if w.Err() != nil {
		t.Fatalf("cancelled on one batch into an empty buffer: %v", w.Err())
	}
	h.Publish([]*metapb.Event{update(5, "a5")})
	if !errors.Is(w.Err(), ErrSlowWatcher) {
		t.Fatalf("a second batch on a full buffer: err = %v, want ErrSlowWatcher", w.Err())
	}
}

// Registration and publication race: a registrar that reads the last seq
// and registers under the publisher's lock, then replays the history up
// to that seq, sees every seq from its start exactly once, in order.
func TestRegisterRacesPublish(t *testing.T) {
	const total = 2000
	h := NewHub(WithBufferSize(total + 1))
	hist := &history{}
	var (
		mu      sync.Mutex // the server's apply lock
		lastSeq uint64
	)
	go func() {
		for seq := uint64(1); seq <= total; seq++ {
			ev := update(seq, fmt.Sprintf("k%d", seq%7))
			mu.Lock()
			hist.add(ev)
			lastSeq = seq
			h.Publish([]*metapb.Event{ev})
			mu.Unlock()
		}
	}()

	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			start := uint64(i*total/16 + 1)
			mu.Lock()
			w, err := h.Register(Spec{Key: "k", KeyEnd: "l"}, lastSeq)
			mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			defer w.Close()
			c := newCollector()
			errC := serve(ctx, w, Prelude{ReplayFrom: start, History: hist}, c, time.Hour)
			got := eventSeqs(c.waitFor(t, "every event", hasEvent(total)))
			for j, s := range got {
				if s != start+uint64(j) {
					t.Errorf("watcher from %d (registered at %d): event %d is seq %d; got %v",
						start, w.AfterRevision(), j, s, got)
					return
				}
			}
			cancel()
			<-errC
		})
	}
	wg.Wait()
	if n := h.Count(); n != 0 {
		t.Errorf("Count = %d after every watcher closed", n)
	}
}

func TestInitialFlushThenChanges(t *testing.T) {
	h := NewHub()
	snap := snapshot{
		{Key: "a", Value: &metapb.SeqV{Seq: 1}},
		{Key: "p/1", Value: &metapb.SeqV{Seq: 3}},
		{Key: "p/2", Value: &metapb.SeqV{Seq: 2}},
		{Key: "q", Value: &metapb.SeqV{Seq: 4}},
	}
	w, _ := h.Register(Spec{Key: "p/", KeyEnd: "p0", Filter: metapb.WatchRequest_DELETE}, 4)
	defer w.Close()
	c := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errC := serve(ctx, w, Prelude{Flush: snap}, c, time.Hour)
	c.waitFor(t, "flush_done", func(rs []*metapb.WatchResponse) bool { return len(rs) == 3 })
	h.Publish([]*metapb.Event{update(5, "p/3"), del(6, "p/1"), del(7, "q")})
	rs := c.waitFor(t, "the delete", func(rs []*metapb.WatchResponse) bool { return len(rs) == 4 })

	want := []string{
		"init p/1 seq 3", "init p/2 seq 2", "flush_done progress 4", "event p/1 revision 6",
	}
	for i, r := range rs {
		var got string
		switch {
		case r.GetIsInitialization():
			got = fmt.Sprintf("init %s seq %d", r.GetEvent().GetKey(), r.GetEvent().GetSeq())
			if r.GetEvent().GetCurrent().GetSeq() != r.GetEvent().GetSeq() {
				t.Errorf("initialization event %v: current's seq differs from the event's", r.GetEvent())
			}
		case r.GetFlushDone():
			got = fmt.Sprintf("flush_done progress %d", r.GetProgressRevision())
		default:
			got = fmt.Sprintf("event %s revision %d", r.GetEvent().GetKey(), r.GetEvent().GetRevision())
		}
		if got != want[i] {
			t.Errorf("response %d = %q, want %q", i, got, want[i])
		}
	}
	cancel()
	waitErr(t, errC)
}

func TestReplay(t *testing.T) {
	hist := &history{}
	for seq := uint64(1); seq <= 10; seq++ {
		hist.add(update(seq, fmt.Sprintf("k%d", seq%2)))
	}
	tests := []struct {
		name      string
		floor     uint64
		after     uint64 // registration point
		from      uint64
		wantSeqs  []uint64 // replayed events of key k1
		wantMark  uint64
		wantError error
	}{
		{"from the start", 0, 10, 1, []uint64{1, 3, 5, 7, 9}, 10, nil},
		{"from the middle", 0, 10, 4, []uint64{5, 7, 9}, 10, nil},
		{"from the registration point", 0, 10, 10, nil, 10, nil},
		{"ahead of this node", 0, 6, 9, nil, 8, nil},
		{"compacted", 5, 10, 3, nil, 0, errCompacted},
		{"at the floor", 5, 10, 5, []uint64{5, 7, 9}, 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hist.mu.Lock()
			hist.floor = tt.floor
			hist.mu.Unlock()
			h := NewHub()
			w, _ := h.Register(Spec{Key: "k1"}, tt.after)
			defer w.Close()
			c := newCollector()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errC := serve(ctx, w, Prelude{ReplayFrom: tt.from, History: hist}, c, time.Hour)
			if tt.wantError != nil {
				if err := waitErr(t, errC); !errors.Is(err, tt.wantError) {
					t.Fatalf("Serve = %v, want %v", err, tt.wantError)
				}
				return
			}
			rs := c.waitFor(t, "the marker", func(rs []*metapb.WatchResponse) bool {
				return len(rs) > 0 && rs[len(rs)-1].GetProgressRevision() != 0
			})
			if got := eventSeqs(rs); fmt.Sprint(got) != fmt.Sprint(tt.wantSeqs) {
				t.Errorf("replayed %v, want %v", got, tt.wantSeqs)
			}
			if got := rs[len(rs)-1].GetProgressRevision(); got != tt.wantMark {
				t.Errorf("marker after replay = %d, want %d", got, tt.wantMark)
			}
			// Live events the client already has (a resume ahead of
			// this node) are not sent again.
			h.Publish([]*metapb.Event{update(7, "k1"), update(9, "k1"), update(11, "k1")})
			rs = c.waitFor(t, "seq 11", hasEvent(11))
			want := append([]uint64(nil), tt.wantSeqs...)
			for _, s := range []uint64{7, 9, 11} {
				if s > max(tt.after, tt.from-1) {
					want = append(want, s)
				}
			}
			if got := eventSeqs(rs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("events %v, want %v (no repeat, nothing before start_revision)", got, want)
			}
		})
	}
}

// An idle stream sends progress markers with the last seq published to
// the hub, not the watcher's own last event.
func TestProgressMarkers(t *testing.T) {
	h := NewHub()
	w, _ := h.Register(Spec{Key: "mine"}, 3)
	defer w.Close()
	c := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errC := serve(ctx, w, Prelude{}, c, 10*time.Millisecond)
	rs := c.waitFor(t, "the initial marker", func(rs []*metapb.WatchResponse) bool { return len(rs) >= 1 })
	if rs[0].GetProgressRevision() != 3 || rs[0].GetEvent() != nil {
		t.Fatalf("first response %v, want a progress marker 3", rs[0])
	}
	h.Publish([]*metapb.Event{update(4, "mine"), update(5, "other"), update(6, "other")})
	rs = c.waitFor(t, "a progress marker 6", func(rs []*metapb.WatchResponse) bool {
		return rs[len(rs)-1].GetProgressRevision() == 6
	})
	if got := eventSeqs(rs); fmt.Sprint(got) != "[4]" {
		t.Errorf("events %v, want [4]", got)
	}
	for i := 1; i < len(rs); i++ {
		if p := rs[i].GetProgressRevision(); p != 0 && p < rs[i-1].GetProgressRevision() {
			t.Errorf("progress went back: %v", rs)
		}
		if rs[i].GetEvent() != nil && rs[i].GetProgressRevision() != 0 {
			t.Errorf("a response carries both an event and progress: %v", rs[i])
		}
	}
	// Markers keep coming on an idle stream.
	n := len(rs)
	c.waitFor(t, "another marker", func(rs []*metapb.WatchResponse) bool { return len(rs) > n })
	cancel()
	waitErr(t, errC)
}

func TestCancelAllAndClose(t *testing.T) {
	h := NewHub()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, _ := h.Register(Spec{Key: "a"}, 0)
	c := newCollector()
	errC := serve(ctx, w, Prelude{}, c, time.Hour)
	h.Publish([]*metapb.Event{update(1, "a"), update(2, "b")})
	c.waitFor(t, "event 1", hasEvent(1))

	h.CancelAll("installed a snapshot")
	err := waitErr(t, errC)
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "installed a snapshot") ||
		!strings.Contains(err.Error(), "start_revision = 3") {
		t.Errorf("stream ended with %v; want ErrInterrupted, the reason and start_revision = 3 (seq 2, of another key, was seen)", err)
	}
	if n := h.Count(); n != 0 {
		t.Errorf("Count = %d after CancelAll", n)
	}
	if _, err := h.Register(Spec{Key: "a"}, 2); err != nil {
		t.Errorf("Register after CancelAll: %v", err)
	}

	w2, _ := h.Register(Spec{Key: "a"}, 2)
	h.Close()
	if !errors.Is(w2.Err(), ErrClosed) {
		t.Errorf("watcher after Close: %v, want ErrClosed", w2.Err())
	}
	if _, err := h.Register(Spec{Key: "a"}, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Register after Close = %v, want ErrClosed", err)
	}
	w2.Close() // idempotent after a cancel
	w2.Close()
}

// A stream cancelled during its initial flush cannot resume from a seq.
func TestCancelDuringFlush(t *testing.T) {
	h := NewHub()
	w, _ := h.Register(Spec{Key: "a", KeyEnd: "b"}, 2)
	defer w.Close()
	c := newCollector()
	c.block = make(chan struct{})
	errC := serve(context.Background(), w, Prelude{Flush: snapshot{
		{Key: "a1", Value: &metapb.SeqV{Seq: 1}}, {Key: "a2", Value: &metapb.SeqV{Seq: 2}},
	}}, c, time.Hour)
	h.CancelAll("test")
	close(c.block)
	err := waitErr(t, errC)
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "initial_flush") {
		t.Errorf("Serve = %v, want ErrInterrupted saying to watch again with initial_flush", err)
	}
}

func TestMaxWatchers(t *testing.T) {
	h := NewHub(WithMaxWatchers(2))
	a, _ := h.Register(Spec{Key: "a"}, 0)
	if _, err := h.Register(Spec{Key: "b"}, 0); err != nil {
		t.Fatal(err)
	}
	_, err := h.Register(Spec{Key: "c"}, 0)
	if !errors.Is(err, ErrTooManyWatchers) || !strings.Contains(err.Error(), "another node") {
		t.Fatalf("third Register = %v, want ErrTooManyWatchers saying what to do", err)
	}
	a.Close()
	if _, err := h.Register(Spec{Key: "c"}, 0); err != nil {
		t.Errorf("Register after a Close: %v", err)
	}
}

func TestSendErrorEndsServe(t *testing.T) {
	h := NewHub()
	w, _ := h.Register(Spec{Key: "a"}, 0)
	defer w.Close()
	broken := errors.New("broken pipe")
	calls := 0
	err := w.Serve(context.Background(), Prelude{}, func(*metapb.WatchResponse) error {
		calls++
		return broken
	}, time.Hour)
	if !errors.Is(err, broken) || calls != 1 {
		t.Errorf("Serve = %v after %d sends, want the send error after 1", err, calls)
	}
}

// revHistory is a History of events several of which share a revision.
type revHistory []*metapb.Event

func (h revHistory) EventsBetween(from, to uint64, fn func(*metapb.Event) bool) error {
	for _, ev := range h {
		if ev.GetRevision() >= from && ev.GetRevision() <= to && !fn(ev) {
			return nil
		}
	}
	return nil
}

// A stream cut off in the middle of a revision names that revision to
// resume from (the client drops the events of it it already has), and one
// cut off after a whole revision the next.
func TestResumeMidRevision(t *testing.T) {
	ev := func(rev uint64, key string) *metapb.Event {
		return &metapb.Event{Key: key, Revision: rev, Current: &metapb.SeqV{Seq: 1}}
	}
	hist := revHistory{ev(3, "k/a"), ev(5, "k/a"), ev(5, "k/b"), ev(5, "k/c"), ev(6, "k/a")}
	for _, tt := range []struct {
		name   string
		cutAt  int // the number of events sent when the hub cancels the watcher
		resume string
	}{
		{"in the middle of revision 5", 2, "start_revision = 5"},
		{"at the end of revision 5", 4, "start_revision = 6"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hub := NewHub()
			w, err := hub.Register(Spec{Key: "k/", KeyEnd: "k0"}, 6)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var sent int
			send := func(r *metapb.WatchResponse) error {
				if r.GetEvent() != nil {
					if sent++; sent == tt.cutAt {
						hub.CancelAll("test")
					}
				}
				return nil
			}
			err = w.Serve(context.Background(), Prelude{ReplayFrom: 1, History: hist}, send, time.Hour)
			if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), tt.resume) {
				t.Fatalf("Serve = %v, want ErrInterrupted saying %q", err, tt.resume)
			}
		})
	}
}

// A grouped stream sends one revision a call, or, with MaxBatchBytes, the
// revisions pending together in one call while they fit; a revision is
// never split, and one over the bound goes alone. The live events that
// arrive together are batched the same way.
func TestGroupedBatches(t *testing.T) {
	ev := func(rev uint64, key string, size int) *metapb.Event {
		return &metapb.Event{Key: key, Revision: rev, Current: &metapb.SeqV{Seq: rev, Data: make([]byte, size)}}
	}
	hist := revHistory{ev(3, "k/a", 0), ev(5, "k/a", 0), ev(5, "k/b", 0), ev(5, "k/c", 0), ev(6, "k/a", 0), ev(7, "k/a", 1000), ev(8, "k/a", 0)}
	live := []*metapb.Event{ev(9, "k/a", 0), ev(10, "k/a", 0), ev(10, "k/b", 0)}
	for _, tt := range []struct {
		name     string
		maxBytes int
		want     string // the revisions of each Events call
	}{
		{"one revision a call", 0, "[3] [5 5 5] [6] [7] [8] [9] [10 10]"},
		{"batched", 5 * (eventOverhead + 3), "[3 5 5 5 6] [7] [8] [9 10 10]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hub := NewHub()
			w, err := hub.Register(Spec{Key: "k/", KeyEnd: "k0"}, 8)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var calls []string
			marked := make(chan struct{}, 10)
			g := Grouped{
				Events: func(evs []*metapb.Event) error {
					var revs []uint64
					for _, e := range evs {
						revs = append(revs, e.GetRevision())
					}
					calls = append(calls, fmt.Sprint(revs))
					return nil
				},
				Progress:      func(uint64, bool) error { marked <- struct{}{}; return nil },
				MaxBatchBytes: tt.maxBytes,
			}
			ctx, cancel := context.WithCancel(context.Background())
			errC := make(chan error, 1)
			go func() { errC <- w.ServeGrouped(ctx, Prelude{ReplayFrom: 1, History: hist}, g, time.Hour) }()
			<-marked // the prelude's marker
			hub.Publish(live)
			<-marked // after the live delivery
			cancel()
			<-errC
			if got := strings.Join(calls, " "); got != tt.want {
				t.Errorf("Events calls %s, want %s", got, tt.want)
			}
		})
	}
}
