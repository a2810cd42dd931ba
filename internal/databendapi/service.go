package databendapi

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/grpcapi"
	"github.com/metasrv/metasrv/internal/server"
)

// Server is what the Databend face needs of the node (implemented by
// *server.Server). Called concurrently from gRPC goroutines; returned
// values are owned by the caller.
type Server interface {
	// Upsert and Txn write through raft, from any node.
	Upsert(ctx context.Context, req *metapb.UpsertRequest) (*metapb.UpsertReply, error)
	Txn(ctx context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error)
	// Get, MGet and List read this node's state, after a ReadIndex round
	// for LINEARIZABLE. MGet answers one KV per key, in order, without a
	// value for an absent key. List calls fn for each live key with
	// prefix in key order, up to limit (0: all), until fn returns false.
	Get(ctx context.Context, key string, c metapb.ReadConsistency) (*metapb.SeqV, error)
	MGet(ctx context.Context, keys []string, c metapb.ReadConsistency) ([]*metapb.KV, error)
	List(ctx context.Context, prefix string, limit uint64, c metapb.ReadConsistency, fn func(*metapb.KV) bool) error
	// Watch serves one native watch stream until ctx ends, send fails or
	// the watch is cut off; it calls send from the calling goroutine
	// only, the first time once the watcher is registered.
	Watch(ctx context.Context, req *metapb.WatchRequest, send func(*metapb.WatchResponse) error) error
	// Members returns the member table, sorted by id.
	Members() []*metapb.Node
	// AdminStatus describes this node.
	AdminStatus() server.AdminStatus
	// LeaderGrpcAddress is the leader's public gRPC address when this
	// node is not the leader; "" on the leader or when it is unknown.
	LeaderGrpcAddress() string
}

// Service implements databendpb.MetaServiceServer. The RPCs it does not
// define answer codes.Unimplemented.
type Service struct {
	databendpb.UnimplementedMetaServiceServer
	srv    Server
	auth   Authenticator
	limits grpcapi.Limits
	now    func() time.Time
}

// New returns the Databend face over srv; Handshake issues tokens with a.
// Serve it with ServerOptions of the same a. Of limits (the native face's,
// grpcapi.DefaultLimits), it applies MaxRequestBytes to transactions,
// MaxKeysPerRequest to MGetKV and DefaultTimeout to the calls that come
// without a deadline.
func New(srv Server, a Authenticator, limits grpcapi.Limits) *Service {
	return &Service{srv: srv, auth: a, limits: limits, now: time.Now}
}

// withDeadline gives ctx the default timeout when it has no deadline.
func (s *Service) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || s.limits.DefaultTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.limits.DefaultTimeout)
}

// Handshake reads one HandshakeRequest: the client's version, refused when
// older than MinClientVersion, and an encoded BasicAuth checked by the
// Authenticator. It answers one HandshakeResponse: ServerVersion and the
// token.
func (s *Service) Handshake(stream grpc.BidiStreamingServer[databendpb.HandshakeRequest, databendpb.HandshakeResponse]) error {
	req, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return toStatus(invalidf("the Handshake stream ended before a HandshakeRequest"))
	}
	if err != nil {
		return err
	}
	if err := checkClientVersion(req.GetProtocolVersion()); err != nil {
		return toStatus(err)
	}
	var ba databendpb.BasicAuth
	if err := proto.Unmarshal(req.GetPayload(), &ba); err != nil {
		return toStatus(invalidf("the HandshakeRequest payload is not an encoded BasicAuth{username, password}: %v", err))
	}
	tok, err := s.auth.Handshake(ba.GetUsername(), ba.GetPassword())
	if err != nil {
		return toStatus(err)
	}
	return stream.Send(&databendpb.HandshakeResponse{
		ProtocolVersion: ServerVersion.Digit(),
		Payload:         []byte(tok.Token),
	})
}

// GetClientInfo answers the caller's address as this node sees it and
// this node's clock.
func (s *Service) GetClientInfo(ctx context.Context, _ *databendpb.Empty) (*databendpb.ClientInfo, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return nil, status.Error(codes.Unavailable, "can not get client ip address")
	}
	now := uint64(s.now().UnixMilli())
	return &databendpb.ClientInfo{ClientAddr: p.Addr.String(), ServerTime: &now}, nil
}

// MemberList answers the public gRPC address of every member, learners
// included, in id order, from this node's member table: as databend-meta,
// a list that may lag the leader's.
func (s *Service) MemberList(context.Context, *databendpb.MemberListRequest) (*databendpb.MemberListReply, error) {
	nodes := s.srv.Members()
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.GetGrpcAddress()
	}
	return &databendpb.MemberListReply{Data: addrs}, nil
}
