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

func newApplier(t testing.TB) *applier {
	return &applier{t: t, sm: New()}
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

func (a *applier) conf(cc *raftpb.ConfChangeV2) error {
	return a.sm.ApplyConfChange(a.next(), cc)
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

func equalKVs(a, b []*metapb.KV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !proto.Equal(a[i], b[i]) {
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
		if !first && v.key <= prevKey {
			t.Errorf("keys out of order: %q after %q", v.key, prevKey)
		}
		first, prevKey = false, v.key
		if v.seq == 0 || v.seq > sm.mu.lastSeq || v.createSeq == 0 || v.createSeq > v.seq || v.version == 0 {
			t.Errorf("key %q: bad seqs %+v (last seq %d)", v.key, v, sm.mu.lastSeq)
		}
		if v.expireAt != 0 {
			expiring++
			if _, ok := sm.mu.exp.Get(expKey{at: v.expireAt, key: v.key}); !ok {
				t.Errorf("key %q expiring at %d missing from expiry index", v.key, v.expireAt)
			}
		}
		return true
	})
	if expiring != sm.mu.exp.Len() {
		t.Errorf("expiry index has %d entries, tree has %d expiring keys", sm.mu.exp.Len(), expiring)
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
	data  []byte               // normal entry; nil with cc nil: empty entry
	cc    *raftpb.ConfChangeV2 // conf change entry
}

// randomLog generates a log of n entries from seed: upserts over a small
// key space with every match kind, ttl and expire_at, deletes, invalid
// commands, empty entries and conf changes; time mostly advances and
// sometimes goes back.
func randomLog(seed uint64, n int) []logEntry {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	timeMs := uint64(1_000_000)
	out := make([]logEntry, 0, n)
	for i := range n {
		e := logEntry{index: uint64(i + 1)}
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

// applyEntry applies e as the server's apply loop would and returns a
// printable result for comparisons across state machines.
func applyEntry(t testing.TB, sm *StateMachine, e logEntry) string {
	t.Helper()
	switch {
	case e.cc != nil:
		return fmt.Sprint(sm.ApplyConfChange(e.index, e.cc))
	case len(e.data) == 0:
		sm.ApplyEmpty(e.index)
		return "empty"
	}
	timeMs, cmd, err := DecodeEntry(e.data)
	if err != nil {
		t.Fatalf("entry %d: %v", e.index, err)
	}
	res := sm.Apply(e.index, timeMs, cmd)
	if res.Err != nil {
		return "err: " + res.Err.Error()
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(res.Upsert)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}
