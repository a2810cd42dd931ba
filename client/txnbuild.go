package client

import (
	"fmt"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
)

// TxnBuilder builds a metapb.TxnRequest in one of its two forms:
//
//	// conditions -> then / else
//	req, err := client.NewTxn().
//		If(client.Seq("k").Eq(3)).
//		Then(client.OpPut("k", v).WithTTL(30 * time.Second)).
//		Else(client.OpGet("k")).
//		Build()
//
//	// ordered branches: the first whose predicate holds runs
//	req, err := client.NewTxn().
//		Branch(client.Seq("lock").Eq(0), client.OpPut("lock", me)).
//		Branch(client.Or(client.Value("lock").Eq(me), client.KeysWithPrefix("queue/").Eq(0)), client.OpGet("lock")).
//		Branch(nil, client.OpPutSequential("queue/", "queue_seq", me)).
//		Build()
//
// then run it with Client.Txn. Every method appends; none checks anything:
// Build reports the first problem. A TxnBuilder is not safe for concurrent
// use; the Conditions and Ops given to it are values and may be reused.
type TxnBuilder struct {
	conds    []Condition
	then     []Op
	els      []Op
	branches []txnBranch
}

type txnBranch struct {
	pred Predicate // nil: always holds
	ops  []Op
}

// NewTxn returns an empty builder. Built as is, it is a transaction with no
// condition and no op: it runs the (empty) then branch.
func NewTxn() *TxnBuilder { return &TxnBuilder{} }

// If adds conditions that must all hold for the Then ops to run; when one
// does not, the Else ops run instead.
func (b *TxnBuilder) If(conds ...Condition) *TxnBuilder {
	b.conds = append(b.conds, conds...)
	return b
}

// Then adds ops to run when every If condition holds (or there is none).
func (b *TxnBuilder) Then(ops ...Op) *TxnBuilder {
	b.then = append(b.then, ops...)
	return b
}

// Else adds ops to run when an If condition does not hold.
func (b *TxnBuilder) Else(ops ...Op) *TxnBuilder {
	b.els = append(b.els, ops...)
	return b
}

// Branch adds a branch: the server evaluates the branches in the order they
// were added and runs the ops of the first whose predicate holds (reply
// ExecutionPath "branch:N", 0-based); when none holds nothing runs ("none").
// A nil predicate always holds: use it last, as a default. A transaction
// uses branches or If/Then/Else, not both.
func (b *TxnBuilder) Branch(p Predicate, ops ...Op) *TxnBuilder {
	b.branches = append(b.branches, txnBranch{pred: p, ops: ops})
	return b
}

// Build returns the request, or an error wrapping ErrInvalidArgument that
// names the first invalid part (e.g. `then[1]: put: empty key`).
func (b *TxnBuilder) Build() (*metapb.TxnRequest, error) {
	req := &metapb.TxnRequest{}
	if len(b.branches) > 0 {
		if len(b.conds) > 0 || len(b.then) > 0 || len(b.els) > 0 {
			return nil, fmt.Errorf("%w: txn: Branch cannot be combined with If, Then or Else", ErrInvalidArgument)
		}
		for i, br := range b.branches {
			where := fmt.Sprintf("branch[%d]", i)
			co := &metapb.ConditionalOps{}
			if br.pred != nil {
				e, err := br.pred.boolExpr()
				if err != nil {
					return nil, fmt.Errorf("%w: txn: %s: %w", ErrInvalidArgument, where, err)
				}
				co.Predicate = e
			}
			ops, err := buildOps(where, br.ops)
			if err != nil {
				return nil, err
			}
			co.Ops = ops
			req.Branches = append(req.Branches, co)
		}
		return req, nil
	}
	for i, c := range b.conds {
		pc, err := c.proto()
		if err != nil {
			return nil, fmt.Errorf("%w: txn: if[%d]: %w", ErrInvalidArgument, i, err)
		}
		req.Condition = append(req.Condition, pc)
	}
	var err error
	if req.IfThen, err = buildOps("then", b.then); err != nil {
		return nil, err
	}
	if req.ElseThen, err = buildOps("else", b.els); err != nil {
		return nil, err
	}
	return req, nil
}

func buildOps(where string, ops []Op) ([]*metapb.TxnOp, error) {
	var out []*metapb.TxnOp
	for i, op := range ops {
		if op == nil {
			return nil, fmt.Errorf("%w: txn: %s[%d]: nil op", ErrInvalidArgument, where, i)
		}
		p, err := op.txnOp()
		if err != nil {
			return nil, fmt.Errorf("%w: txn: %s[%d]: %w", ErrInvalidArgument, where, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// ---- Conditions ----

// Condition compares one key's state with a target; make one with Seq,
// Value or KeysWithPrefix. A Condition is also a Predicate that holds when
// it holds.
type Condition struct {
	key    string
	op     metapb.TxnCondition_Op
	target any // uint64 seq, []byte value, or prefixCount
	what   string
}

type prefixCount uint64

// Target is the left-hand side of a Condition: a key's seq, a key's value,
// or the number of keys with a prefix. Its methods make the Condition.
type Target[T uint64 | []byte] struct {
	key  string
	kind string // "seq", "value", "keys_with_prefix"
}

// Seq compares the seq of key (0 when absent): Seq("k").Eq(0) holds when k
// is absent, Seq("k").Eq(n) when nobody wrote k since you read it at seq n.
func Seq(key string) Target[uint64] { return Target[uint64]{key: key, kind: "seq"} }

// Value compares the value of key bytewise; a condition on the value of an
// absent key is false, whatever the comparison (Ne included).
func Value(key string) Target[[]byte] { return Target[[]byte]{key: key, kind: "value"} }

// KeysWithPrefix compares the number of live keys that start with prefix
// (not empty).
func KeysWithPrefix(prefix string) Target[uint64] {
	return Target[uint64]{key: prefix, kind: "keys_with_prefix"}
}

// Eq holds when the target equals v.
func (t Target[T]) Eq(v T) Condition { return t.cond(metapb.TxnCondition_EQ, v) }

// Ne holds when the target differs from v.
func (t Target[T]) Ne(v T) Condition { return t.cond(metapb.TxnCondition_NE, v) }

// Gt holds when the target is greater than v.
func (t Target[T]) Gt(v T) Condition { return t.cond(metapb.TxnCondition_GT, v) }

// Ge holds when the target is greater than or equal to v.
func (t Target[T]) Ge(v T) Condition { return t.cond(metapb.TxnCondition_GE, v) }

// Lt holds when the target is less than v.
func (t Target[T]) Lt(v T) Condition { return t.cond(metapb.TxnCondition_LT, v) }

// Le holds when the target is less than or equal to v.
func (t Target[T]) Le(v T) Condition { return t.cond(metapb.TxnCondition_LE, v) }

func (t Target[T]) cond(op metapb.TxnCondition_Op, v T) Condition {
	c := Condition{key: t.key, op: op, what: t.kind}
	switch v := any(v).(type) {
	case uint64:
		if t.kind == "keys_with_prefix" {
			c.target = prefixCount(v)
		} else {
			c.target = v
		}
	case []byte:
		c.target = append([]byte(nil), v...)
	}
	return c
}

// String describes the condition, e.g. `seq("k") EQ 3`.
func (c Condition) String() string {
	switch t := c.target.(type) {
	case []byte:
		return fmt.Sprintf("value(%q) %v %q", c.key, c.op, t)
	default:
		return fmt.Sprintf("%s(%q) %v %d", c.what, c.key, c.op, t)
	}
}

func (c Condition) proto() (*metapb.TxnCondition, error) {
	pc := &metapb.TxnCondition{Key: c.key, Op: c.op}
	switch t := c.target.(type) {
	case uint64:
		pc.Target = &metapb.TxnCondition_Seq{Seq: t}
	case []byte:
		pc.Target = &metapb.TxnCondition_Value{Value: t}
	case prefixCount:
		pc.Target = &metapb.TxnCondition_KeysWithPrefix{KeysWithPrefix: uint64(t)}
	default:
		return nil, fmt.Errorf("empty condition: make one with Seq, Value or KeysWithPrefix")
	}
	if c.key == "" {
		if c.what == "keys_with_prefix" {
			return nil, fmt.Errorf("keys_with_prefix condition: empty prefix")
		}
		return nil, fmt.Errorf("%s condition: empty key", c.what)
	}
	return pc, nil
}

func (c Condition) boolExpr() (*metapb.BoolExpression, error) {
	return And(c).boolExpr()
}

// Predicate is a boolean expression over conditions for Branch: a
// Condition, or And/Or of predicates.
type Predicate interface {
	boolExpr() (*metapb.BoolExpression, error)
}

type boolExpr struct {
	combiner metapb.BoolExpression_Combiner
	items    []Predicate
}

// And holds when every one of ps holds (and when ps is empty).
func And(ps ...Predicate) Predicate {
	return boolExpr{combiner: metapb.BoolExpression_AND, items: ps}
}

// Or holds when at least one of ps holds (never when ps is empty).
func Or(ps ...Predicate) Predicate {
	return boolExpr{combiner: metapb.BoolExpression_OR, items: ps}
}

func (e boolExpr) boolExpr() (*metapb.BoolExpression, error) {
	out := &metapb.BoolExpression{Combiner: e.combiner}
	for _, p := range e.items {
		switch p := p.(type) {
		case nil:
			return nil, fmt.Errorf("nil predicate in %v", e.combiner)
		case Condition:
			c, err := p.proto()
			if err != nil {
				return nil, err
			}
			out.Conditions = append(out.Conditions, c)
		default:
			child, err := p.boolExpr()
			if err != nil {
				return nil, err
			}
			out.Children = append(out.Children, child)
		}
	}
	return out, nil
}

// ---- Ops ----

// Op is one operation of a transaction; make one with OpGet, OpPut,
// OpDelete, OpDeleteByPrefix, OpFetchIncreaseU64 or OpPutSequential. Ops
// are values: the With methods return a changed copy.
type Op interface {
	txnOp() (*metapb.TxnOp, error)
}

// GetOp reads a key (TxnGetResponse).
type GetOp struct{ key string }

// OpGet reads key; the response holds its value (unset when absent).
func OpGet(key string) GetOp { return GetOp{key: key} }

func (o GetOp) txnOp() (*metapb.TxnOp, error) {
	if o.key == "" {
		return nil, fmt.Errorf("get: empty key")
	}
	return &metapb.TxnOp{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: o.key}}}, nil
}

// PutOp writes a key (TxnPutResponse: prev, current, applied).
type PutOp struct {
	key        string
	value      []byte
	ttl        time.Duration
	expireAtMs uint64
	match      MatchSeq
}

// OpPut writes value at key.
func OpPut(key string, value []byte) PutOp { return PutOp{key: key, value: value} }

// WithTTL makes the key expire d after the time the leader stamps into the
// transaction's log entry (whole milliseconds, at least 1ms).
func (o PutOp) WithTTL(d time.Duration) PutOp { o.ttl = d; return o }

// WithExpireAt makes the key expire at an absolute time, Unix milliseconds.
func (o PutOp) WithExpireAt(ms uint64) PutOp { o.expireAtMs = ms; return o }

// WithMatch makes the put conditional on the key's seq; on a mismatch the
// put is skipped (applied false), not the transaction.
func (o PutOp) WithMatch(m MatchSeq) PutOp { o.match = m; return o }

func (o PutOp) txnOp() (*metapb.TxnOp, error) {
	if o.key == "" {
		return nil, fmt.Errorf("put: empty key")
	}
	ttlMs, err := ttlMillis("put", o.ttl, o.expireAtMs)
	if err != nil {
		return nil, err
	}
	return &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{
		Key: o.key, Value: o.value, TtlMs: ttlMs, ExpireAtMs: o.expireAtMs, MatchSeq: o.match.proto(),
	}}}, nil
}

// ttlMillis checks a TTL and converts it to whole milliseconds.
func ttlMillis(op string, ttl time.Duration, expireAtMs uint64) (uint64, error) {
	switch {
	case ttl < 0:
		return 0, fmt.Errorf("%s: negative TTL %v", op, ttl)
	case ttl > 0 && ttl < time.Millisecond:
		return 0, fmt.Errorf("%s: TTL %v is below the 1ms resolution", op, ttl)
	case ttl > 0 && expireAtMs != 0:
		return 0, fmt.Errorf("%s: set a TTL or an expiry time, not both", op)
	}
	return uint64(ttl / time.Millisecond), nil
}

// DeleteOp deletes a key (TxnDeleteResponse).
type DeleteOp struct {
	key   string
	match MatchSeq
}

// OpDelete deletes key; deleting an absent key is not an error.
func OpDelete(key string) DeleteOp { return DeleteOp{key: key} }

// WithMatch makes the delete conditional on the key's seq; on a mismatch
// the delete is skipped, not the transaction.
func (o DeleteOp) WithMatch(m MatchSeq) DeleteOp { o.match = m; return o }

func (o DeleteOp) txnOp() (*metapb.TxnOp, error) {
	if o.key == "" {
		return nil, fmt.Errorf("delete: empty key")
	}
	return &metapb.TxnOp{Request: &metapb.TxnOp_Delete{Delete: &metapb.TxnDelete{Key: o.key, MatchSeq: o.match.proto()}}}, nil
}

// DeleteByPrefixOp deletes every key with a prefix
// (TxnDeleteByPrefixResponse: the count).
type DeleteByPrefixOp struct{ prefix string }

// OpDeleteByPrefix deletes every key that starts with prefix, which must
// not be empty.
func OpDeleteByPrefix(prefix string) DeleteByPrefixOp { return DeleteByPrefixOp{prefix: prefix} }

func (o DeleteByPrefixOp) txnOp() (*metapb.TxnOp, error) {
	if o.prefix == "" {
		return nil, fmt.Errorf("delete_by_prefix: empty prefix")
	}
	return &metapb.TxnOp{Request: &metapb.TxnOp_DeleteByPrefix{DeleteByPrefix: &metapb.TxnDeleteByPrefix{Prefix: o.prefix}}}, nil
}

// FetchIncreaseU64Op adds to a counter (FetchIncreaseU64Response: before
// and after).
type FetchIncreaseU64Op struct {
	key      string
	delta    int64
	maxValue uint64
	match    MatchSeq
}

// OpFetchIncreaseU64 treats the value of key as a u64 counter written as
// a JSON number (absent, or anything else: 0) and sets it to max(current,
// max value) + delta, saturating at 0 and 2^64-1; the max value is 0
// unless WithMaxValue is used. The key loses its expiry (as in
// databend-meta).
func OpFetchIncreaseU64(key string, delta int64) FetchIncreaseU64Op {
	return FetchIncreaseU64Op{key: key, delta: delta}
}

// WithMaxValue sets the floor the counter is raised to before delta is
// added: after = max(current, n) + delta.
func (o FetchIncreaseU64Op) WithMaxValue(n uint64) FetchIncreaseU64Op { o.maxValue = n; return o }

// WithMatch makes the increase conditional on the key's seq; on a mismatch
// it is skipped (applied false), not the transaction.
func (o FetchIncreaseU64Op) WithMatch(m MatchSeq) FetchIncreaseU64Op { o.match = m; return o }

func (o FetchIncreaseU64Op) txnOp() (*metapb.TxnOp, error) {
	if o.key == "" {
		return nil, fmt.Errorf("fetch_increase_u64: empty key")
	}
	return &metapb.TxnOp{Request: &metapb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &metapb.FetchIncreaseU64{
		Key: o.key, Delta: o.delta, MaxValue: o.maxValue, MatchSeq: o.match.proto(),
	}}}, nil
}

// PutSequentialOp puts a value under a new key taken from a counter
// (PutSequentialResponse: the key and its value).
type PutSequentialOp struct {
	prefix      string
	sequenceKey string
	value       []byte
	ttl         time.Duration
}

// OpPutSequential puts value at prefix + the value of the counter at
// sequenceKey before it is increased by 1, formatted as databend-meta does
// (21 digits in groups of 3: 000_000_000_000_000_000_007), so that the
// keys sort in creation order: a queue, or IDs.
func OpPutSequential(prefix, sequenceKey string, value []byte) PutSequentialOp {
	return PutSequentialOp{prefix: prefix, sequenceKey: sequenceKey, value: value}
}

// WithTTL makes the new key expire d after the transaction's log entry time.
func (o PutSequentialOp) WithTTL(d time.Duration) PutSequentialOp { o.ttl = d; return o }

func (o PutSequentialOp) txnOp() (*metapb.TxnOp, error) {
	if o.sequenceKey == "" {
		return nil, fmt.Errorf("put_sequential: empty sequence key")
	}
	ttlMs, err := ttlMillis("put_sequential", o.ttl, 0)
	if err != nil {
		return nil, err
	}
	return &metapb.TxnOp{Request: &metapb.TxnOp_PutSequential{PutSequential: &metapb.PutSequential{
		Prefix: o.prefix, SequenceKey: o.sequenceKey, Value: o.value, TtlMs: ttlMs,
	}}}, nil
}
