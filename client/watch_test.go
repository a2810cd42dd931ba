package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client/clienttest"
)

// startWatch starts a watch closed when the test ends.
func startWatch(t *testing.T, c *Client, ctx context.Context, opts WatchOptions) *Watcher {
	t.Helper()
	w, err := c.Watch(ctx, opts)
	if err != nil {
		t.Fatalf("Watch(%+v): %v", opts, err)
	}
	t.Cleanup(w.Close)
	return w
}

// nextN reads n events.
func nextN(t *testing.T, w *Watcher, n int) []WatchEvent {
	t.Helper()
	evs := make([]WatchEvent, 0, n)
	for len(evs) < n {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("Next after %d of %d events: %v", len(evs), n, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// wantRevs fails unless evs are changes with exactly the revisions
// from..to (one each: the writes of these tests change one key each).
func wantRevs(t *testing.T, evs []WatchEvent, from, to uint64) {
	t.Helper()
	if uint64(len(evs)) != to-from+1 {
		t.Fatalf("got %d events, want revisions %d..%d: %v", len(evs), from, to, revsOf(evs))
	}
	for i, ev := range evs {
		if ev.Revision != from+uint64(i) || ev.Initialization || ev.FlushDone {
			t.Fatalf("event %d: revision %d (%+v), want %d; all: %v", i, ev.Revision, ev, from+uint64(i), revsOf(evs))
		}
	}
}

func revsOf(evs []WatchEvent) []uint64 {
	var s []uint64
	for _, ev := range evs {
		s = append(s, ev.Revision)
	}
	return s
}

// putN writes prefix0..prefix(n-1) straight into the store.
func putN(st *clienttest.Store, prefix string, n int) {
	for i := range n {
		st.Put(fmt.Sprintf("%s%d", prefix, i), []byte("v"))
	}
}

// resumeLog records OnResume calls.
type resumeLog struct {
	mu    sync.Mutex
	infos []ResumeInfo
	first chan struct{} // closed by the first add (firstLocked)
}

func (l *resumeLog) add(i ResumeInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.infos = append(l.infos, i)
	if len(l.infos) == 1 {
		close(l.firstLocked())
	}
}

// resumed is closed once the watch has resumed (OnResume was called).
func (l *resumeLog) resumed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.firstLocked()
}

func (l *resumeLog) firstLocked() chan struct{} {
	if l.first == nil {
		l.first = make(chan struct{})
	}
	return l.first
}

func (l *resumeLog) codes() []codes.Code {
	l.mu.Lock()
	defer l.mu.Unlock()
	var cs []codes.Code
	for _, i := range l.infos {
		cs = append(cs, status.Code(i.Err))
	}
	return cs
}

func (l *resumeLog) has(c codes.Code) bool {
	for _, got := range l.codes() {
		if got == c {
			return true
		}
	}
	return false
}

func TestWatchEvents(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 10*time.Second)
	cl.Store.Put("p/old", []byte("before the watch"))

	w := startWatch(t, c, ctx, WatchOptions{Prefix: "p/"})
	// Every write after Watch returns is delivered, even before the first
	// Next opened the stream.
	cl.Store.Put("p/a", []byte("1"))  // seq 2, revision 3
	cl.Store.Put("q/a", []byte("x"))  // seq 3, revision 4, outside
	cl.Store.Put("p/a", []byte("2"))  // seq 4, revision 5
	cl.Store.Delete("p/old")          // revision 6; a delete takes no seq
	cl.Store.Put("p0", []byte("out")) // seq 5, revision 7: no "/"

	evs := nextN(t, w, 3)
	want := []struct {
		key        string
		seq, rev   uint64
		prev, curr string // "" = absent
	}{
		{"p/a", 2, 3, "", "1"},
		{"p/a", 4, 5, "1", "2"},
		{"p/old", 1, 6, "before the watch", ""}, // the deleted value's seq
	}
	for i, ev := range evs {
		wt := want[i]
		prev, curr := string(ev.Prev.Data), string(ev.Current.Data)
		if ev.Key != wt.key || ev.Seq != wt.seq || ev.Revision != wt.rev || prev != wt.prev || curr != wt.curr ||
			ev.Prev.Exists() != (wt.prev != "") || ev.Current.Exists() != (wt.curr != "") || ev.IsDelete() != (wt.curr == "") {
			t.Errorf("event %d = %+v, want %+v", i, ev, wt)
		}
	}
	if w.Resumes() != 0 {
		t.Errorf("Resumes = %d", w.Resumes())
	}
}

func TestWatchRangesAndFilters(t *testing.T) {
	tests := []struct {
		name string
		opts WatchOptions
		want []string // "key@revision"
	}{
		{"key", WatchOptions{Key: "b"}, []string{"b@3", "b@6"}},
		{"range", WatchOptions{Key: "b", KeyEnd: "c"}, []string{"b@3", "b/x@4", "b@6"}},
		{"prefix", WatchOptions{Prefix: "b/"}, []string{"b/x@4"}},
		{"updates", WatchOptions{Key: "a", KeyEnd: "z", Filter: FilterUpdate}, []string{"a@2", "b@3", "b/x@4", "c@5"}},
		{"deletes", WatchOptions{Key: "a", KeyEnd: "z", Filter: FilterDelete}, []string{"b@6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := clienttest.Start(t, 1)
			c := newClient(t, cl.Addrs()...)
			w := startWatch(t, c, ctxTimeout(t, 10*time.Second), tt.opts)
			for _, k := range []string{"a", "b", "b/x", "c"} {
				cl.Store.Put(k, []byte(k))
			}
			cl.Store.Delete("b")
			cl.Store.Put("zz", nil) // revision 7: a marker every watch ends on below
			var got []string
			for _, ev := range nextN(t, w, len(tt.want)) {
				got = append(got, fmt.Sprintf("%s@%d", ev.Key, ev.Revision))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("events %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWatchOptionsInvalid(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 5*time.Second)
	for _, o := range []WatchOptions{
		{},
		{KeyEnd: "b"},
		{Prefix: "p", Key: "k"},
		{Key: "b", KeyEnd: "a"},
		{Key: "b", KeyEnd: "b"},
		{Key: "k", InitialFlush: true, StartRevision: 3},
		{Key: "k", Filter: WatchFilter(7)},
		{Key: "k", ProgressInterval: time.Millisecond},
		{Key: "k", ProgressInterval: time.Hour + time.Millisecond},
	} {
		if _, err := c.Watch(ctx, o); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Watch(%+v) = %v, want ErrInvalidArgument", o, err)
		}
	}
	if n := cl.Servers[0].Calls("Watch") + cl.Servers[0].Calls("Status"); n != 0 {
		t.Errorf("%d calls reached the server", n)
	}
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ p, end string }{
		{"a", "b"},
		{"a/", "a0"},
		{"a\x7f", "a\x80"},
		{"é", "é"[:1] + "\xaa"},
		{"a\U0010FFFF", "a\xf4\x8f\xbf\xc0"},
		{"a\xff", "b"},
		{"a\xff\xff", "b"},
		{"\x00\xff", "\x01"},
		{"\xff", "\x00"}, // every key from the prefix
		{"\xff\xff", "\x00"},
	}
	for _, tt := range tests {
		if got := prefixEnd(tt.p); got != tt.end {
			t.Errorf("prefixEnd(%q) = %q, want %q", tt.p, got, tt.end)
		}
	}
}

func TestWatchInitialFlush(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 10*time.Second)
	cl.Store.Put("a/1", []byte("x")) // seq 1
	cl.Store.Put("b/1", []byte("y")) // seq 2
	cl.Store.Put("a/2", []byte("z")) // seq 3

	// Break the first stream after its first initial value: the flush
	// starts over, and the caller sees each value once.
	var broke sync.Once
	cl.Servers[0].SetWatchSendHook(func(r *metapb.WatchResponse) error {
		var err error
		if r.GetIsInitialization() && r.GetEvent().GetKey() == "a/2" {
			broke.Do(func() { err = status.Error(codes.Unavailable, "injected: broken in the flush") })
		}
		return err
	})
	w := startWatch(t, c, ctx, WatchOptions{Prefix: "a/", InitialFlush: true})
	evs := nextN(t, w, 3)
	if evs[0].Key != "a/1" || evs[0].Seq != 1 || !evs[0].Initialization || string(evs[0].Current.Data) != "x" || evs[0].Prev.Exists() ||
		evs[1].Key != "a/2" || evs[1].Seq != 3 || !evs[1].Initialization ||
		!evs[2].FlushDone || evs[2].Key != "" || evs[2].IsDelete() {
		t.Fatalf("initial flush = %+v", evs)
	}
	if w.Resumes() != 1 {
		t.Fatalf("Resumes = %d, want 1 (the broken flush)", w.Resumes())
	}

	cl.Store.Put("a/3", nil) // seq 4, revision 5
	cl.Store.Delete("a/1")   // revision 6
	wantRevs(t, nextN(t, w, 2), 5, 6)

	// A resume after the flush does not flush again.
	if n := cl.Servers[0].EndWatches(status.Error(codes.Unavailable, "injected: shutting down")); n != 1 {
		t.Fatalf("EndWatches = %d", n)
	}
	cl.Store.Put("a/4", nil) // revision 7
	wantRevs(t, nextN(t, w, 1), 7, 7)
}

// TestWatchResumeAcrossRestart: the only server goes away mid-stream while
// writes go on; the watch resumes when it is back, with every event once.
func TestWatchResumeAcrossRestart(t *testing.T) {
	cl := clienttest.Start(t, 1)
	s := cl.Servers[0]
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 20*time.Second)
	var log resumeLog
	w := startWatch(t, c, ctx, WatchOptions{Prefix: "p/", OnResume: log.add})

	putN(cl.Store, "p/a", 5) // revisions 2..6
	wantRevs(t, nextN(t, w, 5), 2, 6)

	s.Stop()
	putN(cl.Store, "p/b", 5) // while the server is down
	// The server comes back once the watch has found it down.
	restarted := make(chan error, 1)
	go func() {
		select {
		case <-log.resumed():
			restarted <- s.Restart()
		case <-ctx.Done():
			restarted <- ctx.Err()
		}
	}()
	wantRevs(t, nextN(t, w, 5), 7, 11)
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	putN(cl.Store, "p/c", 2)
	wantRevs(t, nextN(t, w, 2), 12, 13)

	if w.Resumes() == 0 || !log.has(codes.Unavailable) {
		t.Fatalf("Resumes = %d, causes %v; want a resume after Unavailable", w.Resumes(), log.codes())
	}
	for _, i := range log.infos {
		// At the last revision it saw, whose event it drops again: it
		// cannot know the revision held no more.
		if i.StartRevision != 6 {
			t.Errorf("resumed from %d, want 6: %+v", i.StartRevision, i)
		}
	}
}

// TestWatchFailover: the serving node is lost, shuts down, or cuts a slow
// reader off, several times while a writer goes on; the watch moves between
// endpoints and sees every event exactly once, in order.
func TestWatchFailover(t *testing.T) {
	cl := clienttest.Start(t, 3)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 30*time.Second)
	var log resumeLog
	w := startWatch(t, c, ctx, WatchOptions{Prefix: "w/", OnResume: log.add})

	// The writer stays at most `ahead` events ahead of the reader, so
	// writes go on across every fault below, whatever the machine's pace.
	const total, ahead = 400, 20
	credit := make(chan struct{}, ahead)
	for range ahead {
		credit <- struct{}{}
	}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := range total {
			select {
			case <-credit:
			case <-ctx.Done():
				return
			}
			cl.Store.Put(fmt.Sprintf("w/%03d", i), []byte("v"))
			if i%2 == 0 {
				cl.Store.Put(fmt.Sprintf("other/%03d", i), nil) // seqs outside the watch
			}
		}
	}()

	serving := func() *clienttest.Server {
		s, err := cl.WaitWatching(ctx)
		if err != nil {
			t.Fatalf("waiting for a server serving the watch: %v", err)
		}
		return s
	}
	var got []WatchEvent
	for len(got) < total {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("Next after %d events: %v", len(got), err)
		}
		got = append(got, ev)
		credit <- struct{}{} // never blocks: the writer took one for each event
		switch len(got) {
		case 50: // the node dies
			serving().Stop()
		case 150: // it comes back; another one shuts down
			for _, s := range cl.Servers {
				_ = s.Restart() // fails for those running
			}
			serving().EndWatches(status.Error(codes.Unavailable, "injected: node shutting down"))
		case 250: // a slow reader is cut off
			serving().EndWatches(status.Error(codes.ResourceExhausted, "injected: too slow"))
		case 300: // the serving node dies again
			serving().Stop()
		}
	}
	<-writerDone
	var last uint64
	for i, ev := range got {
		if want := fmt.Sprintf("w/%03d", i); ev.Key != want || ev.Seq <= last {
			t.Fatalf("event %d = %s@%d after seq %d, want %s: lost, repeated or out of order", i, ev.Key, ev.Seq, last, want)
		}
		last = ev.Seq
	}
	if !log.has(codes.Unavailable) || !log.has(codes.ResourceExhausted) {
		t.Fatalf("resume causes %v, want Unavailable and ResourceExhausted", log.codes())
	}
	t.Logf("%d resumes: %v", w.Resumes(), log.codes())
}

// TestWatchAnchoredBeforeFirstStream: Watch without StartRevision fixes the
// position when it returns, so a node lost before the first stream opens
// loses nothing.
func TestWatchAnchoredBeforeFirstStream(t *testing.T) {
	cl := clienttest.Start(t, 2)
	putN(cl.Store, "x/", 3)
	c := newClient(t, cl.Addrs()...)
	w := startWatch(t, c, ctxTimeout(t, 10*time.Second), WatchOptions{Prefix: "k/"})
	cl.Servers[c.current()].Stop()
	cl.Store.Put("k/1", nil) // revision 5
	wantRevs(t, nextN(t, w, 1), 5, 5)
}

// TestWatchSlowConsumer: a reader that stops reading is cut off by the
// server (its buffer fills while the stream's flow control window is full);
// the watch resumes from the history and delivers every event once.
func TestWatchSlowConsumer(t *testing.T) {
	cl, err := clienttest.NewCluster(1, clienttest.Options{WatchBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Stop)
	c := newClient(t, cl.Addrs()...)
	var log resumeLog
	w := startWatch(t, c, ctxTimeout(t, 60*time.Second), WatchOptions{Prefix: "s/", OnResume: log.add})
	cl.Store.Put("s/first", nil)
	wantRevs(t, nextN(t, w, 1), 2, 2) // the stream is open

	// More than gRPC buffers in flow control windows (up to 16 MiB with
	// BDP estimation), written while the watcher reads nothing.
	const n = 120
	big := bytes.Repeat([]byte("x"), 256<<10)
	for i := range n {
		cl.Store.Put(fmt.Sprintf("s/%03d", i), big)
	}
	evs := nextN(t, w, n)
	wantRevs(t, evs, 3, n+2)
	for i, ev := range evs {
		if len(ev.Current.Data) != len(big) {
			t.Fatalf("event %d: %d bytes", i, len(ev.Current.Data))
		}
	}
	if !log.has(codes.ResourceExhausted) {
		t.Fatalf("resume causes %v: the server never cut the slow reader off", log.codes())
	}
}

func TestWatchCompacted(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 10*time.Second)
	putN(cl.Store, "c/", 10) // revisions 2..11
	cl.Store.Compact(5)

	// A StartRevision the history no longer reaches.
	w := startWatch(t, c, ctx, WatchOptions{Prefix: "c/", StartRevision: 3})
	_, err := w.Next()
	if !errors.Is(err, ErrCompacted) || status.Code(err) != codes.OutOfRange || !strings.Contains(err.Error(), "from revision 3") {
		t.Fatalf("Next = %v, want ErrCompacted (OutOfRange) from revision 3", err)
	}
	if _, again := w.Next(); again != err {
		t.Fatalf("Next after the end = %v, want the same error", again)
	}

	// One it does.
	w = startWatch(t, c, ctx, WatchOptions{Prefix: "c/", StartRevision: 6})
	wantRevs(t, nextN(t, w, 6), 6, 11)

	// A watch that resumes after the history moved past it.
	s := cl.Servers[0]
	s.Stop()
	putN(cl.Store, "c/more", 5)
	cl.Store.Compact(cl.Store.Revision())
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(); !errors.Is(err, ErrCompacted) || !strings.Contains(err.Error(), "from revision 11") {
		t.Fatalf("Next after a compacting outage = %v, want ErrCompacted from revision 11", err)
	}
}

// TestWatchProgress: progress markers on an idle stream move the resume
// point past changes outside the watch, so a resume after the history was
// compacted up to them still succeeds.
func TestWatchProgress(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	// markerOut is closed once a progress marker at revision 52 is out:
	// the server calls the hook again only after that Send returned, and
	// the client reads what was sent before the stream's end.
	markerOut := make(chan struct{})
	var marked, closed bool // only the stream's goroutine calls the hook
	cl.Servers[0].SetWatchSendHook(func(r *metapb.WatchResponse) error {
		if marked && !closed {
			close(markerOut)
			closed = true
		}
		marked = marked || r.GetProgressRevision() >= 52
		return nil
	})
	ctx := ctxTimeout(t, 10*time.Second)
	resumed := make(chan ResumeInfo, 10)
	w := startWatch(t, c, ctx, WatchOptions{
		Prefix:           "mine/",
		ProgressInterval: 10 * time.Millisecond,
		OnResume:         func(i ResumeInfo) { resumed <- i },
	})
	cl.Store.Put("mine/a", nil) // revision 2
	wantRevs(t, nextN(t, w, 1), 2, 2)

	evs := make(chan WatchEvent, 1)
	go func() {
		ev, err := w.Next()
		if err != nil {
			t.Errorf("Next: %v", err)
		}
		evs <- ev
	}()
	putN(cl.Store, "theirs/", 50) // revisions 3..52
	select {
	case <-markerOut:
	case <-ctx.Done():
		t.Fatal("no progress marker at revision 52")
	}
	cl.Store.Compact(52)
	cl.Servers[0].EndWatches(status.Error(codes.Unavailable, "injected"))
	if i := <-resumed; i.StartRevision != 53 {
		t.Fatalf("resumed from %d, want 53 (after the last progress marker)", i.StartRevision)
	}
	cl.Store.Put("mine/b", nil) // revision 53
	if ev := <-evs; ev.Revision != 53 || ev.Key != "mine/b" {
		t.Fatalf("event after resume = %+v", ev)
	}
}

func TestWatchCancelAndClose(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)

	ctx, cancel := context.WithCancel(context.Background())
	w := startWatch(t, c, ctx, WatchOptions{Key: "k"})
	done := make(chan error, 1)
	go func() {
		_, err := w.Next()
		done <- err
	}()
	waitWatches(t, cl.Servers[0], func(n int) bool { return n > 0 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrWatchClosed) {
			t.Fatalf("Next after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next did not return after the context was canceled")
	}
	waitNoWatches(t, cl.Servers[0])

	w = startWatch(t, c, context.Background(), WatchOptions{Key: "k"})
	go func() {
		_, err := w.Next()
		done <- err
	}()
	waitWatches(t, cl.Servers[0], func(n int) bool { return n > 0 })
	w.Close()
	w.Close()
	if err := <-done; !errors.Is(err, ErrWatchClosed) {
		t.Fatalf("Next after Close = %v, want ErrWatchClosed", err)
	}
	waitNoWatches(t, cl.Servers[0])

	// A watch of a closed client ends with ErrClosed.
	w = startWatch(t, c, context.Background(), WatchOptions{Key: "k", StartRevision: 1})
	_ = c.Close()
	if _, err := w.Next(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next on a closed client = %v, want ErrClosed", err)
	}
}

func waitNoWatches(t *testing.T, s *clienttest.Server) {
	t.Helper()
	waitWatches(t, s, func(n int) bool { return n == 0 })
}

// waitWatches waits until cond holds of the number of watch streams s
// serves, failing t after 5s.
func waitWatches(t *testing.T, s *clienttest.Server, cond func(n int) bool) {
	t.Helper()
	if err := s.WaitWatches(ctxTimeout(t, 5*time.Second), cond); err != nil {
		t.Fatalf("the server serves %d watch streams: %v", s.Watches(), err)
	}
}

// A request the server refuses ends the watch; it is not retried.
func TestWatchRefused(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Servers[0].SetHook(failOn("Watch", clienttest.Before, codes.InvalidArgument))
	c := newClient(t, cl.Addrs()...)
	w := startWatch(t, c, ctxTimeout(t, 5*time.Second), WatchOptions{Key: "k", StartRevision: 1})
	if _, err := w.Next(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), cl.Servers[0].Addr) {
		t.Fatalf("Next = %v, want InvalidArgument naming the endpoint", err)
	}
	if cl.Servers[1].Calls("Watch") != 0 || w.Resumes() != 0 {
		t.Fatalf("a refused watch was retried")
	}
}

// TestWatchHandle checks the position rules on a scripted stream: events
// covered by a progress marker or an earlier revision are dropped, the
// events of one revision are all delivered, a stream that resumes in the
// middle of a revision drops the events of it already delivered, and the
// initial values are held until flush_done.
func TestWatchHandle(t *testing.T) {
	ev := func(key string, rev uint64) *metapb.Event {
		return &metapb.Event{Key: key, Seq: rev, Revision: rev, Current: &metapb.SeqV{Seq: rev, ModRevision: rev}}
	}
	keys := func(evs []WatchEvent) string {
		var out []string
		for _, e := range evs {
			out = append(out, fmt.Sprintf("%s@%d", e.Key, e.Revision))
		}
		return strings.Join(out, " ")
	}
	w := &Watcher{pos: 4}
	for _, r := range []*metapb.WatchResponse{
		{Event: ev("a", 4)},   // covered: dropped
		{Event: ev("a", 5)},   // delivered
		{Event: ev("b", 5)},   // the same revision: delivered
		{ProgressRevision: 9}, // covers up to 9
		{Event: ev("b", 8)},   // covered: dropped
		{Event: ev("b", 10)},  // delivered
		{Event: ev("c", 10)},  // delivered
		{ProgressRevision: 7}, // stale marker: no effect
	} {
		w.handle(r)
	}
	if got := keys(w.pending); got != "a@5 b@5 b@10 c@10" || w.pos != 9 {
		t.Fatalf("pending %s, pos %d; want a@5 b@5 b@10 c@10, 9", got, w.pos)
	}
	// The stream ends: the next one starts at revision 10 and drops its
	// first two events, which every node sends in the same order.
	if start, skip := w.resumeFrom(); start != 10 || skip != 2 {
		t.Fatalf("resume from %d skipping %d, want 10 skipping 2", start, skip)
	}
	w.pending = nil
	_, w.skip = w.resumeFrom()
	for _, r := range []*metapb.WatchResponse{
		{Event: ev("b", 10)}, {Event: ev("c", 10)}, // repeats: dropped
		{Event: ev("d", 10)}, // the rest of revision 10
		{Event: ev("a", 11)},
	} {
		w.handle(r)
	}
	if got := keys(w.pending); got != "d@10 a@11" || w.pos != 10 {
		t.Fatalf("after the resume: pending %s, pos %d; want d@10 a@11, 10", got, w.pos)
	}
	if start, skip := w.resumeFrom(); start != 11 || skip != 1 {
		t.Fatalf("resume from %d skipping %d, want 11 skipping 1", start, skip)
	}

	w = &Watcher{flushing: true, flushAnchor: 3}
	w.handle(&metapb.WatchResponse{Event: ev("a", 2), IsInitialization: true})
	w.handle(&metapb.WatchResponse{Event: ev("b", 1), IsInitialization: true})
	if len(w.pending) != 0 {
		t.Fatalf("initial values handed out before flush_done")
	}
	w.handle(&metapb.WatchResponse{FlushDone: true, ProgressRevision: 6})
	if len(w.pending) != 3 || !w.pending[2].FlushDone || w.pos != 6 || w.flushing {
		t.Fatalf("after flush_done: pending %+v, pos %d", w.pending, w.pos)
	}
	// Without a progress_revision on flush_done, the largest of the anchor
	// and the values' mod revisions.
	w = &Watcher{flushing: true, flushAnchor: 3}
	w.handle(&metapb.WatchResponse{Event: ev("a", 7), IsInitialization: true})
	w.handle(&metapb.WatchResponse{FlushDone: true})
	if w.pos != 7 {
		t.Fatalf("pos after flush = %d, want 7", w.pos)
	}
}

// TestWatchSilentNode: a node that stops sending without closing the
// connection (a partition) is given up once the stream stays silent past
// the idle timeout; the watch resumes on another node. Progress markers
// keep an idle stream alive.
func TestWatchSilentNode(t *testing.T) {
	cl := clienttest.Start(t, 2)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c := newClient(t, cl.Addrs()...)
	const idle, every = 300 * time.Millisecond, 10 * time.Millisecond
	c.timing.watchIdleMin = idle
	ctx := ctxTimeout(t, 10*time.Second)
	var log resumeLog
	w := startWatch(t, c, ctx, WatchOptions{Prefix: "s/", ProgressInterval: every, OnResume: log.add})
	cl.Store.Put("s/1", nil)
	wantRevs(t, nextN(t, w, 1), 2, 2)

	// While Next waits, the server sends markers for twice the idle
	// timeout (counted, not slept: a slow server sends them later, which
	// only makes the idle spans longer), then goes silent.
	const markers = int(2 * idle / every)
	kept := make(chan struct{})
	var sent int
	var silent atomic.Bool
	cl.Servers[c.current()].SetWatchSendHook(func(r *metapb.WatchResponse) error {
		if silent.Load() {
			<-release // the node goes silent
			return nil
		}
		if r.GetProgressRevision() > 0 {
			if sent++; sent == markers {
				close(kept)
			}
		}
		return nil
	})
	type next struct {
		ev  WatchEvent
		err error
	}
	nextC := make(chan next, 1)
	go func() {
		ev, err := w.Next()
		nextC <- next{ev, err}
	}()
	select {
	case <-kept:
	case <-ctx.Done():
		t.Fatalf("%d progress markers not sent", markers)
	}
	if w.Resumes() != 0 {
		t.Fatalf("an idle stream with progress markers was given up: %v", log.codes())
	}

	silent.Store(true)
	cl.Store.Put("s/2", nil)
	if n := <-nextC; n.err != nil || n.ev.Revision != 3 {
		t.Fatalf("Next = %+v, %v; want revision 3", n.ev, n.err)
	}
	if infos := log.infos; len(infos) != 1 || status.Code(infos[0].Err) != codes.Unavailable || !strings.Contains(infos[0].Err.Error(), "no message") {
		t.Fatalf("resumes %+v, want one for the silent stream", infos)
	}
}

// A node that refuses a new stream with ResourceExhausted (too many
// watchers) is skipped: the watch opens on the next endpoint.
func TestWatchRefusedBusyNode(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Servers[0].SetHook(failOn("Watch", clienttest.Before, codes.ResourceExhausted))
	c := newClient(t, cl.Addrs()...)
	w := startWatch(t, c, ctxTimeout(t, 5*time.Second), WatchOptions{Key: "k"})
	cl.Store.Put("k", nil)
	wantRevs(t, nextN(t, w, 1), 2, 2)
	if cl.Servers[1].Calls("Watch") != 1 || w.Resumes() != 1 {
		t.Fatalf("watch calls on the second node %d, resumes %d; want 1, 1", cl.Servers[1].Calls("Watch"), w.Resumes())
	}
}
