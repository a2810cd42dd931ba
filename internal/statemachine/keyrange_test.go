package statemachine

import (
	"errors"
	"strings"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
)

// rangeState: a (rev 2), b (revs 3 and 6, version 2), c (rev 4), d (rev 5,
// value "0"), and x expiring at t0+5: the store is at revision 7.
func rangeState(t *testing.T) *applier {
	t.Helper()
	a := newApplier(t)
	a.upsert(t0, put("a", "3"))
	a.upsert(t0, put("b", "2"))
	a.upsert(t0, put("c", "1"))
	a.upsert(t0, put("d", "0"))
	a.upsert(t0, put("b", "4"))
	a.upsert(t0, expireAt(put("x", "9"), t0+5))
	return a
}

// rangeKeys returns the keys of a range reply.
func rangeKeyList(r *metapb.TxnRangeResponse) string {
	var ks []string
	for _, kv := range r.GetKvs() {
		ks = append(ks, kv.GetKey())
	}
	return strings.Join(ks, ",")
}

func TestRangeKeys(t *testing.T) {
	a := rangeState(t)
	if got := a.sm.Revision(); got != 7 {
		t.Fatalf("revision %d, want 7", got)
	}
	all := []byte{0}
	tests := []struct {
		name      string
		req       *metapb.TxnRange
		keys      string
		count     uint64
		more      bool
		nowMs     uint64
		wantError error
	}{
		{"one key", &metapb.TxnRange{Key: "b"}, "b", 1, false, t0, nil},
		{"absent key", &metapb.TxnRange{Key: "bb"}, "", 0, false, t0, nil},
		{"range", &metapb.TxnRange{Key: "a", RangeEnd: []byte("c")}, "a,b", 2, false, t0, nil},
		{"from key", &metapb.TxnRange{Key: "b", RangeEnd: all}, "b,c,d,x", 4, false, t0, nil},
		{"every key", &metapb.TxnRange{RangeEnd: all}, "a,b,c,d,x", 5, false, t0, nil},
		{"expired hidden", &metapb.TxnRange{RangeEnd: all}, "a,b,c,d", 4, false, t0 + 6, nil},
		{"end before key", &metapb.TxnRange{Key: "c", RangeEnd: []byte("a")}, "", 0, false, t0, nil},
		{"limit", &metapb.TxnRange{RangeEnd: all, Limit: 2}, "a,b", 5, true, t0, nil},
		{"limit not reached", &metapb.TxnRange{RangeEnd: all, Limit: 5}, "a,b,c,d,x", 5, false, t0, nil},
		{"count only", &metapb.TxnRange{RangeEnd: all, CountOnly: true, Limit: 1}, "", 5, false, t0, nil},
		{"key descend", &metapb.TxnRange{RangeEnd: all, SortOrder: metapb.TxnRange_DESCEND}, "x,d,c,b,a", 5, false, t0, nil},
		{"value ascend", &metapb.TxnRange{Key: "a", RangeEnd: []byte("e"), SortOrder: metapb.TxnRange_ASCEND, SortTarget: metapb.TxnRange_VALUE}, "d,c,a,b", 4, false, t0, nil},
		{"mod without order ascends", &metapb.TxnRange{Key: "a", RangeEnd: []byte("e"), SortTarget: metapb.TxnRange_MOD}, "a,c,d,b", 4, false, t0, nil},
		{"create descend, limit after sort", &metapb.TxnRange{Key: "a", RangeEnd: []byte("e"), SortOrder: metapb.TxnRange_DESCEND, SortTarget: metapb.TxnRange_CREATE, Limit: 2}, "d,c", 4, true, t0, nil},
		{"version descend (ties in key order)", &metapb.TxnRange{Key: "a", RangeEnd: []byte("e"), SortOrder: metapb.TxnRange_DESCEND, SortTarget: metapb.TxnRange_VERSION}, "b,a,c,d", 4, false, t0, nil},
		{"min mod revision, count before it", &metapb.TxnRange{RangeEnd: all, MinModRevision: 5}, "b,d,x", 5, false, t0, nil},
		{"max mod revision", &metapb.TxnRange{RangeEnd: all, MaxModRevision: 4}, "a,c", 5, false, t0, nil},
		{"min create revision", &metapb.TxnRange{RangeEnd: all, MinCreateRevision: 4}, "c,d,x", 5, false, t0, nil},
		{"max create revision", &metapb.TxnRange{RangeEnd: all, MaxCreateRevision: 3}, "a,b", 5, false, t0, nil},
		{"current revision", &metapb.TxnRange{Key: "a", Revision: 7}, "a", 1, false, t0, nil},
		{"future revision", &metapb.TxnRange{Key: "a", Revision: 8}, "", 0, false, t0, ErrFutureRevision},
		{"past revision: x not yet put", &metapb.TxnRange{RangeEnd: all, Revision: 6}, "a,b,c,d", 4, false, t0, nil},
		{"past revision: b and d not yet put", &metapb.TxnRange{RangeEnd: all, Revision: 4}, "a,b,c", 3, false, t0, nil},
		{"past revision: expired keys shown", &metapb.TxnRange{RangeEnd: all, Revision: 6}, "a,b,c,d", 4, false, t0 + 6, nil},
		{"past revision: the empty store", &metapb.TxnRange{RangeEnd: all, Revision: 1}, "", 0, false, t0, nil},
		{"no key", &metapb.TxnRange{}, "", 0, false, t0, ErrInvalidTxn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, rev, err := a.sm.RangeKeys(tt.req, tt.nowMs)
			if tt.wantError != nil {
				if !errors.Is(err, tt.wantError) {
					t.Fatalf("error %v, want %v", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rev != 7 {
				t.Errorf("revision %d, want 7", rev)
			}
			if got := rangeKeyList(r); got != tt.keys {
				t.Errorf("keys %q, want %q", got, tt.keys)
			}
			if r.GetCount() != tt.count || r.GetMore() != tt.more {
				t.Errorf("count %d more %v, want %d %v", r.GetCount(), r.GetMore(), tt.count, tt.more)
			}
		})
	}
}

func TestRangeKeysValues(t *testing.T) {
	a := rangeState(t)
	r, _, err := a.sm.RangeKeys(&metapb.TxnRange{Key: "b"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	v := r.GetKvs()[0].GetValue()
	if string(v.GetData()) != "4" || v.GetVersion() != 2 || v.GetCreateRevision() != 3 || v.GetModRevision() != 6 || v.GetSeq() != 5 {
		t.Errorf("b = %v, want data 4, version 2, create 3, mod 6, seq 5", v)
	}
	r, _, _ = a.sm.RangeKeys(&metapb.TxnRange{Key: "b", KeysOnly: true}, t0)
	if v := r.GetKvs()[0].GetValue(); v.GetData() != nil || v.GetModRevision() != 6 {
		t.Errorf("keys_only b = %v, want no data, mod revision 6", v)
	}
}

func condRange(key, end string, op metapb.TxnCondition_Op, c *metapb.TxnCondition) *metapb.TxnCondition {
	c.Key, c.Op = key, op
	if end != "" {
		c.RangeEnd = []byte(end)
	}
	return c
}

func TestTxnRangeConditions(t *testing.T) {
	version := func(n uint64) *metapb.TxnCondition {
		return &metapb.TxnCondition{Target: &metapb.TxnCondition_Version{Version: n}}
	}
	create := func(n uint64) *metapb.TxnCondition {
		return &metapb.TxnCondition{Target: &metapb.TxnCondition_CreateRevision{CreateRevision: n}}
	}
	mod := func(n uint64) *metapb.TxnCondition {
		return &metapb.TxnCondition{Target: &metapb.TxnCondition_ModRevision{ModRevision: n}}
	}
	value := func(s string) *metapb.TxnCondition {
		return &metapb.TxnCondition{Target: &metapb.TxnCondition_Value{Value: []byte(s)}}
	}
	tests := []struct {
		name string
		cond *metapb.TxnCondition
		want bool
	}{
		{"version of one key", condRange("b", "", EQ, version(2)), true},
		{"version of an absent key is 0", condRange("zz", "", EQ, version(0)), true},
		{"create revision of an absent key is 0", condRange("zz", "", EQ, create(0)), true},
		{"create revision", condRange("c", "", EQ, create(4)), true},
		{"mod revision greater", condRange("b", "", GT, mod(5)), true},
		{"mod revision less", condRange("b", "", LT, mod(6)), false},
		{"every key in range", condRange("a", "e", GT, mod(1)), true},
		{"one key in range fails", condRange("a", "e", LT, mod(6)), false},
		{"from key", condRange("c", "\x00", LT, create(10)), true},
		{"empty range: absent key", condRange("q", "r", EQ, version(0)), true},
		{"empty range: value never holds", condRange("q", "r", NE, value("x")), false},
		{"value over a range", condRange("a", "c", NE, value("9")), true},
		{"not equal version", condRange("a", "", NE, version(1)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := rangeState(t)
			r := a.txn(t0, &metapb.TxnRequest{Condition: []*metapb.TxnCondition{tt.cond}})
			if r.GetSuccess() != tt.want {
				t.Errorf("success %v, want %v", r.GetSuccess(), tt.want)
			}
		})
	}
}

func TestTxnDeleteRange(t *testing.T) {
	a := rangeState(t)
	del := &metapb.TxnOp{Request: &metapb.TxnOp_DeleteRange{DeleteRange: &metapb.TxnDeleteRange{Key: "b", RangeEnd: []byte("d"), PrevKv: true}}}
	res := a.apply(t0, txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{del}}))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	d := res.Txn.GetResponses()[0].GetDeleteRange()
	if d.GetDeleted() != 2 || len(d.GetPrevKvs()) != 2 || d.GetPrevKvs()[0].GetKey() != "b" || string(d.GetPrevKvs()[1].GetValue().GetData()) != "1" {
		t.Fatalf("delete range = %v, want b and c deleted with their values", d)
	}
	if res.Txn.GetRevision() != 8 || len(res.Events) != 2 || res.Events[0].GetRevision() != 8 || res.Events[1].GetRevision() != 8 {
		t.Fatalf("revision %d, events %v: want both deletes at revision 8", res.Txn.GetRevision(), res.Events)
	}
	// Deleting nothing takes no revision; without prev_kv none are returned.
	del = &metapb.TxnOp{Request: &metapb.TxnOp_DeleteRange{DeleteRange: &metapb.TxnDeleteRange{Key: "b", RangeEnd: []byte("d")}}}
	r := a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{del}})
	if r.GetResponses()[0].GetDeleteRange().GetDeleted() != 0 || r.GetRevision() != 8 {
		t.Fatalf("second delete = %v, want nothing deleted at revision 8", r)
	}
	del = &metapb.TxnOp{Request: &metapb.TxnOp_DeleteRange{DeleteRange: &metapb.TxnDeleteRange{RangeEnd: []byte{0}}}}
	r = a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{del}})
	if r.GetResponses()[0].GetDeleteRange().GetDeleted() != 3 || r.GetResponses()[0].GetDeleteRange().GetPrevKvs() != nil || a.sm.KeyCount() != 0 {
		t.Fatalf("delete all = %v, want a, d and x deleted, no prev kvs", r)
	}
}

func TestTxnPutIgnoreValue(t *testing.T) {
	a := rangeState(t)
	keep := opPutReq(&metapb.TxnPut{Key: "b", IgnoreValue: true})
	r := a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{keep}})
	cur := r.GetResponses()[0].GetPut().GetCurrent()
	if string(cur.GetData()) != "4" || cur.GetVersion() != 3 || cur.GetModRevision() != 8 {
		t.Fatalf("put ignore_value = %v, want data 4, version 3, mod revision 8", cur)
	}
	// An absent key fails the transaction: the put before it is undone.
	res := a.apply(t0, txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{
		opPut("a", "new"), opPutReq(&metapb.TxnPut{Key: "zz", IgnoreValue: true}),
	}}))
	if !errors.Is(res.Err, ErrKeyNotFound) || !errors.Is(res.Err, ErrInvalidTxn) {
		t.Fatalf("ignore_value of an absent key: %v, want ErrKeyNotFound and ErrInvalidTxn", res.Err)
	}
	if got := a.sm.Get("a", t0); string(got.GetData()) != "3" || a.sm.Revision() != 8 {
		t.Fatalf("a = %v at revision %d after a failed txn, want 3 at 8", got, a.sm.Revision())
	}
}

func TestTxnRangeOpSeesEarlierOps(t *testing.T) {
	a := rangeState(t)
	rng := &metapb.TxnOp{Request: &metapb.TxnOp_Range{Range: &metapb.TxnRange{Key: "a", RangeEnd: []byte("b\x00")}}}
	r := a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPut("a", "new"), rng}})
	got := r.GetResponses()[1].GetRange()
	if rangeKeyList(got) != "a,b" || string(got.GetKvs()[0].GetValue().GetData()) != "new" || got.GetKvs()[0].GetValue().GetModRevision() != 8 {
		t.Fatalf("range after put = %v, want a (new, mod 8) and b", got)
	}
	// A range at a future revision fails the transaction.
	future := &metapb.TxnOp{Request: &metapb.TxnOp_Range{Range: &metapb.TxnRange{Key: "a", Revision: 100}}}
	res := a.apply(t0, txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPut("a", "x"), future}}))
	if !errors.Is(res.Err, ErrFutureRevision) || string(a.sm.Get("a", t0).GetData()) != "new" {
		t.Fatalf("range at a future revision: %v, want ErrFutureRevision and nothing applied", res.Err)
	}
}

func TestTxnNested(t *testing.T) {
	a := rangeState(t)
	version2 := condRange("b", "", EQ, &metapb.TxnCondition{Target: &metapb.TxnCondition_Version{Version: 2}})
	nested := &metapb.TxnOp{Request: &metapb.TxnOp_Txn{Txn: &metapb.TxnRequest{
		Condition: []*metapb.TxnCondition{version2},
		IfThen:    []*metapb.TxnOp{opPut("n", "then")},
		ElseThen:  []*metapb.TxnOp{opPut("n", "else")},
	}}}
	// The outer put makes b version 3 before the nested txn runs, but its
	// condition was decided before any op, as etcd does: "then".
	r := a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPut("b", "5"), nested}})
	n := r.GetResponses()[1].GetTxn()
	if !n.GetSuccess() || n.GetExecutionPath() != "then" || len(n.GetResponses()) != 1 {
		t.Fatalf("nested = %v, want then with one response", n)
	}
	if got := a.sm.Get("n", t0); string(got.GetData()) != "then" || got.GetModRevision() != 8 || a.sm.Revision() != 8 {
		t.Fatalf("n = %v, want then at revision 8 (one revision for the whole txn)", got)
	}
	r = a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{nested}})
	if n := r.GetResponses()[0].GetTxn(); n.GetSuccess() || n.GetExecutionPath() != "else" {
		t.Fatalf("nested with b at version 3 = %v, want else", n)
	}
}

func TestValidateTxnRanges(t *testing.T) {
	op := func(o *metapb.TxnOp) *metapb.TxnRequest { return &metapb.TxnRequest{IfThen: []*metapb.TxnOp{o}} }
	deep := &metapb.TxnRequest{}
	for range MaxTxnDepth {
		deep = op(&metapb.TxnOp{Request: &metapb.TxnOp_Txn{Txn: deep}})
	}
	tests := []struct {
		name string
		req  *metapb.TxnRequest
		want string
	}{
		{"range without key", op(&metapb.TxnOp{Request: &metapb.TxnOp_Range{Range: &metapb.TxnRange{}}}), "key is empty"},
		{"range bad sort", op(&metapb.TxnOp{Request: &metapb.TxnOp_Range{Range: &metapb.TxnRange{Key: "a", SortOrder: 9}}}), "sort_order"},
		{"delete range without key", op(&metapb.TxnOp{Request: &metapb.TxnOp_DeleteRange{DeleteRange: &metapb.TxnDeleteRange{}}}), "key is empty"},
		{"ignore_value with value", op(opPutReq(&metapb.TxnPut{Key: "a", Value: []byte("v"), IgnoreValue: true})), "ignore_value"},
		{"prefix count with range_end", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{condRange("a", "b", EQ, &metapb.TxnCondition{Target: &metapb.TxnCondition_KeysWithPrefix{}})}}, "range_end"},
		{"nested branches", op(&metapb.TxnOp{Request: &metapb.TxnOp_Txn{Txn: &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{}}}}}), "no branches"},
		{"nested too deep", deep, "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTxn(tt.req)
			if !errors.Is(err, ErrInvalidTxn) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateTxn: %v, want ErrInvalidTxn naming %q", err, tt.want)
			}
		})
	}
	ok := &metapb.TxnRequest{Condition: []*metapb.TxnCondition{condRange("", "\x00", GT, &metapb.TxnCondition{Target: &metapb.TxnCondition_Version{}})}}
	if err := ValidateTxn(ok); err != nil {
		t.Fatalf("a condition over every key: %v", err)
	}
}
