package client

import (
	"context"
	"fmt"

	"github.com/metasrv/metasrv/api/metapb"
)

// Txn runs a transaction: one atomic raft entry that evaluates conditions
// and runs the ops of the branch they select (see metapb.TxnRequest). Build
// req with NewTxn or by hand. The reply says which branch ran
// (ExecutionPath "then", "else", "branch:N" or "none") and holds one
// response per op of that branch, in order.
//
// A Txn is a write and is retried on another endpoint only when that cannot
// apply it twice: when the request provably never left this process, or the
// server said it never proposed it (NotProposedTrailer). Otherwise a failure
// after the request was sent returns an error wrapping ErrMaybeApplied: read
// the keys to find out before running it again. A Txn whose every op is a
// get has no effect and is retried like a read.
func (c *Client) Txn(ctx context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error) {
	if err := checkTxn(req); err != nil {
		return nil, err
	}
	kind := kindWrite
	if txnReadOnly(req) {
		kind = kindRead
	}
	var reply *metapb.TxnReply
	_, err := c.invoke(ctx, txnWhat(req), kind, toLeader, func(ctx context.Context, mc metapb.MetaClient) error {
		var err error
		reply, err = mc.Txn(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return reply, nil
}

// checkTxn refuses what the server would refuse for certain and could not
// be meant: a nil request and both forms of a transaction at once.
func checkTxn(req *metapb.TxnRequest) error {
	if req == nil {
		return fmt.Errorf("%w: txn: nil request", ErrInvalidArgument)
	}
	if len(req.GetBranches()) > 0 && (len(req.GetCondition()) > 0 || len(req.GetIfThen()) > 0 || len(req.GetElseThen()) > 0) {
		return fmt.Errorf("%w: txn: set either branches or condition/if_then/else_then, not both", ErrInvalidArgument)
	}
	return nil
}

// txnReadOnly reports whether every op of every branch of req is a get.
func txnReadOnly(req *metapb.TxnRequest) bool {
	readOnly := func(ops []*metapb.TxnOp) bool {
		for _, op := range ops {
			if op.GetGet() == nil {
				return false
			}
		}
		return true
	}
	if !readOnly(req.GetIfThen()) || !readOnly(req.GetElseThen()) {
		return false
	}
	for _, b := range req.GetBranches() {
		if !readOnly(b.GetOps()) {
			return false
		}
	}
	return true
}

// txnWhat names a transaction in errors: "txn (2 conditions, 3 ops)".
func txnWhat(req *metapb.TxnRequest) string {
	if n := len(req.GetBranches()); n > 0 {
		ops := 0
		for _, b := range req.GetBranches() {
			ops += len(b.GetOps())
		}
		return fmt.Sprintf("txn (%d branches, %d ops)", n, ops)
	}
	return fmt.Sprintf("txn (%d conditions, %d ops)", len(req.GetCondition()), len(req.GetIfThen())+len(req.GetElseThen()))
}
