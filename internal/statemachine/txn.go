package statemachine

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/metasrv/metasrv/api/metapb"
)

// Transaction limits. Apply rejects a transaction over any of them with an
// error wrapping ErrInvalidTxn; the gRPC edge checks them first with
// ValidateTxn so that an oversized request never reaches the log.
const (
	// MaxTxnOps is the most ops a transaction may hold, counted over
	// if_then, else_then and the ops of every branch.
	MaxTxnOps = 1000
	// MaxTxnConditions is the most conditions a transaction may hold,
	// counted over condition and every branch predicate, nested ones
	// included. Each is evaluated in Apply (keys_with_prefix scans the
	// prefix), so this bounds the work of one entry.
	MaxTxnConditions = 1000
	// MaxTxnDepth is the deepest nesting of a branch predicate: a
	// predicate is depth 1, its children depth 2, and so on.
	MaxTxnDepth = 32
	// MaxTxnBytes is the most key and value bytes a transaction may hold:
	// every condition key and value target, op key, prefix, sequence key
	// and value, over all branches. It is a backstop above every request
	// limit the gRPC edge derives from grpc_api_max_message_size (at most
	// 2^31-1, half of which is under 1 GiB); the edge checks the
	// configured one with ValidateTxnBytes before proposing.
	MaxTxnBytes = 1 << 30
)

// Execution paths of a TxnReply.
const (
	pathThen   = "then"
	pathElse   = "else"
	pathNone   = "none"
	pathBranch = "branch:"
)

// txnErrorf returns an error wrapping ErrInvalidTxn.
func txnErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidTxn, fmt.Sprintf(format, args...))
}

// ValidateTxn checks everything about a transaction that does not depend
// on the state: each condition has a non-empty key, a known op and a
// target; each op has a request of a known kind with a non-empty key
// (prefix, sequence key), at most one of ttl_ms and expire_at_ms, a known
// match_seq kind; each predicate a known combiner; only one of the two
// forms (condition/if_then/else_then, or branches) is used; and the
// totals are within MaxTxnOps, MaxTxnConditions, MaxTxnDepth and
// MaxTxnBytes. Errors wrap ErrInvalidTxn and name the offending part.
// Apply runs it on every transaction; the gRPC edge runs ValidateTxnBytes
// first.
func ValidateTxn(req *metapb.TxnRequest) error {
	return ValidateTxnBytes(req, MaxTxnBytes)
}

// ValidateTxnBytes is ValidateTxn with a limit of maxBytes (at most
// MaxTxnBytes) on the key and value bytes.
func ValidateTxnBytes(req *metapb.TxnRequest, maxBytes int) error {
	if req == nil {
		return txnErrorf("no transaction")
	}
	if len(req.GetBranches()) > 0 &&
		(len(req.GetCondition()) > 0 || len(req.GetIfThen()) > 0 || len(req.GetElseThen()) > 0) {
		return txnErrorf("both branches and condition/if_then/else_then are set; use one form")
	}
	var v txnValidator
	for i, c := range req.GetCondition() {
		if err := v.condition(c); err != nil {
			return txnErrorf("condition[%d]: %v", i, err)
		}
	}
	if err := v.ops("if_then", req.GetIfThen()); err != nil {
		return err
	}
	if err := v.ops("else_then", req.GetElseThen()); err != nil {
		return err
	}
	for i, b := range req.GetBranches() {
		if err := v.expr(b.GetPredicate(), 1); err != nil {
			return txnErrorf("branches[%d].predicate: %v", i, err)
		}
		if err := v.ops(fmt.Sprintf("branches[%d].ops", i), b.GetOps()); err != nil {
			return err
		}
	}
	return v.limits(min(maxBytes, MaxTxnBytes))
}

// txnValidator accumulates the totals that the limits bound. Counting goes
// on past a limit; limits reports the first one exceeded.
type txnValidator struct {
	nOps, nConds, nBytes int
}

func (v *txnValidator) limits(maxBytes int) error {
	switch {
	case v.nOps > MaxTxnOps:
		return txnErrorf("%d ops, at most %d are allowed; split the transaction", v.nOps, MaxTxnOps)
	case v.nConds > MaxTxnConditions:
		return txnErrorf("%d conditions, at most %d are allowed", v.nConds, MaxTxnConditions)
	case v.nBytes > maxBytes:
		return txnErrorf("%d bytes of keys and values, at most %d are allowed in one request; split the transaction, or store smaller values",
			v.nBytes, maxBytes)
	}
	return nil
}

func (v *txnValidator) condition(c *metapb.TxnCondition) error {
	v.nConds++
	v.nBytes += len(c.GetKey()) + len(c.GetRangeEnd())
	if c.GetKey() == "" && len(c.GetRangeEnd()) == 0 {
		return fmt.Errorf("key is empty")
	}
	if _, ok := metapb.TxnCondition_Op_name[int32(c.GetOp())]; !ok {
		return fmt.Errorf("key %q: unknown op %d; use EQ, NE, GT, GE, LT or LE", c.GetKey(), c.GetOp())
	}
	switch t := c.GetTarget().(type) {
	case *metapb.TxnCondition_Seq, *metapb.TxnCondition_Version,
		*metapb.TxnCondition_CreateRevision, *metapb.TxnCondition_ModRevision, *metapb.TxnCondition_Lease:
	case *metapb.TxnCondition_KeysWithPrefix:
		if len(c.GetRangeEnd()) > 0 {
			return fmt.Errorf("key %q: keys_with_prefix takes no range_end", c.GetKey())
		}
	case *metapb.TxnCondition_Value:
		v.nBytes += len(t.Value)
	default:
		return fmt.Errorf("key %q: no target; set seq, value, keys_with_prefix, version, create_revision, mod_revision or lease", c.GetKey())
	}
	return nil
}

func (v *txnValidator) expr(e *metapb.BoolExpression, depth int) error {
	if e == nil {
		return nil
	}
	if depth > MaxTxnDepth {
		return fmt.Errorf("nested deeper than %d levels", MaxTxnDepth)
	}
	if _, ok := metapb.BoolExpression_Combiner_name[int32(e.GetCombiner())]; !ok {
		return fmt.Errorf("unknown combiner %d; use AND or OR", e.GetCombiner())
	}
	for i, c := range e.GetConditions() {
		if err := v.condition(c); err != nil {
			return fmt.Errorf("conditions[%d]: %v", i, err)
		}
	}
	for i, ch := range e.GetChildren() {
		if err := v.expr(ch, depth+1); err != nil {
			return fmt.Errorf("children[%d]: %v", i, err)
		}
	}
	return nil
}

func (v *txnValidator) ops(where string, ops []*metapb.TxnOp) error {
	return v.opsAt(where, ops, 1)
}

// opsAt checks ops at a nesting depth (1: the outermost transaction).
func (v *txnValidator) opsAt(where string, ops []*metapb.TxnOp, depth int) error {
	for i, op := range ops {
		v.nOps++
		if n := op.GetTxn(); n != nil {
			if err := v.nested(fmt.Sprintf("%s[%d].txn", where, i), n, depth+1); err != nil {
				return err
			}
			continue
		}
		if err := v.op(op); err != nil {
			return txnErrorf("%s[%d]: %v", where, i, err)
		}
	}
	return nil
}

func (v *txnValidator) op(op *metapb.TxnOp) error {
	switch r := op.GetRequest().(type) {
	case *metapb.TxnOp_Get:
		v.nBytes += len(r.Get.GetKey())
		return nonEmpty("get", "key", r.Get.GetKey())
	case *metapb.TxnOp_Put:
		p := r.Put
		v.nBytes += len(p.GetKey()) + len(p.GetValue())
		if err := nonEmpty("put", "key", p.GetKey()); err != nil {
			return err
		}
		if p.GetExpireAtMs() != 0 && p.ExpireAt != nil {
			return fmt.Errorf("put key %q: expire_at_ms and expire_at are both set; set at most one", p.GetKey())
		}
		if p.GetIgnoreValue() && len(p.GetValue()) > 0 {
			return fmt.Errorf("put key %q: ignore_value with a value; leave the value empty to keep the key's", p.GetKey())
		}
		if p.GetIgnoreLease() && p.GetLease() != 0 {
			return fmt.Errorf("put key %q: ignore_lease with a lease; leave the lease 0 to keep the key's", p.GetKey())
		}
		return validMatchSeq("put", p.GetKey(), p.GetMatchSeq())
	case *metapb.TxnOp_Delete:
		v.nBytes += len(r.Delete.GetKey())
		if err := nonEmpty("delete", "key", r.Delete.GetKey()); err != nil {
			return err
		}
		return validMatchSeq("delete", r.Delete.GetKey(), r.Delete.GetMatchSeq())
	case *metapb.TxnOp_DeleteByPrefix:
		v.nBytes += len(r.DeleteByPrefix.GetPrefix())
		return nonEmpty("delete_by_prefix", "prefix", r.DeleteByPrefix.GetPrefix())
	case *metapb.TxnOp_FetchIncreaseU64:
		f := r.FetchIncreaseU64
		v.nBytes += len(f.GetKey())
		if err := nonEmpty("fetch_increase_u64", "key", f.GetKey()); err != nil {
			return err
		}
		return validMatchSeq("fetch_increase_u64", f.GetKey(), f.GetMatchSeq())
	case *metapb.TxnOp_PutSequential:
		p := r.PutSequential
		v.nBytes += len(p.GetPrefix()) + len(p.GetSequenceKey()) + len(p.GetValue())
		return nonEmpty("put_sequential", "sequence_key", p.GetSequenceKey())
	case *metapb.TxnOp_Range:
		return v.rangeOp(r.Range)
	case *metapb.TxnOp_DeleteRange:
		d := r.DeleteRange
		v.nBytes += len(d.GetKey()) + len(d.GetRangeEnd())
		return validateRangeBounds("delete_range", d.GetKey(), d.GetRangeEnd())
	default:
		return fmt.Errorf("no request; set one of get, put, delete, delete_by_prefix, fetch_increase_u64, put_sequential, range, delete_range, txn")
	}
}

func nonEmpty(op, field, s string) error {
	if s == "" {
		return fmt.Errorf("%s: %s is empty", op, field)
	}
	return nil
}

func validMatchSeq(op, key string, m *metapb.MatchSeq) error {
	switch m.GetKind() {
	case metapb.MatchSeq_ANY, metapb.MatchSeq_EXACT, metapb.MatchSeq_GE:
		return nil
	}
	return fmt.Errorf("%s key %q: unknown match_seq kind %d; use ANY, EXACT or GE", op, key, m.GetKind())
}

func (v *txnValidator) rangeOp(r *metapb.TxnRange) error {
	v.nBytes += len(r.GetKey()) + len(r.GetRangeEnd())
	if _, ok := metapb.TxnRange_SortOrder_name[int32(r.GetSortOrder())]; !ok {
		return fmt.Errorf("range: unknown sort_order %d; use NONE, ASCEND or DESCEND", r.GetSortOrder())
	}
	if _, ok := metapb.TxnRange_SortTarget_name[int32(r.GetSortTarget())]; !ok {
		return fmt.Errorf("range: unknown sort_target %d; use KEY, VERSION, CREATE, MOD or VALUE", r.GetSortTarget())
	}
	return validateRangeBounds("range", r.GetKey(), r.GetRangeEnd())
}

// nested checks a nested transaction at depth (2: nested in the
// outermost one): the condition form only, within MaxTxnDepth.
func (v *txnValidator) nested(where string, n *metapb.TxnRequest, depth int) error {
	if depth > MaxTxnDepth {
		return txnErrorf("%s: transactions nested deeper than %d levels", where, MaxTxnDepth)
	}
	if len(n.GetBranches()) > 0 {
		return txnErrorf("%s: a nested transaction has no branches; use condition, if_then and else_then", where)
	}
	for i, c := range n.GetCondition() {
		if err := v.condition(c); err != nil {
			return txnErrorf("%s.condition[%d]: %v", where, i, err)
		}
	}
	if err := v.opsAt(where+".if_then", n.GetIfThen(), depth); err != nil {
		return err
	}
	return v.opsAt(where+".else_then", n.GetElseThen(), depth)
}

// checkpoint marks a point of the current Apply that rollbackLocked can
// return to.
type checkpoint struct {
	lastSeq uint64
	changes int
}

func (sm *StateMachine) checkpointLocked() checkpoint {
	return checkpoint{lastSeq: sm.mu.lastSeq, changes: len(sm.mu.changes)}
}

// rollbackLocked undoes every change made since cp, newest first, using
// the change list as an undo log (each change holds the key's value
// before it), and gives back the seqs taken since (puts whose value
// expired at once took one without a change). O(changes undone).
func (sm *StateMachine) rollbackLocked(cp checkpoint) {
	for i := len(sm.mu.changes) - 1; i >= cp.changes; i-- {
		c := sm.mu.changes[i]
		sm.unindexLocked(c.cur)
		if c.prev.present() {
			sm.indexLocked(c.prev)
			sm.mu.tree.Set(c.prev)
		} else {
			sm.mu.tree.Delete(keyOnly(c.key))
		}
	}
	sm.mu.lastSeq = cp.lastSeq
	clear(sm.mu.changes[cp.changes:])
	sm.mu.changes = sm.mu.changes[:cp.changes]
}

// txnLocked executes a transaction at the state machine's clock, after the
// sweep (so every stored key is live). Either every op of the branch that
// runs applies or, on an error (wrapping ErrInvalidTxn, or ErrReplyTooLarge
// for a reply over maxReply bytes; 0: no bound), none does.
func (sm *StateMachine) txnLocked(req *metapb.TxnRequest, maxReply uint64) (*metapb.TxnReply, error) {
	if err := ValidateTxn(req); err != nil {
		return nil, err
	}
	reply := &metapb.TxnReply{}
	var (
		ops   []*metapb.TxnOp
		where string
	)
	switch {
	case len(req.GetBranches()) > 0:
		reply.ExecutionPath = pathNone
		for i, b := range req.GetBranches() {
			if sm.exprHoldsLocked(b.GetPredicate()) {
				reply.Success = true
				reply.ExecutionPath = pathBranch + strconv.Itoa(i)
				ops, where = b.GetOps(), fmt.Sprintf("branches[%d].ops", i)
				break
			}
		}
	case sm.allHoldLocked(req.GetCondition()):
		reply.Success, reply.ExecutionPath = true, pathThen
		ops, where = req.GetIfThen(), "if_then"
	default:
		reply.ExecutionPath = pathElse
		ops, where = req.GetElseThen(), "else_then"
	}
	if len(ops) == 0 {
		return reply, nil
	}

	decided := sm.decideNestedLocked(ops, nil)
	cp := sm.checkpointLocked()
	reply.Responses = make([]*metapb.TxnOpResponse, len(ops))
	for i, op := range ops {
		r, err := sm.txnOpLocked(op, decided)
		if err != nil {
			sm.rollbackLocked(cp)
			return nil, fmt.Errorf("%w: %s[%d]: %w; nothing in the transaction was applied", ErrInvalidTxn, where, i, err)
		}
		reply.Responses[i] = r
	}
	if err := checkTxnReply(reply, maxReply); err != nil {
		sm.rollbackLocked(cp)
		return nil, err
	}
	return reply, nil
}

// allHoldLocked reports whether every condition holds (true for none).
func (sm *StateMachine) allHoldLocked(conds []*metapb.TxnCondition) bool {
	for _, c := range conds {
		if !sm.conditionHoldsLocked(c) {
			return false
		}
	}
	return true
}

// exprHoldsLocked evaluates a predicate: unset holds; AND holds when every
// condition and child holds (an empty AND holds), OR when one does (an
// empty OR does not). Evaluation stops at the first deciding term.
func (sm *StateMachine) exprHoldsLocked(e *metapb.BoolExpression) bool {
	if e == nil {
		return true
	}
	and := e.GetCombiner() == metapb.BoolExpression_AND
	for _, c := range e.GetConditions() {
		if sm.conditionHoldsLocked(c) != and {
			return !and
		}
	}
	for _, ch := range e.GetChildren() {
		if sm.exprHoldsLocked(ch) != and {
			return !and
		}
	}
	return and
}

// conditionHoldsLocked compares the key's state with the condition's
// target: its seq (0 when absent), its value bytewise (false for every op
// when absent), or the number of keys with the key as prefix.
func (sm *StateMachine) conditionHoldsLocked(c *metapb.TxnCondition) bool {
	if len(c.GetRangeEnd()) > 0 {
		return sm.rangeConditionHoldsLocked(c)
	}
	switch t := c.GetTarget().(type) {
	case *metapb.TxnCondition_Version, *metapb.TxnCondition_CreateRevision, *metapb.TxnCondition_ModRevision,
		*metapb.TxnCondition_Lease:
		return sm.rangeConditionHoldsLocked(c)
	case *metapb.TxnCondition_Seq:
		v, _ := sm.mu.tree.Get(keyOnly(c.GetKey()))
		return compareHolds(c.GetOp(), cmp.Compare(v.meta().seq, t.Seq))
	case *metapb.TxnCondition_Value:
		v, ok := sm.mu.tree.Get(keyOnly(c.GetKey()))
		return ok && compareHolds(c.GetOp(), strings.Compare(v.data(), string(t.Value)))
	case *metapb.TxnCondition_KeysWithPrefix:
		return compareHolds(c.GetOp(), cmp.Compare(sm.countPrefixLocked(c.GetKey()), t.KeysWithPrefix))
	}
	return false // unreachable after ValidateTxn
}

// compareHolds reports whether op holds for a comparison result
// (cmp.Compare(actual, target)).
func compareHolds(op metapb.TxnCondition_Op, c int) bool {
	switch op {
	case metapb.TxnCondition_EQ:
		return c == 0
	case metapb.TxnCondition_NE:
		return c != 0
	case metapb.TxnCondition_GT:
		return c > 0
	case metapb.TxnCondition_GE:
		return c >= 0
	case metapb.TxnCondition_LT:
		return c < 0
	case metapb.TxnCondition_LE:
		return c <= 0
	}
	return false // unreachable after ValidateTxn
}

// countPrefixLocked returns the number of stored keys with prefix.
// O(matching keys).
func (sm *StateMachine) countPrefixLocked(prefix string) uint64 {
	var n uint64
	sm.mu.tree.Ascend(keyOnly(prefix), func(v kv) bool {
		if !strings.HasPrefix(v.key(), prefix) {
			return false
		}
		n++
		return true
	})
	return n
}

// txnOpLocked executes one op of a validated transaction; d holds the
// decisions of its nested transactions (decideNestedLocked).
func (sm *StateMachine) txnOpLocked(op *metapb.TxnOp, d txnDecisions) (*metapb.TxnOpResponse, error) {
	switch r := op.GetRequest().(type) {
	case *metapb.TxnOp_Range:
		resp, err := sm.txnRangeLocked(r.Range)
		if err != nil {
			return nil, err
		}
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Range{Range: resp}}, nil
	case *metapb.TxnOp_DeleteRange:
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_DeleteRange{DeleteRange: sm.deleteRangeLocked(r.DeleteRange)}}, nil
	case *metapb.TxnOp_Txn:
		resp, err := sm.nestedTxnLocked(r.Txn, d)
		if err != nil {
			return nil, fmt.Errorf("txn: %w", err)
		}
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Txn{Txn: resp}}, nil
	case *metapb.TxnOp_Get:
		v, _ := sm.mu.tree.Get(keyOnly(r.Get.GetKey()))
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Get{
			Get: &metapb.TxnGetResponse{Key: r.Get.GetKey(), Value: v.seqV()},
		}}, nil
	case *metapb.TxnOp_Put:
		resp, err := sm.txnPutLocked(r.Put)
		if err != nil {
			return nil, err
		}
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Put{Put: resp}}, nil
	case *metapb.TxnOp_Delete:
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Delete{Delete: sm.txnDeleteLocked(r.Delete)}}, nil
	case *metapb.TxnOp_DeleteByPrefix:
		resp := &metapb.TxnDeleteByPrefixResponse{
			Prefix: r.DeleteByPrefix.GetPrefix(),
			Count:  sm.deletePrefixLocked(r.DeleteByPrefix.GetPrefix()),
		}
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_DeleteByPrefix{DeleteByPrefix: resp}}, nil
	case *metapb.TxnOp_FetchIncreaseU64:
		f := r.FetchIncreaseU64
		resp := sm.fetchIncreaseLocked(f.GetKey(), f.GetDelta(), f.GetMaxValue(), f.GetMatchSeq())
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_FetchIncreaseU64{FetchIncreaseU64: resp}}, nil
	case *metapb.TxnOp_PutSequential:
		resp := sm.putSequentialLocked(r.PutSequential)
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_PutSequential{PutSequential: resp}}, nil
	}
	return nil, fmt.Errorf("no request") // unreachable after ValidateTxn
}

// txnPutLocked: on a match_seq mismatch nothing is written, applied is
// false and prev = current = the existing value. With ignore_value the
// key keeps its data; an absent key fails the transaction
// (ErrKeyNotFound), as it does with ignore_lease, which keeps the key's
// lease. A lease that does not exist fails it (ErrLeaseNotFound).
func (sm *StateMachine) txnPutLocked(p *metapb.TxnPut) (*metapb.TxnPutResponse, error) {
	prev, _ := sm.mu.tree.Get(keyOnly(p.GetKey()))
	if !matchSeq(p.GetMatchSeq(), prev.meta().seq) {
		return &metapb.TxnPutResponse{Key: p.GetKey(), Prev: prev.seqV(), Current: prev.seqV()}, nil
	}
	data := p.GetValue()
	if p.GetIgnoreValue() {
		if !prev.present() {
			return nil, fmt.Errorf("%w: put key %q with ignore_value", ErrKeyNotFound, p.GetKey())
		}
		data = []byte(prev.data())
	}
	leaseID, err := sm.putLeaseLocked(p.GetKey(), prev, p.GetLease(), p.GetIgnoreLease())
	if err != nil {
		return nil, err
	}
	m := sm.metaLocked(p.GetTtlMs(), p.GetExpireAtMs(), p.ExpireAt)
	m.setLease(leaseID)
	v := sm.writeLocked(prev, p.GetKey(), data, m)
	return &metapb.TxnPutResponse{Key: p.GetKey(), Prev: prev.seqV(), Current: v.seqV(), Applied: true}, nil
}

// txnDeleteLocked: success is true when a key was deleted; false when it
// was absent or match_seq did not match (then nothing changes). prev is the
// value before the op.
func (sm *StateMachine) txnDeleteLocked(d *metapb.TxnDelete) *metapb.TxnDeleteResponse {
	prev, _ := sm.mu.tree.Get(keyOnly(d.GetKey()))
	resp := &metapb.TxnDeleteResponse{Key: d.GetKey(), Prev: prev.seqV()}
	if prev.present() && matchSeq(d.GetMatchSeq(), prev.meta().seq) {
		sm.deleteLocked(prev)
		resp.Success = true
	}
	return resp
}

// deletePrefixLocked deletes every stored key with prefix, in key order,
// and returns how many.
func (sm *StateMachine) deletePrefixLocked(prefix string) uint64 {
	var doomed []kv
	sm.mu.tree.Ascend(keyOnly(prefix), func(v kv) bool {
		if !strings.HasPrefix(v.key(), prefix) {
			return false
		}
		doomed = append(doomed, v)
		return true
	})
	for _, v := range doomed {
		sm.deleteLocked(v)
	}
	return uint64(len(doomed))
}

// fetchIncreaseLocked reads key as a u64 counter written as a JSON number
// (absent, or anything else: 0, as databend-meta reads it) and, when
// match_seq matches, writes max(counter, maxValue) + delta, saturating at
// 0 and 2^64-1, as a JSON number, with a meta of its own (the key's
// expiry is not kept, as in databend-meta). On a mismatch nothing is
// written, applied is false and after = before.
func (sm *StateMachine) fetchIncreaseLocked(key string, delta int64, maxValue uint64, m *metapb.MatchSeq) *metapb.FetchIncreaseU64Response {
	prev, _ := sm.mu.tree.Get(keyOnly(key))
	pm, data := prev.parts()
	before := parseJSONU64(data)
	resp := &metapb.FetchIncreaseU64Response{
		Key: key, BeforeSeq: pm.seq, Before: before, AfterSeq: pm.seq, After: before,
	}
	if !matchSeq(m, pm.seq) {
		return resp
	}
	after := addSaturating(max(before, maxValue), delta)
	v := sm.writeLocked(prev, key, strconv.AppendUint(nil, after, 10), sm.metaLocked(0, 0, nil))
	resp.AfterSeq, resp.After, resp.Applied = v.meta().seq, after, true
	return resp
}

// addSaturating returns x + d, saturating at 0 and math.MaxUint64 (Rust's
// u64::saturating_add_signed).
func addSaturating(x uint64, d int64) uint64 {
	if d >= 0 {
		if uint64(d) > math.MaxUint64-x {
			return math.MaxUint64
		}
		return x + uint64(d)
	}
	neg := uint64(-(d + 1)) + 1 // |d| without overflow at math.MinInt64
	if neg > x {
		return 0
	}
	return x - neg
}

// parseJSONU64 reads data as databend-meta's counters do
// (serde_json::from_slice::<u64>): one JSON number that is a u64
// (no sign, fraction, exponent or leading zero), JSON white space around
// it allowed. Anything else, and empty data, read as 0.
func parseJSONU64(data string) uint64 {
	s := strings.Trim(data, " \t\n\r")
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// SequentialKey is the key put_sequential writes for counter value n, as
// databend-meta formats it: prefix, then n in 21 digits, zero-padded, in
// groups of 3 joined by "_" (000_000_000_000_000_000_007), so the keys
// sort in the order they were created.
func SequentialKey(prefix string, n uint64) string {
	d := fmt.Sprintf("%021d", n)
	var b strings.Builder
	b.Grow(len(prefix) + len(d) + len(d)/3)
	b.WriteString(prefix)
	for i := 0; i < len(d); i += 3 {
		if i > 0 {
			b.WriteByte('_')
		}
		b.WriteString(d[i : i+3])
	}
	return b.String()
}

// putSequentialLocked increases the counter at sequence_key by 1 and puts
// value at prefix + the counter's value before the increase, formatted by
// SequentialKey, as databend-meta does.
func (sm *StateMachine) putSequentialLocked(p *metapb.PutSequential) *metapb.PutSequentialResponse {
	fi := sm.fetchIncreaseLocked(p.GetSequenceKey(), 1, 0, nil)
	key := SequentialKey(p.GetPrefix(), fi.GetBefore())
	prev, _ := sm.mu.tree.Get(keyOnly(key))
	v := sm.writeLocked(prev, key, p.GetValue(), sm.metaLocked(p.GetTtlMs(), 0, p.ExpireAt))
	return &metapb.PutSequentialResponse{Key: key, Current: v.seqV()}
}
