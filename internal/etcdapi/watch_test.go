package etcdapi_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/metasrv/metasrv/internal/clustertest"
)

// put puts key=value and returns the revision of the put.
func (c *etcdCluster) put(t *testing.T, key, value string) int64 {
	t.Helper()
	r, err := c.cli.Put(ctx(t), key, value)
	if err != nil {
		t.Fatal(err)
	}
	return r.Header.Revision
}

// next returns the next response of wch, failing after a while.
func next(t *testing.T, wch clientv3.WatchChan) clientv3.WatchResponse {
	t.Helper()
	select {
	case r, ok := <-wch:
		if !ok {
			t.Fatal("the watch channel closed")
		}
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no watch response in 10s")
	}
	return clientv3.WatchResponse{}
}

// evString is an event as "PUT k=v c/m/ver" or "DELETE k m".
func evString(ev *clientv3.Event) string {
	kv := ev.Kv
	if ev.Type == mvccpb.DELETE {
		return fmt.Sprintf("DELETE %s %d", kv.Key, kv.ModRevision)
	}
	s := fmt.Sprintf("PUT %s=%s %d/%d/%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision, kv.Version)
	if ev.PrevKv != nil {
		s += fmt.Sprintf(" prev %s=%s", ev.PrevKv.Key, ev.PrevKv.Value)
	}
	return s
}

// collect reads responses until it has n events.
func collect(t *testing.T, wch clientv3.WatchChan, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		r := next(t, wch)
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range r.Events {
			out = append(out, evString(ev))
		}
	}
	return out
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// TestWatchPastAndLive: a watch from a past revision replays the history
// with etcd's create/mod revision and version, then goes on live; events
// of one revision (a txn) come in one response, as etcd's
// TestV3WatchMultipleEventsTxn.
func TestWatchPastAndLive(t *testing.T) {
	c := newEtcdCluster(t)
	r1 := c.put(t, "foo", "1")
	c.put(t, "foo", "2")
	if _, err := c.cli.Delete(ctx(t), "foo"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	wch := c.cli.Watch(wctx, "foo", clientv3.WithRev(r1), clientv3.WithPrevKV())
	got := collect(t, wch, 3)
	want := []string{
		fmt.Sprintf("PUT foo=1 %d/%d/1", r1, r1),
		fmt.Sprintf("PUT foo=2 %d/%d/2 prev foo=1", r1, r1+1),
		fmt.Sprintf("DELETE foo %d", r1+2),
	}
	if !equal(got, want) {
		t.Fatalf("replayed %q, want %q", got, want)
	}

	txn, err := c.cli.Txn(ctx(t)).Then(clientv3.OpPut("foo", "a"), clientv3.OpPut("foo0", "b")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	pwch := c.cli.Watch(wctx, "foo", clientv3.WithPrefix(), clientv3.WithRev(txn.Header.Revision))
	r := next(t, pwch)
	if len(r.Events) != 2 || r.Header.Revision < txn.Header.Revision {
		t.Fatalf("the txn's revision: %d events, header %d; want 2 in one response", len(r.Events), r.Header.Revision)
	}
	if got := collect(t, wch, 1); !equal(got, []string{fmt.Sprintf("PUT foo=a %d/%d/1", txn.Header.Revision, txn.Header.Revision)}) {
		t.Fatalf("live: %q", got)
	}
}

// TestWatchFilters is etcd's TestWatchWithFilter: NOPUT and NODELETE.
func TestWatchFilters(t *testing.T) {
	c := newEtcdCluster(t)
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	noPut := c.cli.Watch(wctx, "a", clientv3.WithFilterPut())
	noDelete := c.cli.Watch(wctx, "a", clientv3.WithFilterDelete())
	rev := c.put(t, "a", "abc")
	if _, err := c.cli.Delete(ctx(t), "a"); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, noPut, 1); !equal(got, []string{fmt.Sprintf("DELETE a %d", rev+1)}) {
		t.Fatalf("NOPUT: %q", got)
	}
	if got := collect(t, noDelete, 1); !equal(got, []string{fmt.Sprintf("PUT a=abc %d/%d/1", rev, rev)}) {
		t.Fatalf("NODELETE: %q", got)
	}
}

// TestWatchManyOnOneStream: watchers of one context share one stream
// (clientv3 puts them on one gRPC stream); each gets its keys; a
// cancelled one stops, the others go on (etcd's TestV3WatchMultipleWatchers
// and TestV3WatchCancel).
func TestWatchManyOnOneStream(t *testing.T) {
	c := newEtcdCluster(t)
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	const n = 5
	var wchs []clientv3.WatchChan
	for i := range n {
		wchs = append(wchs, c.cli.Watch(wctx, fmt.Sprintf("k%d", i)))
	}
	for i := range n {
		c.put(t, fmt.Sprintf("k%d", i), "v")
	}
	for i, wch := range wchs {
		got := collect(t, wch, 1)
		if len(got) != 1 || got[0][:len("PUT k0")] != fmt.Sprintf("PUT k%d", i) {
			t.Fatalf("watcher %d: %q", i, got)
		}
	}

	// Cancel one watcher through its own context on the same stream.
	cctx, ccancel := context.WithCancel(wctx)
	cwch := c.cli.Watch(cctx, "gone", clientv3.WithCreatedNotify())
	if r := next(t, cwch); !r.Created {
		t.Fatalf("watch gone: %+v, want its Created response first", r)
	}
	ccancel()
	for range cwch { //nolint:revive // drain until closed
	}
	c.put(t, "gone", "x")
	c.put(t, "k0", "again")
	if got := collect(t, wchs[0], 1); len(got) != 1 {
		t.Fatalf("after a cancel: %q", got)
	}
}

// TestWatchProgress: progress_notify sends an empty response at the
// watcher's revision when idle for the configured interval
// (watch_progress_notify_interval, 200 ms here, where the default would
// outlast next's wait; etcd's TestV3WatchProgressOnMemberRestart kind),
// and RequestProgress answers every watcher of the stream (etcd's
// TestWatchRequestProgress).
func TestWatchProgress(t *testing.T) {
	c := newEtcdClusterServing(t, clustertest.Options{ManualTicks: true},
		clustertest.ServeOptions{WatchProgressNotifyInterval: 200 * time.Millisecond})
	rev := c.put(t, "other", "x")
	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	wch := c.cli.Watch(wctx, "idle", clientv3.WithProgressNotify())
	r := next(t, wch)
	if !r.IsProgressNotify() || r.Header.Revision < rev {
		t.Fatalf("progress notify: %+v, want an empty response at >= %d", r, rev)
	}

	// A progress response names what this node has sent, which may lag
	// the leader's acknowledged put by an entry (as an etcd member's may):
	// ask again until it reaches it, as Kubernetes' watch cache does.
	plain := c.cli.Watch(clientv3.WithRequireLeader(wctx), "quiet")
	rev = c.put(t, "other", "y")
	for {
		if err := c.cli.RequestProgress(clientv3.WithRequireLeader(wctx)); err != nil {
			t.Fatal(err)
		}
		r = next(t, plain)
		if !r.IsProgressNotify() {
			t.Fatalf("requested progress: %+v, want an empty response", r)
		}
		if r.Header.Revision >= rev {
			break
		}
	}
}

// TestWatchCompacted: a watch from a compacted revision gets clientv3's
// ErrCompacted with the compact revision (etcd's TestWatchCompactRevision),
// and a Range below it etcd's ErrCompacted; at the compact revision both
// are served.
func TestWatchCompacted(t *testing.T) {
	c := newEtcdCluster(t)
	var revs []int64
	for i := range 5 {
		revs = append(revs, c.put(t, "foo", fmt.Sprint(i)))
	}
	compactAt := revs[2]
	if _, err := c.cli.Compact(ctx(t), compactAt, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cli.Compact(ctx(t), compactAt); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("compact again: %v, want %v", err, rpctypes.ErrCompacted)
	}
	if _, err := c.cli.Compact(ctx(t), revs[4]+100); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("compact in the future: %v, want %v", err, rpctypes.ErrFutureRev)
	}

	wctx, cancel := context.WithCancel(ctx(t))
	defer cancel()
	r := next(t, c.cli.Watch(wctx, "foo", clientv3.WithRev(revs[0])))
	if !errors.Is(r.Err(), rpctypes.ErrCompacted) || r.CompactRevision != compactAt {
		t.Fatalf("watch from %d: err %v, compact revision %d; want ErrCompacted at %d", revs[0], r.Err(), r.CompactRevision, compactAt)
	}
	if got := collect(t, c.cli.Watch(wctx, "foo", clientv3.WithRev(compactAt)), 3); len(got) != 3 {
		t.Fatalf("watch from the compact revision: %q", got)
	}
	// prev_kv as etcd reads it, at the event's revision - 1: left out for
	// the event at the compact revision (its previous version is
	// compacted), there for the next ones. The replayed revisions may
	// come in one response, as etcd sends them.
	pw := c.cli.Watch(wctx, "foo", clientv3.WithRev(compactAt), clientv3.WithPrevKV())
	var evs []*clientv3.Event
	for len(evs) < 3 {
		evs = append(evs, next(t, pw).Events...)
	}
	for i, rev := range revs[2:5] {
		if ev := evs[i]; ev.Kv.ModRevision != rev || (ev.PrevKv != nil) != (i > 0) {
			t.Fatalf("watch with prev_kv from the compact revision, event %d: %+v; want revision %d, prev_kv only above the compact revision", i, ev, rev)
		}
	}

	if _, err := c.cli.Get(ctx(t), "foo", clientv3.WithRev(compactAt-1)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("range below the compact revision: %v, want %v", err, rpctypes.ErrCompacted)
	}
	g, err := c.cli.Get(ctx(t), "foo", clientv3.WithRev(compactAt))
	if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != "2" || g.Header.Revision != revs[4] {
		t.Fatalf("range at the compact revision: %v, %v; want foo=2 with header revision %d", g, err, revs[4])
	}
	if _, err := c.cli.Get(ctx(t), "foo", clientv3.WithRev(revs[4]+1)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Fatalf("range in the future: %v, want %v", err, rpctypes.ErrFutureRev)
	}
}

// TestRangePastRevision is etcd's TestV3RangeRequest "past revisions":
// a Range at a past revision sees the keys as they were, with their
// versions then.
func TestRangePastRevision(t *testing.T) {
	c := newEtcdCluster(t)
	r1 := c.put(t, "a", "1")
	c.put(t, "b", "1")
	c.put(t, "a", "2")
	if _, err := c.cli.Delete(ctx(t), "b"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rev  int64
		want string
	}{
		{r1 - 1, "[]"},
		{r1, "[a=1/1]"},
		{r1 + 1, "[a=1/1 b=1/1]"},
		{r1 + 2, "[a=2/2 b=1/1]"},
		{r1 + 3, "[a=2/2]"},
	} {
		g, err := c.cli.Get(ctx(t), "", clientv3.WithFromKey(), clientv3.WithRev(tt.rev))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, kv := range g.Kvs {
			got = append(got, fmt.Sprintf("%s=%s/%d", kv.Key, kv.Value, kv.Version))
		}
		if fmt.Sprint(got) != tt.want && !(tt.want == "[]" && got == nil) {
			t.Errorf("at %d: %v, want %s", tt.rev, got, tt.want)
		}
	}
}
