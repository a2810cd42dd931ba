package databendapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// Keys that are not UTF-8 (written through etcd's or the native API) have
// no form on Databend's API: lists, watches and SnapshotKeysLayout leave
// them out, and the calls succeed with the other keys.
func TestBinaryKeysLeftOut(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	kv := dialDatabend(t, cl, cl.Node(cl.WaitLeader()))
	native := metapb.NewMetaClient(kv.conn)
	nativePut := func(k string) {
		t.Helper()
		if _, err := native.Upsert(kv.ctx, &metapb.UpsertRequest{Key: k, Value: []byte("v")}); err != nil {
			t.Fatalf("native upsert of %q: %v", k, err)
		}
	}
	// "k/\x80" sorts before "k/a": a limit counts the keys sent.
	for _, k := range []string{"k/\x80", "k/a", "k/b", "k/\xff"} {
		nativePut(k)
	}
	keys := func(items []*databendpb.StreamItem) []string {
		var out []string
		for _, it := range items {
			out = append(out, it.GetKey())
		}
		return out
	}
	want := []string{"k/a", "k/b"}
	if got := keys(kv.list("k/")); !slices.Equal(got, want) {
		t.Errorf("KvReadV1 ListKV: %q, want %q", got, want)
	}
	limit := uint64(2)
	ls, err := kv.c.KvList(kv.ctx, &databendpb.KvListRequest{Prefix: "k/", Limit: &limit})
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(drain(t, ls.Recv)); !slices.Equal(got, want) {
		t.Errorf("KvList limit 2: %q, want %q", got, want)
	}
	r, err := kv.c.KvApi(kv.ctx, &databendpb.RaftRequest{Data: `{"ListKV":{"prefix":"k/"}}`})
	if err != nil || r.GetError() != "" || !strings.HasPrefix(r.GetData(), `[["k/a",`) || strings.Count(r.GetData(), `["k/`) != 2 {
		t.Errorf("KvApi ListKV: %v, %v; want k/a and k/b", r, err)
	}

	layout, err := kv.c.SnapshotKeysLayout(kv.ctx, &databendpb.KeysLayoutRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var counts []string
	for {
		c, err := layout.Recv()
		if err != nil {
			break
		}
		counts = append(counts, c.GetPrefix()+"="+strings.Repeat("|", int(c.GetCount())))
	}
	if want := []string{"k=||", "=||"}; !slices.Equal(counts, want) {
		t.Errorf("SnapshotKeysLayout: %q, want %q", counts, want)
	}

	end := "k0"
	w, err := kv.c.Watch(kv.ctx, &databendpb.WatchRequest{Key: "k/", KeyEnd: &end, InitialFlush: true})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for range 3 { // k/a, k/b, the end of the flush
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		seen = append(seen, r.GetEvent().GetKey())
	}
	nativePut("k/\xfe")
	nativePut("k/c")
	r2, err := w.Recv()
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if seen = append(seen, r2.GetEvent().GetKey()); !slices.Equal(seen, []string{"k/a", "k/b", "", "k/c"}) {
		t.Errorf("watch with initial flush: %q, want k/a, k/b, the flush's end, k/c", seen)
	}
}
