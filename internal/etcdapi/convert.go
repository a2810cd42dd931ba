package etcdapi

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/metasrv/metasrv/api/metapb"
)

// Translations between etcd's requests and the native ones. Keys are
// bytes on etcd's API and Go strings in metasrv, which hold any bytes (the
// native API's key fields carry them unchecked, see api/metapb).

// checkKey refuses an empty key (etcd's error) and one over the key limit.
func (s *Service) checkKey(what string, key []byte) error {
	if len(key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if len(key) > s.cfg.Limits.MaxKeyBytes {
		return invalidf("%s of %d bytes is longer than the limit of %d bytes: use a shorter key", what, len(key), s.cfg.Limits.MaxKeyBytes)
	}
	return nil
}

// nativeRange translates a RangeRequest; checkRangeRequest checked it.
func nativeRange(r *pb.RangeRequest) *metapb.TxnRange {
	return &metapb.TxnRange{
		Key:               string(r.Key),
		RangeEnd:          r.RangeEnd,
		Limit:             nonNegative(r.Limit),
		Revision:          nonNegative(r.Revision),
		SortOrder:         metapb.TxnRange_SortOrder(r.SortOrder),
		SortTarget:        metapb.TxnRange_SortTarget(r.SortTarget),
		KeysOnly:          r.KeysOnly,
		CountOnly:         r.CountOnly,
		MinModRevision:    nonNegative(r.MinModRevision),
		MaxModRevision:    nonNegative(r.MaxModRevision),
		MinCreateRevision: nonNegative(r.MinCreateRevision),
		MaxCreateRevision: nonNegative(r.MaxCreateRevision),
	}
}

// nonNegative reads etcd's int64 where a negative value means what 0
// does (no limit, the current revision, no filter).
func nonNegative(x int64) uint64 { return uint64(max(x, 0)) }

func (s *Service) rangeResponse(r *metapb.TxnRangeResponse, rev uint64) *pb.RangeResponse {
	out := &pb.RangeResponse{Header: s.header(rev), More: r.GetMore(), Count: int64(r.GetCount())}
	if len(r.GetKvs()) > 0 {
		out.Kvs = make([]*mvccpb.KeyValue, len(r.GetKvs()))
		for i, kv := range r.GetKvs() {
			out.Kvs[i] = keyValue(kv)
		}
	}
	return out
}

// keyValue is a native KV as etcd's KeyValue.
func keyValue(kv *metapb.KV) *mvccpb.KeyValue {
	v := kv.GetValue()
	return &mvccpb.KeyValue{
		Key:            []byte(kv.GetKey()),
		CreateRevision: int64(v.GetCreateRevision()),
		ModRevision:    int64(v.GetModRevision()),
		Version:        int64(v.GetVersion()),
		Value:          v.GetData(),
		Lease:          v.GetLease(),
	}
}

func nativePut(r *pb.PutRequest) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{
		Key: string(r.Key), Value: r.Value, IgnoreValue: r.IgnoreValue,
		Lease: r.Lease, IgnoreLease: r.IgnoreLease,
	}}}
}

func nativeDelete(r *pb.DeleteRangeRequest) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_DeleteRange{DeleteRange: &metapb.TxnDeleteRange{
		Key: string(r.Key), RangeEnd: r.RangeEnd, PrevKv: r.PrevKv,
	}}}
}

func (s *Service) putResponse(req *pb.PutRequest, r *metapb.TxnPutResponse, rev uint64) *pb.PutResponse {
	out := &pb.PutResponse{Header: s.header(rev)}
	if req.PrevKv && r.GetPrev() != nil {
		out.PrevKv = keyValue(&metapb.KV{Key: r.GetKey(), Value: r.GetPrev()})
	}
	return out
}

func (s *Service) deleteResponse(r *metapb.TxnDeleteRangeResponse, rev uint64) *pb.DeleteRangeResponse {
	out := &pb.DeleteRangeResponse{Header: s.header(rev), Deleted: int64(r.GetDeleted())}
	for _, kv := range r.GetPrevKvs() {
		out.PrevKvs = append(out.PrevKvs, keyValue(kv))
	}
	return out
}

// nativeCompare translates a Compare (checked by checkCompare). etcd
// compares int64s; the native targets are unsigned, so a negative target,
// below every revision and version, becomes a condition that always or
// never holds as etcd's would.
func nativeCompare(c *pb.Compare) *metapb.TxnCondition {
	out := &metapb.TxnCondition{Key: string(c.Key), RangeEnd: c.RangeEnd}
	// As etcd, the target field is the one Target names: another one set
	// reads as 0 (or an empty value).
	var n int64
	switch c.Target {
	case pb.Compare_VERSION:
		n = c.GetVersion()
	case pb.Compare_CREATE:
		n = c.GetCreateRevision()
	case pb.Compare_MOD:
		n = c.GetModRevision()
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		out.Op = metapb.TxnCondition_EQ
	case pb.Compare_GREATER:
		out.Op = metapb.TxnCondition_GT
	case pb.Compare_LESS:
		out.Op = metapb.TxnCondition_LT
	case pb.Compare_NOT_EQUAL:
		out.Op = metapb.TxnCondition_NE
	}
	switch c.Target {
	case pb.Compare_VALUE:
		out.Target = &metapb.TxnCondition_Value{Value: c.GetValue()}
		return out
	case pb.Compare_LEASE:
		// Lease ids are int64s on both sides: compared as they are.
		out.Target = &metapb.TxnCondition_Lease{Lease: c.GetLease()}
		return out
	}
	u := uint64(max(n, 0))
	if n < 0 {
		// Every actual value is >= 0 > n: GREATER and NOT_EQUAL always
		// hold (>= 0), EQUAL and LESS never (< 0).
		if c.Result == pb.Compare_GREATER || c.Result == pb.Compare_NOT_EQUAL {
			out.Op = metapb.TxnCondition_GE
		} else {
			out.Op = metapb.TxnCondition_LT
		}
	}
	switch c.Target {
	case pb.Compare_VERSION:
		out.Target = &metapb.TxnCondition_Version{Version: u}
	case pb.Compare_CREATE:
		out.Target = &metapb.TxnCondition_CreateRevision{CreateRevision: u}
	case pb.Compare_MOD:
		out.Target = &metapb.TxnCondition_ModRevision{ModRevision: u}
	}
	return out
}
