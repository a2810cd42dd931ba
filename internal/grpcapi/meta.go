package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// KV is what the public API needs of the server. Called concurrently from
// gRPC goroutines. Returned values are owned by the caller.
type KV interface {
	// Upsert and Txn write through raft; an error wrapping
	// server.ErrNotProposed means the write never entered the log.
	Upsert(ctx context.Context, req *metapb.UpsertRequest) (*metapb.UpsertReply, error)
	Txn(ctx context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error)
	// Watch serves one watch stream until ctx ends, send fails or the
	// watch is cut off; it calls send from the calling goroutine only.
	Watch(ctx context.Context, req *metapb.WatchRequest, send func(*metapb.WatchResponse) error) error
	Get(ctx context.Context, key string, c metapb.ReadConsistency) (*metapb.SeqV, error)
	MGet(ctx context.Context, keys []string, c metapb.ReadConsistency) ([]*metapb.KV, error)
	// List calls fn for each key with prefix in ascending order; fn
	// returning false stops the listing.
	List(ctx context.Context, prefix string, limit uint64, c metapb.ReadConsistency, fn func(*metapb.KV) bool) error
	Members() []*metapb.Node
	Status() *metapb.StatusReply
	// LeaderGrpcAddress is the leader's public gRPC address when this
	// node is not the leader; "" on the leader or when it is unknown.
	// Called after every write, so it must be cheap on the leader.
	LeaderGrpcAddress() string
}

// Limits bound what one request may carry and what one reply may hold.
type Limits struct {
	// MaxKeyBytes is the longest key accepted, in bytes.
	MaxKeyBytes int
	// MaxRequestBytes bounds the key and value bytes of one request: an
	// upsert's key and value; a transaction's keys, values and condition
	// targets over all its branches (statemachine.ValidateTxnBytes). So a
	// value is at most this less its key's length.
	MaxRequestBytes int
	// MaxMessageBytes is the largest message the server sends
	// (grpc_api_max_message_size): a MGet reply over it is refused.
	MaxMessageBytes int
	// MaxKeysPerRequest bounds MGet.
	MaxKeysPerRequest int
	// MaxWatchesPerConn bounds the watch streams open on one client
	// connection; 0 = no limit.
	MaxWatchesPerConn int
	// DefaultTimeout applies to requests that come without a deadline.
	DefaultTimeout time.Duration
}

// DefaultLimits returns the limits for a given gRPC message size limit M
// (grpc_api_max_message_size): keys of at most 4096 bytes, and requests of
// at most M/2 - 64 KiB bytes of keys and values (16,711,680 for the
// default 32 MiB). Every reply and event a stored value can produce then
// fits in a message: an upsert's reply and a watch event hold two values
// (previous and new) and a key. A transaction's reply is bounded by the
// state machine (server.Config.MaxMessageBytes).
func DefaultLimits(maxMessageSize int) Limits {
	return Limits{
		MaxKeyBytes:       4096,
		MaxRequestBytes:   requestLimit(maxMessageSize),
		MaxMessageBytes:   maxMessageSize,
		MaxKeysPerRequest: 100_000,
		MaxWatchesPerConn: 1000,
		DefaultTimeout:    30 * time.Second,
	}
}

// requestLimit is the request limit DefaultLimits derives from a gRPC
// message size limit: half of it, less 64 KiB for the key and the framing;
// 0 for a limit under 128 KiB.
func requestLimit(maxMessageSize int) int {
	return max(maxMessageSize/2-64<<10, 0)
}

// listChunkBytes and listChunkKeys bound one chunk of a List stream: a
// chunk holds one KV, or as many as fit in these.
const (
	listChunkBytes = 1 << 20
	listChunkKeys  = 1000
)

// Meta implements metapb.MetaServer.
type Meta struct {
	metapb.UnimplementedMetaServer
	kv     KV
	limits Limits
	auth   Authenticator // nil: Handshake answers an empty token

	watches connWatches
}

// NewMeta returns the public API handlers over kv. With an Authenticator
// (at most one), Handshake issues tokens; serve the handlers with
// AuthServerOptions of the same Authenticator so that the other calls
// need them.
func NewMeta(kv KV, limits Limits, a ...Authenticator) *Meta {
	m := &Meta{kv: kv, limits: limits}
	if len(a) > 0 {
		m.auth = a[0]
	}
	return m
}

func (m *Meta) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || m.limits.DefaultTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, m.limits.DefaultTimeout)
}

func (m *Meta) checkKey(key string) error {
	if key == "" {
		return invalidf("empty key: give a non-empty key")
	}
	if len(key) > m.limits.MaxKeyBytes {
		return invalidf("key of %d bytes is longer than the limit of %d bytes: use a shorter key", len(key), m.limits.MaxKeyBytes)
	}
	return nil
}

func checkConsistency(c metapb.ReadConsistency) error {
	if _, ok := metapb.ReadConsistency_name[int32(c)]; !ok {
		return invalidf("unknown read consistency %d: use LINEARIZABLE or SERIALIZABLE", c)
	}
	return nil
}

// Upsert validates and applies one upsert.
func (m *Meta) Upsert(ctx context.Context, req *metapb.UpsertRequest) (*metapb.UpsertReply, error) {
	if err := m.checkKey(req.GetKey()); err != nil {
		return nil, toStatus(err)
	}
	if n := len(req.GetKey()) + len(req.GetValue()); n > m.limits.MaxRequestBytes {
		return nil, toStatus(invalidf("value of %d bytes for key %q: with the key, %d bytes, over the limit of %d bytes for one request (%s): store smaller values",
			len(req.GetValue()), req.GetKey(), n, m.limits.MaxRequestBytes, requestLimitOrigin))
	}
	if req.GetTtlMs() > 0 && req.GetExpireAtMs() > 0 {
		return nil, toStatus(invalidf("both ttl_ms and expire_at_ms are set for key %q: set one of them", req.GetKey()))
	}
	if _, ok := metapb.UpsertRequest_Op_name[int32(req.GetOp())]; !ok {
		return nil, toStatus(invalidf("unknown op %d: use UPDATE or DELETE", req.GetOp()))
	}
	if ms := req.GetMatchSeq(); ms != nil {
		if _, ok := metapb.MatchSeq_Kind_name[int32(ms.GetKind())]; !ok {
			return nil, toStatus(invalidf("unknown match_seq kind %d: use ANY, EXACT or GE", ms.GetKind()))
		}
	}
	wctx, cancel := m.withDeadline(ctx)
	defer cancel()
	reply, err := m.kv.Upsert(wctx, req)
	setLeaderTrailer(ctx, m.kv)
	return reply, writeStatus(ctx, err)
}

// Get reads one key.
func (m *Meta) Get(ctx context.Context, req *metapb.GetRequest) (*metapb.GetReply, error) {
	if err := m.checkKey(req.GetKey()); err != nil {
		return nil, toStatus(err)
	}
	if err := checkConsistency(req.GetConsistency()); err != nil {
		return nil, toStatus(err)
	}
	ctx, cancel := m.withDeadline(ctx)
	defer cancel()
	v, err := m.kv.Get(ctx, req.GetKey(), req.GetConsistency())
	if err != nil {
		return nil, toStatus(err)
	}
	return &metapb.GetReply{Value: v}, nil
}

// MGet reads several keys.
func (m *Meta) MGet(ctx context.Context, req *metapb.MGetRequest) (*metapb.MGetReply, error) {
	if len(req.GetKeys()) > m.limits.MaxKeysPerRequest {
		return nil, toStatus(invalidf("%d keys in one MGet is more than the limit of %d: split the request",
			len(req.GetKeys()), m.limits.MaxKeysPerRequest))
	}
	for _, k := range req.GetKeys() {
		if err := m.checkKey(k); err != nil {
			return nil, toStatus(err)
		}
	}
	if err := checkConsistency(req.GetConsistency()); err != nil {
		return nil, toStatus(err)
	}
	ctx, cancel := m.withDeadline(ctx)
	defer cancel()
	kvs, err := m.kv.MGet(ctx, req.GetKeys(), req.GetConsistency())
	if err != nil {
		return nil, toStatus(err)
	}
	reply := &metapb.MGetReply{Kvs: kvs}
	if n := proto.Size(reply); m.limits.MaxMessageBytes > 0 && n > m.limits.MaxMessageBytes {
		return nil, toStatus(tooLargef("the values of the %d keys asked for are %d bytes, over the message limit of %d bytes (grpc_api_max_message_size): ask for fewer keys at a time, or list them",
			len(req.GetKeys()), n, m.limits.MaxMessageBytes))
	}
	return reply, nil
}

// List streams the keys with a prefix in chunks.
func (m *Meta) List(req *metapb.ListRequest, stream metapb.Meta_ListServer) error {
	if len(req.GetPrefix()) > m.limits.MaxKeyBytes {
		return toStatus(invalidf("prefix of %d bytes is longer than the key limit of %d bytes", len(req.GetPrefix()), m.limits.MaxKeyBytes))
	}
	if err := checkConsistency(req.GetConsistency()); err != nil {
		return toStatus(err)
	}
	ctx, cancel := m.withDeadline(stream.Context())
	defer cancel()
	var (
		chunk   []*metapb.KV
		size    int
		sendErr error
	)
	flush := func() bool {
		if len(chunk) == 0 {
			return true
		}
		sendErr = stream.Send(&metapb.ListReply{Kvs: chunk})
		chunk, size = nil, 0
		return sendErr == nil
	}
	err := m.kv.List(ctx, req.GetPrefix(), req.GetLimit(), req.GetConsistency(), func(kv *metapb.KV) bool {
		n := proto.Size(kv)
		if len(chunk) > 0 && (len(chunk) >= listChunkKeys || size+n > listChunkBytes) && !flush() {
			return false
		}
		chunk = append(chunk, kv)
		size += n
		return true
	})
	if err != nil {
		return toStatus(err)
	}
	if sendErr != nil {
		return sendErr
	}
	flush()
	return sendErr
}

// MemberList lists the cluster members.
func (m *Meta) MemberList(context.Context, *metapb.MemberListRequest) (*metapb.MemberListReply, error) {
	return &metapb.MemberListReply{Nodes: m.kv.Members()}, nil
}

// Status describes the serving node.
func (m *Meta) Status(context.Context, *metapb.StatusRequest) (*metapb.StatusReply, error) {
	return m.kv.Status(), nil
}
