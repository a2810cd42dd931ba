package statemachine

import (
	"github.com/metasrv/metasrv/api/metapb"
)

// ReadOnlyTxn reports whether req only reads the current state: every op
// of every branch is a Get, a Range at the current revision (revision 0)
// or a nested transaction that only reads. Such a transaction changes
// nothing when applied, so ReadTxn may answer it on any node after a read
// barrier instead of through the log, as etcd serves a read-only Txn.
func ReadOnlyTxn(req *metapb.TxnRequest) bool {
	if !readOnlyOps(req.GetIfThen()) || !readOnlyOps(req.GetElseThen()) {
		return false
	}
	for _, b := range req.GetBranches() {
		if !readOnlyOps(b.GetOps()) {
			return false
		}
	}
	return true
}

func readOnlyOps(ops []*metapb.TxnOp) bool {
	for _, op := range ops {
		switch r := op.GetRequest().(type) {
		case *metapb.TxnOp_Get:
		case *metapb.TxnOp_Range:
			if r.Range.GetRevision() != 0 {
				return false // read from the history: through the log
			}
		case *metapb.TxnOp_Txn:
			if !ReadOnlyTxn(r.Txn) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ReadTxn evaluates a transaction for which ReadOnlyTxn holds on the
// current state at nowMs (keys whose expiry is before it are invisible, as
// for Get), without changing anything, and returns the reply that applying
// it would have given now: the same conditions, responses and revision.
// Errors are those of applying it (ErrInvalidTxn, ErrReplyTooLarge over
// maxReply bytes; 0: no bound).
//
// It runs the apply path's evaluation on a view: an O(1) copy of the tree
// taken under the lock, without the expired keys, and the revision. The
// view holds nothing else (no expiry index, leases or history), which no
// read-only op touches; the lock is not held while it runs.
func (sm *StateMachine) ReadTxn(req *metapb.TxnRequest, nowMs, maxReply uint64) (*metapb.TxnReply, error) {
	if !ReadOnlyTxn(req) {
		return nil, txnErrorf("ReadTxn of a transaction that writes")
	}
	view := &StateMachine{}
	sm.mu.Lock()
	view.mu.tree = sm.mu.tree.Copy()
	view.mu.revision = sm.mu.revision
	view.mu.entryMs = nowMs
	exp := sm.mu.exp.Copy()
	sm.mu.Unlock()
	exp.Scan(func(e expKey) bool {
		if e.at >= nowMs {
			return false
		}
		view.mu.tree.Delete(keyOnly(e.key))
		return true
	})
	reply, err := view.txnLocked(req, maxReply)
	if err != nil {
		return nil, err
	}
	reply.Revision = view.mu.revision
	return reply, nil
}
