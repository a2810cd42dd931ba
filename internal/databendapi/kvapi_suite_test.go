package databendapi_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// The cases of Databend's kvapi test suite
// (crates/client/kvapi-test-suite/src/kvapi_test_suite.rs in
// databend-meta), each on a new 3-node cluster, through Databend's
// protocol on the leader, with Databend's expected seqs and values. Time
// is a clustertest.Clock, moved where Databend's suite sleeps.

// suiteCluster starts a 3-node cluster on a test clock and dials its
// leader through Databend's protocol.
func suiteCluster(t *testing.T) (*dbClient, *clustertest.Clock) {
	t.Helper()
	clock := clustertest.NewClock(time.Now())
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Now: clock.Now})
	return dialDatabend(t, cl, cl.Node(cl.WaitLeader())), clock
}

func nowSec(c *clustertest.Clock) uint64 { return uint64(c.Now().Unix()) }

func TestSuiteKVTimeout(t *testing.T) {
	kv, clock := suiteCluster(t)
	kv.upsert(upsertKV{key: "k1", value: "v1", ttl: 2 * time.Second})
	if kv.get("k1") == nil {
		t.Fatal("k1 expired before its ttl")
	}
	clock.Advance(3 * time.Second)
	if v := kv.get("k1"); v != nil {
		t.Fatalf("k1 after its ttl: %v, want none", v)
	}
	now := nowSec(clock)
	// An expired key acts as absent: an insert (seq 0) applies.
	kv.upsert(upsertKV{key: "k1", seq: exact(0), value: "v1", expireAt: now - 1})
	kv.upsert(upsertKV{key: "k2", seq: exact(0), value: "v2", ttl: 10 * time.Second})
	got := kv.getMany("k1", "k2")
	if got[0].GetValue() != nil {
		t.Fatalf("mget k1: %v, want none (expired)", got[0])
	}
	v2 := got[1].GetValue()
	if at := databendjson.ExpireAtMs(v2.GetMeta().GetExpireAt()) / 1000; at < now+10 || at >= now+12 {
		t.Fatalf("k2 expires at %d s, want %d", at, now+10)
	}
	if keys := itemKeys(kv.list("k")); !slices.Equal(keys, []string{"k2"}) {
		t.Fatalf("list k: %v, want [k2]", keys)
	}
	if v2.GetSeq() != 3 { // the removal of expired k1 took no seq
		t.Fatalf("k2 has seq %d, Databend 3", v2.GetSeq())
	}
	kv.upsert(upsertKV{key: "k2", seq: exact(3), value: "v2", expireAt: now - 1})
	if v := kv.get("k2"); v != nil {
		t.Fatalf("k2 after an update to a past expiry: %v, want none", v)
	}
}

func TestSuiteKVExpireSecOrMs(t *testing.T) {
	kv, clock := suiteCluster(t)
	// 100_000_000_000 is the largest expire_at in seconds.
	kv.upsert(upsertKV{key: "k1", value: "v1", expireAt: 100_000_000_000})
	if ms := kv.get("k1").GetMeta().GetExpireAt(); databendjson.ExpireAtMs(ms) != 100_000_000_000_000 {
		t.Fatalf("expire_at %d, want 100_000_000_000 s", ms)
	}
	kv.upsert(upsertKV{key: "k1", value: "v1", expireAt: (nowSec(clock) - 2) * 1000})
	if v := kv.get("k1"); v != nil {
		t.Fatalf("k1 expired in ms: %v, want none", v)
	}
	const millis = 2051518343000 // 2035-01-04 18:12:23
	kv.upsert(upsertKV{key: "k1", value: "v1", expireAt: millis})
	if ms := kv.get("k1").GetMeta().GetExpireAt(); ms != millis {
		t.Fatalf("expire_at %d, want %d ms", ms, uint64(millis))
	}
	kv.upsert(upsertKV{key: "k1", value: "v1", ttl: time.Second})
	clock.Advance(2 * time.Second)
	if v := kv.get("k1"); v != nil {
		t.Fatalf("k1 after a 1 s ttl and 2 s: %v, want none", v)
	}
	kv.upsert(upsertKV{key: "k1", value: "v1", ttl: 5 * time.Second})
	clock.Advance(2 * time.Second)
	if kv.get("k1") == nil {
		t.Fatal("k1 after a 5 s ttl and 2 s: none, want the value")
	}
}

func TestSuiteKVList(t *testing.T) {
	kv, _ := suiteCluster(t)
	kv.upsert(upsertKV{key: "t"})
	var want []string
	for i := range 9 {
		kv.upsert(upsertKV{key: fmt.Sprintf("__users/%d", i), value: fmt.Sprintf("val_%d", i)})
		want = append(want, fmt.Sprintf("val_%d", i))
	}
	kv.upsert(upsertKV{key: "v"})
	if got := itemValues(kv.list("__users/")); !slices.Equal(got, want) {
		t.Fatalf("list __users/: %v, want %v", got, want)
	}
}

// kv_list_with_limit and kv_list_collect_with_limit, through KvList,
// which takes the limit.
func TestSuiteKVListWithLimit(t *testing.T) {
	kv, _ := suiteCluster(t)
	for i := range 5 {
		kv.upsert(upsertKV{key: fmt.Sprintf("__limit_test/%d", i), value: fmt.Sprintf("val_%d", i)})
	}
	all := []string{"__limit_test/0", "__limit_test/1", "__limit_test/2", "__limit_test/3", "__limit_test/4"}
	for _, tt := range []struct {
		limit *uint64
		want  []string
	}{
		{nil, all},
		{u64(3), all[:3]},
		{u64(0), nil},
		{u64(100), all},
	} {
		st, err := kv.c.KvList(kv.ctx, &databendpb.KvListRequest{Prefix: "__limit_test/", Limit: tt.limit})
		if err != nil {
			t.Fatal(err)
		}
		if got := itemKeys(drain(t, st.Recv)); !slices.Equal(got, tt.want) {
			t.Errorf("KvList limit %v: %v, want %v", tt.limit, got, tt.want)
		}
	}
}

func TestSuiteKVMGet(t *testing.T) {
	kv, _ := suiteCluster(t)
	kv.upsert(upsertKV{key: "k1", value: "v1"})
	kv.upsert(upsertKV{key: "k2", value: "v2"})
	wantItems(t, "mget k1 k2", kv.getMany("k1", "k2"), item("k1", sv(1, "v1")), item("k2", sv(2, "v2")))
	wantItems(t, "mget k1 and an absent key", kv.getMany("k1", "key_no exist"), item("k1", sv(1, "v1")), item("key_no exist", nil))
}

func TestSuiteKVGetManyKV(t *testing.T) {
	kv, _ := suiteCluster(t)
	kv.upsert(upsertKV{key: "keys_k1", value: "v1"})
	kv.upsert(upsertKV{key: "keys_k2", value: "v2"})
	wantItems(t, "get_many", kv.getMany("keys_k1", "keys_k2", "keys_nonexistent"),
		item("keys_k1", sv(1, "v1")), item("keys_k2", sv(2, "v2")), item("keys_nonexistent", nil))
}

// kv_get_many_kv_error_propagation: the client's input fails after the
// first key; the stream answers that key and ends, the later key is never
// read.
func TestSuiteKVGetManyErrorPropagation(t *testing.T) {
	kv, _ := suiteCluster(t)
	kv.upsert(upsertKV{key: "err_k1", value: "v1"})
	kv.upsert(upsertKV{key: "err_k2", value: "v2"})
	ctx, cancel := contextWithCancel(kv)
	st, err := kv.c.KvGetMany(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&databendpb.KvGetManyRequest{Key: "err_k1"}); err != nil {
		t.Fatal(err)
	}
	it, err := st.Recv()
	if err != nil || it.GetKey() != "err_k1" {
		t.Fatalf("first item: %v, %v; want err_k1", it, err)
	}
	cancel() // the input failed: the client gives up the call
	if it, err := st.Recv(); err == nil {
		t.Fatalf("after the input failed: %v, want the stream to end with an error", it)
	}
}

func TestSuiteTxnAbsentSeq0(t *testing.T) {
	kv, _ := suiteCluster(t)
	r := kv.txn(&databendpb.TxnRequest{
		Condition: []*databendpb.TxnCondition{seqCond("txn_0_absent", databendpb.TxnCondition_EQ, 0)},
		IfThen:    []*databendpb.TxnOp{putOp("txn_0_absent", "new_v1")},
	})
	wantProto(t, "put on an absent key", r, reply(true, "then", putResp("txn_0_absent", nil, sv(1, "new_v1"))))
}

func TestSuiteTxnDeleteByPrefix(t *testing.T) {
	kv, _ := suiteCluster(t)
	match := []string{"test_key1", "test/key2", "testkey3"}
	for _, k := range append(slices.Clone(match), "teskey4") {
		kv.upsert(upsertKV{key: k, value: "v1"})
	}
	r := kv.txn(&databendpb.TxnRequest{
		Condition: []*databendpb.TxnCondition{seqCond("teskey4", databendpb.TxnCondition_GT, 0)},
		IfThen:    []*databendpb.TxnOp{deleteByPrefixOp("test")},
	})
	wantProto(t, "delete_by_prefix test", r, reply(true, "then", deleteByPrefixResp("test", 3)))
	for _, k := range match {
		if v := kv.get(k); v != nil {
			t.Fatalf("%s after delete_by_prefix: %v", k, v)
		}
	}
	if kv.get("teskey4") == nil {
		t.Fatal("teskey4 deleted by prefix test")
	}
	r = kv.txn(&databendpb.TxnRequest{
		Condition: []*databendpb.TxnCondition{seqCond("unmatch_keys", databendpb.TxnCondition_GT, 0)},
		ElseThen:  []*databendpb.TxnOp{deleteByPrefixOp("teskey4")},
	})
	wantProto(t, "delete_by_prefix in else", r, reply(false, "else", deleteByPrefixResp("teskey4", 1)))
	if v := kv.get("teskey4"); v != nil {
		t.Fatalf("teskey4 after delete_by_prefix: %v", v)
	}
}

func TestSuiteTransaction(t *testing.T) {
	kv, _ := suiteCluster(t)
	gt0 := func(k string) *databendpb.TxnCondition { return seqCond(k, databendpb.TxnCondition_GT, 0) }

	// 1: get and set one key.
	kv.upsert(upsertKV{key: "txn_1_K1", value: "v1"})
	r := kv.txn(&databendpb.TxnRequest{Condition: []*databendpb.TxnCondition{gt0("txn_1_K1")}, IfThen: []*databendpb.TxnOp{putOp("txn_1_K1", "new_v1")}})
	wantProto(t, "case 1", r, reply(true, "then", putResp("txn_1_K1", sv(1, "v1"), sv(2, "new_v1"))))

	// 2: a condition on an absent key fails, no else: no responses.
	kv.upsert(upsertKV{key: "txn_2_K1", value: "v1"})
	r = kv.txn(&databendpb.TxnRequest{Condition: []*databendpb.TxnCondition{gt0("txn_2_K1"), gt0("txn_2_K2")}, IfThen: []*databendpb.TxnOp{putOp("txn_2_K1", "new_v1")}})
	wantProto(t, "case 2", r, reply(false, "else"))

	// 3: set both keys, get, delete, get.
	kv.upsert(upsertKV{key: "txn_3_K1", value: "v1"})
	kv.upsert(upsertKV{key: "txn_3_K2", value: "v1"})
	r = kv.txn(&databendpb.TxnRequest{
		Condition: []*databendpb.TxnCondition{gt0("txn_3_K1"), gt0("txn_3_K2")},
		IfThen: []*databendpb.TxnOp{
			putOp("txn_3_K1", "v1_new"), putOp("txn_3_K2", "new_v2"), getOp("txn_3_K1"), deleteOp("txn_3_K1", nil), getOp("txn_3_K1"),
		},
	})
	wantProto(t, "case 3", r, reply(true, "then",
		putResp("txn_3_K1", sv(4, "v1"), sv(6, "v1_new")),
		putResp("txn_3_K2", sv(5, "v1"), sv(7, "new_v2")),
		getResp("txn_3_K1", sv(6, "v1_new")),
		deleteResp("txn_3_K1", true, sv(6, "v1_new")),
		getResp("txn_3_K1", nil),
	))

	// 4: conditions on the value.
	k1 := "txn_4_K1"
	kv.upsert(upsertKV{key: k1, value: "v1"})
	if s := kv.get(k1).GetSeq(); s != 8 { // case 3's delete took no seq
		t.Fatalf("case 4: %s has seq %d, Databend 8", k1, s)
	}
	for _, tt := range []struct {
		op      databendpb.TxnCondition_ConditionResult
		against string
		put     string
		success bool
		prev    uint64 // seq of the value before
	}{
		{databendpb.TxnCondition_EQ, "v10", "v2", false, 8},
		{databendpb.TxnCondition_EQ, "v1", "v2", true, 8},
		{databendpb.TxnCondition_LT, "v2", "v3", false, 9},
		{databendpb.TxnCondition_LT, "v3", "v3", true, 9},
		{databendpb.TxnCondition_LE, "v0", "v4", false, 10},
		{databendpb.TxnCondition_LE, "v3", "v4", true, 10},
		{databendpb.TxnCondition_GT, "v5", "v5", false, 11},
		{databendpb.TxnCondition_GT, "v3", "v5", true, 11},
		{databendpb.TxnCondition_GE, "v6", "v6", false, 12},
		{databendpb.TxnCondition_GE, "v5", "v6", true, 12},
	} {
		before := kv.get(k1)
		r := kv.txn(&databendpb.TxnRequest{
			Condition: []*databendpb.TxnCondition{valueCond(k1, tt.op, tt.against)},
			IfThen:    []*databendpb.TxnOp{putOp(k1, tt.put), getOp(k1)},
			ElseThen:  []*databendpb.TxnOp{getOp(k1)},
		})
		what := fmt.Sprintf("case 4: value %v %s", tt.op, tt.against)
		if !tt.success {
			wantProto(t, what, r, reply(false, "else", getResp(k1, sv(tt.prev, string(before.GetData())))))
			continue
		}
		wantProto(t, what, r, reply(true, "then",
			putResp(k1, sv(tt.prev, string(before.GetData())), sv(tt.prev+1, tt.put)),
			getResp(k1, sv(tt.prev+1, tt.put))))
	}
}

// kv_transaction_proposed_at: a value's meta carries the time of the
// entry that wrote it. Databend checks prev > 0 and current >= prev; the
// test clock makes both exact.
func TestSuiteTxnProposedAt(t *testing.T) {
	kv, clock := suiteCluster(t)
	t0 := uint64(clock.Now().UnixMilli())
	kv.upsert(upsertKV{key: "txn_1_K1", value: "v1"})
	clock.Advance(5 * time.Millisecond)
	r := kv.txn(&databendpb.TxnRequest{
		Condition: []*databendpb.TxnCondition{seqCond("txn_1_K1", databendpb.TxnCondition_GT, 0)},
		IfThen:    []*databendpb.TxnOp{putOp("txn_1_K1", "new_v1")},
	})
	put := r.GetResponses()[0].GetPut()
	if !r.GetSuccess() || put == nil {
		t.Fatalf("put: %v", r)
	}
	if got := put.GetPrevValue().GetMeta().ProposedAtMs; got == nil || *got != t0 {
		t.Fatalf("prev proposed_at_ms %v, want %d", got, t0)
	}
	if got := put.GetCurrent().GetMeta().ProposedAtMs; got == nil || *got != t0+5 {
		t.Fatalf("current proposed_at_ms %v, want %d", got, t0+5)
	}
}

func TestSuiteTxnFetchAddU64(t *testing.T) {
	kv, _ := suiteCluster(t)
	r := kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{fetchAddOp("k1", 2, 0, nil), fetchAddOp("k2", 3, 0, nil)}})
	wantProto(t, "absent keys start at 0", r, reply(true, "then", fetchResp("k1", 0, 0, 1, 2), fetchResp("k2", 0, 0, 2, 3)))
	r = kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{fetchAddOp("k1", 2, 0, nil), fetchAddOp("k2", 3, 0, nil)}})
	wantProto(t, "existing keys increase", r, reply(true, "then", fetchResp("k1", 1, 2, 3, 4), fetchResp("k2", 2, 3, 4, 6)))

	r = kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{
		fetchAddOp("k1", -10, 0, nil), fetchAddOp("k2", math.MaxInt64, 0, nil), fetchAddOp("k2", math.MaxInt64, 0, nil),
	}})
	wantProto(t, "no underflow or overflow", r, reply(true, "then",
		fetchResp("k1", 3, 4, 5, 0), fetchResp("k2", 4, 6, 6, math.MaxUint64/2+6), fetchResp("k2", 6, math.MaxUint64/2+6, 7, math.MaxUint64)))
}

func TestSuiteTxnFetchAddU64MatchSeq(t *testing.T) {
	kv, _ := suiteCluster(t)
	r := kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{
		fetchAddOp("k1", 2, 0, u64(0)), fetchAddOp("k1", 3, 0, u64(0)), fetchAddOp("k1", 4, 0, nil), fetchAddOp("k2", 5, 0, nil),
	}})
	wantProto(t, "match_seq 0", r, reply(true, "then",
		fetchResp("k1", 0, 0, 1, 2), fetchResp("k1", 1, 2, 1, 2), fetchResp("k1", 1, 2, 2, 6), fetchResp("k2", 0, 0, 3, 5)))
	r = kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{
		fetchAddOp("k1", 2, 0, u64(2)), fetchAddOp("k1", 3, 0, u64(2)), fetchAddOp("k1", 4, 0, nil),
	}})
	wantProto(t, "match_seq 2", r, reply(true, "then",
		fetchResp("k1", 2, 6, 4, 8), fetchResp("k1", 4, 8, 4, 8), fetchResp("k1", 4, 8, 5, 12)))
}

func TestSuiteTxnFetchIncreaseU64MaxValue(t *testing.T) {
	kv, _ := suiteCluster(t)
	for _, tt := range []struct {
		key             string
		maxValue, delta uint64
		want            *databendpb.TxnOpResponse
	}{
		{"fi_k1", 10, 3, fetchResp("fi_k1", 0, 0, 1, 13)},
		{"fi_k1", 100, 5, fetchResp("fi_k1", 1, 13, 2, 105)},
		{"fi_k1", 50, 2, fetchResp("fi_k1", 2, 105, 3, 107)},
		{"fi_k2", 42, 0, fetchResp("fi_k2", 0, 0, 4, 42)},
		{"fi_k2", 10, 0, fetchResp("fi_k2", 4, 42, 5, 42)},
	} {
		r := kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{fetchAddOp(tt.key, int64(tt.delta), tt.maxValue, nil)}})
		wantProto(t, fmt.Sprintf("%s max_value %d delta %d", tt.key, tt.maxValue, tt.delta), r, reply(true, "then", tt.want))
	}
}

func TestSuiteTxnConditionNe(t *testing.T) {
	kv, _ := suiteCluster(t)
	kv.upsert(upsertKV{key: "ne_cond_k1", value: "v1"})
	seq := kv.get("ne_cond_k1").GetSeq()
	for _, tt := range []struct {
		cond    *databendpb.TxnCondition
		success bool
	}{
		{seqCond("ne_cond_k1", databendpb.TxnCondition_NE, seq+1), true},
		{seqCond("ne_cond_k1", databendpb.TxnCondition_NE, seq), false},
		{seqCond("ne_nonexist", databendpb.TxnCondition_NE, 1), true}, // an absent key has seq 0
		{valueCond("ne_cond_k1", databendpb.TxnCondition_NE, "v2"), true},
		{valueCond("ne_cond_k1", databendpb.TxnCondition_NE, "v1"), false},
	} {
		r := kv.txn(&databendpb.TxnRequest{
			Condition: []*databendpb.TxnCondition{tt.cond},
			IfThen:    []*databendpb.TxnOp{getOp("ne_cond_k1")},
			ElseThen:  []*databendpb.TxnOp{getOp("ne_cond_k1")},
		})
		if r.GetSuccess() != tt.success {
			t.Errorf("%v: success %v, want %v", tt.cond, r.GetSuccess(), tt.success)
		}
	}
}

func TestSuiteTxnPutSequential(t *testing.T) {
	kv, _ := suiteCluster(t)
	r := kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{putSeqOp("k1/", "seq1", "v1"), putSeqOp("k2/", "seq1", "v2")}})
	wantProto(t, "put_sequential", r, reply(true, "then",
		putResp("k1/000_000_000_000_000_000_000", nil, sv(2, "v1")),
		putResp("k2/000_000_000_000_000_000_001", nil, sv(4, "v2"))))
	r = kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{putSeqOp("k1/", "seq1", "v1"), putSeqOp("k2/", "seq1", "v2")}})
	wantProto(t, "put_sequential again", r, reply(true, "then",
		putResp("k1/000_000_000_000_000_000_002", nil, sv(6, "v1")),
		putResp("k2/000_000_000_000_000_000_003", nil, sv(8, "v2"))))
}

// kv_txn_put_sequential_expire_and_ttl: expires_at_ms is kept as
// expire_at; a ttl counts from the entry's time (Databend checks it is
// within a second of now + 1000; the test clock makes it exact).
func TestSuiteTxnPutSequentialExpireAndTTL(t *testing.T) {
	kv, clock := suiteCluster(t)
	at, ttl := uint64(clock.Now().UnixMilli())+1000, uint64(1000)
	k1 := putSeqOp("k1/", "seq1", "v1")
	k1.GetPutSequential().ExpiresAtMs = &at
	k2 := putSeqOp("k2/", "seq1", "v2")
	k2.GetPutSequential().TtlMs = &ttl
	r := kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{k1, k2}})
	expiring := func(seq uint64, data string) *databendpb.SeqV {
		v := sv(seq, data)
		v.Meta = &databendpb.KVMeta{ExpireAt: &at}
		return v
	}
	wantProto(t, "put_sequential with expiry", r, reply(true, "then",
		putResp("k1/000_000_000_000_000_000_000", nil, expiring(2, "v1")),
		putResp("k2/000_000_000_000_000_000_001", nil, expiring(4, "v2"))))
	clock.Advance(2 * time.Second)
	for _, k := range []string{"k1/000_000_000_000_000_000_000", "k2/000_000_000_000_000_000_001"} {
		if v := kv.get(k); v != nil {
			t.Fatalf("%s after its expiry: %v, want none", k, v)
		}
	}
}

func TestSuiteTxnWithTTL(t *testing.T) {
	kv, clock := suiteCluster(t)
	ttl := uint64(2000)
	kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{{Request: &databendpb.TxnOp_Put{Put: &databendpb.TxnPutRequest{Key: "k1", Value: []byte("v1"), TtlMs: &ttl}}}}})
	if kv.get("k1") == nil {
		t.Fatal("k1 before its ttl: none")
	}
	clock.Advance(2100 * time.Millisecond)
	if v := kv.get("k1"); v != nil {
		t.Fatalf("k1 after its ttl: %v", v)
	}
}

func TestSuiteTxnPutExpireAt(t *testing.T) {
	kv, clock := suiteCluster(t)
	now := uint64(clock.Now().UnixMilli())
	at := now + 10_000
	r := kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{{Request: &databendpb.TxnOp_Put{Put: &databendpb.TxnPutRequest{Key: "ea_k1", Value: []byte("v1"), ExpireAt: &at}}}}})
	if !r.GetSuccess() {
		t.Fatalf("put with expire_at: %v", r)
	}
	if got := kv.get("ea_k1").GetMeta().GetExpireAt(); got != at {
		t.Fatalf("expire_at %d, want %d", got, at)
	}
	past := now - 1000
	kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{{Request: &databendpb.TxnOp_Put{Put: &databendpb.TxnPutRequest{Key: "ea_k2", Value: []byte("v2"), ExpireAt: &past}}}}})
	if v := kv.get("ea_k2"); v != nil {
		t.Fatalf("a put with a past expire_at: %v, want none", v)
	}
}

func TestSuiteTxnConditionKeysWithPrefix(t *testing.T) {
	kv, _ := suiteCluster(t)
	const prefix = "kv_transaction_condition_keys_with_prefix"
	samples, positive, negative := prefix+"/xxx", prefix+"/positive", prefix+"/negative"
	for _, s := range []string{"a", "b", "c"} {
		kv.upsert(upsertKV{key: samples + "/" + s, value: s})
	}
	type C = databendpb.TxnCondition_ConditionResult
	for _, tt := range []struct {
		op   C
		n    uint64
		want bool
	}{
		{databendpb.TxnCondition_EQ, 2, false}, {databendpb.TxnCondition_EQ, 3, true}, {databendpb.TxnCondition_EQ, 4, false},
		{databendpb.TxnCondition_NE, 2, true}, {databendpb.TxnCondition_NE, 3, false}, {databendpb.TxnCondition_NE, 4, true},
		{databendpb.TxnCondition_LT, 3, false}, {databendpb.TxnCondition_LT, 4, true}, {databendpb.TxnCondition_LT, 5, true},
		{databendpb.TxnCondition_LE, 2, false}, {databendpb.TxnCondition_LE, 3, true}, {databendpb.TxnCondition_LE, 4, true},
		{databendpb.TxnCondition_GT, 2, true}, {databendpb.TxnCondition_GT, 3, false}, {databendpb.TxnCondition_GT, 4, false},
		{databendpb.TxnCondition_GE, 2, true}, {databendpb.TxnCondition_GE, 3, true}, {databendpb.TxnCondition_GE, 4, false},
	} {
		kv.upsert(upsertKV{key: positive})
		kv.upsert(upsertKV{key: negative})
		name := fmt.Sprintf("%v", tt.op)
		r := kv.txn(&databendpb.TxnRequest{
			Condition: []*databendpb.TxnCondition{{Key: samples, Expected: tt.op, Target: &databendpb.TxnCondition_KeysWithPrefix{KeysWithPrefix: tt.n}}},
			IfThen:    []*databendpb.TxnOp{putOp(positive, name)},
			ElseThen:  []*databendpb.TxnOp{putOp(negative, name)},
		})
		if r.GetSuccess() != tt.want {
			t.Errorf("keys_with_prefix %s %d: success %v, want %v", name, tt.n, r.GetSuccess(), tt.want)
		}
		written := negative
		if tt.want {
			written = positive
		}
		if got := string(kv.get(written).GetData()); got != name {
			t.Errorf("keys_with_prefix %s %d: %s = %q, want %q", name, tt.n, written, got, name)
		}
	}
}

func TestSuiteTxnComplexConditions(t *testing.T) {
	kv, _ := suiteCluster(t)
	const prefix = "kv_transaction_complex_conditions"
	result := prefix + "/result"
	for _, s := range []string{"a", "b", "c"} {
		kv.upsert(upsertKV{key: prefix + "/" + s, value: s})
	}
	eq := func(k, v string) *databendpb.TxnCondition {
		return valueCond(prefix+"/"+k, databendpb.TxnCondition_EQ, v)
	}
	and := func(cs ...*databendpb.TxnCondition) *databendpb.BooleanExpression {
		return &databendpb.BooleanExpression{Operator: databendpb.BooleanExpression_AND, Conditions: cs}
	}
	or := func(cs ...*databendpb.TxnCondition) *databendpb.BooleanExpression {
		return &databendpb.BooleanExpression{Operator: databendpb.BooleanExpression_OR, Conditions: cs}
	}
	for i, tt := range []struct {
		branches  []*databendpb.BooleanExpression // nil: a branch without predicate
		condition []*databendpb.TxnCondition
		want      string
	}{
		{nil, nil, "then"}, // no condition holds
		{nil, []*databendpb.TxnCondition{eq("a", "a")}, "then"},
		{nil, []*databendpb.TxnCondition{eq("a", "b")}, "else"},
		{nil, []*databendpb.TxnCondition{eq("a", "a"), eq("b", "b")}, "then"},
		{nil, []*databendpb.TxnCondition{eq("a", "a"), eq("b", "c")}, "else"},
		{[]*databendpb.BooleanExpression{and(eq("a", "a"), eq("b", "b")), or(eq("b", "b"), eq("c", "c"))}, []*databendpb.TxnCondition{eq("a", "a")}, "operation:0"},
		{[]*databendpb.BooleanExpression{and(eq("a", "a"), eq("b", "c")), and(eq("b", "b"), eq("c", "c"))}, []*databendpb.TxnCondition{eq("a", "a")}, "operation:1"},
		{[]*databendpb.BooleanExpression{and(eq("a", "a"), eq("b", "c")), and(eq("b", "b"), eq("x", "x"))}, []*databendpb.TxnCondition{eq("a", "a")}, "then"},
		{[]*databendpb.BooleanExpression{and(eq("a", "a"), eq("b", "c")), and(eq("b", "b"), eq("x", "x"))}, nil, "then"},
		{[]*databendpb.BooleanExpression{and(eq("a", "a"), eq("b", "c")), nil}, []*databendpb.TxnCondition{eq("a", "a")}, "operation:1"},
		{[]*databendpb.BooleanExpression{{Operator: databendpb.BooleanExpression_AND, SubExpressions: []*databendpb.BooleanExpression{
			or(eq("a", "a"), eq("x", "x")), or(eq("b", "b"), eq("y", "y")),
		}}}, []*databendpb.TxnCondition{eq("a", "b")}, "operation:0"},
	} {
		kv.upsert(upsertKV{key: result})
		req := &databendpb.TxnRequest{Condition: tt.condition, IfThen: []*databendpb.TxnOp{putOp(result, "then")}, ElseThen: []*databendpb.TxnOp{putOp(result, "else")}}
		for j, p := range tt.branches {
			req.Operations = append(req.Operations, &databendpb.ConditionalOperation{Predicate: p, Operations: []*databendpb.TxnOp{putOp(result, fmt.Sprintf("operation:%d", j))}})
		}
		r := kv.txn(req)
		if r.GetExecutionPath() != tt.want || r.GetSuccess() != (tt.want != "else") {
			t.Errorf("case %d: success %v, execution_path %q; want %q", i, r.GetSuccess(), r.GetExecutionPath(), tt.want)
		}
		if got := string(kv.get(result).GetData()); got != tt.want {
			t.Errorf("case %d: result %q, want %q", i, got, tt.want)
		}
	}
}

func TestSuiteTxnDeleteMatchSeq(t *testing.T) {
	for _, tt := range []struct {
		name     string
		matchSeq *uint64
		deleted  bool
	}{
		{"none", nil, true},
		{"some not match", u64(100), false},
		{"some match", u64(1), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kv, _ := suiteCluster(t)
			kv.upsert(upsertKV{key: "txn_1_K1", value: "v1"})
			r := kv.txn(&databendpb.TxnRequest{IfThen: []*databendpb.TxnOp{deleteOp("txn_1_K1", tt.matchSeq)}})
			wantProto(t, "delete", r, reply(true, "then", deleteResp("txn_1_K1", tt.deleted, sv(1, "v1"))))
			got := kv.get("txn_1_K1")
			if tt.deleted && got != nil || !tt.deleted && !proto.Equal(normalized(got), sv(1, "v1")) {
				t.Fatalf("txn_1_K1 after the delete: %v", got)
			}
		})
	}
}

// kv_write_read_across_nodes: written on node i, read on node i+1.
func TestSuiteWriteReadAcrossNodes(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	cl.WaitLeader()
	for i := uint64(1); i < 3; i++ {
		if i > 1 {
			cl = clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
			cl.WaitLeader()
		}
		kv1, kv2 := dialDatabend(t, cl, cl.Node(i)), dialDatabend(t, cl, cl.Node(i+1))
		kv1.upsert(upsertKV{key: "t", value: "t"})
		var want []string
		for j := range 9 {
			kv1.upsert(upsertKV{key: fmt.Sprintf("__users/%d", j), value: fmt.Sprintf("val_%d", j)})
			want = append(want, fmt.Sprintf("val_%d", j))
		}
		kv1.upsert(upsertKV{key: "v", value: "v"})
		if got := string(kv2.get("t").GetData()); got != "t" {
			t.Fatalf("node %d: t = %q", i+1, got)
		}
		wantItems(t, "mget on the other node", kv2.getMany("u", "v"), item("u", nil), item("v", sv(11, "v")))
		if got := itemValues(kv2.list("__users/")); !slices.Equal(got, want) {
			t.Fatalf("node %d: list %v, want %v", i+1, got, want)
		}
	}
}
