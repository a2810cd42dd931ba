package databendapi

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// KvApi serves the JSON request of RaftRequest.data: an UpsertKV, or, from
// older clients, a GetKV, MGetKV or ListKV. It answers the JSON reply in
// RaftReply.data: a Change, a SeqV or null, a list of them, a list of
// [key, SeqV] pairs. A failure is a gRPC status, as in databend-meta
// (RaftReply.error stays empty: databend-meta's KvApi never fills it).
func (s *Service) KvApi(ctx context.Context, req *databendpb.RaftRequest) (*databendpb.RaftReply, error) {
	r, err := databendjson.UnmarshalKvRequest([]byte(req.GetData()))
	if err != nil {
		return nil, s.fail(ctx, invalidf("RaftRequest.data is not a Databend KV request ({\"UpsertKV\":{...}}, GetKV, MGetKV or ListKV): %v", err))
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	var data databendjson.Shape
	switch r := r.(type) {
	case *databendjson.UpsertKV:
		reply, err := s.srv.Upsert(ctx, upsertToNative(r))
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		data = &databendjson.Change{Prev: jsonSeqV(reply.GetPrev()), Result: jsonSeqV(reply.GetResult())}
	case *databendjson.GetKV:
		v, err := s.srv.Get(ctx, r.Key, metapb.ReadConsistency_LINEARIZABLE)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		data = &databendjson.GetKVReply{Value: jsonSeqV(v)}
	case *databendjson.MGetKV:
		kvs, err := s.mget(ctx, r.Keys)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &databendjson.MGetKVReply{Values: make([]*databendjson.SeqV, len(kvs))}
		for i, kv := range kvs {
			out.Values[i] = jsonSeqV(kv.GetValue())
		}
		data = out
	case *databendjson.ListKV:
		out := &databendjson.ListKVReply{Items: []databendjson.KeySeqV{}}
		err := s.srv.List(ctx, r.Prefix, 0, metapb.ReadConsistency_LINEARIZABLE, func(kv *metapb.KV) bool {
			if databendKey(kv.GetKey()) {
				out.Items = append(out.Items, databendjson.KeySeqV{Key: kv.GetKey(), Value: *jsonSeqV(kv.GetValue())})
			}
			return true
		})
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		data = out
	}
	b, err := databendjson.Marshal(data)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &databendpb.RaftReply{Data: string(b)}, nil
}

// upsertToNative translates an UpsertKV. Its value_meta goes on as
// written: the ttl (which wins, as in databend-meta) and expire_at in
// Databend's seconds-or-milliseconds form.
func upsertToNative(u *databendjson.UpsertKV) *metapb.UpsertRequest {
	out := &metapb.UpsertRequest{Key: u.Key}
	switch u.Seq.Kind {
	case databendjson.MatchExact:
		out.MatchSeq = &metapb.MatchSeq{Kind: metapb.MatchSeq_EXACT, Seq: u.Seq.N}
	case databendjson.MatchGE:
		out.MatchSeq = &metapb.MatchSeq{Kind: metapb.MatchSeq_GE, Seq: u.Seq.N}
	}
	switch u.Value.Kind {
	case databendjson.OpUpdate:
		out.Op, out.Value = metapb.UpsertRequest_UPDATE, u.Value.Value
	case databendjson.OpDelete:
		out.Op = metapb.UpsertRequest_DELETE
	default:
		out.Op = metapb.UpsertRequest_AS_IS
	}
	if m := u.ValueMeta; m != nil {
		out.ExpireAt = m.ExpireAt
		if m.TTL != nil {
			out.TtlMs = m.TTL.Millis
		}
	}
	return out
}

// mget reads keys, refusing more than one request may ask for.
func (s *Service) mget(ctx context.Context, keys []string) ([]*metapb.KV, error) {
	if n := s.limits.MaxKeysPerRequest; n > 0 && len(keys) > n {
		return nil, invalidf("%d keys in one MGetKV is more than the limit of %d: split the request, or use KvGetMany", len(keys), n)
	}
	return s.srv.MGet(ctx, keys, metapb.ReadConsistency_LINEARIZABLE)
}

// KvReadV1 serves a JSON GetKV, MGetKV or ListKV as a stream: one item per
// key asked, in order, with no value for an absent key; for a list, the
// live keys under the prefix in key order.
func (s *Service) KvReadV1(req *databendpb.RaftRequest, stream grpc.ServerStreamingServer[databendpb.StreamItem]) error {
	ctx := stream.Context()
	r, err := databendjson.UnmarshalKvRequest([]byte(req.GetData()))
	if err != nil {
		return s.fail(ctx, invalidf("RaftRequest.data is not a Databend read request ({\"GetKV\":{...}}, MGetKV or ListKV): %v", err))
	}
	switch r := r.(type) {
	case *databendjson.GetKV:
		return s.sendKeys(stream, []string{r.Key})
	case *databendjson.MGetKV:
		return s.sendKeys(stream, r.Keys)
	case *databendjson.ListKV:
		return s.sendList(stream, r.Prefix, 0)
	}
	return s.fail(ctx, invalidf("KvReadV1 takes GetKV, MGetKV or ListKV; send an UpsertKV to KvApi"))
}

func (s *Service) sendKeys(stream grpc.ServerStreamingServer[databendpb.StreamItem], keys []string) error {
	ctx := stream.Context()
	kvs, err := s.mget(ctx, keys)
	if err != nil {
		return s.fail(ctx, err)
	}
	s.nameLeader(ctx)
	for _, kv := range kvs {
		if err := stream.Send(streamItem(kv.GetKey(), kv.GetValue())); err != nil {
			return err
		}
	}
	return nil
}

// sendList streams the live keys under prefix, at most limit (0: all),
// those with a Databend form (databendKey) only.
func (s *Service) sendList(stream grpc.ServerStreamingServer[databendpb.StreamItem], prefix string, limit uint64) error {
	ctx := stream.Context()
	var sendErr error
	named := false
	var sent uint64
	err := s.srv.List(ctx, prefix, 0, metapb.ReadConsistency_LINEARIZABLE, func(kv *metapb.KV) bool {
		if !named {
			s.nameLeader(ctx)
			named = true
		}
		if !databendKey(kv.GetKey()) {
			return true
		}
		sendErr = stream.Send(streamItem(kv.GetKey(), kv.GetValue()))
		sent++
		return sendErr == nil && (limit == 0 || sent < limit)
	})
	if err != nil {
		return s.fail(ctx, err)
	}
	if !named {
		s.nameLeader(ctx)
	}
	return sendErr
}

// KvList streams the live keys under a prefix in key order, at most limit
// of them when it is set (0: none).
func (s *Service) KvList(req *databendpb.KvListRequest, stream grpc.ServerStreamingServer[databendpb.StreamItem]) error {
	if req.Limit != nil && req.GetLimit() == 0 {
		s.nameLeader(stream.Context())
		return nil
	}
	return s.sendList(stream, req.GetPrefix(), req.GetLimit())
}

// KvGetMany answers each key of its input stream in turn, with no value
// for an absent key, until the client closes its side. The response
// headers go out at once: Databend's client sends its keys only once they
// arrived. The first key is read linearizably, the others from this
// node's state, which is at least as new: the whole stream reads the
// state as of its first key or later.
func (s *Service) KvGetMany(stream grpc.BidiStreamingServer[databendpb.KvGetManyRequest, databendpb.StreamItem]) error {
	ctx := stream.Context()
	if err := s.sendHeader(ctx); err != nil {
		return err
	}
	c := metapb.ReadConsistency_LINEARIZABLE
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := s.srv.Get(ctx, req.GetKey(), c)
		if err != nil {
			return s.fail(ctx, err)
		}
		c = metapb.ReadConsistency_SERIALIZABLE
		if err := stream.Send(streamItem(req.GetKey(), v)); err != nil {
			return err
		}
	}
}
