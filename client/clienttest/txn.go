package clienttest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
)

// Txn runs req atomically: on an error nothing changes and no event is
// emitted. The semantics follow meta.proto: all of condition -> if_then
// ("then", success) else else_then ("else"); or the first branch whose
// predicate holds ("branch:N", success), none -> "none". A put_sequential
// key is the prefix plus the counter value zero-padded to 20 digits.
func (st *Store) Txn(req *metapb.TxnRequest) (*metapb.TxnReply, error) {
	if err := checkTxn(req); err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	seq, kvs := st.seq, maps.Clone(st.kvs)
	reply, err := st.txnLocked(req)
	if err != nil {
		st.seq, st.kvs, st.sorted, st.pending = seq, kvs, nil, nil
		return nil, err
	}
	st.commitLocked()
	return reply, nil
}

func checkTxn(req *metapb.TxnRequest) error {
	if len(req.GetBranches()) > 0 && (len(req.GetCondition()) > 0 || len(req.GetIfThen()) > 0 || len(req.GetElseThen()) > 0) {
		return status.Error(codes.InvalidArgument, "txn: branches and condition/if_then/else_then are exclusive")
	}
	for i, c := range req.GetCondition() {
		if c.GetKey() == "" {
			return status.Errorf(codes.InvalidArgument, "txn: condition[%d]: key is empty", i)
		}
	}
	check := func(where string, ops []*metapb.TxnOp) error {
		for i, op := range ops {
			if err := checkOp(op); err != nil {
				return status.Errorf(codes.InvalidArgument, "txn: %s[%d]: %v", where, i, err)
			}
		}
		return nil
	}
	if err := check("if_then", req.GetIfThen()); err != nil {
		return err
	}
	if err := check("else_then", req.GetElseThen()); err != nil {
		return err
	}
	for i, b := range req.GetBranches() {
		if err := check(fmt.Sprintf("branches[%d].ops", i), b.GetOps()); err != nil {
			return err
		}
	}
	return nil
}

func checkOp(op *metapb.TxnOp) error {
	switch r := op.GetRequest().(type) {
	case *metapb.TxnOp_Get:
		if r.Get.GetKey() == "" {
			return fmt.Errorf("get: empty key")
		}
	case *metapb.TxnOp_Put:
		if r.Put.GetKey() == "" {
			return fmt.Errorf("put: empty key")
		}
		if r.Put.GetTtlMs() != 0 && r.Put.GetExpireAtMs() != 0 {
			return fmt.Errorf("put: both ttl_ms and expire_at_ms set")
		}
	case *metapb.TxnOp_Delete:
		if r.Delete.GetKey() == "" {
			return fmt.Errorf("delete: empty key")
		}
	case *metapb.TxnOp_DeleteByPrefix:
		if r.DeleteByPrefix.GetPrefix() == "" {
			return fmt.Errorf("delete_by_prefix: empty prefix")
		}
	case *metapb.TxnOp_FetchIncreaseU64:
		if r.FetchIncreaseU64.GetKey() == "" {
			return fmt.Errorf("fetch_increase_u64: empty key")
		}
	case *metapb.TxnOp_PutSequential:
		if r.PutSequential.GetSequenceKey() == "" {
			return fmt.Errorf("put_sequential: empty sequence_key")
		}
	default:
		return fmt.Errorf("empty op")
	}
	return nil
}

func (st *Store) txnLocked(req *metapb.TxnRequest) (*metapb.TxnReply, error) {
	reply := &metapb.TxnReply{}
	var ops []*metapb.TxnOp
	if len(req.GetBranches()) > 0 {
		reply.ExecutionPath = "none"
		for i, b := range req.GetBranches() {
			ok := true
			if b.GetPredicate() != nil {
				var err error
				if ok, err = st.exprLocked(b.GetPredicate()); err != nil {
					return nil, err
				}
			}
			if ok {
				reply.Success, reply.ExecutionPath, ops = true, fmt.Sprintf("branch:%d", i), b.GetOps()
				break
			}
		}
	} else {
		reply.Success, reply.ExecutionPath, ops = true, "then", req.GetIfThen()
		for _, c := range req.GetCondition() {
			ok, err := st.condLocked(c)
			if err != nil {
				return nil, err
			}
			if !ok {
				reply.Success, reply.ExecutionPath, ops = false, "else", req.GetElseThen()
				break
			}
		}
	}
	for _, op := range ops {
		r, err := st.opLocked(op)
		if err != nil {
			return nil, err
		}
		reply.Responses = append(reply.Responses, r)
	}
	return reply, nil
}

func (st *Store) exprLocked(e *metapb.BoolExpression) (bool, error) {
	and := e.GetCombiner() == metapb.BoolExpression_AND
	for _, c := range e.GetConditions() {
		ok, err := st.condLocked(c)
		if err != nil || ok != and {
			return ok, err
		}
	}
	for _, child := range e.GetChildren() {
		ok, err := st.exprLocked(child)
		if err != nil || ok != and {
			return ok, err
		}
	}
	return and, nil
}

func (st *Store) condLocked(c *metapb.TxnCondition) (bool, error) {
	if c.GetKey() == "" {
		return false, status.Error(codes.InvalidArgument, "txn: condition key is empty")
	}
	var r int
	switch t := c.GetTarget().(type) {
	case *metapb.TxnCondition_Seq:
		r = cmp.Compare(st.liveLocked(c.GetKey()).GetSeq(), t.Seq)
	case *metapb.TxnCondition_Value:
		v := st.liveLocked(c.GetKey())
		if v == nil {
			return false, nil
		}
		r = bytes.Compare(v.GetData(), t.Value)
	case *metapb.TxnCondition_KeysWithPrefix:
		var n uint64
		st.rangeLocked(c.GetKey(), prefixEnd(c.GetKey()), func(string, *metapb.SeqV) bool { n++; return true })
		r = cmp.Compare(n, t.KeysWithPrefix)
	default:
		return false, status.Errorf(codes.InvalidArgument, "txn: condition on %q has no target", c.GetKey())
	}
	switch c.GetOp() {
	case metapb.TxnCondition_EQ:
		return r == 0, nil
	case metapb.TxnCondition_NE:
		return r != 0, nil
	case metapb.TxnCondition_GT:
		return r > 0, nil
	case metapb.TxnCondition_GE:
		return r >= 0, nil
	case metapb.TxnCondition_LT:
		return r < 0, nil
	case metapb.TxnCondition_LE:
		return r <= 0, nil
	}
	return false, status.Errorf(codes.InvalidArgument, "txn: unknown condition op %v", c.GetOp())
}

func (st *Store) opLocked(op *metapb.TxnOp) (*metapb.TxnOpResponse, error) {
	switch r := op.GetRequest().(type) {
	case *metapb.TxnOp_Get:
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Get{Get: &metapb.TxnGetResponse{
			Key: r.Get.GetKey(), Value: clone(st.liveLocked(r.Get.GetKey())),
		}}}, nil
	case *metapb.TxnOp_Put:
		p := r.Put
		res := &metapb.TxnPutResponse{Key: p.GetKey()}
		if st.matchLocked(p.GetKey(), p.GetMatchSeq()) {
			res.Prev, res.Current = st.setLocked(p.GetKey(), p.GetValue(), p.GetTtlMs(), p.GetExpireAtMs())
			res.Applied = true
		} else {
			res.Prev, res.Current = clone(st.liveLocked(p.GetKey())), clone(st.liveLocked(p.GetKey()))
		}
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Put{Put: res}}, nil
	case *metapb.TxnOp_Delete:
		d := r.Delete
		res := &metapb.TxnDeleteResponse{Key: d.GetKey()}
		if st.matchLocked(d.GetKey(), d.GetMatchSeq()) {
			res.Prev = st.deleteLocked(d.GetKey())
			res.Success = res.Prev != nil
		} else {
			res.Prev = clone(st.liveLocked(d.GetKey()))
		}
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Delete{Delete: res}}, nil
	case *metapb.TxnOp_DeleteByPrefix:
		var keys []string
		st.rangeLocked(r.DeleteByPrefix.GetPrefix(), prefixEnd(r.DeleteByPrefix.GetPrefix()), func(k string, _ *metapb.SeqV) bool {
			keys = append(keys, k)
			return true
		})
		for _, k := range keys {
			st.deleteLocked(k)
		}
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_DeleteByPrefix{DeleteByPrefix: &metapb.TxnDeleteByPrefixResponse{
			Prefix: r.DeleteByPrefix.GetPrefix(), Count: uint64(len(keys)),
		}}}, nil
	case *metapb.TxnOp_FetchIncreaseU64:
		f := r.FetchIncreaseU64
		res := st.fetchIncreaseLocked(f.GetKey(), f.GetDelta(), f.GetMaxValue(), f.GetMatchSeq())
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_FetchIncreaseU64{FetchIncreaseU64: res}}, nil
	case *metapb.TxnOp_PutSequential:
		p := r.PutSequential
		n := st.fetchIncreaseLocked(p.GetSequenceKey(), 1, 0, nil)
		key := sequentialKey(p.GetPrefix(), n.GetBefore())
		_, cur := st.setLocked(key, p.GetValue(), p.GetTtlMs(), 0)
		return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_PutSequential{PutSequential: &metapb.PutSequentialResponse{
			Key: key, Current: cur,
		}}}, nil
	}
	return nil, status.Error(codes.InvalidArgument, "txn: empty op")
}

func (st *Store) fetchIncreaseLocked(key string, delta int64, maxValue uint64, m *metapb.MatchSeq) *metapb.FetchIncreaseU64Response {
	cur := st.liveLocked(key)
	before := parseJSONU64(string(cur.GetData()))
	res := &metapb.FetchIncreaseU64Response{Key: key, BeforeSeq: cur.GetSeq(), Before: before, AfterSeq: cur.GetSeq(), After: before}
	if !st.matchLocked(key, m) {
		return res
	}
	after := max(before, maxValue)
	switch {
	case delta >= 0 && uint64(delta) > math.MaxUint64-after:
		after = math.MaxUint64
	case delta >= 0:
		after += uint64(delta)
	case uint64(-(delta+1))+1 > after:
		after = 0
	default:
		after -= uint64(-(delta + 1)) + 1
	}
	_, v := st.setLocked(key, []byte(strconv.FormatUint(after, 10)), 0, 0) // loses its expiry, as metasrv
	res.After, res.AfterSeq, res.Applied = after, v.GetSeq(), true
	return res
}

// parseJSONU64 reads a counter as metasrv does: a JSON number that is a
// u64, white space around it allowed; anything else is 0.
func parseJSONU64(s string) uint64 {
	s = strings.Trim(s, " \t\n\r")
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// sequentialKey is metasrv's put_sequential key: prefix, then n in 21
// digits in groups of 3 joined by "_".
func sequentialKey(prefix string, n uint64) string {
	d := fmt.Sprintf("%021d", n)
	return prefix + d[0:3] + "_" + d[3:6] + "_" + d[6:9] + "_" + d[9:12] + "_" + d[12:15] + "_" + d[15:18] + "_" + d[18:21]
}

// Txn is the metapb.MetaServer method.
func (s *Server) Txn(ctx context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error) {
	s.setLeaderTrailer(ctx)
	return s.cluster.Store.Txn(req)
}
