package etcdapi

import (
	"context"
	"fmt"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// Operations is what the Cluster and Maintenance handlers need of a node
// beyond reads and writes (implemented by *server.Server). Called
// concurrently from gRPC goroutines.
type Operations interface {
	// Join adds a node as a learner, waits until it has caught up and
	// promotes it to voter, forwarded to the leader; a learner already
	// in the cluster is only promoted. Errors: server.ErrNoLeader,
	// ErrTimeout (a learner still catching up), ...
	Join(ctx context.Context, req *peerpb.JoinRequest) (*peerpb.JoinReply, error)
	// Leave removes a node, forwarded to the leader: server.ErrNotMember
	// for a node that is not a member, ErrInvalidMember for the last one.
	Leave(ctx context.Context, req *peerpb.LeaveRequest) (*peerpb.LeaveReply, error)
	// TransferLeader hands leadership from this node, the leader, to
	// voter to (0: the most caught-up): server.ErrNotLeader elsewhere,
	// ErrInvalidTransfer for a target that is not another voter.
	TransferLeader(ctx context.Context, to uint64) (uint64, error)
	// StateMachine is the node's state; the handlers take Snapshots of
	// it (a consistent copy, O(1) to take).
	StateMachine() *statemachine.StateMachine
}

// cluster serves etcdserverpb.Cluster: MemberList, MemberRemove (a
// leave) and MemberPromote (the end of a join); MemberAdd and
// MemberUpdate answer what to do instead, as metasrv nodes add
// themselves and update their own addresses.
type cluster struct {
	pb.UnimplementedClusterServer
	s *Service
}

// MemberList lists the members this node applied, learners included.
// Names are node-<id>; the URLs are the raft and the public gRPC
// addresses (https with TLS).
func (c *cluster) MemberList(context.Context, *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	return &pb.MemberListResponse{
		Header:  c.s.header(c.s.srv.Status().GetRevision()),
		Members: c.s.members(c.s.srv.Members()),
	}, nil
}

// members converts the member table to etcd's members.
func (s *Service) members(nodes []*metapb.Node) []*pb.Member {
	scheme := "http://"
	if s.cfg.TLS {
		scheme = "https://"
	}
	var out []*pb.Member
	for _, n := range nodes {
		m := &pb.Member{
			ID:        n.GetId(),
			Name:      fmt.Sprintf("node-%d", n.GetId()),
			IsLearner: !n.GetVoter(),
		}
		if a := n.GetRaftAddress(); a != "" {
			m.PeerURLs = []string{"http://" + a}
		}
		if a := n.GetGrpcAddress(); a != "" {
			m.ClientURLs = []string{scheme + a}
		}
		out = append(out, m)
	}
	return out
}

// MemberAdd is refused: a metasrv node adds itself when it starts with
// join (its id is its own raft_config.id, not one the cluster draws), as
// a learner promoted once it has caught up.
func (c *cluster) MemberAdd(_ context.Context, req *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	return nil, status.Errorf(codes.Unimplemented,
		"etcdserverpb.Cluster/MemberAdd is not served by metasrv: a node adds itself when it starts; give the new node (peer URLs %s) its own raft_config.id and join = [\"<raft address of a member>\"], and start it: it joins as a learner and is promoted to voter once it has caught up",
		strings.Join(req.GetPeerURLs(), ", "))
}

// MemberUpdate is refused: a node restarted with another raft or gRPC
// address updates its own entry in the member table.
func (c *cluster) MemberUpdate(_ context.Context, req *pb.MemberUpdateRequest) (*pb.MemberUpdateResponse, error) {
	if c.s.member(req.GetID()) == nil {
		return nil, rpctypes.ErrGRPCMemberNotFound
	}
	return nil, status.Errorf(codes.Unimplemented,
		"etcdserverpb.Cluster/MemberUpdate is not served by metasrv: restart node %d with its new raft_advertise_host and raft_api_port (or grpc_api_advertise_host): it updates its own addresses in the member table",
		req.GetID())
}

// MemberRemove removes a member, as `databend-meta --leave-id` does.
func (c *cluster) MemberRemove(ctx context.Context, req *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	ctx, cancel := c.s.withDeadline(ctx)
	defer cancel()
	reply, err := c.s.srv.Leave(ctx, &peerpb.LeaveRequest{ClusterName: c.s.srv.Status().GetClusterName(), NodeId: req.GetID()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.MemberRemoveResponse{
		Header:  c.s.header(c.s.srv.Status().GetRevision()),
		Members: c.s.members(reply.GetNodes()),
	}, nil
}

// MemberPromote promotes a learner to voter. A learner in metasrv is a
// node whose join has not finished: this finishes it, waiting (within the
// request's deadline) until the learner has caught up, where etcd
// answers ErrLearnerNotReady at once.
func (c *cluster) MemberPromote(ctx context.Context, req *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	m := c.s.member(req.GetID())
	switch {
	case m == nil:
		return nil, rpctypes.ErrGRPCMemberNotFound
	case m.GetVoter():
		return nil, rpctypes.ErrGRPCMemberNotLearner
	}
	ctx, cancel := c.s.withDeadline(ctx)
	defer cancel()
	reply, err := c.s.srv.Join(ctx, &peerpb.JoinRequest{ClusterName: c.s.srv.Status().GetClusterName(), Node: m})
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.MemberPromoteResponse{
		Header:  c.s.header(c.s.srv.Status().GetRevision()),
		Members: c.s.members(reply.GetNodes()),
	}, nil
}

// member is the member with id as this node applied it; nil: none.
func (s *Service) member(id uint64) *metapb.Node {
	for _, n := range s.srv.Members() {
		if n.GetId() == id {
			return n
		}
	}
	return nil
}
