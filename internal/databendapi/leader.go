package databendapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// LeaderKey is the metadata in which a node that is not the leader names
// the leader's public gRPC address (host:port), as databend-meta does:
// Databend's client then sends its next calls there.
//
// databend-meta names the leader in the response headers of KvReadV1 and
// Transaction when a follower forwarded them, and refuses KvList,
// KvGetMany and KvTransaction on a follower with Unavailable and the
// leader in the error's metadata. A metasrv follower serves all of them
// (reads are linearizable on every node, writes are forwarded), and names
// the leader in the response headers of all five; an Unavailable error
// (no leader, the leader changed, the node is stopping) names it in the
// trailers when this node knows it.
const LeaderKey = "x-databend-meta-leader-grpc-endpoint"

// leaderMD is the metadata naming the leader, or nil on the leader or
// when the leader or its address is unknown.
func (s *Service) leaderMD() metadata.MD {
	if addr := s.srv.LeaderGrpcAddress(); addr != "" {
		return metadata.Pairs(LeaderKey, addr)
	}
	return nil
}

// nameLeader sets LeaderKey in the response headers of the call ctx
// belongs to, when this node is not the leader. Call it before the first
// message of a stream.
func (s *Service) nameLeader(ctx context.Context) {
	if md := s.leaderMD(); md != nil {
		// Fails only outside a gRPC call or after the headers went out.
		_ = grpc.SetHeader(ctx, md)
	}
}

// sendHeader sends the response headers now, naming the leader when this
// node is not the leader.
func (s *Service) sendHeader(ctx context.Context) error {
	md := s.leaderMD()
	if md == nil {
		md = metadata.MD{}
	}
	return grpc.SendHeader(ctx, md)
}

// fail maps err through the face's table; an Unavailable error names the
// leader in the trailers, when this node knows it.
func (s *Service) fail(ctx context.Context, err error) error {
	st := toStatus(err)
	if status.Code(st) == codes.Unavailable {
		if md := s.leaderMD(); md != nil {
			_ = grpc.SetTrailer(ctx, md)
		}
	}
	return st
}
