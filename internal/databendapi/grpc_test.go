package databendapi_test

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/databendapi"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// The cases of databend-meta's gRPC service tests
// (crates/server/service/tests/it/grpc/), on a 3-node cluster.

// followerOf returns a node of cl that is not lead.
func followerOf(cl *clustertest.Cluster, lead uint64) uint64 {
	return lead%3 + 1
}

// initializeKVs writes a (ttl 10 s), c, c1, c2, as metasrv_grpc_kv_read_v1.rs.
func initializeKVs(kv *dbClient) {
	kv.upsert(upsertKV{key: "a", seq: exact(0), value: "a", ttl: 10 * time.Second})
	for _, k := range []string{"c", "c1", "c2"} {
		kv.upsert(upsertKV{key: k, seq: exact(0), value: k})
	}
}

// test_streamed_mget and test_streamed_list.
func checkReadV1(t *testing.T, kv *dbClient, nowSec uint64) {
	t.Helper()
	got := kv.readV1(&databendjson.MGetKV{Keys: []string{"a", "b"}})
	if len(got) != 2 || got[0].GetKey() != "a" || got[0].GetValue().GetSeq() != 1 || string(got[0].GetValue().GetData()) != "a" {
		t.Fatalf("mget a b: %v", got)
	}
	if at := databendjson.ExpireAtMs(got[0].GetValue().GetMeta().GetExpireAt()) / 1000; at < nowSec+10 || at >= nowSec+13 {
		t.Fatalf("a expires at %d s, want about %d", at, nowSec+10)
	}
	wantProto(t, "mget: b is absent", got[1], item("b", nil))
	wantItems(t, "list c", kv.readV1(&databendjson.ListKV{Prefix: "c"}), item("c", sv(2, "c")), item("c1", sv(3, "c1")), item("c2", sv(4, "c2")))
	wantItems(t, "get c1", kv.readV1(&databendjson.GetKV{Key: "c1"}), item("c1", sv(3, "c1")))
}

func TestKvReadV1OnLeaderAndFollower(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := cl.WaitLeader()
	leader := dialDatabend(t, cl, cl.Node(lead))
	now := uint64(time.Now().Unix())
	initializeKVs(leader)
	checkReadV1(t, leader, now)
	checkReadV1(t, dialDatabend(t, cl, cl.Node(followerOf(cl, lead))), now)
}

// test_kv_read_v1_follower_responds_leader_endpoint: a follower names the
// leader's grpc address in the response headers, where Databend's client
// reads it to switch to the leader; the leader names none. So do
// Transaction, KvList, KvGetMany and KvTransaction.
func TestFollowerNamesLeader(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := cl.WaitLeader()
	fol := followerOf(cl, lead)
	leaderAddr := cl.Node(lead).Server.Members()[lead-1].GetGrpcAddress()
	for _, tt := range []struct {
		id   uint64
		want []string
	}{{fol, []string{leaderAddr}}, {lead, nil}} {
		kv := dialDatabend(t, cl, cl.Node(tt.id))
		// A member table is applied from the log: once the cluster
		// settles, a new follower knows the leader's address.
		cl.Settled(func() bool { return cl.Node(tt.id).Server.LeaderGrpcAddress() != "" || tt.id == lead }, "the follower knows the leader")
		check := func(what string, hdr metadata.MD) {
			t.Helper()
			if got := hdr.Get(databendapi.LeaderKey); !slices.Equal(got, tt.want) {
				t.Errorf("node %d, %s: %s = %v, want %v", tt.id, what, databendapi.LeaderKey, got, tt.want)
			}
		}
		data := `{"MGetKV":{"keys":["a","b"]}}`
		st, err := kv.c.KvReadV1(kv.ctx, &databendpb.RaftRequest{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := st.Header()
		if err != nil {
			t.Fatal(err)
		}
		check("KvReadV1", hdr)
		drain(t, st.Recv)

		var h metadata.MD
		if _, err := kv.c.Transaction(kv.ctx, &databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{putOp("k", "v")}}, grpc.Header(&h)); err != nil {
			t.Fatal(err)
		}
		check("Transaction", h)
		h = nil
		if _, err := kv.c.KvTransaction(kv.ctx, &databendpb.KvTransactionRequest{}, grpc.Header(&h)); err != nil {
			t.Fatal(err)
		}
		check("KvTransaction", h)

		ls, err := kv.c.KvList(kv.ctx, &databendpb.KvListRequest{Prefix: "k"})
		if err != nil {
			t.Fatal(err)
		}
		if hdr, err = ls.Header(); err != nil {
			t.Fatal(err)
		}
		check("KvList", hdr)
		drain(t, ls.Recv)

		// KvGetMany's headers come before any key is sent: Databend's
		// client waits for them to send its keys.
		gm, err := kv.c.KvGetMany(kv.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if hdr, err = gm.Header(); err != nil {
			t.Fatal(err)
		}
		check("KvGetMany", hdr)
		if err := gm.CloseSend(); err != nil {
			t.Fatal(err)
		}
		drain(t, gm.Recv)
	}
}

// KvApi: an UpsertKV and the older clients' reads, in Databend's JSON.
// Every value carries its KVMeta as stored: proposed_at_ms the entry's
// time (the test clock's), expire_at as written.
func TestKvApi(t *testing.T) {
	const now = 1_700_000_000_123 // ms
	clock := clustertest.NewClock(time.UnixMilli(now))
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Now: clock.Now})
	lead := cl.WaitLeader()
	kv := dialDatabend(t, cl, cl.Node(followerOf(cl, lead)))
	a1 := `{"seq":1,"meta":{"proposed_at_ms":1700000000123},"data":[118]}`
	b2 := `{"seq":2,"meta":{"expire_at":2051518343,"proposed_at_ms":1700000000123},"data":[]}`
	b3 := `{"seq":3,"meta":{"expire_at":2051518400000,"proposed_at_ms":1700000000123},"data":[]}`
	for _, tt := range []struct{ req, reply string }{
		{`{"UpsertKV":{"key":"a","seq":{"Exact":0},"value":{"Update":[118]},"value_meta":null}}`,
			`{"ident":null,"prev":null,"result":` + a1 + `}`},
		{`{"UpsertKV":{"key":"a","seq":{"Exact":0},"value":{"Update":[119]},"value_meta":null}}`, // seq does not match: no change
			`{"ident":null,"prev":` + a1 + `,"result":` + a1 + `}`},
		// expire_at in seconds stays in seconds.
		{`{"UpsertKV":{"key":"b","seq":"Any","value":{"Update":[]},"value_meta":{"expire_at":2051518343}}}`,
			`{"ident":null,"prev":null,"result":` + b2 + `}`},
		// AsIs keeps the value and writes the meta anew, with the next seq.
		{`{"UpsertKV":{"key":"b","seq":"Any","value":"AsIs","value_meta":{"expire_at":2051518400000}}}`,
			`{"ident":null,"prev":` + b2 + `,"result":` + b3 + `}`},
		// AsIs on an absent key does nothing.
		{`{"UpsertKV":{"key":"c","seq":"Any","value":"AsIs","value_meta":null}}`, `{"ident":null,"prev":null,"result":null}`},
		{`{"GetKV":{"key":"a"}}`, a1},
		{`{"GetKV":{"key":"x"}}`, `null`},
		{`{"MGetKV":{"keys":["x","a"]}}`, `[null,` + a1 + `]`},
		{`{"ListKV":{"prefix":""}}`, `[["a",` + a1 + `],["b",` + b3 + `]]`},
		{`{"UpsertKV":{"key":"a","seq":{"GE":1},"value":"Delete","value_meta":null}}`,
			`{"ident":null,"prev":` + a1 + `,"result":null}`},
	} {
		r, err := kv.c.KvApi(kv.ctx, &databendpb.RaftRequest{Data: tt.req})
		if err != nil {
			t.Fatalf("%s: %v", tt.req, err)
		}
		if r.GetData() != tt.reply || r.GetError() != "" {
			t.Fatalf("%s:\n got %q (error %q)\nwant %q", tt.req, r.GetData(), r.GetError(), tt.reply)
		}
	}
	for _, tt := range []struct {
		req   string
		code  codes.Code
		words []string
	}{
		{`{"Upsert":{}}`, codes.InvalidArgument, []string{"RaftRequest.data"}},
		{`not json`, codes.InvalidArgument, []string{"RaftRequest.data"}},
	} {
		_, err := kv.c.KvApi(kv.ctx, &databendpb.RaftRequest{Data: tt.req})
		wantCode(t, tt.req, err, tt.code, tt.words...)
	}
}

// test_watch_initialization_flush: the keys of the range with
// is_initialization, one response without an event, then the changes.
func TestWatchInitialFlush(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	kv := dialDatabend(t, cl, cl.Node(cl.WaitLeader()))
	for _, k := range []string{"a", "b", "c", "d", "z"} {
		kv.upsert(upsertKV{key: k, value: k})
	}
	end := "e"
	w, err := kv.c.Watch(kv.ctx, &databendpb.WatchRequest{Key: "a", KeyEnd: &end, InitialFlush: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{"a", "b", "c", "d"} {
		r, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if !r.GetIsInitialization() {
			t.Fatalf("flush %d: %v, want is_initialization", i, r)
		}
		wantProto(t, "flushed "+k, r.GetEvent(), &databendpb.Event{Key: k, Current: sv(uint64(i+1), k)})
	}
	r, err := w.Recv()
	if err != nil || r.GetEvent() != nil || r.GetIsInitialization() {
		t.Fatalf("after the flush: %v, %v; want a response without event", r, err)
	}
	kv.upsert(upsertKV{key: "a", value: "a2"})
	kv.upsert(upsertKV{key: "c", delete: true})
	r, err = w.Recv()
	if err != nil || r.GetIsInitialization() {
		t.Fatalf("change of a: %v, %v", r, err)
	}
	wantProto(t, "change of a", r.GetEvent(), &databendpb.Event{Key: "a", Prev: sv(1, "a"), Current: sv(6, "a2")})
	if r, err = w.Recv(); err != nil {
		t.Fatal(err)
	}
	wantProto(t, "delete of c", r.GetEvent(), &databendpb.Event{Key: "c", Prev: sv(3, "c")})
}

// test_watch: a range, a filter, a transaction's events. The headers come
// as soon as the watcher is registered, before any event: Databend's
// client returns from watch() only then, and writes after it must reach
// the watcher.
func TestWatch(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	kv := dialDatabend(t, cl, cl.Node(cl.WaitLeader()))
	watch := func(req *databendpb.WatchRequest) grpc.ServerStreamingClient[databendpb.WatchResponse] {
		t.Helper()
		w, err := kv.c.Watch(kv.ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Header(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	next := func(w grpc.ServerStreamingClient[databendpb.WatchResponse], want *databendpb.Event) {
		t.Helper()
		r, err := w.Recv()
		if err != nil {
			t.Fatal(err)
		}
		wantProto(t, "event", r.GetEvent(), want)
	}
	z := "z"
	w := watch(&databendpb.WatchRequest{Key: "a", KeyEnd: &z})
	kv.upsert(upsertKV{key: "a", value: "a"})
	kv.upsert(upsertKV{key: "z", value: "z"}) // outside [a, z)
	kv.upsert(upsertKV{key: "b", value: "b"})
	kv.upsert(upsertKV{key: "b", value: "new"})
	kv.upsert(upsertKV{key: "b", delete: true})
	next(w, &databendpb.Event{Key: "a", Current: sv(1, "a")})
	next(w, &databendpb.Event{Key: "b", Current: sv(3, "b")})
	next(w, &databendpb.Event{Key: "b", Prev: sv(3, "b"), Current: sv(4, "new")})
	next(w, &databendpb.Event{Key: "b", Prev: sv(4, "new")})

	// Deletes only, of key 1 alone.
	w = watch(&databendpb.WatchRequest{Key: "1", FilterType: databendpb.WatchRequest_DELETE})
	kv.upsert(upsertKV{key: "1", value: "old"})
	kv.upsert(upsertKV{key: "1", delete: true})
	old := kv.upsert(upsertKV{key: "1", value: "new"}).GetResponses()[0].GetPut().GetCurrent()
	kv.upsert(upsertKV{key: "1", delete: true})
	prevOld := kv.getMany("1")[0] // absent now
	if prevOld.GetValue() != nil {
		t.Fatalf("1 after its delete: %v", prevOld)
	}
	r, err := w.Recv()
	if err != nil || r.GetEvent().GetCurrent() != nil || string(r.GetEvent().GetPrev().GetData()) != "old" {
		t.Fatalf("first delete of 1: %v, %v", r, err)
	}
	next(w, &databendpb.Event{Key: "1", Prev: old})

	// A transaction's changes, in order.
	kv.upsert(upsertKV{key: "watch_delete_key", value: "watch_delete_key"})
	kv.upsert(upsertKV{key: "watch_delete_by_prefix_key", value: "watch_delete_by_prefix_key"})
	dk, dpk := kv.get("watch_delete_key"), kv.get("watch_delete_by_prefix_key")
	end := "watci" // the range of prefix "watch"
	w = watch(&databendpb.WatchRequest{Key: "watch", KeyEnd: &end})
	r2 := kv.txn(&databendpb.TxnRequest{
		Condition: []*databendpb.TxnCondition{seqCond("watch_txn_key", databendpb.TxnCondition_EQ, 0)},
		IfThen:    []*databendpb.TxnOp{putOp("watch_txn_key", "txn_val"), deleteOp("watch_delete_key", nil), deleteByPrefixOp("watch_delete_by_prefix_key")},
	})
	next(w, &databendpb.Event{Key: "watch_txn_key", Current: r2.GetResponses()[0].GetPut().GetCurrent()})
	next(w, &databendpb.Event{Key: "watch_delete_key", Prev: dk})
	next(w, &databendpb.Event{Key: "watch_delete_by_prefix_key", Prev: dpk})

	// An empty range is refused, as databend-meta does.
	a := "a"
	ew, err := kv.c.Watch(kv.ctx, &databendpb.WatchRequest{Key: "b", KeyEnd: &a})
	if err == nil {
		_, err = ew.Recv()
	}
	wantCode(t, "watch [b, a)", err, codes.InvalidArgument, "empty")
}

// GetClusterStatus describes the node from our status, in Databend's
// fields and forms.
func TestGetClusterStatus(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := cl.WaitLeader()
	kv := dialDatabend(t, cl, cl.Node(lead))
	kv.upsert(upsertKV{key: "k", value: "v"})
	st, err := kv.c.GetClusterStatus(kv.ctx, &databendpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	a := cl.Node(lead).Server.AdminStatus()
	node := func(id uint64) string {
		return "id=" + strconv.FormatUint(id, 10) + " raft=" + clustertest.Addr(id) + " grpc=" + clustertest.Addr(id)
	}
	if st.GetId() != lead || !st.GetIsLeader() || st.GetState() != "Leader" || st.GetDataVersion() != databendapi.DataVersion ||
		st.GetEndpoint() != clustertest.Addr(lead) || st.GetLastSeq() != 1 || st.GetSnapshotKeyCount() != 1 ||
		st.GetCurrentTerm() != a.Term || st.GetLastLogIndex() == 0 || st.GetLeader() != node(lead) {
		t.Fatalf("status %v", st)
	}
	if want := []string{node(1), node(2), node(3)}; !slices.Equal(st.GetVoters(), want) || len(st.GetNonVoters()) != 0 {
		t.Fatalf("voters %v, non_voters %v; want %v", st.GetVoters(), st.GetNonVoters(), want)
	}
	if len(st.GetReplication()) != 3 {
		t.Fatalf("replication %v, want the 3 members", st.GetReplication())
	}
	fol, err := dialDatabend(t, cl, cl.Node(followerOf(cl, lead))).c.GetClusterStatus(kv.ctx, &databendpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if fol.GetIsLeader() || fol.GetState() != "Follower" || len(fol.GetReplication()) != 0 || fol.GetLeader() != node(lead) {
		t.Fatalf("follower status %v", fol)
	}
}

// SnapshotKeysLayout counts the keys every node holds after a read
// barrier: a follower asked right after a write through the leader
// counts it. The lines are databend-metactl keys-layout's example.
func TestSnapshotKeysLayout(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := cl.WaitLeader()
	kv := dialDatabend(t, cl, cl.Node(lead))
	for _, k := range []string{"databases/1/tables/users/columns/id", "databases/1/tables/users/columns/name",
		"databases/1/tables/orders/columns/id", "databases/2/tables/products/columns/id",
		"system/config/max_connections", "system/stats/query_count"} {
		kv.upsert(upsertKV{key: k, value: "v"})
	}
	fol := dialDatabend(t, cl, cl.Node(followerOf(cl, lead)))
	layout := func(depth *uint32) string {
		t.Helper()
		st, err := fol.c.SnapshotKeysLayout(fol.ctx, &databendpb.KeysLayoutRequest{Depth: depth})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for {
			kc, err := st.Recv()
			if err == io.EOF {
				return b.String()
			}
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %d\n", kc.GetPrefix(), kc.GetCount())
		}
	}
	want := `databases/1/tables/orders/columns 1
databases/1/tables/orders 1
databases/1/tables/users/columns 2
databases/1/tables/users 2
databases/1/tables 3
databases/1 3
databases/2/tables/products/columns 1
databases/2/tables/products 1
databases/2/tables 1
databases/2 1
databases 4
system/config 1
system/stats 1
system 2
 6
`
	if got := layout(nil); got != want {
		t.Errorf("layout on a follower:\n%s\nwant\n%s", got, want)
	}
	one := uint32(1)
	if got := layout(&one); got != "databases 4\nsystem 2\n 6\n" {
		t.Errorf("layout depth 1: %q", got)
	}
}

// Every protobuf reply carries a value's KVMeta as stored: expire_at in
// the form written (seconds here), proposed_at_ms the entry's time.
func TestMetaInReplies(t *testing.T) {
	const now = 1_700_000_000_123 // ms
	clock := clustertest.NewClock(time.UnixMilli(now))
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Now: clock.Now})
	kv := dialDatabend(t, cl, cl.Node(cl.WaitLeader()))
	w, err := kv.c.Watch(kv.ctx, &databendpb.WatchRequest{Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Header(); err != nil {
		t.Fatal(err)
	}
	at, proposed := uint64(2051518343), uint64(now)
	want := &databendpb.SeqV{Seq: 1, Data: []byte("v"), Meta: &databendpb.KVMeta{ExpireAt: &at, ProposedAtMs: &proposed}}
	same := func(what string, got *databendpb.SeqV) {
		t.Helper()
		if !proto.Equal(got, want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
	put := &databendpb.TxnPutRequest{Key: "k", Value: []byte("v"), ExpireAt: &at}
	r := kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{{Request: &databendpb.TxnOp_Put{Put: put}}, getOp("k")}})
	same("Transaction put", r.GetResponses()[0].GetPut().GetCurrent())
	same("Transaction get", r.GetResponses()[1].GetGet().GetValue())
	kr, err := kv.c.KvTransaction(kv.ctx, &databendpb.KvTransactionRequest{Branches: []*databendpb.ConditionalOperation{{Operations: []*databendpb.TxnOp{getOp("k")}}}})
	if err != nil {
		t.Fatal(err)
	}
	same("KvTransaction get", kr.GetResponses()[0].GetGet().GetValue())
	same("KvGetMany", kv.get("k"))
	same("KvReadV1", kv.readV1(&databendjson.GetKV{Key: "k"})[0].GetValue())
	ls, err := kv.c.KvList(kv.ctx, &databendpb.KvListRequest{Prefix: "k"})
	if err != nil {
		t.Fatal(err)
	}
	same("KvList", drain(t, ls.Recv)[0].GetValue())
	ev, err := w.Recv()
	if err != nil {
		t.Fatal(err)
	}
	same("Watch", ev.GetEvent().GetCurrent())
}
