package grpcapi

import (
	"context"

	"github.com/metasrv/metasrv/api/peerpb"
)

// RaftStreams receives raft traffic and the calls that ride with it
// (implemented by internal/transport).
type RaftStreams interface {
	Raft(stream peerpb.Peer_RaftServer) error
	Snapshot(stream peerpb.Peer_SnapshotServer) error
	ProposalsDropped(ctx context.Context, req *peerpb.ProposalsDroppedRequest) (*peerpb.ProposalsDroppedReply, error)
	Lease(ctx context.Context, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error)
}

// Membership changes the cluster (implemented by internal/server).
type Membership interface {
	Join(ctx context.Context, req *peerpb.JoinRequest) (*peerpb.JoinReply, error)
	Leave(ctx context.Context, req *peerpb.LeaveRequest) (*peerpb.LeaveReply, error)
	LeaderMembers(ctx context.Context, req *peerpb.MembersRequest) (*peerpb.MembersReply, error)
}

// Peer implements peerpb.PeerServer on the raft port.
type Peer struct {
	peerpb.UnimplementedPeerServer
	streams    RaftStreams
	membership Membership
}

// NewPeer returns the internal API handlers.
func NewPeer(streams RaftStreams, membership Membership) *Peer {
	return &Peer{streams: streams, membership: membership}
}

// Raft receives a stream of raft message batches.
func (p *Peer) Raft(stream peerpb.Peer_RaftServer) error { return p.streams.Raft(stream) }

// Snapshot receives one snapshot in chunks.
func (p *Peer) Snapshot(stream peerpb.Peer_SnapshotServer) error { return p.streams.Snapshot(stream) }

// ProposalsDropped receives a report of proposals a peer dropped.
func (p *Peer) ProposalsDropped(ctx context.Context, req *peerpb.ProposalsDroppedRequest) (*peerpb.ProposalsDroppedReply, error) {
	return p.streams.ProposalsDropped(ctx, req)
}

// Lease answers a lease call of a follower's client on the leader.
func (p *Peer) Lease(ctx context.Context, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
	return p.streams.Lease(ctx, req)
}

// Join adds a node to the cluster.
func (p *Peer) Join(ctx context.Context, req *peerpb.JoinRequest) (*peerpb.JoinReply, error) {
	reply, err := p.membership.Join(ctx, req)
	return reply, toStatus(err)
}

// Members returns the leader's membership.
func (p *Peer) Members(ctx context.Context, req *peerpb.MembersRequest) (*peerpb.MembersReply, error) {
	reply, err := p.membership.LeaderMembers(ctx, req)
	return reply, toStatus(err)
}

// Leave removes a node from the cluster.
func (p *Peer) Leave(ctx context.Context, req *peerpb.LeaveRequest) (*peerpb.LeaveReply, error) {
	reply, err := p.membership.Leave(ctx, req)
	return reply, toStatus(err)
}
