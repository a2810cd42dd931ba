package etcdapi

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// firstStreamChunk is the limit of a RangeStream's first chunk: etcd's
// initialStreamChunkLimit.
const firstStreamChunk = 10

// RangeStream serves etcd 3.7's streamed Range (clientv3's GetStream) as
// etcd's server does (EtcdServer.rangeStream), as a series of Ranges:
//
//   - count_only: one message, the count and the header.
//   - otherwise chunks of keys in key order, disjoint, whose
//     concatenation is what Range returns. The first chunk is read with
//     the request's consistency, at its revision or the store's current
//     one; that revision is pinned for the next chunks (read
//     serializable: the first read's barrier already covers them), so
//     writes made meanwhile are not seen. The first chunk holds up to
//     firstStreamChunk keys; each next limit doubles or halves to bring a
//     chunk near MaxRequestBytes (etcd's adjustChunkLimit).
//   - header, more and count are set on the last chunk only: the header
//     at the pinned revision; more when the request's limit stopped the
//     stream before the end of the range; count is the number of keys in
//     the range, as Range's (the keys sent, plus those after the last
//     one, counted at the pinned revision).
//
// As etcd, it refuses a sort other than by key ascending and the
// min/max mod/create revision filters (Unimplemented: use Range). A
// revision compacted between two chunks ends the stream with
// ErrGRPCCompacted, as a Range at it would.
func (k *kv) RangeStream(r *pb.RangeRequest, rs pb.KV_RangeStreamServer) error {
	if err := k.s.checkRangeStream(r); err != nil {
		return toStatus(err)
	}
	return toStatus(k.s.rangeStream(rs.Context(), r, rs.Send))
}

// checkRangeStream is etcd's checkRangeStreamRequest.
func (s *Service) checkRangeStream(r *pb.RangeRequest) error {
	if err := s.checkRange(r); err != nil {
		return err
	}
	if !(r.SortOrder == pb.RangeRequest_NONE ||
		(r.SortTarget == pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_ASCEND)) {
		return status.Error(codes.Unimplemented, "RangeStream does not support custom sort orders: use Range to sort")
	}
	if r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0 {
		return status.Error(codes.Unimplemented, "RangeStream does not support revision filters: use Range to filter by revision")
	}
	return nil
}

// rangeStream reads r in chunks and sends each (RangeStream).
func (s *Service) rangeStream(ctx context.Context, r *pb.RangeRequest, send func(*pb.RangeStreamResponse) error) error {
	c := rangeConsistency(r)
	req := nativeRange(r)
	if req.CountOnly {
		resp, rev, err := s.rangeOnce(ctx, req, c)
		if err != nil {
			return err
		}
		return send(&pb.RangeStreamResponse{RangeResponse: &pb.RangeResponse{
			Header: s.header(rev), Count: int64(resp.GetCount())}})
	}
	total := req.Limit // 0: no limit
	req.Limit = firstStreamChunk
	if total > 0 {
		req.Limit = min(req.Limit, total)
	}
	var headerRev, sent uint64
	for {
		resp, rev, err := s.rangeOnce(ctx, req, c)
		if err != nil {
			return err
		}
		if headerRev == 0 {
			// The store's revision when the stream started; a stream
			// without a revision reads every chunk at it.
			headerRev = rev
			if req.Revision == 0 {
				req.Revision = rev
			}
			c = metapb.ReadConsistency_SERIALIZABLE
		}
		chunk := s.rangeResponse(resp, rev)
		out := &pb.RangeResponse{Kvs: chunk.Kvs}
		sent += uint64(len(chunk.Kvs))
		var next string
		if resp.GetMore() {
			next = resp.GetKvs()[len(resp.GetKvs())-1].GetKey() + "\x00"
		}
		done := !resp.GetMore() || sent == total
		if done {
			out.Header, out.More, out.Count = s.header(headerRev), resp.GetMore(), int64(sent)
			if resp.GetMore() {
				rest, _, err := s.rangeOnce(ctx, &metapb.TxnRange{Key: next, RangeEnd: req.RangeEnd,
					Revision: req.Revision, CountOnly: true}, metapb.ReadConsistency_SERIALIZABLE)
				if err != nil {
					return err
				}
				out.Count += int64(rest.GetCount())
			}
		}
		if err := send(&pb.RangeStreamResponse{RangeResponse: out}); err != nil {
			return err
		}
		if done {
			return nil
		}
		req.Key = next
		req.Limit = nextChunkLimit(req.Limit, proto.Size(chunk), s.cfg.Limits.MaxRequestBytes)
		if total > 0 {
			req.Limit = min(req.Limit, total-sent)
		}
	}
}

// rangeOnce is one Range (of a stream, or Range itself) with the default
// deadline.
func (s *Service) rangeOnce(ctx context.Context, req *metapb.TxnRange, c metapb.ReadConsistency) (*metapb.TxnRangeResponse, uint64, error) {
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	return s.srv.Range(ctx, req, c)
}

// nextChunkLimit is etcd's adjustChunkLimit: the next chunk's limit,
// doubled when the last chunk (of last keys, size bytes) was under half
// of target, halved when over twice it; at least 1, since 0 means no
// limit.
func nextChunkLimit(last uint64, size, target int) uint64 {
	switch {
	case size < target/2:
		last *= 2
	case size > target*2:
		last /= 2
	}
	return max(last, 1)
}
