package etcdapi

import (
	"context"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/metasrv/metasrv/api/metapb"
)

// kv serves etcdserverpb.KV: validate as etcd's v3rpc does, translate,
// call the server, translate back, map the error.
type kv struct {
	pb.UnimplementedKVServer
	s *Service
}

func (k *kv) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := k.s.checkRange(r); err != nil {
		return nil, toStatus(err)
	}
	resp, rev, err := k.s.rangeOnce(ctx, nativeRange(r), rangeConsistency(r))
	if err != nil {
		return nil, toStatus(err)
	}
	return k.s.rangeResponse(resp, rev), nil
}

func (k *kv) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := k.s.checkPut(r); err != nil {
		return nil, toStatus(err)
	}
	reply, err := k.s.txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{nativePut(r)}})
	if err != nil {
		return nil, toStatus(err)
	}
	return k.s.putResponse(r, reply.GetResponses()[0].GetPut(), reply.GetRevision()), nil
}

func (k *kv) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := k.s.checkDelete(r); err != nil {
		return nil, toStatus(err)
	}
	reply, err := k.s.txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{nativeDelete(r)}})
	if err != nil {
		return nil, toStatus(err)
	}
	return k.s.deleteResponse(reply.GetResponses()[0].GetDeleteRange(), reply.GetRevision()), nil
}

func (k *kv) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := k.s.checkTxn(r, k.s.cfg.MaxTxnOps); err != nil {
		return nil, toStatus(err)
	}
	// Forbidden put/delete overlaps are checked after the request, as
	// etcd does, to avoid a quadratic blowup.
	if _, _, err := checkIntervals(r.Success); err != nil {
		return nil, err
	}
	if _, _, err := checkIntervals(r.Failure); err != nil {
		return nil, err
	}
	reply, err := k.s.txn(ctx, nativeTxn(r))
	if err != nil {
		return nil, toStatus(err)
	}
	return k.s.txnResponse(r, reply, reply.GetRevision()), nil
}

// Compact drops the history below the revision (etcd's KV.Compact); the
// compaction is immediate, so physical is accepted and changes nothing.
func (k *kv) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	if r.Revision <= 0 {
		return nil, rpctypes.ErrGRPCCompacted
	}
	ctx, cancel := k.s.withDeadline(ctx)
	defer cancel()
	rev, err := k.s.srv.Compact(ctx, uint64(r.Revision))
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.CompactionResponse{Header: k.s.header(rev)}, nil
}

// rangeConsistency is the read barrier r asks for.
func rangeConsistency(r *pb.RangeRequest) metapb.ReadConsistency {
	if r.Serializable {
		return metapb.ReadConsistency_SERIALIZABLE
	}
	return metapb.ReadConsistency_LINEARIZABLE
}

// txn applies a native transaction with the default deadline.
func (s *Service) txn(ctx context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error) {
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	return s.srv.Txn(ctx, req)
}

// checkRange is etcd's checkRangeRequest, with metasrv's key rules.
func (s *Service) checkRange(r *pb.RangeRequest) error {
	if err := s.checkKey("key", r.Key); err != nil {
		return err
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

// checkPut is etcd's checkPutRequest.
func (s *Service) checkPut(r *pb.PutRequest) error {
	if err := s.checkKey("key", r.Key); err != nil {
		return err
	}
	if r.IgnoreValue && len(r.Value) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if r.IgnoreLease && r.Lease != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	if len(r.Value) > s.cfg.Limits.MaxRequestBytes {
		return rpctypes.ErrGRPCRequestTooLarge
	}
	return nil
}

func (s *Service) checkDelete(r *pb.DeleteRangeRequest) error {
	return s.checkKey("key", r.Key)
}

// checkCompare refuses what etcd would take but metasrv cannot yet.
func (s *Service) checkCompare(c *pb.Compare) error {
	if err := s.checkKey("compare key", c.Key); err != nil {
		return err
	}
	switch c.Target {
	case pb.Compare_VERSION, pb.Compare_CREATE, pb.Compare_MOD, pb.Compare_VALUE, pb.Compare_LEASE:
	default:
		return invalidf("compare target %d is unknown; use VERSION, CREATE, MOD, VALUE or LEASE", c.Target)
	}
	if _, ok := pb.Compare_CompareResult_name[int32(c.Result)]; !ok {
		return invalidf("compare result %d is unknown; use EQUAL, GREATER, LESS or NOT_EQUAL", c.Result)
	}
	return nil
}

// checkTxn is etcd's checkTxnRequest (maxTxnOps bounds the compares and
// each branch; nested transactions get what is left), with metasrv's key
// and lease rules.
func (s *Service) checkTxn(r *pb.TxnRequest, maxTxnOps int) error {
	opc := max(len(r.Compare), len(r.Success), len(r.Failure))
	if opc > maxTxnOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.Compare {
		if err := s.checkCompare(c); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, u := range ops {
			if err := s.checkRequestOp(u, maxTxnOps-opc); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) checkRequestOp(u *pb.RequestOp, maxTxnOps int) error {
	switch uv := u.GetRequest().(type) {
	case *pb.RequestOp_RequestRange:
		return s.checkRange(uv.RequestRange)
	case *pb.RequestOp_RequestPut:
		return s.checkPut(uv.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		return s.checkDelete(uv.RequestDeleteRange)
	case *pb.RequestOp_RequestTxn:
		return s.checkTxn(uv.RequestTxn, maxTxnOps)
	default:
		// An empty op: etcd's answer.
		return rpctypes.ErrGRPCKeyNotFound
	}
}
