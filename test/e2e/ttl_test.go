package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/metasrv/metasrv/client"
)

// watchEvents runs w.Next on a goroutine until the watch ends, and sends
// each event on the returned channel, which is closed after the error is
// sent on errC.
func watchEvents(w *client.Watcher) (events <-chan client.WatchEvent, errC <-chan error) {
	evC := make(chan client.WatchEvent, 4096)
	eC := make(chan error, 1)
	go func() {
		defer close(evC)
		for {
			ev, err := w.Next()
			if err != nil {
				eC <- err
				return
			}
			evC <- ev
		}
	}()
	return evC, eC
}

// nextEvent returns the next event of events, failing the test if none
// comes within timeout or the watch ended.
func nextEvent(t *testing.T, what string, events <-chan client.WatchEvent, errC <-chan error, timeout time.Duration) client.WatchEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatalf("%s: the watch ended: %v", what, <-errC)
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("%s: no event in %v", what, timeout)
	}
	panic("unreachable")
}

// describeEvent is "put k=v@seq" or "delete k@seq (was v)".
func describeEvent(ev client.WatchEvent) string {
	if ev.IsDelete() {
		return fmt.Sprintf("delete %s@%d (was %q@%d)", ev.Key, ev.Seq, ev.Prev.Data, ev.Prev.Seq)
	}
	return fmt.Sprintf("put %s=%q@%d", ev.Key, ev.Current.Data, ev.Seq)
}

// TestTTL writes a key with a short ttl and a lease kept alive by a
// re-put: both are visible on every node; once the key's time has passed
// it is invisible to every node's reads at once (before anything removes
// it), the lease is not; the leader removes the key when it is due, with
// nothing written, and a watcher on every node receives the same delete
// event.
func TestTTL(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	nodes, _ := followerFirst(c)
	cli := newClient(t, nodes...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// A watcher on every node, each through its own client: the events
	// of expiry must be the same everywhere.
	type watch struct {
		n      *node
		events <-chan client.WatchEvent
		errC   <-chan error
	}
	var watches []watch
	for _, n := range c.nodes {
		w, err := newClient(t, n).Watch(ctx, client.WatchOptions{Prefix: "ttl/"})
		if err != nil {
			t.Fatalf("watch through %v: %v", n, err)
		}
		t.Cleanup(w.Close)
		evs, errC := watchEvents(w)
		watches = append(watches, watch{n, evs, errC})
	}

	upsert := func(key, value string, ttl time.Duration) client.UpsertResult {
		t.Helper()
		r, err := cli.Upsert(ctx, client.Upsert{Key: key, Value: []byte(value), TTL: ttl})
		if err != nil {
			t.Fatalf("upsert %s ttl %v: %v", key, ttl, err)
		}
		return r
	}
	const ttl = 1500 * time.Millisecond
	start := time.Now()
	lease := upsert("ttl/lease", "node-a", ttl)
	renewed := upsert("ttl/lease", "node-a", 30*time.Second)
	key := upsert("ttl/key", "short-lived", ttl)
	if renewed.Result.ExpireAtMs <= lease.Result.ExpireAtMs {
		t.Errorf("the lease re-put with ttl 30s expires at %d, not after the first put's %d", renewed.Result.ExpireAtMs, lease.Result.ExpireAtMs)
	}
	expireAt := key.Result.ExpireAtMs
	if now := uint64(time.Now().UnixMilli()); expireAt < uint64(start.UnixMilli())+uint64(ttl.Milliseconds()) || expireAt > now+uint64(ttl.Milliseconds()) {
		t.Errorf("ttl/key with ttl %v expires at %d, want the write's time + ttl (between %d and %d)",
			ttl, expireAt, start.UnixMilli()+ttl.Milliseconds(), now+uint64(ttl.Milliseconds()))
	}

	// Visible on every node (a serializable read: the node's own state).
	for _, n := range c.nodes {
		waitFor(t, 10*time.Second, fmt.Sprintf("ttl/key on %v", n), func() error {
			v, err := n.get("ttl/key", serializable)
			if err != nil {
				return err
			}
			if v.GetSeq() != key.Result.Seq || v.GetExpireAtMs() != expireAt {
				return fmt.Errorf("%v reads ttl/key = %v, want seq %d expire_at_ms %d", n, v, key.Result.Seq, expireAt)
			}
			return nil
		})
	}

	// Past its time, no node shows the key any more, with nothing
	// written since: an expired key is invisible at once. The lease,
	// renewed, is still there, though its first ttl has passed.
	// This waits for a time, not for a condition: nothing is polled.
	time.Sleep(time.Until(time.UnixMilli(int64(max(expireAt, lease.Result.ExpireAtMs)) + 50)))
	for _, n := range c.nodes {
		if v, err := n.get("ttl/key", serializable); err != nil || v != nil {
			t.Errorf("%v reads ttl/key = %v, %v after it expired at %d (now %d), want absent", n, v, err, expireAt, time.Now().UnixMilli())
		}
		kvs, err := n.list("ttl/", serializable)
		if err != nil {
			t.Fatal(err)
		}
		if len(kvs) != 1 || kvs[0].GetKey() != "ttl/lease" || kvs[0].GetValue().GetExpireAtMs() != renewed.Result.ExpireAtMs {
			t.Errorf("%v lists %v under ttl/ after ttl/key expired, want only ttl/lease expiring at %d", n, kvs, renewed.Result.ExpireAtMs)
		}
	}
	if v, err := nodes[1].get("ttl/key", linearizable); err != nil || v != nil {
		t.Errorf("linearizable read of ttl/key after it expired: %v, %v; want absent", v, err)
	}

	// The leader removes it when it is due, with nothing written: every
	// watcher gets the same changes, in order: the lease's two puts, the
	// key's put, then the key's removal (with the removed value's seq) in
	// a revision of its own.
	for _, w := range watches {
		var got []string
		var revs []uint64
		for range 4 {
			ev := nextEvent(t, fmt.Sprintf("watch through %v", w.n), w.events, w.errC, 10*time.Second)
			got = append(got, describeEvent(ev))
			revs = append(revs, ev.Revision)
		}
		want := []string{
			fmt.Sprintf("put ttl/lease=%q@%d", "node-a", lease.Result.Seq),
			fmt.Sprintf("put ttl/lease=%q@%d", "node-a", renewed.Result.Seq),
			fmt.Sprintf("put ttl/key=%q@%d", "short-lived", key.Result.Seq),
			fmt.Sprintf("delete ttl/key@%d (was %q@%d)", key.Result.Seq, "short-lived", key.Result.Seq),
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("watch through %v: events\n%q\nwant\n%q", w.n, got, want)
				break
			}
		}
		if revs[2] != key.Result.ModRevision || revs[3] != key.Result.ModRevision+1 {
			t.Errorf("watch through %v: revisions %v, want the key's put at %d and its removal at the next", w.n, revs, key.Result.ModRevision)
		}
	}

	// The removal took no seq (as in databend-meta): the next put has the
	// next one after the key's.
	trigger := upsert("ttl/trigger", "x", 0)
	if trigger.Result.Seq != key.Result.Seq+1 {
		t.Errorf("the write after the expiry took seq %d, want %d: an expiry takes no seq", trigger.Result.Seq, key.Result.Seq+1)
	}
	// And every node's state agrees.
	waitFor(t, clusterTimeout, "every node at the same state", func() error { return sameState(c.nodes...) })
	for _, n := range c.nodes {
		if v, err := n.get("ttl/lease", serializable); err != nil || v.GetSeq() != renewed.Result.Seq {
			t.Errorf("%v reads ttl/lease = %v, %v; want the renewed value at seq %d", n, v, err, renewed.Result.Seq)
		}
	}
}
