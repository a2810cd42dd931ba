package databendapi

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// A Databend transaction is a list of branches, each a predicate and its
// operations; the first branch whose predicate holds runs. That is how
// databend-meta itself reads both of its forms:
//
//   - KvTransactionRequest: its branches, in order;
//   - TxnRequest: its operations (branches 0..n-1), then the branch
//     AND(condition) -> if_then (branch n), then, when else_then is not
//     empty, an unconditional branch else_then (n+1). Its reply says
//     "operation:{i}", "then" or "else" (also when no branch held).
//
// Our native transaction has the same branches (metapb.TxnRequest.branches,
// executed_path "branch:{i}" or "none"), so the face translates a Databend
// transaction into native branches alone and maps the executed branch
// back; it evaluates nothing itself.

// nativeBranchPath starts the native execution_path of a branch that ran.
const nativeBranchPath = "branch:"

// executedBranch returns the index of the native branch that ran, and
// false when none did.
func executedBranch(r *metapb.TxnReply) (int, bool) {
	s, ok := strings.CutPrefix(r.GetExecutionPath(), nativeBranchPath)
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

// txnToNative translates a TxnRequest.
func txnToNative(req *databendpb.TxnRequest) (*metapb.TxnRequest, error) {
	branches, err := branchesToNative("operations", req.GetOperations())
	if err != nil {
		return nil, err
	}
	then := &metapb.ConditionalOps{Predicate: &metapb.BoolExpression{Combiner: metapb.BoolExpression_AND}}
	for _, c := range req.GetCondition() {
		then.Predicate.Conditions = append(then.Predicate.Conditions, conditionToNative(c))
	}
	if then.Ops, err = opsToNative("if_then", req.GetIfThen()); err != nil {
		return nil, err
	}
	branches = append(branches, then)
	if len(req.GetElseThen()) > 0 {
		ops, err := opsToNative("else_then", req.GetElseThen())
		if err != nil {
			return nil, err
		}
		branches = append(branches, &metapb.ConditionalOps{Ops: ops})
	}
	return &metapb.TxnRequest{Branches: branches}, nil
}

// txnReply translates the native reply of txnToNative(req).
func txnReply(req *databendpb.TxnRequest, r *metapb.TxnReply) *databendpb.TxnReply {
	out := &databendpb.TxnReply{Success: false, ExecutionPath: "else", Responses: responsesFromNative(r.GetResponses())}
	n := len(req.GetOperations())
	switch i, ok := executedBranch(r); {
	case !ok || i > n:
	case i < n:
		out.Success, out.ExecutionPath = true, fmt.Sprintf("operation:%d", i)
	default:
		out.Success, out.ExecutionPath = true, "then"
	}
	return out
}

// kvTxnToNative translates a KvTransactionRequest.
func kvTxnToNative(req *databendpb.KvTransactionRequest) (*metapb.TxnRequest, error) {
	branches, err := branchesToNative("branches", req.GetBranches())
	if err != nil {
		return nil, err
	}
	if len(branches) == 0 {
		// No branch: nothing runs. The native form of "nothing holds" is
		// one branch whose predicate never holds (an empty OR).
		branches = []*metapb.ConditionalOps{{Predicate: &metapb.BoolExpression{Combiner: metapb.BoolExpression_OR}}}
	}
	return &metapb.TxnRequest{Branches: branches}, nil
}

// kvTxnReply translates the native reply of kvTxnToNative(req).
func kvTxnReply(req *databendpb.KvTransactionRequest, r *metapb.TxnReply) *databendpb.KvTransactionReply {
	out := &databendpb.KvTransactionReply{}
	if i, ok := executedBranch(r); ok && i < len(req.GetBranches()) {
		b := uint32(i)
		out.ExecutedBranch = &b
		out.Responses = responsesFromNative(r.GetResponses())
	}
	return out
}

func branchesToNative(where string, bs []*databendpb.ConditionalOperation) ([]*metapb.ConditionalOps, error) {
	out := make([]*metapb.ConditionalOps, 0, len(bs)+2)
	for i, b := range bs {
		ops, err := opsToNative(fmt.Sprintf("%s[%d].operations", where, i), b.GetOperations())
		if err != nil {
			return nil, err
		}
		var pred *metapb.BoolExpression // none: holds
		if b.GetPredicate() != nil {
			pred = exprToNative(b.GetPredicate())
		}
		out = append(out, &metapb.ConditionalOps{Predicate: pred, Ops: ops})
	}
	return out, nil
}

// exprToNative translates a predicate as databend-meta reads it: an
// operator it does not know is AND (protobuf's default), and an empty OR
// holds ("vacuous truth"), where our empty OR does not: it becomes an
// empty AND, which holds in both.
func exprToNative(e *databendpb.BooleanExpression) *metapb.BoolExpression {
	out := &metapb.BoolExpression{Combiner: metapb.BoolExpression_AND}
	if e.GetOperator() == databendpb.BooleanExpression_OR && (len(e.GetConditions()) > 0 || len(e.GetSubExpressions()) > 0) {
		out.Combiner = metapb.BoolExpression_OR
	}
	for _, c := range e.GetConditions() {
		out.Conditions = append(out.Conditions, conditionToNative(c))
	}
	for _, sub := range e.GetSubExpressions() {
		out.Children = append(out.Children, exprToNative(sub))
	}
	return out
}

// conditionOps maps Databend's ConditionResult to our operators;
// databend-meta reads a value it does not know as EQ.
var conditionOps = map[databendpb.TxnCondition_ConditionResult]metapb.TxnCondition_Op{
	databendpb.TxnCondition_EQ: metapb.TxnCondition_EQ,
	databendpb.TxnCondition_GT: metapb.TxnCondition_GT,
	databendpb.TxnCondition_GE: metapb.TxnCondition_GE,
	databendpb.TxnCondition_LT: metapb.TxnCondition_LT,
	databendpb.TxnCondition_LE: metapb.TxnCondition_LE,
	databendpb.TxnCondition_NE: metapb.TxnCondition_NE,
}

// conditionToNative translates one condition. One without a target never
// holds in databend-meta (it reads it as seq < 0): so it is here.
func conditionToNative(c *databendpb.TxnCondition) *metapb.TxnCondition {
	out := &metapb.TxnCondition{Key: c.GetKey(), Op: conditionOps[c.GetExpected()]}
	switch t := c.GetTarget().(type) {
	case *databendpb.TxnCondition_Seq:
		out.Target = &metapb.TxnCondition_Seq{Seq: t.Seq}
	case *databendpb.TxnCondition_Value:
		out.Target = &metapb.TxnCondition_Value{Value: t.Value}
	case *databendpb.TxnCondition_KeysWithPrefix:
		out.Target = &metapb.TxnCondition_KeysWithPrefix{KeysWithPrefix: t.KeysWithPrefix}
	default:
		out.Op, out.Target = metapb.TxnCondition_LT, &metapb.TxnCondition_Seq{Seq: 0}
	}
	return out
}

func opsToNative(where string, ops []*databendpb.TxnOp) ([]*metapb.TxnOp, error) {
	out := make([]*metapb.TxnOp, len(ops))
	for i, op := range ops {
		o, err := opToNative(op)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
		}
		out[i] = o
	}
	return out, nil
}

// exactSeq is Databend's optional match_seq (the key's seq must be equal)
// as ours; nil matches anything.
func exactSeq(seq *uint64) *metapb.MatchSeq {
	if seq == nil {
		return nil
	}
	return &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: *seq}
}

// opToNative translates one op. A put's ttl and expire_at go on as
// written (the ttl wins, as in databend-meta; expire_at is in Databend's
// seconds-or-milliseconds form, as the native expire_at).
func opToNative(op *databendpb.TxnOp) (*metapb.TxnOp, error) {
	switch r := op.GetRequest().(type) {
	case *databendpb.TxnOp_Get:
		return &metapb.TxnOp{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: r.Get.GetKey()}}}, nil
	case *databendpb.TxnOp_Put:
		p := r.Put
		put := &metapb.TxnPut{Key: p.GetKey(), Value: p.GetValue(), TtlMs: p.GetTtlMs(), ExpireAt: p.ExpireAt, MatchSeq: exactSeq(p.MatchSeq)}
		return &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: put}}, nil
	case *databendpb.TxnOp_Delete:
		d := r.Delete
		return &metapb.TxnOp{Request: &metapb.TxnOp_Delete{Delete: &metapb.TxnDelete{Key: d.GetKey(), MatchSeq: exactSeq(d.MatchSeq)}}}, nil
	case *databendpb.TxnOp_DeleteByPrefix:
		return &metapb.TxnOp{Request: &metapb.TxnOp_DeleteByPrefix{DeleteByPrefix: &metapb.TxnDeleteByPrefix{Prefix: r.DeleteByPrefix.GetPrefix()}}}, nil
	case *databendpb.TxnOp_FetchIncreaseU64:
		f := r.FetchIncreaseU64
		return &metapb.TxnOp{Request: &metapb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &metapb.FetchIncreaseU64{
			Key: f.GetKey(), Delta: f.GetDelta(), MaxValue: f.GetMaxValue(), MatchSeq: exactSeq(f.MatchSeq),
		}}}, nil
	case *databendpb.TxnOp_PutSequential:
		p := r.PutSequential
		return &metapb.TxnOp{Request: &metapb.TxnOp_PutSequential{PutSequential: &metapb.PutSequential{
			Prefix: p.GetPrefix(), SequenceKey: p.GetSequenceKey(), Value: p.GetValue(), TtlMs: p.GetTtlMs(), ExpireAt: p.ExpiresAtMs,
		}}}, nil
	}
	return nil, invalidf("a TxnOp without a request: set one of get, put, delete, delete_by_prefix, fetch_increase_u64, put_sequential")
}

// responsesFromNative translates the responses of the ops that ran. A
// put_sequential is answered as a put, as databend-meta does.
func responsesFromNative(rs []*metapb.TxnOpResponse) []*databendpb.TxnOpResponse {
	out := make([]*databendpb.TxnOpResponse, len(rs))
	for i, r := range rs {
		out[i] = responseFromNative(r)
	}
	return out
}

func responseFromNative(r *metapb.TxnOpResponse) *databendpb.TxnOpResponse {
	switch r := r.GetResponse().(type) {
	case *metapb.TxnOpResponse_Get:
		return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_Get{Get: &databendpb.TxnGetResponse{
			Key: r.Get.GetKey(), Value: pbSeqV(r.Get.GetValue()),
		}}}
	case *metapb.TxnOpResponse_Put:
		return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_Put{Put: &databendpb.TxnPutResponse{
			Key: r.Put.GetKey(), PrevValue: pbSeqV(r.Put.GetPrev()), Current: pbSeqV(r.Put.GetCurrent()),
		}}}
	case *metapb.TxnOpResponse_Delete:
		return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_Delete{Delete: &databendpb.TxnDeleteResponse{
			Key: r.Delete.GetKey(), Success: r.Delete.GetSuccess(), PrevValue: pbSeqV(r.Delete.GetPrev()),
		}}}
	case *metapb.TxnOpResponse_DeleteByPrefix:
		return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_DeleteByPrefix{DeleteByPrefix: &databendpb.TxnDeleteByPrefixResponse{
			Prefix: r.DeleteByPrefix.GetPrefix(), Count: uint32(r.DeleteByPrefix.GetCount()),
		}}}
	case *metapb.TxnOpResponse_FetchIncreaseU64:
		f := r.FetchIncreaseU64
		return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_FetchIncreaseU64{FetchIncreaseU64: &databendpb.FetchIncreaseU64Response{
			Key: f.GetKey(), BeforeSeq: f.GetBeforeSeq(), Before: f.GetBefore(), AfterSeq: f.GetAfterSeq(), After: f.GetAfter(),
		}}}
	case *metapb.TxnOpResponse_PutSequential:
		return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_Put{Put: &databendpb.TxnPutResponse{
			Key: r.PutSequential.GetKey(), Current: pbSeqV(r.PutSequential.GetCurrent()),
		}}}
	}
	return &databendpb.TxnOpResponse{}
}

// Transaction runs a TxnRequest through the native transaction.
func (s *Service) Transaction(ctx context.Context, req *databendpb.TxnRequest) (*databendpb.TxnReply, error) {
	r, err := s.txn(ctx)(txnToNative(req))
	if err != nil {
		return nil, err
	}
	return txnReply(req, r), nil
}

// KvTransaction runs a KvTransactionRequest through the native
// transaction.
func (s *Service) KvTransaction(ctx context.Context, req *databendpb.KvTransactionRequest) (*databendpb.KvTransactionReply, error) {
	r, err := s.txn(ctx)(kvTxnToNative(req))
	if err != nil {
		return nil, err
	}
	return kvTxnReply(req, r), nil
}

// txn returns the function that proposes a translated transaction (or
// fails with the error of its translation): it checks the request size
// as the native face does, proposes, names the leader on a follower, and
// maps errors to statuses.
func (s *Service) txn(ctx context.Context) func(*metapb.TxnRequest, error) (*metapb.TxnReply, error) {
	return func(req *metapb.TxnRequest, err error) (*metapb.TxnReply, error) {
		if err == nil {
			err = statemachine.ValidateTxnBytes(req, s.limits.MaxRequestBytes)
		}
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		wctx, cancel := s.withDeadline(ctx)
		defer cancel()
		r, err := s.srv.Txn(wctx, req)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		s.nameLeader(ctx)
		return r, nil
	}
}
