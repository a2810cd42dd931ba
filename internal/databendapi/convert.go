package databendapi

import (
	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// Values cross the face in three forms: ours (metapb.SeqV: seq, data,
// expire_at_ms), Databend's protobuf SeqV (transactions, streams, watch
// events: seq, data, meta{expire_at, proposed_at_ms}) and Databend's
// serde SeqV (KvApi replies: {"seq","meta","data"}). A value that does not
// expire has no meta; one that does has meta.expire_at in milliseconds,
// which every Databend reader takes as such (expire_at above
// databendjson.MillisThreshold is milliseconds).

// pbSeqV is v as Databend's protobuf SeqV; nil stays nil (an absent key).
func pbSeqV(v *metapb.SeqV) *databendpb.SeqV {
	if v == nil {
		return nil
	}
	out := &databendpb.SeqV{Seq: v.GetSeq(), Data: v.GetData()}
	if at := v.GetExpireAtMs(); at != 0 {
		out.Meta = &databendpb.KVMeta{ExpireAt: &at}
	}
	return out
}

// jsonSeqV is v as Databend's serde SeqV; nil stays nil.
func jsonSeqV(v *metapb.SeqV) *databendjson.SeqV {
	if v == nil {
		return nil
	}
	out := &databendjson.SeqV{Seq: v.GetSeq(), Data: v.GetData()}
	if out.Data == nil {
		out.Data = []byte{}
	}
	if at := v.GetExpireAtMs(); at != 0 {
		out.Meta = &databendjson.KVMeta{ExpireAt: databendjson.Some(at)}
	}
	return out
}

// streamItem is one key of a streamed read: value unset when absent.
func streamItem(key string, v *metapb.SeqV) *databendpb.StreamItem {
	return &databendpb.StreamItem{Key: key, Value: pbSeqV(v)}
}

// expireAtMs converts a Databend expire_at (seconds or milliseconds since
// the epoch) to ours; nil is 0, no expiry.
func expireAtMs(expireAt *uint64) uint64 {
	if expireAt == nil {
		return 0
	}
	return databendjson.ExpireAtMs(*expireAt)
}
