package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/raftnode"
)

// membershipPoll is how often a membership change checks whether it has
// been applied, or a learner whether it has caught up.
const membershipPoll = 20 * time.Millisecond

// Join adds req.Node to the cluster. On a follower it forwards the request to
// the leader. On the leader it adds the node as a learner, waits until the
// learner has caught up, then promotes it to voter. It is idempotent: a node
// that is already a voter gets the member list back.
func (s *Server) Join(ctx context.Context, req *peerpb.JoinRequest) (*peerpb.JoinReply, error) {
	if req.GetClusterName() != s.cfg.ClusterName {
		return nil, fmt.Errorf("%w: this node is in cluster %q, the joining node in %q; use the same cluster_name",
			ErrClusterName, s.cfg.ClusterName, req.GetClusterName())
	}
	nd := req.GetNode()
	if nd.GetId() == 0 || raft.IsLocalMsgTarget(nd.GetId()) || nd.GetRaftAddress() == "" {
		return nil, fmt.Errorf("%w: a joining node needs a raft address and an id other than 0 and the two largest uint64, which raft keeps for itself; got id %d",
			ErrInvalidMember, nd.GetId())
	}
	if addr, err := s.forwardAddress(req.GetClusterName()); err != nil || addr != "" {
		if err != nil {
			return nil, err
		}
		return s.cfg.PeerClient.Join(ctx, addr, req)
	}

	s.membershipMu.Lock()
	defer s.membershipMu.Unlock()
	for _, m := range s.sm.Nodes() {
		if m.GetId() != nd.GetId() && m.GetRaftAddress() == nd.GetRaftAddress() {
			return nil, fmt.Errorf("%w: raft address %s already belongs to node %d; give node %d its own address, or remove node %d first",
				ErrInvalidMember, nd.GetRaftAddress(), m.GetId(), nd.GetId(), m.GetId())
		}
	}
	member := func(voter bool) func() bool {
		return func() bool {
			m := s.member(nd.GetId())
			return m != nil && (m.GetVoter() || !voter)
		}
	}
	learner := proto.Clone(nd).(*metapb.Node)
	learner.Voter = false
	if err := s.changeMembership(ctx, raftpb.ConfChangeAddLearnerNode, learner, member(false)); err != nil {
		return nil, err
	}
	if err := s.waitCaughtUp(ctx, nd.GetId()); err != nil {
		return nil, err
	}
	voter := proto.Clone(nd).(*metapb.Node)
	voter.Voter = true
	if err := s.changeMembership(ctx, raftpb.ConfChangeAddNode, voter, member(true)); err != nil {
		return nil, err
	}
	return &peerpb.JoinReply{Nodes: s.sm.Nodes(), LeaderId: s.cfg.ID}, nil
}

// Leave removes a node from the cluster, forwarded to the leader likewise.
// The leader, which knows the membership, refuses a node that is not a
// member with ErrNotMember and the list of members.
func (s *Server) Leave(ctx context.Context, req *peerpb.LeaveRequest) (*peerpb.LeaveReply, error) {
	if addr, err := s.forwardAddress(req.GetClusterName()); err != nil || addr != "" {
		if err != nil {
			return nil, err
		}
		return s.cfg.PeerClient.Leave(ctx, addr, req)
	}
	s.membershipMu.Lock()
	defer s.membershipMu.Unlock()
	id := req.GetNodeId()
	if s.member(id) == nil {
		return nil, fmt.Errorf("%w: node %d is not a member of cluster %q, so nothing was removed; the members are %s",
			ErrNotMember, id, s.cfg.ClusterName, describeMembers(s.sm.Nodes()))
	}
	if len(s.sm.Nodes()) == 1 {
		return nil, fmt.Errorf("%w: node %d is the only member; a cluster cannot remove its last node", ErrInvalidMember, id)
	}
	gone := func() bool { return s.member(id) == nil }
	if err := s.changeMembership(ctx, raftpb.ConfChangeRemoveNode, &metapb.Node{Id: id}, gone); err != nil {
		return nil, err
	}
	return &peerpb.LeaveReply{Nodes: s.sm.Nodes()}, nil
}

// describeMembers lists nodes for a message: "1 (localhost:28103), 4
// (localhost:28403, learner)".
func describeMembers(nodes []*metapb.Node) string {
	if len(nodes) == 0 {
		return "none"
	}
	parts := make([]string, len(nodes))
	for i, m := range nodes {
		parts[i] = fmt.Sprintf("%d (%s", m.GetId(), m.GetRaftAddress())
		if !m.GetVoter() {
			parts[i] += ", learner"
		}
		parts[i] += ")"
	}
	return strings.Join(parts, ", ")
}

func (s *Server) member(id uint64) *metapb.Node {
	for _, m := range s.sm.Nodes() {
		if m.GetId() == id {
			return m
		}
	}
	return nil
}

// changeMembership proposes one conf change and waits until done() holds.
// raft silently drops a conf change while another is pending (right after an
// election), so the proposal is repeated until it takes effect or ctx ends.
// Callers hold membershipMu.
func (s *Server) changeMembership(ctx context.Context, t raftpb.ConfChangeType, nd *metapb.Node, done func() bool) error {
	n := s.node.Load()
	cctx, err := proto.Marshal(&peerpb.ConfChangeContext{Proposer: s.cfg.ID, Node: nd})
	if err != nil {
		return err
	}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: t.Enum(), NodeId: proto.Uint64(nd.GetId())}},
		Context: cctx,
	}
	retry := s.electionTimeout()
	for !done() {
		if !n.IsLeader() {
			return fmt.Errorf("%w: leadership moved during a membership change; retry", ErrNoLeader)
		}
		if err := n.ProposeConfChange(ctx, cc); err != nil {
			return s.mapRaftErr(ctx, err)
		}
		deadline := time.Now().Add(retry)
		for !done() && time.Now().Before(deadline) {
			if err := sleepCtx(ctx, membershipPoll); err != nil {
				return fmt.Errorf("%w: membership change %s of node %d: %v", ErrTimeout, t, nd.GetId(), err)
			}
		}
	}
	return nil
}

// waitCaughtUp waits until the learner's log matches the leader's commit.
func (s *Server) waitCaughtUp(ctx context.Context, id uint64) error {
	n := s.node.Load()
	for {
		st := n.Status()
		if pr, ok := st.Progress[id]; ok && st.HardState != nil && pr.Match >= st.HardState.GetCommit() {
			return nil
		}
		if err := sleepCtx(ctx, membershipPoll); err != nil {
			return fmt.Errorf("%w: node %d is still catching up; the join is retried: %v", ErrTimeout, id, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PeerClient calls the peer API of another node by its raft address. The
// default, GRPCPeerClient, dials it; tests use an in-process one.
type PeerClient interface {
	Join(ctx context.Context, addr string, req *peerpb.JoinRequest) (*peerpb.JoinReply, error)
	Leave(ctx context.Context, addr string, req *peerpb.LeaveRequest) (*peerpb.LeaveReply, error)
	Members(ctx context.Context, addr string, req *peerpb.MembersRequest) (*peerpb.MembersReply, error)
}

// GRPCPeerClient dials a fresh connection for each call: membership changes
// are rare, and the raft streams keep their own connections. An error
// status that stands for one of this package's errors (ErrNotMember)
// matches it with errors.Is.
type GRPCPeerClient struct {
	// DialOptions are added after the default (plaintext credentials), so
	// they can override it: the raft port's TLS credentials and
	// raft_secret (transport.SecretCredentials), the same the transport
	// dials peers with.
	DialOptions []grpc.DialOption
}

// Join calls Peer.Join on addr.
func (c GRPCPeerClient) Join(ctx context.Context, addr string, req *peerpb.JoinRequest) (*peerpb.JoinReply, error) {
	conn, err := c.dial(addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	reply, err := peerpb.NewPeerClient(conn).Join(ctx, req)
	return reply, fromPeerStatus(err)
}

// Leave calls Peer.Leave on addr.
func (c GRPCPeerClient) Leave(ctx context.Context, addr string, req *peerpb.LeaveRequest) (*peerpb.LeaveReply, error) {
	conn, err := c.dial(addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	reply, err := peerpb.NewPeerClient(conn).Leave(ctx, req)
	return reply, fromPeerStatus(err)
}

// Members calls Peer.Members on addr.
func (c GRPCPeerClient) Members(ctx context.Context, addr string, req *peerpb.MembersRequest) (*peerpb.MembersReply, error) {
	conn, err := c.dial(addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	reply, err := peerpb.NewPeerClient(conn).Members(ctx, req)
	return reply, fromPeerStatus(err)
}

func (c GRPCPeerClient) dial(addr string) (*grpc.ClientConn, error) {
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, c.DialOptions...)
	return grpc.NewClient(addr, opts...)
}

// forwardAddress checks a peer request's cluster name and returns "" on
// the leader, else the raft address of the leader to forward it to
// (ErrNoLeader when none is known).
func (s *Server) forwardAddress(cluster string) (string, error) {
	if cluster != s.cfg.ClusterName {
		return "", fmt.Errorf("%w: this node is in cluster %q, the request names %q; use that cluster's raft_config.cluster_name (--cluster-name)",
			ErrClusterName, s.cfg.ClusterName, cluster)
	}
	n := s.node.Load()
	if n == nil {
		return "", ErrNotStarted
	}
	if n.IsLeader() {
		return "", nil
	}
	return s.leaderAddress()
}

// leaderAddress is the raft address of the leader this node knows.
func (s *Server) leaderAddress() (string, error) {
	lead := s.node.Load().Leader()
	m := s.member(lead)
	if lead == 0 || m == nil || m.GetRaftAddress() == "" {
		return "", fmt.Errorf("%w: this node does not know a leader yet; retry", ErrNoLeader)
	}
	return m.GetRaftAddress(), nil
}

// RequestLeave asks the cluster, through any of addrs, to remove node id,
// and returns the members left. It retries until ctx ends what may pass (a
// node down or starting, no leader yet), reporting each such failure to
// retrying (nil: not reported), and fails at once on what retrying cannot
// fix: an address that is not a raft port, another cluster_name, a node
// that is not a member (ErrNotMember), credentials refused. dialOpts are
// those of the raft port (TLS credentials, raft_secret), as in
// GRPCPeerClient.
func RequestLeave(ctx context.Context, addrs []string, clusterName string, id uint64, retrying func(Retry), dialOpts ...grpc.DialOption) ([]*metapb.Node, error) {
	if len(addrs) == 0 {
		return nil, errors.New("no address to send the leave request to; give --leave-via HOST:RAFT_PORT")
	}
	pc := GRPCPeerClient{DialOptions: dialOpts}
	var nodes []*metapb.Node
	var failed error // an earlier attempt's error: it may have removed the node
	report := func(r Retry) {
		failed = r.Err
		if retrying != nil {
			retrying(r)
		}
	}
	// Right after a leader is lost the members forward to it, or know no
	// leader, until one is elected: retried.
	err := callPeers(ctx, "leave via", "--leave-via", addrs, report, func(ctx context.Context, addr string) error {
		reply, err := pc.Leave(ctx, addr, &peerpb.LeaveRequest{ClusterName: clusterName, NodeId: id})
		nodes = reply.GetNodes()
		return err
	})
	if errors.Is(err, ErrNotMember) && failed != nil {
		return nil, fmt.Errorf("%w (an earlier attempt failed: %v; if it reached the leader, it may be what removed node %d)",
			err, failed, id)
	}
	if err != nil {
		return nil, err
	}
	return nodes, nil
}

// refreshSelfAddress makes the member table hold this node's configured
// addresses: a node restarted with another raft or gRPC address, or one
// restored by import without its gRPC address, proposes an UpdateNode change
// for itself (raft forwards it to the leader). It checks every election
// timeout (ElectionTick ticks, on the tick clock) until the table matches
// or the node stops.
// t is its first timer, set when the node started, so that no tick goes
// uncounted; each next one is set before the last is released (renew).
func (s *Server) refreshSelfAddress(t *tickTimer) {
	n := s.node.Load()
	for {
		select {
		case <-n.Done():
			s.clock.release(t)
			return
		case <-t.C:
		}
		if s.maybeUpdateSelfAddress(n) {
			s.clock.release(t)
			return
		}
		t = s.clock.renew(t, s.cfg.ElectionTick)
	}
}

// maybeUpdateSelfAddress proposes this node's addresses when the member
// table holds others; it reports whether the table matches (or the
// change cannot be encoded: nothing more to try).
func (s *Server) maybeUpdateSelfAddress(n *raftnode.Node) bool {
	m := s.member(s.cfg.ID)
	if m == nil {
		return false // not a member yet (joining) or not applied yet
	}
	if m.GetRaftAddress() == s.cfg.RaftAddress && m.GetGrpcAddress() == s.cfg.GrpcAddress {
		return true
	}
	if n.Leader() == 0 {
		return false
	}
	self := s.self(m.GetVoter())
	cctx, err := proto.Marshal(&peerpb.ConfChangeContext{Proposer: s.cfg.ID, Node: self})
	if err != nil {
		s.lg.Error("encode address update", "err", err)
		return true
	}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeUpdateNode.Enum(), NodeId: proto.Uint64(s.cfg.ID)}},
		Context: cctx,
	}
	s.lg.Info("updating this node's addresses in the member table",
		"old_raft", m.GetRaftAddress(), "raft", self.GetRaftAddress(),
		"old_grpc", m.GetGrpcAddress(), "grpc", self.GetGrpcAddress())
	ctx, cancel := context.WithTimeout(context.Background(), s.electionTimeout())
	defer cancel()
	if err := n.ProposeConfChange(ctx, cc); err != nil {
		s.lg.Debug("address update not proposed; retrying", "err", err)
	}
	return false
}
