package databendjson

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// roundTrip decodes in as a P, checks that it encodes back to in, and
// returns it.
func roundTrip[T any, P interface {
	*T
	Shape
}](t *testing.T, in string) P {
	t.Helper()
	v := P(new(T))
	if err := Unmarshal([]byte(in), v); err != nil {
		t.Fatalf("Unmarshal(%s): %v", in, err)
	}
	out, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	if string(out) != in {
		t.Fatalf("round trip:\n in: %s\nout: %s", in, out)
	}
	return v
}

// wantJSON checks that v encodes to want and that want decodes to v.
func wantJSON[T any, P interface {
	*T
	Shape
}](t *testing.T, v P, want string) {
	t.Helper()
	got, err := Marshal(v)
	if err != nil || string(got) != want {
		t.Fatalf("Marshal = %s, %v\nwant %s", got, err, want)
	}
	back := P(new(T))
	if err := Unmarshal([]byte(want), back); err != nil {
		t.Fatalf("Unmarshal(%s): %v", want, err)
	}
	if diff := cmp.Diff(v, back, cmp.Comparer(sameForm[uint64]), cmp.Comparer(sameForm[bool])); diff != "" {
		t.Fatalf("decoded differently (-built +decoded):\n%s", diff)
	}
}

// sameForm compares two Opt by what they encode to: a built value in the
// default form equals the decoded one in the explicit form.
func sameForm[T comparable](a, b Opt[T]) bool {
	if a.Valid || b.Valid {
		return a.Valid == b.Valid && a.Value == b.Value
	}
	return a.Form == b.Form || a.Form == FormDefault || b.Form == FormDefault
}

func u64p(v uint64) *uint64 { return &v }
func strp(s string) *string { return &s }

// TestCmdShapes checks the Cmd variants against the JSON of Databend's own
// serde tests (crates/common/types: cmd, meta_spec, txn_serde).
func TestCmdShapes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  Cmd
		want string
	}{
		{"AddNode overriding", &AddNode{NodeID: 1, Node: Node{Name: "n1", Endpoint: Endpoint{"e1", 12}}, Overriding: true},
			`{"AddNode":{"node_id":1,"node":{"name":"n1","endpoint":{"addr":"e1","port":12},"grpc_api_advertise_address":null},"overriding":true}}`},
		{"AddNode", &AddNode{NodeID: 1, Node: Node{Name: "n1", Endpoint: Endpoint{"e1", 12}, GrpcAPIAdvertiseAddress: strp("0.0.0.0:9191")}},
			`{"AddNode":{"node_id":1,"node":{"name":"n1","endpoint":{"addr":"e1","port":12},"grpc_api_advertise_address":"0.0.0.0:9191"},"overriding":false}}`},
		{"RemoveNode", &RemoveNode{NodeID: 1}, `{"RemoveNode":{"node_id":1}}`},
		{"SetFeature", &SetFeature{Feature: "test_feature", Enable: true}, `{"SetFeature":{"feature":"test_feature","enable":true}}`},
		{"UpsertKV insert", &UpsertKV{Key: "k", Seq: MatchSeq{Kind: MatchExact}, Value: Operation{Value: []byte("v")}},
			`{"UpsertKV":{"key":"k","seq":{"Exact":0},"value":{"Update":[118]},"value_meta":null}}`},
		{"UpsertKV delete", &UpsertKV{Key: "k", Seq: MatchSeq{Kind: MatchGE, N: 1}, Value: Operation{Kind: OpDelete}},
			`{"UpsertKV":{"key":"k","seq":{"GE":1},"value":"Delete","value_meta":null}}`},
		{"UpsertKV ttl", &UpsertKV{Key: "k", Value: Operation{Kind: OpAsIs}, ValueMeta: &MetaSpec{TTL: &Interval{Millis: 100}}},
			`{"UpsertKV":{"key":"k","seq":"Any","value":"AsIs","value_meta":{"expire_at":null,"ttl":{"millis":100}}}}`},
		{"Transaction", &TxnRequest{
			Condition: []TxnCondition{{Key: "k", Target: TxnTarget{Kind: TargetValue, Value: []byte("v")}}},
			IfThen:    []TxnOp{{Request: &TxnPutRequest{Key: "k", Value: []byte("v"), TTLMs: u64p(100)}}},
			ElseThen:  []TxnOp{},
		}, `{"Transaction":{"condition":[{"key":"k","expected":0,"target":{"Value":[118]}}],"if_then":[{"request":{"Put":{"key":"k","value":[118],"expire_at":null,"ttl_ms":100,"match_seq":null}}}],"else_then":[]}}`},
		{"KvTransaction", &KvTransaction{Branches: []KvBranch{
			{
				Predicate: KvPredicate{Kind: PredAnd, Sub: []KvPredicate{
					{Kind: PredLeaf, Leaf: KvCondition{Key: "k1", Op: CompareEq, Target: KvOperand{Kind: OperandSeq, N: 5}}},
					{Kind: PredLeaf, Leaf: KvCondition{Key: "k2", Op: CompareGt, Target: KvOperand{Kind: OperandValue, Value: []byte("h")}}},
				}},
				Operations: []KvOperation{
					&KvPut{Target: KvKeyLookup{Key: "k1"}, Payload: KvPayload{Value: []byte("v"), ExpireAtMs: u64p(1000)}},
					&KvGet{Key: "k2"},
				},
			},
			{
				Predicate: KvPredicate{Kind: PredOr, Sub: []KvPredicate{}},
				Operations: []KvOperation{
					&KvDelete{Target: KvKeyLookup{Key: "k1", MatchSeq: u64p(5)}},
					&KvDeleteByPrefix{Prefix: "p/"},
					&KvFetchIncreaseU64{Target: KvKeyLookup{Key: "c"}, Delta: -10},
					&KvPutSequential{Prefix: "log/", SequenceKey: "seq", Payload: KvPayload{Value: []byte{}, TTLMs: u64p(60000)}},
				},
			},
		}}, `{"KvTransaction":{"branches":[` +
			`{"predicate":{"And":[{"Leaf":{"key":"k1","target":{"Seq":5},"op":"Eq"}},{"Leaf":{"key":"k2","target":{"Value":[104]},"op":"Gt"}}]},` +
			`"operations":[{"Put":{"target":{"key":"k1","match_seq":null},"payload":{"value":[118],"expire_at_ms":1000,"ttl_ms":null}}},{"Get":{"key":"k2"}}]},` +
			`{"predicate":{"Or":[]},"operations":[{"Delete":{"target":{"key":"k1","match_seq":5}}},{"DeleteByPrefix":{"prefix":"p/"}},` +
			`{"FetchIncreaseU64":{"target":{"key":"c","match_seq":null},"delta":-10,"floor":0}},` +
			`{"PutSequential":{"prefix":"log/","sequence_key":"seq","payload":{"value":[],"expire_at_ms":null,"ttl_ms":60000}}}]}]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MarshalCmd(tc.cmd)
			if err != nil || string(got) != tc.want {
				t.Fatalf("MarshalCmd = %s, %v\nwant %s", got, err, tc.want)
			}
			back, err := UnmarshalCmd([]byte(tc.want))
			if err != nil {
				t.Fatal(err)
			}
			again, err := MarshalCmd(back)
			if err != nil || string(again) != tc.want {
				t.Fatalf("decoded and encoded again: %s, %v", again, err)
			}
		})
	}
}

// TestAddNodeWithoutOverriding: databend-meta reads a missing overriding
// as false; the field stays out when written back.
func TestAddNodeWithoutOverriding(t *testing.T) {
	in := `{"node_id":1,"node":{"name":"n1","endpoint":{"addr":"e1","port":12},"grpc_api_advertise_address":null}}`
	v := roundTrip[AddNode](t, in)
	if v.Overriding || !v.OverridingAbsent {
		t.Fatalf("got %+v", v)
	}
}

// TestTxnRequestBranches: the branch form, and "operations" left out when
// empty (Databend's txn_serde test, compact).
func TestTxnRequestBranches(t *testing.T) {
	v := &TxnRequest{
		Operations: []ConditionalOperation{{
			Predicate: &BooleanExpression{Operator: CombineOr, SubExpressions: []BooleanExpression{},
				Conditions: []TxnCondition{{Key: "k", Target: TxnTarget{Kind: TargetValue, Value: []byte("v")}}}},
			Operations: []TxnOp{{Request: &TxnGetRequest{Key: "k"}}},
		}},
		Condition: []TxnCondition{}, IfThen: []TxnOp{}, ElseThen: []TxnOp{},
	}
	wantJSON(t, v, `{"operations":[{"predicate":{"operator":1,"sub_expressions":[],"conditions":[{"key":"k","expected":0,"target":{"Value":[118]}}]},"operations":[{"request":{"Get":{"key":"k"}}}]}],"condition":[],"if_then":[],"else_then":[]}`)

	roundTrip[TxnRequest](t, `{"condition":[{"key":"a","expected":5,"target":{"KeysWithPrefix":3}},{"key":"b","expected":2,"target":null}],`+
		`"if_then":[{"request":{"Delete":{"key":"a","match_seq":7}}},{"request":{"DeleteByPrefix":{"prefix":"p/"}}},`+
		`{"request":{"FetchIncreaseU64":{"key":"c","match_seq":null,"delta":-1,"max_value":3}}},`+
		`{"request":{"PutSequential":{"prefix":"q/","sequence_key":"s","value":[1],"expires_at_ms":null,"ttl_ms":5}}},{"request":null}],`+
		`"else_then":[{"request":{"Put":{"key":"a","value":[],"expire_at":1723102819,"match_seq":4}}}]}`)
	roundTrip[ConditionalOperation](t, `{"predicate":null,"operations":[]}`)
}

// TestPutForms: a Put written by three databend-meta versions reads back
// to the same bytes, and a built Put takes today's form.
func TestPutForms(t *testing.T) {
	old := roundTrip[TxnPutRequest](t, `{"key":"k","value":[49],"prev_value":true,"expire_at":null}`)
	if old.MatchSeq.Form != FormAbsent || !old.PrevValue.Valid {
		t.Fatalf("2022 Put: %+v", old)
	}
	roundTrip[TxnPutRequest](t, `{"key":"k","value":[49],"prev_value":true,"expire_at":null,"match_seq":null}`)
	roundTrip[TxnPutRequest](t, `{"key":"k","value":[49],"expire_at":null,"match_seq":null}`)
	wantJSON(t, &TxnPutRequest{Key: "k", Value: []byte("1")}, `{"key":"k","value":[49],"expire_at":null,"match_seq":null}`)
	wantJSON(t, &TxnDeleteRequest{Key: "k"}, `{"key":"k","match_seq":null}`)
	roundTrip[TxnDeleteRequest](t, `{"key":"k","prev_value":true,"match_seq":null}`)
}

// TestKVMetaForms follows state_machine_api's KVMeta serde test and the
// older form that wrote "expire_at":null.
func TestKVMetaForms(t *testing.T) {
	wantJSON(t, &KVMeta{ExpireAt: Some[uint64](100_000_000_001), ProposedAtMs: u64p(100_000_000_002)},
		`{"expire_at":100000000001,"proposed_at_ms":100000000002}`)
	wantJSON(t, &KVMeta{ExpireAt: Some[uint64](100_000_000_001)}, `{"expire_at":100000000001}`)
	wantJSON(t, &KVMeta{ProposedAtMs: u64p(100_000_000_002)}, `{"proposed_at_ms":100000000002}`)
	wantJSON(t, &KVMeta{}, `{}`)
	old := roundTrip[KVMeta](t, `{"expire_at":null}`)
	if old.ExpireAt.Form != FormNull {
		t.Fatalf("old KVMeta: %+v", old)
	}
	if _, ok := old.ExpireAtMs(); ok {
		t.Fatal("null expire_at expires")
	}

	roundTrip[SeqV](t, `{"seq":1,"meta":null,"data":[]}`)
	roundTrip[SeqV](t, `{"seq":2,"meta":{"proposed_at_ms":1111111111111},"data":[98,97,114]}`)
	wantJSON(t, &MetaSpec{ExpireAt: u64p(1723102819)}, `{"expire_at":1723102819}`)
	wantJSON(t, &MetaSpec{TTL: &Interval{Millis: 100}}, `{"expire_at":null,"ttl":{"millis":100}}`)
}

func TestExpireAtMs(t *testing.T) {
	for _, tc := range []struct{ in, want uint64 }{
		{1667291025, 1667291025000},
		{5, 5000},
		{100_000_000_000, 100_000_000_000_000},
		{100_000_000_001, 100_000_000_001},
		{1_723_102_820_000, 1_723_102_820_000},
	} {
		if got := ExpireAtMs(tc.in); got != tc.want {
			t.Errorf("ExpireAtMs(%d) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestRaftShapes(t *testing.T) {
	wantJSON(t, &Vote{LeaderID: LeaderID{Term: 1, NodeID: 2}}, `{"leader_id":{"term":1,"node_id":2},"committed":false}`)
	wantJSON(t, &LeaderID{Term: 5, NodeID: 10}, `{"term":5,"node_id":10}`)
	roundTrip[Entry](t, `{"log_id":{"leader_id":{"term":1,"node_id":0},"index":1},"payload":"Blank"}`)
	roundTrip[Entry](t, `{"log_id":{"leader_id":{"term":0,"node_id":0},"index":0},"payload":{"Membership":{"configs":[[0]],"nodes":{"0":{}}}}}`)
	roundTrip[Entry](t, `{"log_id":{"leader_id":{"term":1,"node_id":1},"index":9},"payload":{"Normal":{"txid":{"client":"c","serial":3},"cmd":{"RemoveNode":{"node_id":3}}}}}`)
	roundTrip[StoredMembership](t, `{"log_id":null,"membership":{"configs":[],"nodes":{}}}`)
	roundTrip[LogEntry](t, `{"txid":null,"time_ms":1667290824603,"cmd":{"UpsertKV":{"key":"__fd_clusters","seq":{"Exact":0},"value":{"Update":[123]},"value_meta":{"expire_at":1667290884}}}}`)
	le := roundTrip[LogEntry](t, `{"time_ms":1667290824603,"cmd":{"UpsertKV":{"key":"__fd_clusters","seq":{"Exact":0},"value":{"Update":[123]},"value_meta":{"expire_at":1667290884}}}}`)
	if le.TxID.Form != FormAbsent {
		t.Fatalf("txid form %v", le.TxID.Form)
	}
	roundTrip[LogEntry](t, `{"cmd":{"AddNode":{"node_id":1,"node":{"name":"1","endpoint":{"addr":"localhost","port":28103},"grpc_api_advertise_address":null},"overriding":true}}}`)
}

// TestKvAPIShapes: the KvApi request and reply JSON.
func TestKvAPIShapes(t *testing.T) {
	for _, in := range []string{
		`{"UpsertKV":{"key":"k","seq":"Any","value":{"Update":[1]},"value_meta":{"expire_at":5}}}`,
		`{"GetKV":{"key":"a"}}`,
		`{"MGetKV":{"keys":["a","b"]}}`,
		`{"MGetKV":{"keys":[]}}`,
		`{"ListKV":{"prefix":"p/"}}`,
	} {
		r, err := UnmarshalKvRequest([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		out, err := MarshalKvRequest(r)
		if err != nil || string(out) != in {
			t.Fatalf("round trip %s: %s, %v", in, out, err)
		}
	}
	if _, err := UnmarshalKvRequest([]byte(`{"Watch":{}}`)); !errors.Is(err, ErrShape) {
		t.Fatalf("unknown request: %v", err)
	}
	roundTrip[Change](t, `{"ident":null,"prev":null,"result":{"seq":1,"meta":null,"data":[118]}}`)
	roundTrip[GetKVReply](t, `null`)
	roundTrip[GetKVReply](t, `{"seq":3,"meta":{},"data":[]}`)
	roundTrip[MGetKVReply](t, `[null,{"seq":3,"meta":null,"data":[1]}]`)
	roundTrip[ListKVReply](t, `[["a",{"seq":1,"meta":null,"data":[]}],["b",{"seq":2,"meta":{"expire_at":9},"data":[2]}]]`)
	roundTrip[ListKVReply](t, `[]`)
	if err := Unmarshal([]byte(`[["a"]]`), &ListKVReply{}); !errors.Is(err, ErrShape) {
		t.Fatalf("short pair: %v", err)
	}
}

func TestTxnReplyShapes(t *testing.T) {
	roundTrip[TxnReply](t, `{"success":true,"responses":[`+
		`{"response":{"Get":{"key":"k","value":{"seq":1,"data":[118],"meta":{"expire_at":null,"proposed_at_ms":5}}}}},`+
		`{"response":{"Put":{"key":"k","prev_value":null,"current":{"seq":2,"data":[],"meta":null}}}},`+
		`{"response":{"Delete":{"key":"k","success":true,"prev_value":{"seq":2,"data":[],"meta":null}}}},`+
		`{"response":{"DeleteByPrefix":{"prefix":"p/","count":3}}},`+
		`{"response":{"FetchIncreaseU64":{"key":"c","before_seq":0,"before":0,"after_seq":5,"after":1}}},`+
		`{"response":null}],"execution_path":"then"}`)
	roundTrip[KvTransactionReply](t, `{"executed_branch":0,"responses":[]}`)
	roundTrip[KvTransactionReply](t, `{"executed_branch":null,"responses":[]}`)
}

// TestEncoderValueErrors: values with no Databend form are refused with
// ErrValue, not written half.
func TestEncoderValueErrors(t *testing.T) {
	for name, v := range map[string]Shape{
		"non-UTF-8 key":    &GetKV{Key: "\xff"},
		"nil Cmd":          &LogEntry{},
		"typed nil Cmd":    &LogEntry{Cmd: (*UpsertKV)(nil)},
		"bad MatchSeq":     &UpsertKV{Seq: MatchSeq{Kind: 9}},
		"bad Operation":    &UpsertKV{Value: Operation{Kind: 9}},
		"bad target":       &TxnCondition{Target: TxnTarget{Kind: 9}},
		"bad compare":      &KvCondition{Op: "Is"},
		"nil payload":      &Entry{},
		"bad predicate":    &KvPredicate{Kind: 5},
		"bad operand kind": &KvCondition{Op: CompareEq, Target: KvOperand{Kind: 5}},
	} {
		if b, err := Marshal(v); !errors.Is(err, ErrValue) {
			t.Errorf("%s: Marshal = %s, %v; want ErrValue", name, b, err)
		}
	}
}
