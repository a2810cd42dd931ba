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
)

// Server is what the Databend face needs of the node (implemented by
// *server.Server). Called concurrently from gRPC goroutines; returned
// values are owned by the caller. It grows with the RPCs served.
type Server interface {
	// Members returns the member table, sorted by id.
	Members() []*metapb.Node
}

// Service implements databendpb.MetaServiceServer. The RPCs it does not
// define answer codes.Unimplemented.
type Service struct {
	databendpb.UnimplementedMetaServiceServer
	srv  Server
	auth Authenticator
	now  func() time.Time
}

// New returns the Databend face over srv; Handshake issues tokens with a.
// Serve it with ServerOptions of the same a.
func New(srv Server, a Authenticator) *Service {
	return &Service{srv: srv, auth: a, now: time.Now}
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
