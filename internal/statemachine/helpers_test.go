package statemachine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

// put returns an UPDATE of key to value.
func put(key, value string) *metapb.UpsertRequest {
	return &metapb.UpsertRequest{Key: key, Value: []byte(value)}
}

// del returns a DELETE of key.
func del(key string) *metapb.UpsertRequest {
	return &metapb.UpsertRequest{Key: key, Op: metapb.UpsertRequest_DELETE}
}

func exact(req *metapb.UpsertRequest, seq uint64) *metapb.UpsertRequest {
	req.MatchSeq = &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: seq}
	return req
}

func ge(req *metapb.UpsertRequest, seq uint64) *metapb.UpsertRequest {
	req.MatchSeq = &metapb.MatchSeq{Kind: metapb.MatchSeq_GE, Seq: seq}
	return req
}

func ttl(req *metapb.UpsertRequest, ms uint64) *metapb.UpsertRequest {
	req.TtlMs = ms
	return req
}

func expireAt(req *metapb.UpsertRequest, ms uint64) *metapb.UpsertRequest {
	req.ExpireAtMs = ms
	return req
}

func upsertCmd(req *metapb.UpsertRequest) *peerpb.Command {
	return &peerpb.Command{Proposer: 1, RequestId: 1, Body: &peerpb.Command_Upsert{Upsert: req}}
}

func txnCmd(req *metapb.TxnRequest) *peerpb.Command {
	return &peerpb.Command{Proposer: 1, RequestId: 1, Body: &peerpb.Command_Txn{Txn: req}}
}

// Conditions.

func condSeq(key string, op metapb.TxnCondition_Op, seq uint64) *metapb.TxnCondition {
	return &metapb.TxnCondition{Key: key, Op: op, Target: &metapb.TxnCondition_Seq{Seq: seq}}
}

func condValue(key string, op metapb.TxnCondition_Op, value string) *metapb.TxnCondition {
	return &metapb.TxnCondition{Key: key, Op: op, Target: &metapb.TxnCondition_Value{Value: []byte(value)}}
}

func condPrefix(key string, op metapb.TxnCondition_Op, n uint64) *metapb.TxnCondition {
	return &metapb.TxnCondition{Key: key, Op: op, Target: &metapb.TxnCondition_KeysWithPrefix{KeysWithPrefix: n}}
}

// Ops.

func opGet(key string) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: key}}}
}

func opPut(key, value string) *metapb.TxnOp {
	return opPutReq(&metapb.TxnPut{Key: key, Value: []byte(value)})
}

func opPutReq(p *metapb.TxnPut) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: p}}
}

func opDel(key string, m *metapb.MatchSeq) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_Delete{Delete: &metapb.TxnDelete{Key: key, MatchSeq: m}}}
}

func opDelPrefix(prefix string) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_DeleteByPrefix{DeleteByPrefix: &metapb.TxnDeleteByPrefix{Prefix: prefix}}}
}

func opIncr(key string, delta int64, maxValue uint64, m *metapb.MatchSeq) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &metapb.FetchIncreaseU64{
		Key: key, Delta: delta, MaxValue: maxValue, MatchSeq: m,
	}}}
}

func opSeq(prefix, seqKey, value string, ttlMs uint64) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_PutSequential{PutSequential: &metapb.PutSequential{
		Prefix: prefix, SequenceKey: seqKey, Value: []byte(value), TtlMs: ttlMs,
	}}}
}

func matchExact(seq uint64) *metapb.MatchSeq {
	return &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: seq}
}

// Responses.

func respGet(key string, v *metapb.SeqV) *metapb.TxnOpResponse {
	return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Get{Get: &metapb.TxnGetResponse{Key: key, Value: v}}}
}

func respPut(key string, prev, cur *metapb.SeqV, applied bool) *metapb.TxnOpResponse {
	return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Put{Put: &metapb.TxnPutResponse{
		Key: key, Prev: prev, Current: cur, Applied: applied,
	}}}
}

func respDel(key string, success bool, prev *metapb.SeqV) *metapb.TxnOpResponse {
	return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_Delete{Delete: &metapb.TxnDeleteResponse{
		Key: key, Success: success, Prev: prev,
	}}}
}

func respDelPrefix(prefix string, n uint64) *metapb.TxnOpResponse {
	return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_DeleteByPrefix{
		DeleteByPrefix: &metapb.TxnDeleteByPrefixResponse{Prefix: prefix, Count: n},
	}}
}

func respIncr(key string, beforeSeq, before, afterSeq, after uint64, applied bool) *metapb.TxnOpResponse {
	return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_FetchIncreaseU64{
		FetchIncreaseU64: &metapb.FetchIncreaseU64Response{
			Key: key, BeforeSeq: beforeSeq, Before: before, AfterSeq: afterSeq, After: after, Applied: applied,
		},
	}}
}

func respSeq(key string, cur *metapb.SeqV) *metapb.TxnOpResponse {
	return &metapb.TxnOpResponse{Response: &metapb.TxnOpResponse_PutSequential{
		PutSequential: &metapb.PutSequentialResponse{Key: key, Current: cur},
	}}
}

// ev builds an expected event (equalEvents leaves its revision out).
func ev(key string, seq uint64, prev, cur *metapb.SeqV) *metapb.Event {
	return &metapb.Event{Key: key, Seq: seq, Prev: prev, Current: cur}
}

// eventsBetween returns every event EventsBetween(from, to) yields, or its error.
func eventsBetween(sm *StateMachine, from, to uint64) ([]*metapb.Event, error) {
	var out []*metapb.Event
	err := sm.EventsBetween(from, to, func(e *metapb.Event) bool {
		out = append(out, e)
		return true
	})
	return out, err
}

func equalEvents(a, b []*metapb.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalSeqs(a[i], b[i]) {
			return false
		}
	}
	return true
}

// seqV builds an expected value.
func seqV(seq uint64, data string, createSeq, version, expireAt uint64) *metapb.SeqV {
	v := &metapb.SeqV{Seq: seq, CreateSeq: createSeq, Version: version, ExpireAtMs: expireAt}
	if data != "" {
		v.Data = []byte(data)
	}
	return v
}

// applier applies commands at increasing indexes.
type applier struct {
	t  testing.TB
	sm *StateMachine
}

func newApplier(t testing.TB, opts ...Option) *applier {
	return &applier{t: t, sm: New(opts...)}
}

func (a *applier) next() uint64 { return a.sm.AppliedIndex() + 1 }

// upsert applies req at timeMs and fails the test on a rejection.
func (a *applier) upsert(timeMs uint64, req *metapb.UpsertRequest) *metapb.UpsertReply {
	a.t.Helper()
	res := a.sm.Apply(a.next(), timeMs, upsertCmd(req))
	if res.Err != nil {
		a.t.Fatalf("upsert %v: %v", req, res.Err)
	}
	return res.Upsert
}

// apply applies cmd at timeMs and returns the result, rejections included.
func (a *applier) apply(timeMs uint64, cmd *peerpb.Command) *Result {
	a.t.Helper()
	res := a.sm.Apply(a.next(), timeMs, cmd)
	set := 0
	for _, ok := range []bool{res.Upsert != nil, res.Txn != nil, res.Compact != nil, res.Lease != nil, res.Err != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		a.t.Fatalf("result must have exactly one of Upsert, Txn, Compact, Lease, Err: %+v", res)
	}
	return res
}

// txn applies req at timeMs and fails the test on a rejection.
func (a *applier) txn(timeMs uint64, req *metapb.TxnRequest) *metapb.TxnReply {
	a.t.Helper()
	res := a.apply(timeMs, txnCmd(req))
	if res.Err != nil {
		a.t.Fatalf("txn %v: %v", req, res.Err)
	}
	return res.Txn
}

// conf applies cc as the next entry, written in term 1.
func (a *applier) conf(cc *raftpb.ConfChangeV2) error {
	return a.sm.ApplyConfChange(a.next(), 1, cc)
}

func confChange(ctx *peerpb.ConfChangeContext, changes ...*raftpb.ConfChangeSingle) *raftpb.ConfChangeV2 {
	cc := &raftpb.ConfChangeV2{Changes: changes}
	if ctx != nil {
		b, err := proto.Marshal(ctx)
		if err != nil {
			panic(err)
		}
		cc.Context = b
	}
	return cc
}

func single(typ raftpb.ConfChangeType, id uint64) *raftpb.ConfChangeSingle {
	return &raftpb.ConfChangeSingle{Type: typ.Enum(), NodeId: proto.Uint64(id)}
}

func nodeCtx(id uint64, raftAddr, grpcAddr string) *peerpb.ConfChangeContext {
	return &peerpb.ConfChangeContext{Node: &metapb.Node{Id: id, RaftAddress: raftAddr, GrpcAddress: grpcAddr}}
}

// dump returns every stored key with its value, expired or not.
func dump(sm *StateMachine) []*metapb.KV {
	var out []*metapb.KV
	sm.List("", 0, 0, func(kv *metapb.KV) bool {
		out = append(out, kv)
		return true
	})
	return out
}

// equalKVs compares as equalSeqs does.
func equalKVs(a, b []*metapb.KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalSeqs(a[i], b[i]) {
			return false
		}
	}
	return true
}

func encode(t testing.TB, sm *StateMachine) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := sm.Snapshot().WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d bytes", n, buf.Len())
	}
	return buf.Bytes()
}

// fixCRC returns a copy of a snapshot encoding with the trailer CRC
// recomputed, so that structural checks are reached.
func fixCRC(b []byte) []byte {
	if len(b) < 4 {
		return b
	}
	out := bytes.Clone(b)
	binary.BigEndian.PutUint32(out[len(out)-4:], crc32.Checksum(out[:len(out)-4], castagnoli))
	return out
}

// checkInvariants verifies the internal consistency of sm: the expiry
// index matches the tree and every seq is within bounds.
func checkInvariants(t testing.TB, sm *StateMachine) {
	t.Helper()
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	expiring := 0
	var prevKey string
	first := true
	sm.mu.tree.Scan(func(v kv) bool {
		key, m := v.key(), v.meta()
		if !first && key <= prevKey {
			t.Errorf("keys out of order: %q after %q", key, prevKey)
		}
		first, prevKey = false, key
		if m.seq == 0 || m.seq > sm.mu.lastSeq || m.createSeq == 0 || m.createSeq > m.seq || m.version == 0 {
			t.Errorf("key %q: bad seqs %+v (last seq %d)", key, m, sm.mu.lastSeq)
		}
		if m.createRev <= FirstRevision || m.createRev > m.modRev || m.modRev > sm.mu.revision {
			t.Errorf("key %q: bad revisions %+v (revision %d)", key, m, sm.mu.revision)
		}
		if e, ok := expKeyOf(v); ok {
			expiring++
			if _, ok := sm.mu.exp.Get(e); !ok {
				t.Errorf("key %q expiring at %d missing from expiry index", key, m.expireAt)
			}
		}
		return true
	})
	if expiring != sm.mu.exp.Len() {
		t.Errorf("expiry index has %d entries, tree has %d expiring keys", sm.mu.exp.Len(), expiring)
	}
	attached := 0
	sm.mu.tree.Scan(func(v kv) bool {
		if id := v.meta().leaseID(); id != 0 {
			attached++
			if l := sm.mu.leases[id]; l == nil {
				t.Errorf("key %q attached to lease %d, which does not exist", v.key(), id)
			} else if _, ok := l.keys[v.key()]; !ok {
				t.Errorf("key %q missing from the keys of its lease %d", v.key(), id)
			}
		}
		return true
	})
	inLeases := 0
	for _, l := range sm.mu.leases {
		inLeases += len(l.keys)
		if _, ok := sm.mu.leaseExp.Get(leaseExpKey{at: l.expireAt, id: l.id}); !ok {
			t.Errorf("lease %d expiring at %d missing from the lease expiry index", l.id, l.expireAt)
		}
	}
	if inLeases != attached || sm.mu.leaseExp.Len() != len(sm.mu.leases) {
		t.Errorf("leases hold %d keys, %d keys are attached; %d leases, %d in the expiry index",
			inLeases, attached, len(sm.mu.leases), sm.mu.leaseExp.Len())
	}
	for i := 1; i < len(sm.mu.members); i++ {
		if sm.mu.members[i].id <= sm.mu.members[i-1].id {
			t.Errorf("members out of order: %v", sm.mu.members)
		}
	}
}

// logEntry is one entry of a generated log.
type logEntry struct {
	index uint64
	term  uint64               // >= 1
	data  []byte               // normal entry; nil with cc nil: empty entry
	cc    *raftpb.ConfChangeV2 // conf change entry
}

// randomLog generates a log of n entries from seed: upserts over a small
// key space with every match kind, ttl and expire_at, deletes,
// transactions (randomTxn), invalid commands, empty entries and conf
// changes; time mostly advances and sometimes goes back.
func randomLog(seed uint64, n int) []logEntry {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	timeMs := uint64(1_000_000)
	out := make([]logEntry, 0, n)
	for i := range n {
		e := logEntry{index: uint64(i + 1), term: uint64(1 + i/256)}
		switch p := r.IntN(100); {
		case p < 3:
			// empty entry
		case p < 6:
			id := uint64(r.IntN(5) + 1)
			types := []raftpb.ConfChangeType{
				raftpb.ConfChangeType_ConfChangeAddNode, raftpb.ConfChangeType_ConfChangeAddLearnerNode,
				raftpb.ConfChangeType_ConfChangeRemoveNode, raftpb.ConfChangeType_ConfChangeUpdateNode,
			}
			e.cc = confChange(nodeCtx(id, fmt.Sprintf("r%d:%d", id, r.IntN(3)), fmt.Sprintf("g%d", id)),
				single(types[r.IntN(len(types))], id))
		default:
			if r.IntN(10) == 0 {
				timeMs -= uint64(r.IntN(500)) // leader clock went back
			} else {
				timeMs += uint64(r.IntN(300))
			}
			req := &metapb.UpsertRequest{Key: fmt.Sprintf("k%02d", r.IntN(40))}
			switch r.IntN(5) {
			case 0:
				req.Op = metapb.UpsertRequest_DELETE
			default:
				req.Value = fmt.Appendf(nil, "v%d", r.IntN(1000))
			}
			switch r.IntN(4) {
			case 1:
				req.MatchSeq = &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: uint64(r.IntN(int(i + 2)))}
			case 2:
				req.MatchSeq = &metapb.MatchSeq{Kind: metapb.MatchSeq_GE, Seq: uint64(r.IntN(int(i + 2)))}
			}
			switch r.IntN(6) {
			case 0:
				req.TtlMs = uint64(r.IntN(2000) + 1)
			case 1:
				req.ExpireAtMs = timeMs + uint64(r.IntN(3000)) - 500
			case 2:
				if r.IntN(10) == 0 {
					req.TtlMs, req.ExpireAtMs = 1, 1 // rejected
				}
			}
			cmd := upsertCmd(req)
			if r.IntN(5) == 0 {
				cmd = txnCmd(randomTxn(r, i))
			}
			if r.IntN(6) == 0 {
				cmd = randomLeaseCmd(r)
			}
			if r.IntN(50) == 0 {
				cmd.Body = nil // rejected
			}
			data, err := EncodeEntry(timeMs, cmd)
			if err != nil {
				panic(err)
			}
			e.data = data
		}
		out = append(out, e)
	}
	return out
}

// randomTxn returns a transaction over the key space of randomLog: either
// form, every condition target and op, sometimes one that is rejected at
// execution (a non-decimal counter) or by validation.
func randomTxn(r *rand.Rand, i int) *metapb.TxnRequest {
	key := func() string { return fmt.Sprintf("k%02d", r.IntN(40)) }
	ops := []metapb.TxnCondition_Op{
		metapb.TxnCondition_EQ, metapb.TxnCondition_NE, metapb.TxnCondition_GT,
		metapb.TxnCondition_GE, metapb.TxnCondition_LT, metapb.TxnCondition_LE,
	}
	cond := func() *metapb.TxnCondition {
		op := ops[r.IntN(len(ops))]
		switch r.IntN(3) {
		case 0:
			return condSeq(key(), op, uint64(r.IntN(i+2)))
		case 1:
			return condValue(key(), op, fmt.Sprintf("v%d", r.IntN(1000)))
		default:
			return condPrefix(fmt.Sprintf("k%d", r.IntN(4)), op, uint64(r.IntN(12)))
		}
	}
	var m *metapb.MatchSeq
	if r.IntN(3) == 0 {
		m = matchExact(uint64(r.IntN(i + 2)))
	}
	randOps := func() []*metapb.TxnOp {
		out := make([]*metapb.TxnOp, r.IntN(4))
		for j := range out {
			switch r.IntN(8) {
			case 0:
				out[j] = opGet(key())
			case 1, 2:
				out[j] = opPutReq(&metapb.TxnPut{Key: key(), Value: fmt.Appendf(nil, "v%d", r.IntN(1000)),
					TtlMs: uint64(r.IntN(2) * r.IntN(2000)), MatchSeq: m,
					Lease: int64(r.IntN(2) * r.IntN(5)), IgnoreLease: r.IntN(20) == 0})
			case 3:
				out[j] = opDel(key(), m)
			case 4:
				out[j] = opDelPrefix(fmt.Sprintf("k%d%d", r.IntN(4), r.IntN(10)))
			case 5:
				// Counters live apart from the v<n> values, except
				// sometimes: then the value reads as 0.
				k := fmt.Sprintf("n%d", r.IntN(3))
				if r.IntN(10) == 0 {
					k = key()
				}
				out[j] = opIncr(k, int64(r.IntN(7)-2), uint64(r.IntN(3)*r.IntN(100)), m)
			case 6:
				out[j] = opSeq("q/", "n0", "x", uint64(r.IntN(2)*r.IntN(3000)))
			default:
				out[j] = opPutReq(&metapb.TxnPut{Key: key(), Value: []byte("w"), ExpireAtMs: 1_000_000 + uint64(r.IntN(900_000))})
			}
		}
		return out
	}
	req := &metapb.TxnRequest{}
	if r.IntN(2) == 0 {
		for range r.IntN(3) {
			req.Condition = append(req.Condition, cond())
		}
		req.IfThen, req.ElseThen = randOps(), randOps()
	} else {
		for range r.IntN(4) + 1 {
			var pred *metapb.BoolExpression
			if r.IntN(4) != 0 {
				pred = &metapb.BoolExpression{Combiner: metapb.BoolExpression_Combiner(r.IntN(2))}
				for range r.IntN(3) {
					pred.Conditions = append(pred.Conditions, cond())
				}
				if r.IntN(3) == 0 {
					pred.Children = append(pred.Children, &metapb.BoolExpression{
						Combiner: metapb.BoolExpression_OR, Conditions: []*metapb.TxnCondition{cond(), cond()},
					})
				}
			}
			req.Branches = append(req.Branches, &metapb.ConditionalOps{Predicate: pred, Ops: randOps()})
		}
	}
	if r.IntN(40) == 0 {
		req.IfThen = append(req.IfThen, opPut("", "x")) // rejected by validation
	}
	return req
}

// applyEntry applies e as the server's apply loop would and returns a
// printable result for comparisons across state machines.
func applyEntry(t testing.TB, sm *StateMachine, e logEntry) string {
	t.Helper()
	switch {
	case e.cc != nil:
		return fmt.Sprint(sm.ApplyConfChange(e.index, e.term, e.cc))
	case len(e.data) == 0:
		sm.ApplyEmpty(e.index)
		return "empty"
	}
	timeMs, cmd, err := DecodeEntry(e.data)
	if err != nil {
		t.Fatalf("entry %d: %v", e.index, err)
	}
	res := sm.Apply(e.index, timeMs, cmd)
	out := "err: " + fmt.Sprint(res.Err)
	var reply proto.Message = res.Upsert
	if res.Txn != nil {
		reply = res.Txn
	}
	if res.Err == nil {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(reply)
		if err != nil {
			t.Fatal(err)
		}
		out = fmt.Sprintf("%x", b)
	}
	for _, ev := range res.Events {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		out += fmt.Sprintf(" %x", b)
	}
	return out
}

// equalSeqs is proto.Equal on copies of a and b without the fields that
// the tests of seqs, values and expiry leave out of their expectations:
// the revisions and KVMeta of values and the revision of events (tests of
// their own check those).
func equalSeqs(a, b proto.Message) bool {
	return proto.Equal(withoutRevisions(a), withoutRevisions(b))
}

// withoutRevisions returns a copy of m with every SeqV's create_revision,
// mod_revision and meta and every Event's revision cleared.
func withoutRevisions(m proto.Message) proto.Message {
	if m == nil || !m.ProtoReflect().IsValid() {
		return m
	}
	c := proto.Clone(m)
	clearRevisions(c.ProtoReflect())
	return c
}

func clearRevisions(m protoreflect.Message) {
	switch v := m.Interface().(type) {
	case *metapb.SeqV:
		v.CreateRevision, v.ModRevision, v.Meta = 0, 0, nil
		return
	case *metapb.Event:
		v.Revision = 0
	}
	m.Range(func(fd protoreflect.FieldDescriptor, val protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := val.List()
			for i := 0; i < l.Len(); i++ {
				clearRevisions(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			clearRevisions(val.Message())
		}
		return true
	})
}

// randomLeaseCmd returns a lease command on leases 1..4: grant (TTL 1-3 s,
// sometimes invalid), revoke, keep-alive, a new leader's extend, or the
// leader's expire.
func randomLeaseCmd(r *rand.Rand) *peerpb.Command {
	id := int64(r.IntN(4) + 1)
	switch r.IntN(6) {
	case 0, 1:
		ttl := int64(r.IntN(3) + 1)
		if r.IntN(20) == 0 {
			ttl = MaxLeaseTTL + 1 // rejected
		}
		return &peerpb.Command{Body: &peerpb.Command_LeaseGrant{LeaseGrant: &peerpb.LeaseGrantRequest{Id: id, Ttl: ttl}}}
	case 2:
		return &peerpb.Command{Body: &peerpb.Command_LeaseRevoke{LeaseRevoke: &peerpb.LeaseRevokeRequest{Id: id}}}
	case 3:
		return &peerpb.Command{Body: &peerpb.Command_LeaseKeepAlive{LeaseKeepAlive: &peerpb.LeaseKeepAliveRequest{Id: id}}}
	case 4:
		return &peerpb.Command{Body: &peerpb.Command_LeaseExtend{LeaseExtend: &peerpb.LeaseExtendRequest{Term: 1}}}
	default:
		return &peerpb.Command{Body: &peerpb.Command_Expire{Expire: &peerpb.ExpireRequest{}}}
	}
}
