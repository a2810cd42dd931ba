package databendapi

import (
	"unicode/utf8"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// Values cross the face in three forms: ours (metapb.SeqV: seq, data,
// meta), Databend's protobuf SeqV (transactions, streams, watch events:
// seq, data, meta{expire_at, proposed_at_ms}) and Databend's serde SeqV
// (KvApi replies: {"seq","meta","data"}). The meta is the stored KVMeta
// as it is (metapb.SeqV.meta): expire_at in the form it was written
// (seconds or milliseconds), proposed_at_ms the time of the entry that
// wrote the value; a value without one (imported so) has none.

// pbSeqV is v as Databend's protobuf SeqV; nil stays nil (an absent key).
func pbSeqV(v *metapb.SeqV) *databendpb.SeqV {
	if v == nil {
		return nil
	}
	out := &databendpb.SeqV{Seq: v.GetSeq(), Data: v.GetData()}
	if m := v.GetMeta(); m != nil {
		out.Meta = &databendpb.KVMeta{ExpireAt: m.ExpireAt, ProposedAtMs: m.ProposedAtMs}
	}
	return out
}

// jsonSeqV is v as Databend's serde SeqV; nil stays nil.
func jsonSeqV(v *metapb.SeqV) *databendjson.SeqV {
	if v == nil {
		return nil
	}
	out := &databendjson.SeqV{Seq: v.GetSeq(), Data: v.GetData(), Meta: jsonKVMeta(v.GetMeta())}
	if out.Data == nil {
		out.Data = []byte{}
	}
	return out
}

// jsonKVMeta is m as Databend's serde KVMeta, in its current form
// (expire_at left out when unset); nil stays nil.
func jsonKVMeta(m *metapb.KVMeta) *databendjson.KVMeta {
	if m == nil {
		return nil
	}
	out := &databendjson.KVMeta{ProposedAtMs: m.ProposedAtMs}
	if m.ExpireAt != nil {
		out.ExpireAt = databendjson.Some(m.GetExpireAt())
	}
	return out
}

// databendKey reports whether key can go out on Databend's API: its keys
// are protobuf and JSON strings, UTF-8 text (Rust strings). A key that is
// not UTF-8 (written through etcd's API, which takes any bytes) has no
// Databend form: lists, watches and SnapshotKeysLayout leave it out (the
// native and etcd APIs see it), and an export in Databend's format is
// refused (internal/backup).
func databendKey(key string) bool { return utf8.ValidString(key) }

// streamItem is one key of a streamed read: value unset when absent.
func streamItem(key string, v *metapb.SeqV) *databendpb.StreamItem {
	return &databendpb.StreamItem{Key: key, Value: pbSeqV(v)}
}
