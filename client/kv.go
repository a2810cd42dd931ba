package client

import (
	"fmt"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
)

// KV is a key with its value and metadata as a server returned it.
type KV struct {
	Key string
	// Seq is the global sequence number of the put that produced the
	// value (a delete takes none); 0 means the key is absent (and every
	// other field but Key is zero).
	Seq  uint64
	Data []byte
	// ExpireAtMs is the absolute expiry time in Unix milliseconds; 0 =
	// never. The key expires once the time is past it.
	ExpireAtMs uint64
	// CreateSeq is the seq of the put that created the key (since its
	// last delete).
	CreateSeq uint64
	// Version counts the puts to the key since it was created, from 1.
	Version uint64
	// CreateRevision is the revision of the entry that created the key
	// (since its last delete), ModRevision that of its last put.
	CreateRevision, ModRevision uint64
	// ProposedAtMs is the time, Unix ms, the leader stamped into the entry
	// that wrote the value (0: not known, for data imported without it).
	ProposedAtMs uint64
	// Meta is the value's metadata in databend-meta's form, as stored.
	Meta DatabendMeta
}

// DatabendMeta is a value's metadata as databend-meta keeps it (its
// KVMeta): what databend-metactl prints of a value.
type DatabendMeta struct {
	// Set is false when the value has none (databend-meta's null: data
	// imported without it); the other fields are then zero.
	Set bool
	// ExpireAt is the expiry as written, seconds since the epoch when
	// <= 100_000_000_000, else milliseconds; valid when HasExpireAt.
	ExpireAt    uint64
	HasExpireAt bool
	// ProposedAtMs is the time the leader stamped into the entry that
	// wrote the value; valid when HasProposedAt.
	ProposedAtMs  uint64
	HasProposedAt bool
}

func databendMetaFromProto(m *metapb.KVMeta) DatabendMeta {
	if m == nil {
		return DatabendMeta{}
	}
	return DatabendMeta{Set: true,
		ExpireAt: m.GetExpireAt(), HasExpireAt: m.ExpireAt != nil,
		ProposedAtMs: m.GetProposedAtMs(), HasProposedAt: m.ProposedAtMs != nil}
}

// Exists reports whether the key was present (Seq != 0).
func (kv KV) Exists() bool { return kv.Seq != 0 }

func kvFromProto(key string, v *metapb.SeqV) KV {
	if v == nil {
		return KV{Key: key}
	}
	return KV{
		Key:        key,
		Seq:        v.GetSeq(),
		Data:       v.GetData(),
		ExpireAtMs: v.GetExpireAtMs(),
		CreateSeq:  v.GetCreateSeq(),
		Version:    v.GetVersion(),

		CreateRevision: v.GetCreateRevision(),
		ModRevision:    v.GetModRevision(),
		ProposedAtMs:   v.GetMeta().GetProposedAtMs(),
		Meta:           databendMetaFromProto(v.GetMeta()),
	}
}

// MatchSeq is the condition an Upsert places on the key's current seq. The
// zero value is Any.
type MatchSeq struct {
	kind metapb.MatchSeq_Kind
	seq  uint64
}

// Any matches whatever the key holds, including nothing.
func Any() MatchSeq { return MatchSeq{kind: metapb.MatchSeq_ANY} }

// Exact matches when the key's current seq is n; Exact(0) matches only an
// absent key (create-if-absent). An Upsert with Exact cannot apply twice, so
// the client retries it on another endpoint after an ambiguous failure.
func Exact(n uint64) MatchSeq { return MatchSeq{kind: metapb.MatchSeq_EXACT, seq: n} }

// GE matches when the key's current seq is >= n.
func GE(n uint64) MatchSeq { return MatchSeq{kind: metapb.MatchSeq_GE, seq: n} }

// String returns "any", "exact(n)" or ">=n".
func (m MatchSeq) String() string {
	switch m.kind {
	case metapb.MatchSeq_EXACT:
		return fmt.Sprintf("exact(%d)", m.seq)
	case metapb.MatchSeq_GE:
		return fmt.Sprintf(">=%d", m.seq)
	default:
		return "any"
	}
}

func (m MatchSeq) proto() *metapb.MatchSeq {
	if m.kind == metapb.MatchSeq_ANY {
		return nil // unset = ANY
	}
	return &metapb.MatchSeq{Kind: m.kind, Seq: m.seq}
}

// Upsert is one conditional write of a key.
type Upsert struct {
	Key string
	// Value is the new value; it must be empty when Delete is set.
	Value []byte
	// Delete removes the key instead of writing Value.
	Delete bool
	// Match is the condition on the key's current seq; zero = Any.
	Match MatchSeq
	// TTL makes the key expire TTL after the time the leader stamps into
	// the write (whole milliseconds, at least 1ms). At most one of TTL and
	// ExpireAtMs is set; neither = the key never expires.
	TTL time.Duration
	// ExpireAtMs is an absolute expiry time in Unix milliseconds.
	ExpireAtMs uint64
}

func (u Upsert) request() (*metapb.UpsertRequest, error) {
	switch {
	case u.Key == "":
		return nil, fmt.Errorf("%w: upsert: empty key", ErrInvalidArgument)
	case u.TTL < 0:
		return nil, fmt.Errorf("%w: upsert %q: negative TTL %v", ErrInvalidArgument, u.Key, u.TTL)
	case u.TTL > 0 && u.TTL < time.Millisecond:
		return nil, fmt.Errorf("%w: upsert %q: TTL %v is below the 1ms resolution", ErrInvalidArgument, u.Key, u.TTL)
	case u.TTL > 0 && u.ExpireAtMs != 0:
		return nil, fmt.Errorf("%w: upsert %q: set TTL or ExpireAtMs, not both", ErrInvalidArgument, u.Key)
	case u.Delete && (len(u.Value) != 0 || u.TTL != 0 || u.ExpireAtMs != 0):
		return nil, fmt.Errorf("%w: upsert %q: a delete takes no value, TTL or expiry", ErrInvalidArgument, u.Key)
	}
	req := &metapb.UpsertRequest{
		Key:        u.Key,
		MatchSeq:   u.Match.proto(),
		Value:      u.Value,
		TtlMs:      uint64(u.TTL / time.Millisecond),
		ExpireAtMs: u.ExpireAtMs,
	}
	if u.Delete {
		req.Op = metapb.UpsertRequest_DELETE
	}
	return req, nil
}

// UpsertResult is the outcome of an Upsert.
type UpsertResult struct {
	// Prev is the value before the write (Seq 0: the key was absent).
	Prev KV
	// Result is the value after the write (Seq 0: the key is absent). When
	// Applied is false nothing changed and Result equals Prev.
	Result KV
	// Applied is false when Match did not match the key's seq.
	Applied bool
	// Retried is true when an earlier attempt of this Upsert reached a
	// server and failed without an answer, so that attempt may have
	// applied. Only an Upsert with Match Exact is retried after that; if
	// Retried is true and Applied false, the earlier attempt may be what
	// moved the key's seq: compare Result with what you wrote.
	Retried bool
}

// ReadOption changes how a read is served.
type ReadOption func(*readOptions)

type readOptions struct {
	consistency metapb.ReadConsistency
}

// Serializable makes a read return the serving node's state without
// confirming with the leader: faster, possibly stale. Reads are
// linearizable by default.
func Serializable() ReadOption {
	return func(o *readOptions) { o.consistency = metapb.ReadConsistency_SERIALIZABLE }
}

func applyReadOptions(opts []ReadOption) readOptions {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
