package grpcapi

import (
	"context"
	"fmt"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// sequentialSuffix is the length of the number put_sequential appends to
// its prefix (a zero-padded u64).
const sequentialSuffix = 20

// Txn validates and applies one transaction.
func (m *Meta) Txn(ctx context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error) {
	if err := m.checkTxn(req); err != nil {
		return nil, toStatus(err)
	}
	wctx, cancel := m.withDeadline(ctx)
	defer cancel()
	reply, err := m.kv.Txn(wctx, req)
	setLeaderTrailer(ctx, m.kv)
	return reply, writeStatus(ctx, err)
}

// checkTxn checks the limits of this edge (key lengths, value sizes) and
// what the state machine checks (statemachine.ValidateTxnBytes: forms,
// empty keys and targets, ttl and expire_at, op limits) with the request
// limit of this edge.
func (m *Meta) checkTxn(req *metapb.TxnRequest) error {
	for i, c := range req.GetCondition() {
		if err := m.checkTxnKey(fmt.Sprintf("condition[%d]", i), "key", c.GetKey(), 0); err != nil {
			return err
		}
	}
	if err := m.checkTxnOps("if_then", req.GetIfThen()); err != nil {
		return err
	}
	if err := m.checkTxnOps("else_then", req.GetElseThen()); err != nil {
		return err
	}
	for i, b := range req.GetBranches() {
		if err := m.checkExpr(fmt.Sprintf("branches[%d].predicate", i), b.GetPredicate()); err != nil {
			return err
		}
		if err := m.checkTxnOps(fmt.Sprintf("branches[%d].ops", i), b.GetOps()); err != nil {
			return err
		}
	}
	if err := statemachine.ValidateTxnBytes(req, m.limits.MaxRequestBytes); err != nil {
		return fmt.Errorf("%w (the limit is %s)", err, requestLimitOrigin)
	}
	return nil
}

func (m *Meta) checkExpr(where string, e *metapb.BoolExpression) error {
	for i, c := range e.GetConditions() {
		if err := m.checkTxnKey(fmt.Sprintf("%s.conditions[%d]", where, i), "key", c.GetKey(), 0); err != nil {
			return err
		}
	}
	for i, ch := range e.GetChildren() {
		if err := m.checkExpr(fmt.Sprintf("%s.children[%d]", where, i), ch); err != nil {
			return err
		}
	}
	return nil
}

func (m *Meta) checkTxnOps(where string, ops []*metapb.TxnOp) error {
	for i, op := range ops {
		at := fmt.Sprintf("%s[%d]", where, i)
		var err error
		switch r := op.GetRequest().(type) {
		case *metapb.TxnOp_Get:
			err = m.checkTxnKey(at+".get", "key", r.Get.GetKey(), 0)
		case *metapb.TxnOp_Put:
			err = m.checkTxnKey(at+".put", "key", r.Put.GetKey(), 0)
			if err == nil {
				err = m.checkTxnValue(at+".put", r.Put.GetKey(), r.Put.GetValue())
			}
		case *metapb.TxnOp_Delete:
			err = m.checkTxnKey(at+".delete", "key", r.Delete.GetKey(), 0)
		case *metapb.TxnOp_DeleteByPrefix:
			err = m.checkTxnKey(at+".delete_by_prefix", "prefix", r.DeleteByPrefix.GetPrefix(), 0)
		case *metapb.TxnOp_FetchIncreaseU64:
			err = m.checkTxnKey(at+".fetch_increase_u64", "key", r.FetchIncreaseU64.GetKey(), 0)
		case *metapb.TxnOp_Range:
			err = m.checkTxnKey(at+".range", "key", r.Range.GetKey(), 0)
		case *metapb.TxnOp_DeleteRange:
			err = m.checkTxnKey(at+".delete_range", "key", r.DeleteRange.GetKey(), 0)
		case *metapb.TxnOp_Txn:
			err = m.checkTxnOps(at+".txn.if_then", r.Txn.GetIfThen())
			if err == nil {
				err = m.checkTxnOps(at+".txn.else_then", r.Txn.GetElseThen())
			}
		case *metapb.TxnOp_PutSequential:
			p := r.PutSequential
			err = m.checkTxnKey(at+".put_sequential", "prefix", p.GetPrefix(), sequentialSuffix)
			if err == nil {
				err = m.checkTxnKey(at+".put_sequential", "sequence_key", p.GetSequenceKey(), 0)
			}
			if err == nil {
				err = m.checkTxnValue(at+".put_sequential", p.GetPrefix(), p.GetValue())
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkTxnKey checks that key, plus the extra bytes the op appends to it,
// fits the key limit. Empty keys are ValidateTxn's to report.
func (m *Meta) checkTxnKey(where, what, key string, extra int) error {
	if n := len(key) + extra; n > m.limits.MaxKeyBytes {
		if extra > 0 {
			return invalidf("%s: %s of %d bytes, with the %d-digit number appended, is longer than the key limit of %d bytes: use a shorter %s",
				where, what, len(key), extra, m.limits.MaxKeyBytes, what)
		}
		return invalidf("%s: %s of %d bytes is longer than the limit of %d bytes: use a shorter %s",
			where, what, len(key), m.limits.MaxKeyBytes, what)
	}
	return nil
}

func (m *Meta) checkTxnValue(where, key string, value []byte) error {
	if len(value) > m.limits.MaxRequestBytes {
		return invalidf("%s: value of %d bytes for %q is larger than the limit of %d bytes for one request (%s): store smaller values",
			where, len(value), key, m.limits.MaxRequestBytes, requestLimitOrigin)
	}
	return nil
}

// requestLimitOrigin says where Limits.MaxRequestBytes comes from, for
// error messages.
const requestLimitOrigin = "half of grpc_api_max_message_size, less 64 KiB"
