package statemachine

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

func opRange(key, end string) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_Range{Range: &metapb.TxnRange{Key: key, RangeEnd: []byte(end)}}}
}

func opNested(req *metapb.TxnRequest) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_Txn{Txn: req}}
}

func TestReadOnlyTxn(t *testing.T) {
	pastRange := &metapb.TxnOp{Request: &metapb.TxnOp_Range{Range: &metapb.TxnRange{Key: "a", Revision: 3}}}
	tests := []struct {
		name string
		req  *metapb.TxnRequest
		want bool
	}{
		{"empty", &metapb.TxnRequest{}, true},
		{"gets and ranges", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{condSeq("k", EQ, 1)},
			IfThen: []*metapb.TxnOp{opGet("k"), opRange("a", "b")}, ElseThen: []*metapb.TxnOp{opGet("x")}}, true},
		{"nested reads", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opNested(&metapb.TxnRequest{ElseThen: []*metapb.TxnOp{opGet("k")}})}}, true},
		{"branches of reads", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{Ops: []*metapb.TxnOp{opGet("k")}}}}, true},
		{"a put in then", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opGet("k"), opPut("k", "v")}}, false},
		{"a delete in else", &metapb.TxnRequest{ElseThen: []*metapb.TxnOp{opDel("k", nil)}}, false},
		{"a nested put", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opNested(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPut("k", "v")}})}}, false},
		{"a put in a branch", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{Ops: []*metapb.TxnOp{opGet("k")}}, {Ops: []*metapb.TxnOp{opIncr("n", 1, 0, nil)}}}}, false},
		{"a range at a past revision", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{pastRange}}, false},
		{"delete by prefix", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opDelPrefix("p/")}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadOnlyTxn(tt.req); got != tt.want {
				t.Fatalf("ReadOnlyTxn = %v, want %v", got, tt.want)
			}
		})
	}
}

// ReadTxn answers a read-only transaction as applying it at the same time
// would: the same path and responses, the expired key (p/3, past at
// t0+10 but not swept yet) invisible; and it changes nothing.
func TestReadTxnMatchesApply(t *testing.T) {
	tests := []struct {
		name string
		req  *metapb.TxnRequest
	}{
		{"conditions hold", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{condSeq("k", EQ, 1), condValue("k", EQ, "m")},
			IfThen: []*metapb.TxnOp{opGet("k"), opGet("p/3"), opGet("zz"), opRange("p", "q")}}},
		{"expired key's seq is 0", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{condSeq("p/3", EQ, 0)},
			IfThen: []*metapb.TxnOp{opGet("p/1")}, ElseThen: []*metapb.TxnOp{opGet("p/2")}}},
		{"prefix count without the expired key", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{condPrefix("p/", EQ, 2)},
			IfThen: []*metapb.TxnOp{opRange("", "\x00")}}},
		{"else", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{condValue("zz", EQ, "")},
			ElseThen: []*metapb.TxnOp{opGet("e"), opNested(&metapb.TxnRequest{Condition: []*metapb.TxnCondition{condSeq("e", GT, 0)},
				IfThen: []*metapb.TxnOp{opRange("p/", "p0")}})}}},
		{"branches", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{
			{Predicate: &metapb.BoolExpression{Conditions: []*metapb.TxnCondition{condSeq("k", EQ, 9)}}, Ops: []*metapb.TxnOp{opGet("k")}},
			{Ops: []*metapb.TxnOp{opGet("p2")}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read, applied := condState(t), condState(t)
			rev, index := read.sm.Revision(), read.sm.AppliedIndex()
			got, err := read.sm.ReadTxn(tt.req, t0+10, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := applied.txn(t0+10, tt.req)
			if got.GetRevision() != rev {
				t.Errorf("revision %d, want the current %d", got.GetRevision(), rev)
			}
			// Applied, the entry's sweep of p/3 took a revision.
			got.Revision, want.Revision = 0, 0
			if !proto.Equal(got, want) {
				t.Errorf("ReadTxn:\n%v\napplied:\n%v", got, want)
			}
			if read.sm.Revision() != rev || read.sm.AppliedIndex() != index {
				t.Errorf("ReadTxn changed the state machine: revision %d, applied %d; want %d, %d",
					read.sm.Revision(), read.sm.AppliedIndex(), rev, index)
			}
			if read.sm.Get("p/3", t0) == nil {
				t.Error("ReadTxn removed p/3 from the state machine")
			}
		})
	}
	if _, err := newApplier(t).sm.ReadTxn(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPut("k", "v")}}, t0, 0); err == nil {
		t.Error("ReadTxn of a put: no error")
	}
}
