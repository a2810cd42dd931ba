package statemachine

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// FuzzTxn decodes random bytes into a TxnRequest, as the gRPC edge would,
// and applies it on two state machines holding the same keys. ValidateTxn
// and Apply must never panic; applying must be deterministic; a
// transaction ValidateTxn refuses must be rejected by Apply too; and a
// rejected transaction (refused, or failing in the branch that ran) must
// leave every key and the last seq as they were.
func FuzzTxn(f *testing.F) {
	for _, req := range []*metapb.TxnRequest{
		{
			Condition: []*metapb.TxnCondition{condSeq("a", EQ, 1), condValue("b", GT, "x"), condPrefix("p/", LE, 3)},
			IfThen: []*metapb.TxnOp{
				opPut("a", "1"), opGet("a"), opDel("b", matchExact(2)), opDelPrefix("p/"),
				opIncr("n", 3, 10, nil), opSeq("q/", "n", "v", 100),
				opPutReq(&metapb.TxnPut{Key: "t", Value: []byte("v"), ExpireAtMs: 5}),
			},
			ElseThen: []*metapb.TxnOp{opGet("a")},
		},
		{Branches: []*metapb.ConditionalOps{
			{Predicate: &metapb.BoolExpression{Combiner: metapb.BoolExpression_OR, Children: []*metapb.BoolExpression{
				{Conditions: []*metapb.TxnCondition{condSeq("a", NE, 0)}},
			}}, Ops: []*metapb.TxnOp{opPut("x", "1")}},
			{Ops: []*metapb.TxnOp{opIncr("n", math.MaxInt64, 0, nil), opIncr("n", 1, 0, nil)}},
		}},
		// Fails in the branch that runs after changing keys: rolled back.
		{IfThen: []*metapb.TxnOp{opPut("a", "2"), opDelPrefix("p/"), opIncr("n", math.MaxInt64, 0, nil)}},
		{IfThen: []*metapb.TxnOp{{}}, Branches: []*metapb.ConditionalOps{{}}},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		var req metapb.TxnRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		verr := ValidateTxn(&req)
		if verr != nil && !errors.Is(verr, ErrInvalidTxn) {
			t.Fatalf("ValidateTxn: %v wraps no ErrInvalidTxn", verr)
		}
		var sms [2]*applier
		for i := range sms {
			sms[i] = newApplier(t)
			for _, r := range []*metapb.UpsertRequest{put("a", "1"), put("b", "y"), put("n", "7"), put("p/1", "x"), put("p/2", "z"), ttl(put("e", "soon"), 1_000_000)} {
				sms[i].upsert(t0, r)
			}
		}
		before, lastSeq := dump(sms[0].sm), sms[0].sm.LastSeq()
		res := [2]*Result{sms[0].apply(t0+1, txnCmd(&req)), sms[1].apply(t0+1, txnCmd(&req))}
		if sms[0].sm.Hash() != sms[1].sm.Hash() || !proto.Equal(res[0].Txn, res[1].Txn) ||
			fmt.Sprint(res[0].Err) != fmt.Sprint(res[1].Err) || !equalEvents(res[0].Events, res[1].Events) {
			t.Fatalf("Apply is not deterministic: %+v vs %+v", res[0], res[1])
		}
		if verr != nil && (res[0].Err == nil || !errors.Is(res[0].Err, ErrInvalidTxn)) {
			t.Fatalf("ValidateTxn refused (%v) but Apply gave %+v", verr, res[0])
		}
		if res[0].Err != nil {
			if !equalKVs(dump(sms[0].sm), before) || sms[0].sm.LastSeq() != lastSeq || len(res[0].Events) != 0 {
				t.Fatalf("a rejected transaction (%v) changed the state", res[0].Err)
			}
		}
		checkInvariants(t, sms[0].sm)
	})
}
