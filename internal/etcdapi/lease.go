package etcdapi

import (
	"context"
	"errors"
	"io"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// leaseBackend is what the lease service needs of a node (part of
// Server; server.Server's lease.go).
type leaseBackend interface {
	// LeaseGrant grants a lease (id 0: the server chooses one; ttl raised
	// to its minimum) through raft.
	LeaseGrant(ctx context.Context, id, ttl int64) (*statemachine.LeaseReply, error)
	// LeaseRevoke deletes a lease and its keys through raft and returns
	// the revision after it.
	LeaseRevoke(ctx context.Context, id int64) (uint64, error)
	// LeaseKeepAlive renews a lease (the leader in memory; a follower
	// forwards it to the leader, or logs it when the leader does not
	// answer) and returns its TTL.
	LeaseKeepAlive(ctx context.Context, id int64) (int64, error)
	// LeaseTimeToLive reads a lease after the read barrier of c.
	LeaseTimeToLive(ctx context.Context, id int64, c metapb.ReadConsistency) (statemachine.LeaseInfo, time.Duration, bool, uint64, error)
	// Leases lists the leases after the read barrier of c.
	Leases(ctx context.Context, c metapb.ReadConsistency) ([]statemachine.LeaseInfo, uint64, error)
}

// leaseService serves etcdserverpb.Lease over the replicated leases of
// internal/statemachine.
type leaseService struct {
	pb.UnimplementedLeaseServer
	s *Service
}

func (l *leaseService) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	ctx, cancel := l.s.withDeadline(ctx)
	defer cancel()
	reply, err := l.s.srv.LeaseGrant(ctx, r.ID, r.TTL)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LeaseGrantResponse{Header: l.s.header(reply.Revision), ID: reply.ID, TTL: reply.TTL}, nil
}

func (l *leaseService) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	ctx, cancel := l.s.withDeadline(ctx)
	defer cancel()
	rev, err := l.s.srv.LeaseRevoke(ctx, r.ID)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.LeaseRevokeResponse{Header: l.s.header(rev)}, nil
}

// LeaseKeepAlive answers each request in turn with the lease's TTL, 0 for
// a lease that does not exist (etcd's v3rpc), until the client closes its
// side or an error other than that ends the stream.
func (l *leaseService) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ctx, cancel := l.s.withDeadline(stream.Context())
		ttl, err := l.s.srv.LeaseKeepAlive(ctx, r.ID)
		cancel()
		if errors.Is(err, statemachine.ErrLeaseNotFound) {
			ttl, err = 0, nil
		}
		if err != nil {
			return toStatus(err)
		}
		resp := &pb.LeaseKeepAliveResponse{Header: l.s.header(l.s.srv.Revision()), ID: r.ID, TTL: ttl}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// LeaseTimeToLive answers TTL -1 for a lease that does not exist, as etcd
// does; the time left is truncated to seconds, as etcd's.
func (l *leaseService) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	ctx, cancel := l.s.withDeadline(ctx)
	defer cancel()
	info, left, found, rev, err := l.s.srv.LeaseTimeToLive(ctx, r.ID, metapb.ReadConsistency_LINEARIZABLE)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.LeaseTimeToLiveResponse{Header: l.s.header(rev), ID: r.ID, TTL: -1}
	if !found {
		return resp, nil
	}
	resp.TTL, resp.GrantedTTL = int64(left/time.Second), info.TTL
	if r.Keys {
		resp.Keys = make([][]byte, len(info.Keys))
		for i, k := range info.Keys {
			resp.Keys[i] = []byte(k)
		}
	}
	return resp, nil
}

func (l *leaseService) LeaseLeases(ctx context.Context, _ *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	ctx, cancel := l.s.withDeadline(ctx)
	defer cancel()
	leases, rev, err := l.s.srv.Leases(ctx, metapb.ReadConsistency_LINEARIZABLE)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &pb.LeaseLeasesResponse{Header: l.s.header(rev), Leases: make([]*pb.LeaseStatus, len(leases))}
	for i, ls := range leases {
		resp.Leases[i] = &pb.LeaseStatus{ID: ls.ID}
	}
	return resp, nil
}
