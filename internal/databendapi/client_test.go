package databendapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/databendapi"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// dbClient calls one node through Databend's protocol, as Databend's
// client does: a handshake, then the token on every call; upserts as
// transactions (TxnRequest::from_upsert), reads with KvGetMany, lists with
// KvReadV1.
type dbClient struct {
	t    testing.TB
	addr string
	conn *grpc.ClientConn
	c    databendpb.MetaServiceClient
	ctx  context.Context
}

// dialDatabend serves nd's public API (clustertest.ServePublic) and
// handshakes with it as root.
func dialDatabend(t testing.TB, cl *clustertest.Cluster, nd *clustertest.Node) *dbClient {
	t.Helper()
	addr := cl.ServePublic(nd, clustertest.ServeOptions{})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := databendpb.NewMetaServiceClient(conn)
	resp, err := handshake(cl.Ctx(), c, databendapi.ServerVersion, "root", "xxx")
	if err != nil {
		t.Fatal(err)
	}
	return &dbClient{t: t, addr: addr, conn: conn, c: c, ctx: withToken(cl.Ctx(), resp.GetPayload())}
}

// upsertKV is Databend's UpsertKV as its client sends it.
type upsertKV struct {
	key      string
	seq      *databendjson.MatchSeq // nil: Any
	delete   bool
	value    string
	expireAt uint64 // seconds or ms; 0: none
	ttl      time.Duration
}

// txnOf is TxnRequest::from_upsert: a seq condition, a put or a delete,
// and a get of the key when the condition fails.
func (u upsertKV) txnOf() *databendpb.TxnRequest {
	req := &databendpb.TxnRequest{}
	if u.seq != nil {
		op := databendpb.TxnCondition_EQ
		if u.seq.Kind == databendjson.MatchGE {
			op = databendpb.TxnCondition_GE
		}
		req.Condition = []*databendpb.TxnCondition{{Key: u.key, Expected: op, Target: &databendpb.TxnCondition_Seq{Seq: u.seq.N}}}
		req.ElseThen = []*databendpb.TxnOp{getOp(u.key)}
	}
	if u.delete {
		req.IfThen = []*databendpb.TxnOp{deleteOp(u.key, nil)}
		return req
	}
	put := &databendpb.TxnPutRequest{Key: u.key, Value: []byte(u.value)}
	if u.expireAt != 0 {
		ms := databendjson.ExpireAtMs(u.expireAt)
		put.ExpireAt = &ms
	}
	if u.ttl != 0 {
		ms := uint64(u.ttl.Milliseconds())
		put.TtlMs = &ms
	}
	req.IfThen = []*databendpb.TxnOp{{Request: &databendpb.TxnOp_Put{Put: put}}}
	return req
}

func exact(n uint64) *databendjson.MatchSeq {
	return &databendjson.MatchSeq{Kind: databendjson.MatchExact, N: n}
}

func (d *dbClient) upsert(u upsertKV) *databendpb.TxnReply {
	d.t.Helper()
	return d.txn(u.txnOf())
}

func (d *dbClient) txn(req *databendpb.TxnRequest) *databendpb.TxnReply {
	d.t.Helper()
	r, err := d.c.Transaction(d.ctx, req)
	if err != nil {
		d.t.Fatalf("Transaction: %v", err)
	}
	return r
}

// getMany reads keys with KvGetMany, as Databend's client reads.
func (d *dbClient) getMany(keys ...string) []*databendpb.StreamItem {
	d.t.Helper()
	st, err := d.c.KvGetMany(d.ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	for _, k := range keys {
		if err := st.Send(&databendpb.KvGetManyRequest{Key: k}); err != nil {
			d.t.Fatal(err)
		}
	}
	if err := st.CloseSend(); err != nil {
		d.t.Fatal(err)
	}
	return drain(d.t, st.Recv)
}

func (d *dbClient) get(key string) *databendpb.SeqV {
	d.t.Helper()
	return d.getMany(key)[0].GetValue()
}

// readV1 sends a JSON read request to KvReadV1.
func (d *dbClient) readV1(r databendjson.KvRequest) []*databendpb.StreamItem {
	d.t.Helper()
	data, err := databendjson.MarshalKvRequest(r)
	if err != nil {
		d.t.Fatal(err)
	}
	st, err := d.c.KvReadV1(d.ctx, &databendpb.RaftRequest{Data: string(data)})
	if err != nil {
		d.t.Fatal(err)
	}
	return drain(d.t, st.Recv)
}

func (d *dbClient) list(prefix string) []*databendpb.StreamItem {
	d.t.Helper()
	return d.readV1(&databendjson.ListKV{Prefix: prefix})
}

func drain(t testing.TB, recv func() (*databendpb.StreamItem, error)) []*databendpb.StreamItem {
	t.Helper()
	var out []*databendpb.StreamItem
	for {
		it, err := recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
}

func getOp(key string) *databendpb.TxnOp {
	return &databendpb.TxnOp{Request: &databendpb.TxnOp_Get{Get: &databendpb.TxnGetRequest{Key: key}}}
}

func putOp(key, value string) *databendpb.TxnOp {
	return &databendpb.TxnOp{Request: &databendpb.TxnOp_Put{Put: &databendpb.TxnPutRequest{Key: key, Value: []byte(value)}}}
}

func deleteOp(key string, matchSeq *uint64) *databendpb.TxnOp {
	return &databendpb.TxnOp{Request: &databendpb.TxnOp_Delete{Delete: &databendpb.TxnDeleteRequest{Key: key, MatchSeq: matchSeq}}}
}

func fetchAddOp(key string, delta int64, maxValue uint64, matchSeq *uint64) *databendpb.TxnOp {
	return &databendpb.TxnOp{Request: &databendpb.TxnOp_FetchIncreaseU64{FetchIncreaseU64: &databendpb.FetchIncreaseU64{
		Key: key, Delta: delta, MaxValue: maxValue, MatchSeq: matchSeq,
	}}}
}

func seqCond(key string, op databendpb.TxnCondition_ConditionResult, seq uint64) *databendpb.TxnCondition {
	return &databendpb.TxnCondition{Key: key, Expected: op, Target: &databendpb.TxnCondition_Seq{Seq: seq}}
}

func valueCond(key string, op databendpb.TxnCondition_ConditionResult, value string) *databendpb.TxnCondition {
	return &databendpb.TxnCondition{Key: key, Expected: op, Target: &databendpb.TxnCondition_Value{Value: []byte(value)}}
}

func sv(seq uint64, data string) *databendpb.SeqV {
	return &databendpb.SeqV{Seq: seq, Data: []byte(data)}
}

func u64(n uint64) *uint64 { return &n }

// normalized drops what Databend's tests drop before comparing:
// proposed_at_ms, and a meta left empty.
func normalized[M proto.Message](m M) M {
	m = proto.Clone(m).(M)
	var walk func(proto.Message)
	walk = func(pm proto.Message) {
		switch v := pm.(type) {
		case *databendpb.SeqV:
			if v.GetMeta() != nil {
				v.Meta.ProposedAtMs = nil
				if v.Meta.ExpireAt == nil {
					v.Meta = nil
				}
			}
		case *databendpb.TxnReply:
			for _, r := range v.GetResponses() {
				walk(r)
			}
		case *databendpb.TxnOpResponse:
			switch r := v.GetResponse().(type) {
			case *databendpb.TxnOpResponse_Get:
				walkNonNil(walk, r.Get.GetValue())
			case *databendpb.TxnOpResponse_Put:
				walkNonNil(walk, r.Put.GetPrevValue())
				walkNonNil(walk, r.Put.GetCurrent())
			case *databendpb.TxnOpResponse_Delete:
				walkNonNil(walk, r.Delete.GetPrevValue())
			}
		case *databendpb.StreamItem:
			walkNonNil(walk, v.GetValue())
		case *databendpb.Event:
			walkNonNil(walk, v.GetPrev())
			walkNonNil(walk, v.GetCurrent())
		}
	}
	walk(m)
	return m
}

func walkNonNil(walk func(proto.Message), v *databendpb.SeqV) {
	if v != nil {
		walk(v)
	}
}

func wantProto(t testing.TB, what string, got, want proto.Message) {
	t.Helper()
	if !proto.Equal(normalized(got), normalized(want)) {
		t.Fatalf("%s:\n got %v\nwant %v", what, normalized(got), normalized(want))
	}
}

func deleteByPrefixOp(prefix string) *databendpb.TxnOp {
	return &databendpb.TxnOp{Request: &databendpb.TxnOp_DeleteByPrefix{DeleteByPrefix: &databendpb.TxnDeleteByPrefixRequest{Prefix: prefix}}}
}

func putSeqOp(prefix, seqKey, value string) *databendpb.TxnOp {
	return &databendpb.TxnOp{Request: &databendpb.TxnOp_PutSequential{PutSequential: &databendpb.PutSequential{Prefix: prefix, SequenceKey: seqKey, Value: []byte(value)}}}
}

func reply(success bool, path string, rs ...*databendpb.TxnOpResponse) *databendpb.TxnReply {
	return &databendpb.TxnReply{Success: success, ExecutionPath: path, Responses: rs}
}

func putResp(key string, prev, cur *databendpb.SeqV) *databendpb.TxnOpResponse {
	return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_Put{Put: &databendpb.TxnPutResponse{Key: key, PrevValue: prev, Current: cur}}}
}

func getResp(key string, v *databendpb.SeqV) *databendpb.TxnOpResponse {
	return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_Get{Get: &databendpb.TxnGetResponse{Key: key, Value: v}}}
}

func deleteResp(key string, ok bool, prev *databendpb.SeqV) *databendpb.TxnOpResponse {
	return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_Delete{Delete: &databendpb.TxnDeleteResponse{Key: key, Success: ok, PrevValue: prev}}}
}

func deleteByPrefixResp(prefix string, n uint32) *databendpb.TxnOpResponse {
	return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_DeleteByPrefix{DeleteByPrefix: &databendpb.TxnDeleteByPrefixResponse{Prefix: prefix, Count: n}}}
}

func fetchResp(key string, beforeSeq, before, afterSeq, after uint64) *databendpb.TxnOpResponse {
	return &databendpb.TxnOpResponse{Response: &databendpb.TxnOpResponse_FetchIncreaseU64{FetchIncreaseU64: &databendpb.FetchIncreaseU64Response{
		Key: key, BeforeSeq: beforeSeq, Before: before, AfterSeq: afterSeq, After: after,
	}}}
}

func item(key string, v *databendpb.SeqV) *databendpb.StreamItem {
	return &databendpb.StreamItem{Key: key, Value: v}
}

func wantItems(t testing.TB, what string, got []*databendpb.StreamItem, want ...*databendpb.StreamItem) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d items %v, want %v", what, len(got), got, want)
	}
	for i := range got {
		wantProto(t, fmt.Sprintf("%s, item %d", what, i), got[i], want[i])
	}
}

func itemKeys(items []*databendpb.StreamItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.GetKey())
	}
	return out
}

func itemValues(items []*databendpb.StreamItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.GetValue().GetData()))
	}
	return out
}

func contextWithCancel(d *dbClient) (context.Context, context.CancelFunc) {
	return context.WithCancel(d.ctx)
}
