package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client/clienttest"
)

func seqCond(key string, op metapb.TxnCondition_Op, n uint64) *metapb.TxnCondition {
	return &metapb.TxnCondition{Key: key, Op: op, Target: &metapb.TxnCondition_Seq{Seq: n}}
}

func getOp(key string) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: key}}}
}

func TestTxnBuilder(t *testing.T) {
	tests := []struct {
		name string
		b    *TxnBuilder
		want *metapb.TxnRequest
	}{
		{"empty", NewTxn(), &metapb.TxnRequest{}},
		{"cas", NewTxn().
			If(Seq("k").Eq(3)).
			Then(OpPut("k", []byte("v")).WithTTL(30 * time.Second)).
			Else(OpGet("k")),
			&metapb.TxnRequest{
				Condition: []*metapb.TxnCondition{seqCond("k", metapb.TxnCondition_EQ, 3)},
				IfThen:    []*metapb.TxnOp{{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "k", Value: []byte("v"), TtlMs: 30000}}}},
				ElseThen:  []*metapb.TxnOp{getOp("k")},
			}},
		{"every condition target and op", NewTxn().
			If(Seq("a").Ne(1), Seq("a").Gt(2), Seq("a").Ge(3), Seq("a").Lt(4), Seq("a").Le(5)).
			If(Value("b").Eq([]byte("x")), KeysWithPrefix("p/").Lt(10)).
			Then(
				OpPut("c", nil).WithExpireAt(1234).WithMatch(Exact(7)),
				OpDelete("d").WithMatch(GE(2)),
				OpDeleteByPrefix("e/"),
				OpFetchIncreaseU64("f", 5).WithMaxValue(100).WithMatch(Exact(0)),
				OpPutSequential("q/", "q_seq", []byte("job")).WithTTL(time.Minute),
			).
			Else(OpDelete("g")),
			&metapb.TxnRequest{
				Condition: []*metapb.TxnCondition{
					seqCond("a", metapb.TxnCondition_NE, 1),
					seqCond("a", metapb.TxnCondition_GT, 2),
					seqCond("a", metapb.TxnCondition_GE, 3),
					seqCond("a", metapb.TxnCondition_LT, 4),
					seqCond("a", metapb.TxnCondition_LE, 5),
					{Key: "b", Op: metapb.TxnCondition_EQ, Target: &metapb.TxnCondition_Value{Value: []byte("x")}},
					{Key: "p/", Op: metapb.TxnCondition_LT, Target: &metapb.TxnCondition_KeysWithPrefix{KeysWithPrefix: 10}},
				},
				IfThen: []*metapb.TxnOp{
					{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "c", ExpireAtMs: 1234, MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: 7}}}},
					{Request: &metapb.TxnOp_Delete{Delete: &metapb.TxnDelete{Key: "d", MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_GE, Seq: 2}}}},
					{Request: &metapb.TxnOp_DeleteByPrefix{DeleteByPrefix: &metapb.TxnDeleteByPrefix{Prefix: "e/"}}},
					{Request: &metapb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &metapb.FetchIncreaseU64{Key: "f", Delta: 5, MaxValue: 100, MatchSeq: &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT}}}},
					{Request: &metapb.TxnOp_PutSequential{PutSequential: &metapb.PutSequential{Prefix: "q/", SequenceKey: "q_seq", Value: []byte("job"), TtlMs: 60000}}},
				},
				ElseThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_Delete{Delete: &metapb.TxnDelete{Key: "g"}}}},
			}},
		{"branches", NewTxn().
			Branch(Seq("lock").Eq(0), OpPut("lock", []byte("me"))).
			Branch(Or(Value("lock").Eq([]byte("me")), And(KeysWithPrefix("w/").Eq(0), Seq("x").Ne(0))), OpGet("lock")).
			Branch(nil),
			&metapb.TxnRequest{Branches: []*metapb.ConditionalOps{
				{
					Predicate: &metapb.BoolExpression{Conditions: []*metapb.TxnCondition{seqCond("lock", metapb.TxnCondition_EQ, 0)}},
					Ops:       []*metapb.TxnOp{{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "lock", Value: []byte("me")}}}},
				},
				{
					Predicate: &metapb.BoolExpression{
						Combiner:   metapb.BoolExpression_OR,
						Conditions: []*metapb.TxnCondition{{Key: "lock", Target: &metapb.TxnCondition_Value{Value: []byte("me")}}},
						Children: []*metapb.BoolExpression{{
							Conditions: []*metapb.TxnCondition{
								{Key: "w/", Target: &metapb.TxnCondition_KeysWithPrefix{KeysWithPrefix: 0}},
								seqCond("x", metapb.TxnCondition_NE, 0),
							},
						}},
					},
					Ops: []*metapb.TxnOp{getOp("lock")},
				},
				{},
			}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.b.Build()
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if !proto.Equal(got, tt.want) {
				t.Fatalf("Build =\n%s\nwant\n%s", prototext.Format(got), prototext.Format(tt.want))
			}
		})
	}
}

func TestTxnBuilderErrors(t *testing.T) {
	tests := []struct {
		name string
		b    *TxnBuilder
		want string
	}{
		{"branch and if", NewTxn().If(Seq("k").Eq(0)).Branch(nil), "not be combined"},
		{"branch and then", NewTxn().Then(OpGet("k")).Branch(nil), "not be combined"},
		{"empty get key", NewTxn().Then(OpGet("a"), OpGet("")), "then[1]: get: empty key"},
		{"empty put key", NewTxn().Else(OpPut("", nil)), "else[0]: put: empty key"},
		{"ttl below 1ms", NewTxn().Then(OpPut("k", nil).WithTTL(time.Microsecond)), "1ms"},
		{"negative ttl", NewTxn().Then(OpPutSequential("p", "s", nil).WithTTL(-time.Second)), "negative TTL"},
		{"ttl and expire", NewTxn().Then(OpPut("k", nil).WithTTL(time.Second).WithExpireAt(5)), "not both"},
		{"nil op", NewTxn().Then(nil), "then[0]: nil op"},
		{"zero condition", NewTxn().If(Condition{}), "if[0]: empty condition"},
		{"empty condition key", NewTxn().If(Seq("").Eq(0)), "if[0]: seq condition: empty key"},
		{"empty delete_by_prefix", NewTxn().Then(OpDeleteByPrefix("")), "then[0]: delete_by_prefix: empty prefix"},
		{"empty keys_with_prefix", NewTxn().If(KeysWithPrefix("").Gt(0)), "if[0]: keys_with_prefix condition: empty prefix"},
		{"empty sequence key", NewTxn().Then(OpPutSequential("p/", "", nil)), "sequence key"},
		{"bad predicate", NewTxn().Branch(And(Seq("a").Eq(1), Or(Value("").Eq(nil)))), "branch[0]: value condition: empty key"},
		{"nil predicate in and", NewTxn().Branch(And(nil)), "nil predicate"},
		{"bad branch op", NewTxn().Branch(nil, OpDelete("")), "branch[0][0]: delete: empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.b.Build()
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build = %v, want ErrInvalidArgument containing %q", err, tt.want)
			}
		})
	}
}

func mustBuild(t *testing.T, b *TxnBuilder) *metapb.TxnRequest {
	t.Helper()
	req, err := b.Build()
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return req
}

func TestTxnAgainstFake(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 5*time.Second)

	// Create-if-absent, twice: the second takes the else branch.
	create := mustBuild(t, NewTxn().If(Seq("k").Eq(0)).Then(OpPut("k", []byte("v1"))).Else(OpGet("k")))
	r, err := c.Txn(ctx, create)
	if err != nil || !r.GetSuccess() || r.GetExecutionPath() != "then" || r.GetResponses()[0].GetPut().GetCurrent().GetSeq() != 1 {
		t.Fatalf("create = %v, %v", r, err)
	}
	r, err = c.Txn(ctx, create)
	if err != nil || r.GetSuccess() || r.GetExecutionPath() != "else" || string(r.GetResponses()[0].GetGet().GetValue().GetData()) != "v1" {
		t.Fatalf("create again = %v, %v", r, err)
	}

	// Branches: the first that holds runs.
	req := mustBuild(t, NewTxn().
		Branch(Value("k").Eq([]byte("nope")), OpDelete("k")).
		Branch(Or(Value("k").Eq([]byte("v1")), Seq("k").Eq(0)), OpFetchIncreaseU64("n", 2).WithMaxValue(10), OpPutSequential("q/", "q_seq", []byte("job"))).
		Branch(nil, OpGet("k")))
	r, err = c.Txn(ctx, req)
	if err != nil || r.GetExecutionPath() != "branch:1" || len(r.GetResponses()) != 2 {
		t.Fatalf("branches = %v, %v", r, err)
	}
	if f := r.GetResponses()[0].GetFetchIncreaseU64(); f.GetBefore() != 0 || f.GetAfter() != 12 || !f.GetApplied() {
		t.Fatalf("fetch_increase_u64 = %v", f)
	}
	if p := r.GetResponses()[1].GetPutSequential(); !strings.HasPrefix(p.GetKey(), "q/") || string(p.GetCurrent().GetData()) != "job" {
		t.Fatalf("put_sequential = %v", p)
	}

	// None holds.
	r, err = c.Txn(ctx, mustBuild(t, NewTxn().Branch(KeysWithPrefix("q/").Eq(0), OpDeleteByPrefix("q/"))))
	if err != nil || r.GetSuccess() || r.GetExecutionPath() != "none" || len(r.GetResponses()) != 0 {
		t.Fatalf("no branch = %v, %v", r, err)
	}

	if _, err := c.Txn(ctx, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Txn(nil) = %v", err)
	}
	mixed := &metapb.TxnRequest{IfThen: []*metapb.TxnOp{getOp("k")}, Branches: []*metapb.ConditionalOps{{}}}
	if _, err := c.Txn(ctx, mixed); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Txn(mixed) = %v", err)
	}
	if n := cl.Servers[0].Calls("Txn"); n != 4 {
		t.Fatalf("server saw %d txns, want 4 (invalid ones are not sent)", n)
	}
}

// notProposed returns a hook that fails method before running it with code,
// setting the not-proposed trailer.
func notProposed(method string, code codes.Code) clienttest.Hook {
	return func(ctx context.Context, m string, s clienttest.Stage) error {
		if m == method && s == clienttest.Before {
			if err := grpc.SetTrailer(ctx, metadata.Pairs(NotProposedTrailer, "1")); err != nil {
				return err
			}
			return status.Errorf(code, "injected: not proposed (%v)", code)
		}
		return nil
	}
}

// TestNotProposedRetried: a write the server says it never proposed is
// retried on the next endpoint, even one that could apply twice, and is
// never reported as maybe applied.
func TestNotProposedRetried(t *testing.T) {
	put := mustBuild(t, NewTxn().Then(OpPut("t", []byte("v"))))
	tests := []struct {
		method string
		call   func(ctx context.Context, c *Client) error
	}{
		{"Upsert", func(ctx context.Context, c *Client) error {
			res, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte("v")}) // Match Any
			if err == nil && (!res.Applied || res.Retried || res.Result.Seq != 1) {
				return errors.New("unexpected result")
			}
			return err
		}},
		{"Txn", func(ctx context.Context, c *Client) error {
			r, err := c.Txn(ctx, put)
			if err == nil && r.GetResponses()[0].GetPut().GetCurrent().GetSeq() != 1 {
				return errors.New("unexpected result")
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			cl := clienttest.Start(t, 2)
			a, b := cl.Servers[0], cl.Servers[1]
			a.SetHook(notProposed(tt.method, codes.Unavailable))
			c := newClient(t, cl.Addrs()...)
			if err := tt.call(ctxTimeout(t, 5*time.Second), c); err != nil {
				t.Fatalf("%s: %v", tt.method, err)
			}
			if a.Calls(tt.method) != 1 || b.Calls(tt.method) != 1 || cl.Store.Seq() != 1 {
				t.Fatalf("calls a=%d b=%d, store seq %d; want 1, 1, 1", a.Calls(tt.method), b.Calls(tt.method), cl.Store.Seq())
			}
		})
	}
}

// TestNotProposedOtherErrors: the trailer makes a write unsent, nothing
// more: another error is returned as is, without ErrMaybeApplied, and not
// retried; without the trailer an Unavailable write is ambiguous.
func TestNotProposedOtherErrors(t *testing.T) {
	tests := []struct {
		name      string
		hook      clienttest.Hook
		wantCode  codes.Code
		wantMaybe bool
	}{
		{"not proposed, failed precondition", notProposed("Txn", codes.FailedPrecondition), codes.FailedPrecondition, false},
		{"not proposed, server timeout", notProposed("Txn", codes.DeadlineExceeded), codes.DeadlineExceeded, false},
		{"no trailer, unavailable", failOn("Txn", clienttest.Before, codes.Unavailable), codes.Unavailable, true},
		{"trailer on success is ignored", func(ctx context.Context, m string, s clienttest.Stage) error {
			if s == clienttest.After {
				_ = grpc.SetTrailer(ctx, metadata.Pairs(NotProposedTrailer, "1"))
			}
			return nil
		}, codes.OK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := clienttest.Start(t, 2)
			cl.Servers[0].SetHook(tt.hook)
			c := newClient(t, cl.Addrs()...)
			_, err := c.Txn(ctxTimeout(t, 5*time.Second), mustBuild(t, NewTxn().Then(OpPut("k", nil))))
			codeOK := status.Code(err) == tt.wantCode
			if tt.wantCode == codes.DeadlineExceeded { // reported as the caller's time running out
				codeOK = errors.Is(err, context.DeadlineExceeded)
			}
			if !codeOK || errors.Is(err, ErrMaybeApplied) != tt.wantMaybe {
				t.Fatalf("Txn = %v; want code %v, maybe applied %v", err, tt.wantCode, tt.wantMaybe)
			}
			if n := cl.Servers[1].Calls("Txn"); n != 0 {
				t.Fatalf("retried on the second endpoint (%d calls)", n)
			}
		})
	}
}

// A transaction of gets only is a read: retried even after it was sent.
func TestReadOnlyTxnRetried(t *testing.T) {
	cl := clienttest.Start(t, 2)
	cl.Store.Put("k", []byte("v"))
	cl.Servers[0].SetHook(failOn("Txn", clienttest.After, codes.Unavailable))
	c := newClient(t, cl.Addrs()...)
	r, err := c.Txn(ctxTimeout(t, 5*time.Second), mustBuild(t, NewTxn().If(Seq("k").Gt(0)).Then(OpGet("k")).Else(OpGet("other"))))
	if err != nil || string(r.GetResponses()[0].GetGet().GetValue().GetData()) != "v" {
		t.Fatalf("read-only Txn = %v, %v", r, err)
	}
	if cl.Servers[1].Calls("Txn") != 1 {
		t.Fatalf("read-only txn not retried")
	}
}
