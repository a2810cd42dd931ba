package server_test

import (
	"context"
	"crypto/tls"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/tlsfiles"
	"github.com/metasrv/metasrv/internal/tlstest"
	"github.com/metasrv/metasrv/internal/transport"
)

const raftSecret = "0123456789abcdef-raft"

// recordingStreams stands for the transport behind the raft port: it
// counts what reaches it.
type recordingStreams struct{ calls atomic.Int64 }

func (r *recordingStreams) Raft(peerpb.Peer_RaftServer) error {
	r.calls.Add(1)
	return status.Error(codes.Internal, "reached raft")
}

func (r *recordingStreams) Snapshot(peerpb.Peer_SnapshotServer) error {
	r.calls.Add(1)
	return status.Error(codes.Internal, "reached raft")
}

func (r *recordingStreams) ProposalsDropped(context.Context, *peerpb.ProposalsDroppedRequest) (*peerpb.ProposalsDroppedReply, error) {
	r.calls.Add(1)
	return nil, status.Error(codes.Internal, "reached raft")
}

func (r *recordingStreams) Lease(context.Context, *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
	r.calls.Add(1)
	return nil, status.Error(codes.Internal, "reached raft")
}

// peerCalls makes every call of the Peer service through conn: a raft
// batch, a snapshot, a join of node 9, a leave of victim, a membership
// query, a report of dropped proposals and a forwarded lease call. It
// returns the errors by method.
func peerCalls(t *testing.T, ctx context.Context, conn *grpc.ClientConn, victim uint64) map[string]error {
	t.Helper()
	pc := peerpb.NewPeerClient(conn)
	errs := map[string]error{}
	vote, _ := proto.Marshal(&raftpb.Message{Type: raftpb.MsgVote.Enum(), From: proto.Uint64(9), To: proto.Uint64(1), Term: proto.Uint64(1000)})
	if st, err := pc.Raft(ctx); err != nil {
		errs["Raft"] = err
	} else {
		_ = st.Send(&peerpb.RaftBatch{ClusterName: "test", From: 9, To: 1, Msgs: [][]byte{vote}})
		_, errs["Raft"] = st.CloseAndRecv()
	}
	if st, err := pc.Snapshot(ctx); err != nil {
		errs["Snapshot"] = err
	} else {
		_ = st.Send(&peerpb.SnapshotChunk{ClusterName: "test", From: 9, To: 1, TotalSize: 3, Data: []byte("abc")})
		_, errs["Snapshot"] = st.CloseAndRecv()
	}
	_, errs["Join"] = pc.Join(ctx, &peerpb.JoinRequest{ClusterName: "test",
		Node: &metapb.Node{Id: 9, RaftAddress: "intruder:1", GrpcAddress: "intruder:2"}})
	_, errs["Leave"] = pc.Leave(ctx, &peerpb.LeaveRequest{ClusterName: "test", NodeId: victim})
	_, errs["Members"] = pc.Members(ctx, &peerpb.MembersRequest{ClusterName: "test", From: 9})
	_, errs["ProposalsDropped"] = pc.ProposalsDropped(ctx, &peerpb.ProposalsDroppedRequest{ClusterName: "test", From: 9, To: 1, RequestIds: []uint64{1}})
	_, errs["Lease"] = pc.Lease(ctx, &peerpb.LeaseForward{ClusterName: "test", From: 9, To: 1, Id: 1})
	return errs
}

// TestRaftPortRefusesNonMembers: on a raft port with raft_secret and mutual
// TLS, a caller lacking either cannot append, vote, send a snapshot, join
// or remove a node, and nothing it sent changes the cluster; a caller with
// both can.
func TestRaftPortRefusesNonMembers(t *testing.T) {
	c := clustertest.New(t, 3, manualTicks)
	lead := c.WaitLeader()
	nd := c.Node(lead)
	mustPut(t, nd.Server, "k", "v")
	victim := follower(c, lead).ID

	ca := tlstest.NewCA(t)
	nodePair, memberPair := ca.Issue(t, "node"), ca.Issue(t, "member")
	serverTLS, _, err := tlsfiles.Mutual(nodePair.CertFile, nodePair.KeyFile, ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	_, memberTLS, err := tlsfiles.Mutual(memberPair.CertFile, memberPair.KeyFile, ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	streams := &recordingStreams{}
	addr := c.ServePeer(nd, streams, clustertest.ServeOptions{TLS: serverTLS, RaftSecret: raftSecret})

	noCert, err := tlsfiles.Client(ca.CertFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	stranger := tlstest.NewCA(t).Issue(t, "stranger")
	strangerTLS, err := tlsfiles.Client(ca.CertFile, stranger.CertFile, stranger.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := func(s string) grpc.DialOption { return grpc.WithPerRPCCredentials(transport.SecretCredentials(s)) }
	tlsCreds := func(t *tls.Config) grpc.DialOption { return grpc.WithTransportCredentials(credentials.NewTLS(t)) }
	members := nd.Server.Members()
	lastSeq := nd.Server.AdminStatus().LastSeq

	for _, tt := range []struct {
		name string
		opts []grpc.DialOption
		code codes.Code
	}{
		{"member certificate, no secret", []grpc.DialOption{tlsCreds(memberTLS)}, codes.Unauthenticated},
		{"member certificate, wrong secret", []grpc.DialOption{tlsCreds(memberTLS), secret("0123456789abcdef-RAFT")}, codes.Unauthenticated},
		{"secret without TLS", []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), secret(raftSecret)}, codes.Unavailable},
		{"secret without a client certificate", []grpc.DialOption{tlsCreds(noCert), secret(raftSecret)}, codes.Unavailable},
		{"secret with a certificate of another CA", []grpc.DialOption{tlsCreds(strangerTLS), secret(raftSecret)}, codes.Unavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := grpc.NewClient(addr, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for method, err := range peerCalls(t, c.Ctx(), conn, victim) {
				if status.Code(err) != tt.code {
					t.Errorf("%s: %v, want %v", method, err, tt.code)
				}
			}
			if n := streams.calls.Load(); n != 0 {
				t.Fatalf("%d refused raft calls reached the transport", n)
			}
			if diff := cmp.Diff(members, nd.Server.Members(), protocmp.Transform()); diff != "" {
				t.Fatalf("members changed (-before +after):\n%s", diff)
			}
			if got := nd.Server.AdminStatus().LastSeq; got != lastSeq {
				t.Fatalf("last_seq %d, was %d", got, lastSeq)
			}
		})
	}

	// A member's credentials, through the client the node itself uses
	// for join and leave (and --leave-via), do work.
	memberOpts := []grpc.DialOption{tlsCreds(memberTLS), secret(raftSecret)}
	nodes, err := server.RequestLeave(c.Ctx(), []string{addr}, "test", victim, nil, memberOpts...)
	if err != nil {
		t.Fatalf("leave with a member's credentials: %v", err)
	}
	if slices.ContainsFunc(nodes, func(n *metapb.Node) bool { return n.GetId() == victim }) {
		t.Fatalf("node %d still a member: %v", victim, nodes)
	}
}
