package statemachine

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/tidwall/btree"

	"github.com/metasrv/metasrv/api/metapb"
)

// Errors of key ranges (etcd's Range and Put semantics). Each returned
// error wraps one of these (or ErrCompacted, for a revision that is no
// longer kept); inside a transaction it also wraps ErrInvalidTxn, and
// nothing in the transaction applies.
var (
	// ErrFutureRevision: a range asked for a revision the store has not
	// reached yet (etcd's ErrFutureRev). Retry once it has.
	ErrFutureRevision = errors.New("statemachine: required revision is a future revision")

	// ErrKeyNotFound: a put with ignore_value found no key to keep the
	// value of (etcd's ErrKeyNotFound).
	ErrKeyNotFound = errors.New("statemachine: key not found")
)

// keyBounds is a range of keys as etcd gives it: [key, end), end "" is the
// key alone and "\x00" every key >= key.
type keyBounds struct {
	key string
	end string
}

func boundsOf(key string, rangeEnd []byte) keyBounds {
	return keyBounds{key: key, end: string(rangeEnd)}
}

func (b keyBounds) single() bool { return b.end == "" }

// ascend calls fn for every stored key of tree in b, ascending, until fn
// returns false. Expired keys are passed on: the caller decides.
func (b keyBounds) ascend(tree *btree.BTreeG[kv], fn func(kv) bool) {
	if b.single() {
		if v, ok := tree.Get(keyOnly(b.key)); ok {
			fn(v)
		}
		return
	}
	toEnd := b.end == "\x00"
	tree.Ascend(keyOnly(b.key), func(v kv) bool {
		if !toEnd && v.key() >= b.end {
			return false
		}
		return fn(v)
	})
}

// validateRangeBounds checks a key range of a request: a key, or a
// range_end with an empty key (from the first key).
func validateRangeBounds(op, key string, rangeEnd []byte) error {
	if key == "" && len(rangeEnd) == 0 {
		return fmt.Errorf("%s: key is empty; give a key, or a range_end (\"\\x00\": every key)", op)
	}
	return nil
}

// RangeKeys reads the keys req selects (etcd's Range, see
// metapb.TxnRange) not expired at nowMs, at one point of the log, and
// returns them with the revision of that point. A past revision (below
// the current one) is read from the history: the keys as they were then
// (no key hidden as expired: the history holds their removals), or a
// CompactedError (ErrCompacted) below the compact revision; a later one
// is ErrFutureRevision.
func (sm *StateMachine) RangeKeys(req *metapb.TxnRange, nowMs uint64) (*metapb.TxnRangeResponse, uint64, error) {
	if err := validateRangeBounds("range", req.GetKey(), req.GetRangeEnd()); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrInvalidTxn, err)
	}
	at := req.GetRevision()
	sm.mu.Lock()
	tree := sm.mu.tree.Copy()
	rev := sm.mu.revision
	past := at != 0 && at < rev
	var h history
	if past {
		h = sm.mu.hist.clone()
	}
	sm.mu.Unlock()
	if !past {
		resp, err := rangeKeys(tree, req, nowMs, rev)
		return resp, rev, err
	}
	tree, err := treeAt(tree, &h, nil, at)
	if err != nil {
		return nil, rev, err
	}
	resp, err := rangeKeys(tree, req, 0, at)
	return resp, rev, err
}

// checkRevision refuses a revision that is not 0 or cur (the caller
// serves a past one from a tree at it, treeAt).
func checkRevision(rev, cur uint64) error {
	switch {
	case rev == 0 || rev == cur:
		return nil
	case rev > cur:
		return fmt.Errorf("%w: revision %d, the store is at %d", ErrFutureRevision, rev, cur)
	default:
		return fmt.Errorf("%w: revision %d: a past revision reached the current-state range (a bug)", ErrCompacted, rev)
	}
}

// rangeKeys serves req from tree at revision cur, as etcd's range does:
// count the keys in range, drop those outside the revision filters, sort,
// then keep limit.
func rangeKeys(tree *btree.BTreeG[kv], req *metapb.TxnRange, nowMs, cur uint64) (*metapb.TxnRangeResponse, error) {
	if err := checkRevision(req.GetRevision(), cur); err != nil {
		return nil, err
	}
	resp := &metapb.TxnRangeResponse{}
	var vs []kv
	// In key order, the keys past limit + 1 (one more says More) are only
	// counted.
	keep := uint64(math.MaxUint64)
	if l := req.GetLimit(); l > 0 && sortOrder(req.GetSortOrder(), req.GetSortTarget()) == metapb.TxnRange_NONE {
		keep = l + 1
	}
	boundsOf(req.GetKey(), req.GetRangeEnd()).ascend(tree, func(v kv) bool {
		m := v.meta()
		if m.expired(nowMs) {
			return true
		}
		resp.Count++
		if !req.GetCountOnly() && uint64(len(vs)) < keep && inRevisionFilters(req, m) {
			vs = append(vs, v)
		}
		return true
	})
	sortRange(vs, req.GetSortOrder(), req.GetSortTarget())
	if l := req.GetLimit(); l > 0 && uint64(len(vs)) > l {
		vs, resp.More = vs[:l], true
	}
	resp.Kvs = make([]*metapb.KV, len(vs))
	for i, v := range vs {
		sv := v.seqV()
		if req.GetKeysOnly() {
			sv.Data = nil
		}
		resp.Kvs[i] = &metapb.KV{Key: v.key(), Value: sv}
	}
	return resp, nil
}

func inRevisionFilters(req *metapb.TxnRange, m kvMeta) bool {
	switch {
	case req.GetMinModRevision() != 0 && m.modRev < req.GetMinModRevision(),
		req.GetMaxModRevision() != 0 && m.modRev > req.GetMaxModRevision(),
		req.GetMinCreateRevision() != 0 && m.createRev < req.GetMinCreateRevision(),
		req.GetMaxCreateRevision() != 0 && m.createRev > req.GetMaxCreateRevision():
		return false
	}
	return true
}

// sortRange sorts vs (in key order) as etcd does: no order with a target
// other than KEY is ascending, KEY ascending is the order they are in.
// The sort is stable: keys with equal targets stay in key order.
func sortRange(vs []kv, order metapb.TxnRange_SortOrder, target metapb.TxnRange_SortTarget) {
	order = sortOrder(order, target)
	if order == metapb.TxnRange_NONE {
		return
	}
	by := func(a, b kv) int {
		switch target {
		case metapb.TxnRange_VERSION:
			return cmp.Compare(a.meta().version, b.meta().version)
		case metapb.TxnRange_CREATE:
			return cmp.Compare(a.meta().createRev, b.meta().createRev)
		case metapb.TxnRange_MOD:
			return cmp.Compare(a.meta().modRev, b.meta().modRev)
		case metapb.TxnRange_VALUE:
			return strings.Compare(a.data(), b.data())
		}
		return strings.Compare(a.key(), b.key())
	}
	if order == metapb.TxnRange_DESCEND {
		slices.SortStableFunc(vs, func(a, b kv) int { return by(b, a) })
		return
	}
	slices.SortStableFunc(vs, by)
}

// sortOrder returns the order a range's keys are sorted in: NONE (key
// order, as they are stored) for ascending keys, ASCEND for no order with
// a target other than KEY.
func sortOrder(order metapb.TxnRange_SortOrder, target metapb.TxnRange_SortTarget) metapb.TxnRange_SortOrder {
	switch {
	case order == metapb.TxnRange_NONE && target != metapb.TxnRange_KEY:
		return metapb.TxnRange_ASCEND
	case order == metapb.TxnRange_ASCEND && target == metapb.TxnRange_KEY:
		return metapb.TxnRange_NONE
	}
	return order
}

// deleteRangeLocked deletes every key in the range, in key order.
func (sm *StateMachine) deleteRangeLocked(d *metapb.TxnDeleteRange) *metapb.TxnDeleteRangeResponse {
	var doomed []kv
	boundsOf(d.GetKey(), d.GetRangeEnd()).ascend(sm.mu.tree, func(v kv) bool {
		doomed = append(doomed, v)
		return true
	})
	resp := &metapb.TxnDeleteRangeResponse{Deleted: uint64(len(doomed))}
	for _, v := range doomed {
		if d.GetPrevKv() {
			resp.PrevKvs = append(resp.PrevKvs, &metapb.KV{Key: v.key(), Value: v.seqV()})
		}
		sm.deleteLocked(v)
	}
	return resp
}

// rangeConditionHoldsLocked evaluates a condition with a range_end, or one
// on version, create_revision or mod_revision, as etcd's Compare: it holds
// when it holds for every key in the range; an empty range compares an
// absent key (all zero), except that a value never holds for it.
func (sm *StateMachine) rangeConditionHoldsLocked(c *metapb.TxnCondition) bool {
	holds, found := true, false
	boundsOf(c.GetKey(), c.GetRangeEnd()).ascend(sm.mu.tree, func(v kv) bool {
		found = true
		holds = compareKV(c, v)
		return holds
	})
	if !found {
		if _, ok := c.GetTarget().(*metapb.TxnCondition_Value); ok {
			return false
		}
		return compareKV(c, kv{})
	}
	return holds
}

// compareKV compares one value (absent: all zero) with the target.
func compareKV(c *metapb.TxnCondition, v kv) bool {
	m := v.meta()
	switch t := c.GetTarget().(type) {
	case *metapb.TxnCondition_Seq:
		return compareHolds(c.GetOp(), cmp.Compare(m.seq, t.Seq))
	case *metapb.TxnCondition_Value:
		return v.present() && compareHolds(c.GetOp(), strings.Compare(v.data(), string(t.Value)))
	case *metapb.TxnCondition_Version:
		return compareHolds(c.GetOp(), cmp.Compare(m.version, t.Version))
	case *metapb.TxnCondition_CreateRevision:
		return compareHolds(c.GetOp(), cmp.Compare(m.createRev, t.CreateRevision))
	case *metapb.TxnCondition_ModRevision:
		return compareHolds(c.GetOp(), cmp.Compare(m.modRev, t.ModRevision))
	case *metapb.TxnCondition_Lease:
		return compareHolds(c.GetOp(), cmp.Compare(m.leaseID(), t.Lease))
	}
	return false // unreachable after ValidateTxn
}

// txnDecisions records, before any op runs, which branch each nested
// transaction on the path that will run takes: etcd evaluates every
// comparison of a transaction, nested ones included, against the state
// before the transaction.
type txnDecisions map[*metapb.TxnRequest]bool

// decideNestedLocked decides the nested transactions among ops, and
// those nested in the ops they will run, into d.
func (sm *StateMachine) decideNestedLocked(ops []*metapb.TxnOp, d txnDecisions) txnDecisions {
	for _, op := range ops {
		n := op.GetTxn()
		if n == nil {
			continue
		}
		if d == nil {
			d = txnDecisions{}
		}
		ok := sm.allHoldLocked(n.GetCondition())
		d[n] = ok
		if ok {
			d = sm.decideNestedLocked(n.GetIfThen(), d)
		} else {
			d = sm.decideNestedLocked(n.GetElseThen(), d)
		}
	}
	return d
}

// nestedTxnLocked runs the branch decided for the nested transaction n.
func (sm *StateMachine) nestedTxnLocked(n *metapb.TxnRequest, d txnDecisions) (*metapb.TxnReply, error) {
	reply := &metapb.TxnReply{Success: d[n], ExecutionPath: pathElse}
	ops := n.GetElseThen()
	if reply.Success {
		reply.ExecutionPath, ops = pathThen, n.GetIfThen()
	}
	if len(ops) > 0 {
		reply.Responses = make([]*metapb.TxnOpResponse, len(ops))
	}
	for i, op := range ops {
		r, err := sm.txnOpLocked(op, d)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", reply.ExecutionPath, i, err)
		}
		reply.Responses[i] = r
	}
	return reply, nil
}

// txnRangeLocked serves a range op at the transaction's point: it sees
// the ops before it.
// A past revision (below the store's revision before the entry) is read
// from the history, without the ops before it.
func (sm *StateMachine) txnRangeLocked(r *metapb.TxnRange) (*metapb.TxnRangeResponse, error) {
	if at := r.GetRevision(); at != 0 && at < sm.mu.revision {
		tree, err := treeAt(sm.mu.tree, &sm.mu.hist, sm.mu.changes, at)
		if err != nil {
			return nil, err
		}
		return rangeKeys(tree, r, 0, at)
	}
	return rangeKeys(sm.mu.tree, r, sm.mu.entryMs, sm.mu.revision)
}
