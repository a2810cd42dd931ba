package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client"
)

// TestWatchServingNodeKilled watches a prefix with the Go client connected
// first to one node (the other two are its next endpoints), writes 300
// keys concurrently through the other two nodes, and SIGKILLs the serving
// node after about 100 of them. The watch must resume on another node by
// itself and deliver, in strictly increasing seq order and exactly once,
// every write that is in the cluster's state: each acknowledged write with
// its seq and value, and a write that failed only if it was applied anyway
// (its answer lost in flight). The serving node is a follower, then (so
// that writes fail during the election) the leader.
func TestWatchServingNodeKilled(t *testing.T) {
	t.Parallel()
	for _, role := range []string{"follower", "leader"} {
		t.Run(role, func(t *testing.T) {
			t.Parallel()
			testWatchServingNodeKilled(t, role)
		})
	}
}

func testWatchServingNodeKilled(t *testing.T, role string) {
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	nodes, leader := followerFirst(c)
	if role == "leader" {
		nodes = append([]*node{leader}, slices.DeleteFunc(nodes, func(n *node) bool { return n == leader })...)
	}
	serving, writers := nodes[0], nodes[1:]
	t.Logf("watch served by %s %v; writes through %v; leader %v", role, serving, writers, leader)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		resumeMu sync.Mutex
		resumes  []client.ResumeInfo
	)
	w, err := newClient(t, nodes...).Watch(ctx, client.WatchOptions{
		Prefix: "wkill/",
		OnResume: func(i client.ResumeInfo) {
			resumeMu.Lock()
			resumes = append(resumes, i)
			resumeMu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	events, errC := watchEvents(w)

	// A first write: once its event is in, the stream is open on the
	// serving node (the first endpoint; no resume so far).
	warm := writers[0].mustUpsert("wkill/0-warmup", "w")
	warmEv := nextEvent(t, "the warm-up event", events, errC, 10*time.Second)
	if warmEv.Seq != warm.GetResult().GetSeq() {
		t.Fatalf("first event %s, want the warm-up write at seq %d", describeEvent(warmEv), warm.GetResult().GetSeq())
	}
	if n := w.Resumes(); n != 0 {
		t.Fatalf("the watch resumed %d times before the kill: %v", n, resumes)
	}

	const (
		keys    = 300
		killAt  = 100 // acknowledged writes before the kill
		workers = 6
	)
	valueOf := func(i int) string { return fmt.Sprintf("value %d", i) }
	var (
		mu      sync.Mutex
		acked   = map[string]uint64{} // key -> seq
		failed  = map[string]error{}
		killNow = make(chan struct{})
		once    sync.Once
		wg      sync.WaitGroup
	)
	for wk := range workers {
		wg.Go(func() {
			for i := wk; i < keys; i += workers {
				key := fmt.Sprintf("wkill/%03d", i)
				r, err := writers[i%len(writers)].upsert(key, valueOf(i))
				mu.Lock()
				if err != nil {
					failed[key] = err
				} else {
					acked[key] = r.GetResult().GetSeq()
				}
				n := len(acked)
				mu.Unlock()
				if n >= killAt {
					once.Do(func() { close(killNow) })
				}
			}
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	select {
	case <-killNow:
	case <-allDone:
	}
	serving.kill()
	mu.Lock()
	ackedAtKill := len(acked)
	mu.Unlock()
	<-allDone
	t.Logf("SIGKILL of %v after %d acknowledged writes; in the end %d acknowledged, %d failed", serving, ackedAtKill, len(acked), len(failed))
	if ackedAtKill >= keys {
		t.Errorf("every write was acknowledged before the kill: the watch was not killed mid-stream")
	}
	for key, err := range failed {
		t.Logf("write of %s failed: %v", key, err)
	}

	// What the cluster holds in the end; then a last write, whose event
	// comes after every other.
	final, err := writers[0].list("wkill/", linearizable)
	if err != nil {
		t.Fatal(err)
	}
	end := writers[0].mustUpsert("wkill/zz-end", "end")

	// Collect until the last write's event.
	var (
		got     = []client.WatchEvent{warmEv}
		lastSeq = warmEv.Seq
		seen    = map[string]client.WatchEvent{warmEv.Key: warmEv}
	)
	deadline := time.Now().Add(30 * time.Second)
	for done := false; !done; {
		ev := nextEvent(t, fmt.Sprintf("events up to seq %d (%d so far)", end.GetResult().GetSeq(), len(got)), events, errC, time.Until(deadline))
		got = append(got, ev)
		if ev.Seq <= lastSeq {
			t.Errorf("event %d %s: seq not above the previous event's %d", len(got), describeEvent(ev), lastSeq)
		}
		lastSeq = max(lastSeq, ev.Seq)
		if prev, dup := seen[ev.Key]; dup {
			t.Errorf("key %s delivered twice: %s and %s", ev.Key, describeEvent(prev), describeEvent(ev))
		}
		seen[ev.Key] = ev
		done = ev.Key == "wkill/zz-end"
	}
	resumeMu.Lock()
	t.Logf("%d events; the watch resumed %d times: %+v", len(got), len(resumes), resumes)
	if len(resumes) == 0 || resumes[0].Endpoint != serving.grpcAddr() {
		t.Errorf("resumes %+v: want a resume from the killed node's endpoint %s", resumes, serving.grpcAddr())
	}
	resumeMu.Unlock()

	// Every event is a create with the value written, and exactly the
	// state's keys (written once each, never deleted) have one.
	inState := map[string]*metapb.SeqV{}
	for _, kv := range final {
		inState[kv.GetKey()] = kv.GetValue()
	}
	inState["wkill/zz-end"] = end.GetResult()
	for _, ev := range got {
		v := inState[ev.Key]
		switch {
		case ev.IsDelete() || ev.Prev.Exists():
			t.Errorf("event %s: want the creation of a key", describeEvent(ev))
		case v == nil:
			t.Errorf("event %s for a key the cluster does not hold", describeEvent(ev))
		case ev.Seq != v.GetSeq() || string(ev.Current.Data) != string(v.GetData()):
			t.Errorf("event %s, but the cluster holds %q at seq %d", describeEvent(ev), v.GetData(), v.GetSeq())
		}
		if seq, ok := acked[ev.Key]; ok && seq != ev.Seq {
			t.Errorf("event %s, but the write was acknowledged at seq %d", describeEvent(ev), seq)
		}
		if _, ok := acked[ev.Key]; !ok && failed[ev.Key] == nil && ev.Key != "wkill/0-warmup" && ev.Key != "wkill/zz-end" {
			t.Errorf("event %s for a key never written", describeEvent(ev))
		}
	}
	missing := 0
	for key, v := range inState {
		if _, ok := seen[key]; !ok {
			missing++
			if missing <= 10 {
				_, ack := acked[key]
				t.Errorf("no event for %s = %q at seq %d (acknowledged: %v)", key, v.GetData(), v.GetSeq(), ack)
			}
		}
	}
	for key := range acked {
		if inState[key] == nil {
			t.Errorf("acknowledged write of %s is not in the cluster's state", key)
		}
	}
	if missing > 0 {
		t.Errorf("%d of the %d keys the cluster holds had no event", missing, len(inState))
	}
	appliedFailed := 0
	for key := range failed {
		if inState[key] != nil {
			appliedFailed++
		}
	}
	t.Logf("%d writes failed, %d of them applied anyway (and delivered)", len(failed), appliedFailed)
}

// TestWatchResume runs a cluster with watch_history_size 5: a watch
// started from a revision on one node, closed, and started again on
// another node from the revision after the last event it got, sees every
// change once; a start_revision older than the history is refused as
// compacted, through the Go client (ErrCompacted) and the raw API
// (OUT_OF_RANGE).
func TestWatchResume(t *testing.T) {
	t.Parallel()
	const history = 5
	c := newGuideCluster(t, clusterOptions{args: []string{"--watch-history-size", fmt.Sprint(history)}})
	c.startAll()
	n1, n2, n3 := c.node(1), c.node(2), c.node(3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var seqs, revs []uint64 // of each write (one key each: one revision each)
	write := func(n *node, key string) {
		t.Helper()
		r := n.mustUpsert(key, "v-"+key).GetResult()
		seqs, revs = append(seqs, r.GetSeq()), append(revs, r.GetModRevision())
	}
	for _, k := range []string{"a", "b", "c", "d"} {
		write(n1, "res/"+k)
	}

	// expect reads the next events and checks them against keys/seqs.
	expect := func(what string, events <-chan client.WatchEvent, errC <-chan error, keys []string, want []uint64) {
		t.Helper()
		for i, k := range keys {
			ev := nextEvent(t, what, events, errC, 10*time.Second)
			if ev.Key != k || ev.Seq != want[i] || string(ev.Current.Data) != "v-"+k {
				t.Fatalf("%s: event %s, want put %s=%q@%d", what, describeEvent(ev), k, "v-"+k, want[i])
			}
		}
	}

	// Watch through node 2 from the first write; take two events; stop.
	w, err := newClient(t, n2).Watch(ctx, client.WatchOptions{Prefix: "res/", StartRevision: revs[0]})
	if err != nil {
		t.Fatal(err)
	}
	evs, errC := watchEvents(w)
	expect("watch through node 2", evs, errC, []string{"res/a", "res/b"}, seqs[:2])
	w.Close()

	// Go on through node 3 from the revision after the last event: the
	// rest from its history, then a live one.
	w, err = newClient(t, n3).Watch(ctx, client.WatchOptions{Prefix: "res/", StartRevision: revs[1] + 1})
	if err != nil {
		t.Fatal(err)
	}
	evs, errC = watchEvents(w)
	expect("watch through node 3 from history", evs, errC, []string{"res/c", "res/d"}, seqs[2:4])
	write(n2, "res/e")
	expect("watch through node 3, live", evs, errC, []string{"res/e"}, seqs[4:])
	w.Close()

	// 50 more writes: the history holds only the last 5 changes.
	for i := range 50 {
		write(c.nodes[i%3], fmt.Sprintf("res/more/%02d", i))
	}
	last := revs[len(revs)-1]
	waitFor(t, clusterTimeout, "node 3 to apply every write", func() error {
		st, err := n3.grpcStatus()
		if err != nil {
			return err
		}
		if st.GetRevision() < last {
			return fmt.Errorf("node 3 at revision %d, want %d", st.GetRevision(), last)
		}
		return nil
	})

	// The oldest revision the history holds still works.
	floor := last - history + 1
	w, err = newClient(t, n3).Watch(ctx, client.WatchOptions{Prefix: "res/", StartRevision: floor})
	if err != nil {
		t.Fatal(err)
	}
	evs, errC = watchEvents(w)
	var keys []string
	for i := 50 - history; i < 50; i++ {
		keys = append(keys, fmt.Sprintf("res/more/%02d", i))
	}
	expect(fmt.Sprintf("watch from revision %d, the oldest in the history", floor), evs, errC, keys, seqs[len(seqs)-history:])
	w.Close()

	// Older: compacted, on every node, through the client and raw gRPC.
	for _, n := range c.nodes {
		for _, start := range []uint64{1, floor - 1} {
			w, err := newClient(t, n).Watch(ctx, client.WatchOptions{Prefix: "res/", StartRevision: start})
			if err != nil {
				t.Fatal(err)
			}
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			stop := context.AfterFunc(wctx, w.Close)
			ev, err := w.Next()
			stop()
			wcancel()
			w.Close()
			switch {
			case err == nil:
				t.Errorf("watch through %v from revision %d (history from %d): event %s, want ErrCompacted", n, start, floor, describeEvent(ev))
			case !errors.Is(err, client.ErrCompacted) && status.Code(err) != codes.OutOfRange:
				t.Errorf("watch through %v from revision %d (history from %d): %v, want ErrCompacted", n, start, floor, err)
			case n == n3 && start == 1:
				t.Logf("watch from revision 1: %v", err)
			}
		}
		err := rawWatch(n, &metapb.WatchRequest{Key: "res/", KeyEnd: "res0", StartRevision: 1})
		if status.Code(err) != codes.OutOfRange {
			t.Errorf("raw watch through %v from revision 1: %v, want code OutOfRange", n, err)
		} else if msg := strings.ToLower(status.Convert(err).Message()); !strings.Contains(msg, "compacted") {
			t.Errorf("raw watch through %v from revision 1: %v, want a message that says compacted", n, err)
		}
	}
}

// rawWatch opens a watch stream on n with req and returns the error that
// ends it, reading at most a few seconds.
func rawWatch(n *node, req *metapb.WatchRequest) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := n.meta().Watch(ctx, req)
	if err != nil {
		return err
	}
	for {
		if _, err := st.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("stream ended without an error")
			}
			return err
		}
	}
}
