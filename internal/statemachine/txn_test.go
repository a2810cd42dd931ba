package statemachine

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

const (
	EQ = metapb.TxnCondition_EQ
	NE = metapb.TxnCondition_NE
	GT = metapb.TxnCondition_GT
	GE = metapb.TxnCondition_GE
	LT = metapb.TxnCondition_LT
	LE = metapb.TxnCondition_LE
)

var allCondOps = []metapb.TxnCondition_Op{EQ, NE, GT, GE, LT, LE}

// holds is whether each op of allCondOps holds when the actual value is
// below, equal to or above the target.
var holds = map[string][6]bool{
	"below": {false, true, false, false, true, true},
	"equal": {true, false, false, true, false, true},
	"above": {false, true, true, true, false, false},
	"never": {},
}

// condState is the state the condition tests run against, at t0+10:
// k = "m" at seq 1; p/1, p/2 and p2 present; p/3 expired and swept.
func condState(t *testing.T) *applier {
	t.Helper()
	a := newApplier(t)
	a.upsert(t0, put("k", "m"))
	a.upsert(t0, put("p/1", "x"))
	a.upsert(t0, put("p/2", "x"))
	a.upsert(t0, put("p2", "x"))
	a.upsert(t0, ttl(put("p/3", "x"), 9)) // past at t0+10
	a.upsert(t0, put("e", ""))
	return a
}

func TestTxnConditions(t *testing.T) {
	type target func(op metapb.TxnCondition_Op) *metapb.TxnCondition
	tests := []struct {
		name    string
		cond    target
		outcome string // a key of holds
	}{
		{"seq below", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condSeq("k", op, 2) }, "below"},
		{"seq equal", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condSeq("k", op, 1) }, "equal"},
		{"seq above", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condSeq("k", op, 0) }, "above"},
		{"absent seq is 0", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condSeq("zz", op, 0) }, "equal"},
		{"absent seq below", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condSeq("zz", op, 1) }, "below"},
		{"swept key seq is 0", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condSeq("p/3", op, 0) }, "equal"},
		{"value below", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("k", op, "n") }, "below"},
		{"value equal", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("k", op, "m") }, "equal"},
		{"value above", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("k", op, "l") }, "above"},
		{"value is a prefix of the target", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("k", op, "ma") }, "below"},
		{"value above the empty target", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("k", op, "") }, "above"},
		{"empty value equal", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("e", op, "") }, "equal"},
		{"value bytewise", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("k", op, "\xff") }, "below"},
		{"absent value: never", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("zz", op, "") }, "never"},
		{"absent value vs any: never", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("zz", op, "m") }, "never"},
		{"swept value: never", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condValue("p/3", op, "x") }, "never"},
		{"prefix count below", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condPrefix("p/", op, 3) }, "below"},
		{"prefix count equal (swept key gone)", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condPrefix("p/", op, 2) }, "equal"},
		{"prefix count above", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condPrefix("p/", op, 1) }, "above"},
		{"prefix p counts p/1 p/2 p2", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condPrefix("p", op, 3) }, "equal"},
		{"prefix is a key itself", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condPrefix("p/1", op, 1) }, "equal"},
		{"no keys with prefix", func(op metapb.TxnCondition_Op) *metapb.TxnCondition { return condPrefix("zz", op, 0) }, "equal"},
	}
	for _, tt := range tests {
		for i, op := range allCondOps {
			t.Run(fmt.Sprintf("%s/%s", tt.name, op), func(t *testing.T) {
				a := condState(t)
				reply := a.txn(t0+10, &metapb.TxnRequest{
					Condition: []*metapb.TxnCondition{tt.cond(op)},
					IfThen:    []*metapb.TxnOp{opGet("k")},
				})
				want := holds[tt.outcome][i]
				path := map[bool]string{true: "then", false: "else"}[want]
				if reply.Success != want || reply.ExecutionPath != path {
					t.Fatalf("success %v path %q, want %v %q", reply.Success, reply.ExecutionPath, want, path)
				}
				if n := len(reply.Responses); n != map[bool]int{true: 1, false: 0}[want] {
					t.Fatalf("%d responses", n)
				}
			})
		}
	}
}

func TestTxnConditionList(t *testing.T) {
	tests := []struct {
		name  string
		conds []*metapb.TxnCondition
		then  bool
	}{
		{"no conditions", nil, true},
		{"all hold", []*metapb.TxnCondition{condSeq("k", EQ, 1), condValue("k", EQ, "m"), condPrefix("p/", EQ, 2)}, true},
		{"one fails", []*metapb.TxnCondition{condSeq("k", EQ, 1), condValue("k", EQ, "x"), condPrefix("p/", EQ, 2)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := condState(t)
			reply := a.txn(t0+10, &metapb.TxnRequest{
				Condition: tt.conds,
				IfThen:    []*metapb.TxnOp{opPut("then", "1")},
				ElseThen:  []*metapb.TxnOp{opPut("else", "1")},
			})
			ran, other := "then", "else"
			if !tt.then {
				ran, other = other, ran
			}
			if reply.ExecutionPath != ran || reply.Success != tt.then {
				t.Fatalf("reply %v, want path %q", reply, ran)
			}
			if a.sm.Get(ran, t0+10) == nil || a.sm.Get(other, t0+10) != nil {
				t.Fatalf("the %s ops did not run alone: %v", ran, dump(a.sm))
			}
		})
	}
}

func TestTxnBranches(t *testing.T) {
	yes, no := condSeq("k", EQ, 1), condSeq("k", EQ, 2)
	and := func(conds []*metapb.TxnCondition, children ...*metapb.BoolExpression) *metapb.BoolExpression {
		return &metapb.BoolExpression{Combiner: metapb.BoolExpression_AND, Conditions: conds, Children: children}
	}
	or := func(conds []*metapb.TxnCondition, children ...*metapb.BoolExpression) *metapb.BoolExpression {
		return &metapb.BoolExpression{Combiner: metapb.BoolExpression_OR, Conditions: conds, Children: children}
	}
	c := func(cs ...*metapb.TxnCondition) []*metapb.TxnCondition { return cs }
	tests := []struct {
		name  string
		preds []*metapb.BoolExpression // one branch each; branch i puts "b<i>"
		path  string
	}{
		{"first that holds runs", []*metapb.BoolExpression{and(c(no)), and(c(yes)), and(c(yes))}, "branch:1"},
		{"first branch", []*metapb.BoolExpression{and(c(yes)), and(c(yes))}, "branch:0"},
		{"none holds", []*metapb.BoolExpression{and(c(no)), or(c(no, no))}, "none"},
		{"unset predicate holds", []*metapb.BoolExpression{and(c(no)), nil}, "branch:1"},
		{"empty AND holds", []*metapb.BoolExpression{and(nil)}, "branch:0"},
		{"empty OR does not", []*metapb.BoolExpression{or(nil), and(nil)}, "branch:1"},
		{"AND needs all", []*metapb.BoolExpression{and(c(yes, no)), and(c(yes, yes))}, "branch:1"},
		{"OR needs one", []*metapb.BoolExpression{or(c(no, yes))}, "branch:0"},
		{"AND of a failing child", []*metapb.BoolExpression{and(c(yes), or(c(no)))}, "none"},
		{"AND of holding children", []*metapb.BoolExpression{and(c(yes), or(c(no, yes)), and(nil))}, "branch:0"},
		{"OR through a child", []*metapb.BoolExpression{or(c(no), and(c(yes, yes)))}, "branch:0"},
		{"OR of an empty OR child", []*metapb.BoolExpression{or(nil, or(nil))}, "none"},
		{"OR of an empty AND child", []*metapb.BoolExpression{or(nil, and(nil))}, "branch:0"},
		{"deep nesting", []*metapb.BoolExpression{
			and(nil, or(nil, and(c(yes), or(c(no), and(c(condValue("k", EQ, "m"), condPrefix("p/", GE, 2))))))),
		}, "branch:0"},
		{"deep nesting fails", []*metapb.BoolExpression{
			and(nil, or(nil, and(c(yes), or(c(no), and(c(condValue("k", EQ, "m"), condPrefix("p/", GE, 3))))))),
		}, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := condState(t)
			req := &metapb.TxnRequest{}
			for i, p := range tt.preds {
				req.Branches = append(req.Branches, &metapb.ConditionalOps{
					Predicate: p, Ops: []*metapb.TxnOp{opPut(fmt.Sprintf("b%d", i), "1")},
				})
			}
			before := a.sm.LastSeq()
			reply := a.txn(t0+10, req)
			if reply.ExecutionPath != tt.path || reply.Success != (tt.path != "none") {
				t.Fatalf("reply %v, want path %q", reply, tt.path)
			}
			var ran []string
			a.sm.List("b", 0, t0+10, func(kv *metapb.KV) bool { ran = append(ran, kv.Key); return true })
			want := []string{}
			if tt.path != "none" {
				want = []string{"b" + strings.TrimPrefix(tt.path, "branch:")}
			}
			if !equalStrings(ran, want) || len(reply.Responses) != len(want) {
				t.Fatalf("ops of %v ran, want %v; responses %v", ran, want, reply.Responses)
			}
			// The put, if a branch ran (the sweep of p/3 takes no seq).
			if got := a.sm.LastSeq() - before; got != uint64(len(want)) {
				t.Fatalf("%d seqs taken", got)
			}
		})
	}
}

func TestTxnOps(t *testing.T) {
	tests := []struct {
		name  string
		setup []*metapb.UpsertRequest // at t0: seqs 1, 2, ...
		ops   []*metapb.TxnOp         // at t0 + 10
		want  []*metapb.TxnOpResponse
		// state is every key afterwards with its value; seq, if set,
		// the last seq.
		state []*metapb.KV
		seq   uint64
	}{
		{
			name:  "get present and absent",
			setup: []*metapb.UpsertRequest{put("a", "1")},
			ops:   []*metapb.TxnOp{opGet("a"), opGet("b")},
			want:  []*metapb.TxnOpResponse{respGet("a", seqV(1, "1", 1, 1, 0)), respGet("b", nil)},
			state: []*metapb.KV{{Key: "a", Value: seqV(1, "1", 1, 1, 0)}},
		},
		{
			name:  "get sees earlier ops",
			setup: []*metapb.UpsertRequest{put("a", "1")},
			ops:   []*metapb.TxnOp{opPut("a", "2"), opGet("a"), opDel("a", nil), opGet("a")},
			want: []*metapb.TxnOpResponse{
				respPut("a", seqV(1, "1", 1, 1, 0), seqV(2, "2", 1, 2, 0), true),
				respGet("a", seqV(2, "2", 1, 2, 0)),
				respDel("a", true, seqV(2, "2", 1, 2, 0)),
				respGet("a", nil),
			},
		},
		{
			name: "put creates and updates",
			ops:  []*metapb.TxnOp{opPut("a", "1"), opPut("a", "2")},
			want: []*metapb.TxnOpResponse{
				respPut("a", nil, seqV(1, "1", 1, 1, 0), true),
				respPut("a", seqV(1, "1", 1, 1, 0), seqV(2, "2", 1, 2, 0), true),
			},
			state: []*metapb.KV{{Key: "a", Value: seqV(2, "2", 1, 2, 0)}},
		},
		{
			name: "put with ttl and expire_at",
			ops: []*metapb.TxnOp{
				opPutReq(&metapb.TxnPut{Key: "a", Value: []byte("1"), TtlMs: 100}),
				opPutReq(&metapb.TxnPut{Key: "b", Value: []byte("1"), ExpireAtMs: t0 + 5000}),
			},
			want: []*metapb.TxnOpResponse{
				respPut("a", nil, seqV(1, "1", 1, 1, t0+10+100), true),
				respPut("b", nil, seqV(2, "1", 2, 1, t0+5000), true),
			},
			state: []*metapb.KV{{Key: "a", Value: seqV(1, "1", 1, 1, t0+110)}, {Key: "b", Value: seqV(2, "1", 2, 1, t0+5000)}},
		},
		{
			name:  "put match_seq matches",
			setup: []*metapb.UpsertRequest{put("a", "1")},
			ops:   []*metapb.TxnOp{opPutReq(&metapb.TxnPut{Key: "a", Value: []byte("2"), MatchSeq: matchExact(1)})},
			want:  []*metapb.TxnOpResponse{respPut("a", seqV(1, "1", 1, 1, 0), seqV(2, "2", 1, 2, 0), true)},
			state: []*metapb.KV{{Key: "a", Value: seqV(2, "2", 1, 2, 0)}},
		},
		{
			name:  "put match_seq mismatch skips the put only",
			setup: []*metapb.UpsertRequest{put("a", "1")},
			ops: []*metapb.TxnOp{
				opPutReq(&metapb.TxnPut{Key: "a", Value: []byte("2"), MatchSeq: matchExact(7)}),
				opPut("b", "1"),
			},
			want: []*metapb.TxnOpResponse{
				respPut("a", seqV(1, "1", 1, 1, 0), seqV(1, "1", 1, 1, 0), false),
				respPut("b", nil, seqV(2, "1", 2, 1, 0), true),
			},
			state: []*metapb.KV{{Key: "a", Value: seqV(1, "1", 1, 1, 0)}, {Key: "b", Value: seqV(2, "1", 2, 1, 0)}},
		},
		{
			name: "put exact 0 on an absent key",
			ops:  []*metapb.TxnOp{opPutReq(&metapb.TxnPut{Key: "a", Value: []byte("1"), MatchSeq: matchExact(0)})},
			want: []*metapb.TxnOpResponse{respPut("a", nil, seqV(1, "1", 1, 1, 0), true)},
		},
		{
			name:  "delete",
			setup: []*metapb.UpsertRequest{put("a", "1"), put("b", "1")},
			ops:   []*metapb.TxnOp{opDel("a", nil), opDel("b", matchExact(2))},
			want: []*metapb.TxnOpResponse{
				respDel("a", true, seqV(1, "1", 1, 1, 0)),
				respDel("b", true, seqV(2, "1", 2, 1, 0)),
			},
		},
		{
			name:  "delete mismatch skips the delete, not the txn",
			setup: []*metapb.UpsertRequest{put("a", "1")},
			ops:   []*metapb.TxnOp{opDel("a", matchExact(5)), opPut("b", "1")},
			want: []*metapb.TxnOpResponse{
				respDel("a", false, seqV(1, "1", 1, 1, 0)),
				respPut("b", nil, seqV(2, "1", 2, 1, 0), true),
			},
			state: []*metapb.KV{{Key: "a", Value: seqV(1, "1", 1, 1, 0)}, {Key: "b", Value: seqV(2, "1", 2, 1, 0)}},
		},
		{
			name: "delete of an absent key",
			ops:  []*metapb.TxnOp{opDel("a", nil)},
			want: []*metapb.TxnOpResponse{respDel("a", false, nil)},
		},
		{
			name:  "delete_by_prefix",
			setup: []*metapb.UpsertRequest{put("p/2", "1"), put("p/1", "1"), put("p", "1"), put("q", "1"), put("p/3", "x")},
			ops:   []*metapb.TxnOp{opDelPrefix("p/"), opDelPrefix("zz"), opGet("p/1")},
			want: []*metapb.TxnOpResponse{
				respDelPrefix("p/", 3), respDelPrefix("zz", 0), respGet("p/1", nil),
			},
			state: []*metapb.KV{{Key: "p", Value: seqV(3, "1", 3, 1, 0)}, {Key: "q", Value: seqV(4, "1", 4, 1, 0)}},
			seq:   5, // the deletes took none
		},
		{
			name:  "put with an expiry already past: takes its seq, deleted at once",
			setup: []*metapb.UpsertRequest{put("a", "1")},
			ops: []*metapb.TxnOp{
				opPutReq(&metapb.TxnPut{Key: "a", Value: []byte("2"), ExpireAtMs: t0}),
				opGet("a"),
				opPutReq(&metapb.TxnPut{Key: "b", Value: []byte("2"), ExpireAtMs: t0 + 9}),
			},
			want: []*metapb.TxnOpResponse{
				respPut("a", seqV(1, "1", 1, 1, 0), nil, true), respGet("a", nil), respPut("b", nil, nil, true),
			},
			state: []*metapb.KV{},
			seq:   3,
		},
		{
			// The key takes the counter's value before the increase, as
			// databend-meta's execute_put_sequential.
			name:  "put_sequential",
			setup: []*metapb.UpsertRequest{put("seq", "41")},
			ops:   []*metapb.TxnOp{opSeq("q/", "seq", "a", 0), opSeq("q/", "seq", "b", 100)},
			want: []*metapb.TxnOpResponse{
				respSeq("q/000_000_000_000_000_000_041", seqV(3, "a", 3, 1, 0)),
				respSeq("q/000_000_000_000_000_000_042", seqV(5, "b", 5, 1, t0+110)),
			},
			state: []*metapb.KV{
				{Key: "q/000_000_000_000_000_000_041", Value: seqV(3, "a", 3, 1, 0)},
				{Key: "q/000_000_000_000_000_000_042", Value: seqV(5, "b", 5, 1, t0+110)},
				{Key: "seq", Value: seqV(4, "43", 1, 3, 0)},
			},
		},
		{
			name: "put_sequential with an absent counter starts at 0",
			ops:  []*metapb.TxnOp{opSeq("", "n", "v", 0)},
			want: []*metapb.TxnOpResponse{respSeq("000_000_000_000_000_000_000", seqV(2, "v", 2, 1, 0))},
			state: []*metapb.KV{
				{Key: "000_000_000_000_000_000_000", Value: seqV(2, "v", 2, 1, 0)},
				{Key: "n", Value: seqV(1, "1", 1, 1, 0)},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApplier(t)
			for _, req := range tt.setup {
				a.upsert(t0, req)
			}
			reply := a.txn(t0+10, &metapb.TxnRequest{IfThen: tt.ops})
			if !reply.Success || reply.ExecutionPath != "then" || len(reply.Responses) != len(tt.want) {
				t.Fatalf("reply %v", reply)
			}
			for i := range tt.want {
				if !equalSeqs(reply.Responses[i], tt.want[i]) {
					t.Errorf("response %d\n got %v\nwant %v", i, reply.Responses[i], tt.want[i])
				}
			}
			if got := dump(a.sm); tt.state != nil && !equalKVs(got, tt.state) {
				t.Errorf("state\n got %v\nwant %v", got, tt.state)
			}
			if tt.seq != 0 && a.sm.LastSeq() != tt.seq {
				t.Errorf("last seq %d, want %d", a.sm.LastSeq(), tt.seq)
			}
			checkInvariants(t, a.sm)
		})
	}
}

// TestFetchIncreaseU64 follows databend-meta's execute_fetch_increase_u64:
// the value is read as a JSON u64 (anything else, and absent, is 0),
// after = max(before, max_value) + delta saturating at 0 and 2^64-1,
// written as a JSON number.
func TestFetchIncreaseU64(t *testing.T) {
	const maxU = math.MaxUint64
	tests := []struct {
		name  string
		value string // the counter's value at seq 1; "-" = absent
		op    *metapb.TxnOp
		want  *metapb.TxnOpResponse
		after string // the counter's value afterwards
	}{
		{"absent", "-", opIncr("n", 5, 0, nil), respIncr("n", 0, 0, 1, 5, true), "5"},
		{"absent with max_value", "-", opIncr("n", 1, 100, nil), respIncr("n", 0, 0, 1, 101, true), "101"},
		{"empty value is 0", "", opIncr("n", 3, 0, nil), respIncr("n", 1, 0, 2, 3, true), "3"},
		{"increase", "10", opIncr("n", 1, 0, nil), respIncr("n", 1, 10, 2, 11, true), "11"},
		{"JSON white space", " \t10\n", opIncr("n", 1, 0, nil), respIncr("n", 1, 10, 2, 11, true), "11"},
		{"max_value above", "3", opIncr("n", 1, 100, nil), respIncr("n", 1, 3, 2, 101, true), "101"},
		{"max_value below", "10", opIncr("n", 2, 5, nil), respIncr("n", 1, 10, 2, 12, true), "12"},
		{"delta 0 still writes", "10", opIncr("n", 0, 0, nil), respIncr("n", 1, 10, 2, 10, true), "10"},
		{"negative delta", "10", opIncr("n", -3, 0, nil), respIncr("n", 1, 10, 2, 7, true), "7"},
		{"saturates at 0", "2", opIncr("n", -3, 0, nil), respIncr("n", 1, 2, 2, 0, true), "0"},
		{"saturates at 0 from the smallest delta", "2", opIncr("n", math.MinInt64, 0, nil), respIncr("n", 1, 2, 2, 0, true), "0"},
		{"match_seq matches", "10", opIncr("n", 1, 0, matchExact(1)), respIncr("n", 1, 10, 2, 11, true), "11"},
		{"match_seq mismatch", "10", opIncr("n", 1, 0, matchExact(3)), respIncr("n", 1, 10, 1, 10, false), "10"},
		{"match_seq exact 0 on absent", "-", opIncr("n", 4, 0, matchExact(0)), respIncr("n", 0, 0, 1, 4, true), "4"},
		{"up to the largest u64", fmt.Sprint(uint64(maxU - 1)), opIncr("n", 1, 0, nil),
			respIncr("n", 1, maxU-1, 2, maxU, true), fmt.Sprint(uint64(maxU))},
		{"saturates at the largest u64", fmt.Sprint(uint64(maxU)), opIncr("n", 1, 0, nil),
			respIncr("n", 1, maxU, 2, maxU, true), fmt.Sprint(uint64(maxU))},
		{"saturates by max_value", "0", opIncr("n", 1, maxU, nil), respIncr("n", 1, 0, 2, maxU, true), fmt.Sprint(uint64(maxU))},
		{"saturates by delta", "2", opIncr("n", math.MaxInt64, maxU-5, nil), respIncr("n", 1, 2, 2, maxU, true), fmt.Sprint(uint64(maxU))},
		// Not a JSON u64: read as 0 (databend-meta logs a warning).
		{"letters", "abc", opIncr("n", 1, 0, nil), respIncr("n", 1, 0, 2, 1, true), "1"},
		{"negative", "-1", opIncr("n", 1, 0, nil), respIncr("n", 1, 0, 2, 1, true), "1"},
		{"plus sign", "+1", opIncr("n", 1, 0, nil), respIncr("n", 1, 0, 2, 1, true), "1"},
		{"leading zeros", "007", opIncr("n", 1, 0, nil), respIncr("n", 1, 0, 2, 1, true), "1"},
		{"fraction", "1.5", opIncr("n", 1, 0, nil), respIncr("n", 1, 0, 2, 1, true), "1"},
		{"exponent", "1e3", opIncr("n", 1, 0, nil), respIncr("n", 1, 0, 2, 1, true), "1"},
		{"quoted", `"5"`, opIncr("n", 1, 0, nil), respIncr("n", 1, 0, 2, 1, true), "1"},
		{"beyond u64", "18446744073709551616", opIncr("n", 1, 0, nil), respIncr("n", 1, 0, 2, 1, true), "1"},
		{"trailing garbage", "5 x", opIncr("n", 1, 0, nil), respIncr("n", 1, 0, 2, 1, true), "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApplier(t)
			if tt.value != "-" {
				a.upsert(t0, put("n", tt.value))
			}
			reply := a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{tt.op}})
			if !equalSeqs(reply.Responses[0], tt.want) {
				t.Fatalf("response\n got %v\nwant %v", reply.Responses[0], tt.want)
			}
			if got := a.sm.Get("n", t0); string(got.GetData()) != tt.after {
				t.Fatalf("counter %q, want %q", got.GetData(), tt.after)
			}
		})
	}

	// An increase writes a value of its own: the key's expiry is gone, as
	// in databend-meta (an update without value_meta).
	a := newApplier(t)
	a.upsert(t0, ttl(put("n", "1"), 100))
	a.txn(t0+10, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opIncr("n", 1, 0, nil)}})
	got := a.sm.Get("n", t0)
	if !equalSeqs(got, seqV(2, "2", 1, 2, 0)) || got.GetMeta().GetExpireAt() != 0 || got.GetMeta().GetProposedAtMs() != t0+10 {
		t.Fatalf("counter %v, want no expiry, proposed at %d", got, t0+10)
	}
}

func slicesDelete(kvs []*metapb.KV, key string) []*metapb.KV {
	var out []*metapb.KV
	for _, kv := range kvs {
		if kv.Key != key {
			out = append(out, kv)
		}
	}
	return out
}

func TestPutSequentialOrder(t *testing.T) {
	a := newApplier(t)
	const n = 25 // crosses 9 -> 10 and 19 -> 20
	for i := range n {
		reply := a.txn(t0, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opSeq("queue/", "queue-seq", fmt.Sprint(i), 0)}})
		want := fmt.Sprintf("queue/000_000_000_000_000_000_%03d", i)
		if got := reply.Responses[0].GetPutSequential().GetKey(); got != want {
			t.Fatalf("key %q, want %q", got, want)
		}
	}
	var values []string
	a.sm.List("queue/", 0, t0, func(kv *metapb.KV) bool {
		values = append(values, string(kv.Value.Data))
		return true
	})
	for i, v := range values {
		if v != fmt.Sprint(i) {
			t.Fatalf("listed in key order: %v, want creation order", values)
		}
	}
	if len(values) != n || string(a.sm.Get("queue-seq", t0).Data) != fmt.Sprint(n) {
		t.Fatalf("%d values, counter %s", len(values), a.sm.Get("queue-seq", t0).Data)
	}
	for n, want := range map[uint64]string{
		math.MaxUint64:             "018_446_744_073_709_551_615",
		10_100_000_000_001_200_000: "010_100_000_000_001_200_000",
		1_200_000:                  "000_000_000_000_001_200_000",
		0:                          "000_000_000_000_000_000_000",
	} {
		if got := SequentialKey("p/", n); got != "p/"+want {
			t.Errorf("SequentialKey(p/, %d) = %q, want %q", n, got, "p/"+want)
		}
	}
}

// TestTxnSeqOrder: every put takes the next seq, in op order; deletes take
// none; every change has the entry's revision.
func TestTxnSeqOrder(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, put("p/a", "1"))
	a.upsert(t0, put("p/b", "1"))
	res := a.apply(t0, txnCmd(&metapb.TxnRequest{IfThen: []*metapb.TxnOp{
		opPut("z", "1"), opDelPrefix("p/"), opPut("a", "1"), opSeq("s/", "c", "v", 0),
	}}))
	var got []string
	for _, e := range res.Events {
		got = append(got, fmt.Sprintf("%d:%s@%d", e.Seq, e.Key, e.Revision))
	}
	want := []string{"3:z@4", "1:p/a@4", "2:p/b@4", "4:a@4", "5:c@4", "6:s/000_000_000_000_000_000_000@4"}
	if !equalStrings(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestValidateTxn(t *testing.T) {
	puts := func(n int) []*metapb.TxnOp {
		ops := make([]*metapb.TxnOp, n)
		for i := range ops {
			ops[i] = opGet("k")
		}
		return ops
	}
	conds := func(n int) []*metapb.TxnCondition {
		cs := make([]*metapb.TxnCondition, n)
		for i := range cs {
			cs[i] = condSeq("k", EQ, 0)
		}
		return cs
	}
	nest := func(depth int) *metapb.BoolExpression {
		e := &metapb.BoolExpression{}
		for range depth - 1 {
			e = &metapb.BoolExpression{Children: []*metapb.BoolExpression{e}}
		}
		return e
	}
	tests := []struct {
		name string
		req  *metapb.TxnRequest
		want string // a part of the message; "" = valid
	}{
		{"empty txn", &metapb.TxnRequest{}, ""},
		{"nil", nil, "no transaction"},
		{"both forms", &metapb.TxnRequest{IfThen: puts(1), Branches: []*metapb.ConditionalOps{{}}}, "use one form"},
		{"condition without key", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{condSeq("", EQ, 0)}}, "condition[0]: key is empty"},
		{"condition without target", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{{Key: "k"}}}, "no target"},
		{"condition unknown op", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{condSeq("k", 6, 0)}}, "unknown op 6"},
		{"nested condition", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{}, {
			Predicate: &metapb.BoolExpression{Children: []*metapb.BoolExpression{{Conditions: []*metapb.TxnCondition{{Key: "k"}}}}},
		}}}, "branches[1].predicate: children[0]: conditions[0]: key \"k\": no target"},
		{"unknown combiner", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{Predicate: &metapb.BoolExpression{Combiner: 2}}}}, "unknown combiner 2"},
		{"op without request", &metapb.TxnRequest{ElseThen: []*metapb.TxnOp{opGet("k"), {}}}, "else_then[1]: no request"},
		{"get empty key", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opGet("")}}, "if_then[0]: get: key is empty"},
		{"put empty key", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPut("", "v")}}, "put: key is empty"},
		{"put expire_at_ms and expire_at", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPutReq(&metapb.TxnPut{Key: "k", ExpireAt: proto.Uint64(1), ExpireAtMs: 1})}}, "both set"},
		{"put ttl and expire_at_ms: ttl wins", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPutReq(&metapb.TxnPut{Key: "k", TtlMs: 1, ExpireAtMs: 1})}}, ""},
		{"put unknown match kind", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opPutReq(&metapb.TxnPut{Key: "k", MatchSeq: &metapb.MatchSeq{Kind: 7}})}}, "unknown match_seq kind 7"},
		{"delete empty key", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opDel("", nil)}}, "delete: key is empty"},
		{"delete unknown match kind", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opDel("k", &metapb.MatchSeq{Kind: 3})}}, "unknown match_seq kind 3"},
		{"delete_by_prefix empty", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opDelPrefix("")}}, "delete_by_prefix: prefix is empty"},
		{"fetch_increase empty key", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opIncr("", 1, 0, nil)}}, "fetch_increase_u64: key is empty"},
		{"fetch_increase unknown match kind", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opIncr("n", 1, 0, &metapb.MatchSeq{Kind: 4})}}, "unknown match_seq kind 4"},
		{"put_sequential empty sequence key", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opSeq("q/", "", "v", 0)}}, "sequence_key is empty"},
		{"put_sequential empty prefix is fine", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{opSeq("", "n", "v", 0)}}, ""},
		{"ops at the limit", &metapb.TxnRequest{IfThen: puts(600), ElseThen: puts(400)}, ""},
		{"ops over the limit", &metapb.TxnRequest{IfThen: puts(600), ElseThen: puts(401)}, "1001 ops, at most 1000"},
		{"ops over the limit in branches", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{Ops: puts(1000)}, {Ops: puts(1)}}}, "1001 ops"},
		{"conditions at the limit", &metapb.TxnRequest{Condition: conds(1000)}, ""},
		{"conditions over the limit", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{
			{Predicate: &metapb.BoolExpression{Conditions: conds(500)}},
			{Predicate: &metapb.BoolExpression{Children: []*metapb.BoolExpression{{Conditions: conds(501)}}}},
		}}, "1001 conditions, at most 1000"},
		{"depth at the limit", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{Predicate: nest(MaxTxnDepth)}}}, ""},
		{"depth over the limit", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{Predicate: nest(MaxTxnDepth + 1)}}}, "deeper than 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTxn(tt.req)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateTxn: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidTxn) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ValidateTxn = %v, want ErrInvalidTxn with %q", err, tt.want)
			}
			if tt.req == nil {
				return // Apply: ErrEmptyCommand (TestTxnEmptyBody)
			}
			// Apply rejects it and changes nothing but the index.
			a := newApplier(t)
			a.upsert(t0, put("k", "1"))
			h := a.sm.Hash()
			res := a.apply(t0, txnCmd(tt.req))
			if !errors.Is(res.Err, ErrInvalidTxn) || res.Events != nil || a.sm.Hash() != h {
				t.Fatalf("Apply: %+v", res)
			}
		})
	}
}

func TestTxnEmptyBody(t *testing.T) {
	a := newApplier(t)
	if res := a.apply(t0, txnCmd(nil)); !errors.Is(res.Err, ErrEmptyCommand) {
		t.Fatalf("nil txn: %+v", res)
	}
}

// TestRandomLogExercisesTxns guards the determinism tests: the generated
// logs must hold transactions of every outcome.
func TestRandomLogExercisesTxns(t *testing.T) {
	sm := New()
	counts := map[string]int{}
	for _, e := range randomLog(1, 3000) {
		if len(e.data) == 0 {
			applyEntry(t, sm, e)
			continue
		}
		timeMs, cmd, err := DecodeEntry(e.data)
		if err != nil {
			t.Fatal(err)
		}
		res := sm.Apply(e.index, timeMs, cmd)
		switch {
		case res.Txn != nil:
			counts[strings.TrimRight(res.Txn.ExecutionPath, "0123456789")]++
			for _, r := range res.Txn.Responses {
				counts[fmt.Sprintf("%T", r.Response)]++
			}
		case errors.Is(res.Err, ErrInvalidTxn):
			counts["rejected txn"]++
		}
	}
	for _, k := range []string{
		"then", "else", "branch:", "none", "rejected txn",
		"*metapb.TxnOpResponse_Get", "*metapb.TxnOpResponse_Put", "*metapb.TxnOpResponse_Delete",
		"*metapb.TxnOpResponse_DeleteByPrefix", "*metapb.TxnOpResponse_FetchIncreaseU64",
		"*metapb.TxnOpResponse_PutSequential",
	} {
		if counts[k] < 3 {
			t.Errorf("%q: %d times in the log (%v)", k, counts[k], counts)
		}
	}
}

// TestTxnRollbackProperty: a transaction refused once its ops ran (its
// reply over the command's bound, or a put naming a lease that does not
// exist) leaves the same state as a command that changes nothing,
// whatever ran before it.
func TestTxnRollbackProperty(t *testing.T) {
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 99))
		a := New()
		for _, e := range randomLog(seed, 300) {
			applyEntry(t, a, e)
		}
		b := New()
		if err := b.Restore(bytes.NewReader(encode(t, a))); err != nil {
			t.Fatal(err)
		}
		req := randomTxn(r, 300)
		req.Condition, req.Branches = nil, nil
		req.IfThen = append(req.IfThen, randomTxn(r, 300).GetElseThen()...)
		req.IfThen = append(req.IfThen, opPut("bad", "x"), opIncr("bad", 1, 0, nil))
		if ValidateTxn(req) != nil {
			continue
		}
		now := a.NowMs() + uint64(r.IntN(2000))
		cmd := txnCmd(req)
		cmd.MaxReplyBytes = 1
		res := a.Apply(a.AppliedIndex()+1, now, cmd)
		if !errors.Is(res.Err, ErrReplyTooLarge) && !errors.Is(res.Err, ErrLeaseNotFound) && !errors.Is(res.Err, ErrKeyNotFound) {
			t.Fatalf("seed %d: %+v", seed, res)
		}
		ref := b.Apply(b.AppliedIndex()+1, now, upsertCmd(del("bad")))
		if ref.Err != nil || !equalEvents(res.Events, ref.Events) {
			t.Fatalf("seed %d: events %v, want the sweep's %v", seed, res.Events, ref.Events)
		}
		checkInvariants(t, a)
		assertSameState(t, a, b)
	}
}
