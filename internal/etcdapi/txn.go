package etcdapi

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/metasrv/metasrv/api/metapb"
)

// nativeTxn translates a checked TxnRequest: compares to conditions,
// success to if_then, failure to else_then, each op to its native op.
func nativeTxn(r *pb.TxnRequest) *metapb.TxnRequest {
	out := &metapb.TxnRequest{
		IfThen:   nativeOps(r.Success),
		ElseThen: nativeOps(r.Failure),
	}
	if len(r.Compare) > 0 {
		out.Condition = make([]*metapb.TxnCondition, len(r.Compare))
		for i, c := range r.Compare {
			out.Condition[i] = nativeCompare(c)
		}
	}
	return out
}

func nativeOps(ops []*pb.RequestOp) []*metapb.TxnOp {
	if len(ops) == 0 {
		return nil
	}
	out := make([]*metapb.TxnOp, len(ops))
	for i, u := range ops {
		switch uv := u.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			out[i] = &metapb.TxnOp{Request: &metapb.TxnOp_Range{Range: nativeRange(uv.RequestRange)}}
		case *pb.RequestOp_RequestPut:
			out[i] = nativePut(uv.RequestPut)
		case *pb.RequestOp_RequestDeleteRange:
			out[i] = nativeDelete(uv.RequestDeleteRange)
		case *pb.RequestOp_RequestTxn:
			out[i] = &metapb.TxnOp{Request: &metapb.TxnOp_Txn{Txn: nativeTxn(uv.RequestTxn)}}
		}
	}
	return out
}

// txnResponse translates the native reply of r; every header carries the
// revision after the transaction.
func (s *Service) txnResponse(r *pb.TxnRequest, reply *metapb.TxnReply, rev uint64) *pb.TxnResponse {
	out := &pb.TxnResponse{Header: s.header(rev), Succeeded: reply.GetSuccess()}
	ops := r.Failure
	if reply.GetSuccess() {
		ops = r.Success
	}
	if len(ops) == 0 {
		return out
	}
	out.Responses = make([]*pb.ResponseOp, len(ops))
	for i, u := range ops {
		nr := reply.GetResponses()[i]
		switch uv := u.GetRequest().(type) {
		case *pb.RequestOp_RequestRange:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{
				ResponseRange: s.rangeResponse(nr.GetRange(), rev)}}
		case *pb.RequestOp_RequestPut:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{
				ResponsePut: s.putResponse(uv.RequestPut, nr.GetPut(), rev)}}
		case *pb.RequestOp_RequestDeleteRange:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{
				ResponseDeleteRange: s.deleteResponse(nr.GetDeleteRange(), rev)}}
		case *pb.RequestOp_RequestTxn:
			out.Responses[i] = &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{
				ResponseTxn: s.txnResponse(uv.RequestTxn, nr.GetTxn(), rev)}}
		}
	}
	return out
}

// interval is a range of keys [begin, end) as etcd's adt compares them:
// end "" is unbounded, and a single key k is [k, k+"\x00").
type interval struct{ begin, end string }

func pointInterval(k string) interval { return interval{k, k + "\x00"} }

// contains reports whether key k is in iv.
func (iv interval) contains(k string) bool {
	return iv.begin <= k && (iv.end == "" || k < iv.end)
}

type intervals []interval

func (ivs intervals) intersects(k string) bool {
	for _, iv := range ivs {
		if iv.contains(k) {
			return true
		}
	}
	return false
}

// checkIntervals is etcd's rule against a put and a delete (or two puts)
// of one key in a transaction (v3rpc's checkIntervals): it returns
// rpctypes.ErrGRPCDuplicateKey, or the puts and deletes of reqs for the
// level above. Puts in the then and else branches of one nested
// transaction may share keys: only one of them runs. A delete with the
// range_end "\x00" is kept as etcd keeps it, [key, "\x00"), which holds no
// key but "": etcd does not see a put under it as a duplicate either.
func checkIntervals(reqs []*pb.RequestOp) (map[string]struct{}, intervals, error) {
	var dels intervals
	for _, req := range reqs {
		d := req.GetRequestDeleteRange()
		if d == nil {
			continue
		}
		if len(d.RangeEnd) != 0 {
			dels = append(dels, interval{string(d.Key), string(d.RangeEnd)})
		} else {
			dels = append(dels, pointInterval(string(d.Key)))
		}
	}
	puts := map[string]struct{}{}
	for _, req := range reqs {
		t := req.GetRequestTxn()
		if t == nil {
			continue
		}
		putsThen, delsThen, err := checkIntervals(t.Success)
		if err != nil {
			return nil, dels, err
		}
		putsElse, delsElse, err := checkIntervals(t.Failure)
		if err != nil {
			return nil, dels, err
		}
		for k := range putsThen {
			if _, ok := puts[k]; ok || dels.intersects(k) {
				return nil, dels, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = struct{}{}
		}
		for k := range putsElse {
			if _, ok := puts[k]; ok {
				if _, isSafe := putsThen[k]; !isSafe {
					return nil, dels, rpctypes.ErrGRPCDuplicateKey
				}
			}
			if dels.intersects(k) {
				return nil, dels, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = struct{}{}
		}
		// etcd's Union keeps the intervals that meet ["\x00", ∞): those
		// whose end is beyond "\x00".
		for _, iv := range append(delsThen, delsElse...) {
			if iv.end == "" || iv.end > "\x00" {
				dels = append(dels, iv)
			}
		}
	}
	for _, req := range reqs {
		p := req.GetRequestPut()
		if p == nil {
			continue
		}
		k := string(p.Key)
		if _, ok := puts[k]; ok || dels.intersects(k) {
			return nil, dels, rpctypes.ErrGRPCDuplicateKey
		}
		puts[k] = struct{}{}
	}
	return puts, dels, nil
}
