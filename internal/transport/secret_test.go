package transport

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/tlsfiles"
	"github.com/metasrv/metasrv/internal/tlstest"
)

const testSecret = "0123456789abcdef-secret"

// startSecureNode starts node id with a gRPC server built with srvOpts and
// a transport dialing with cfg.DialOptions.
func startSecureNode(t *testing.T, id uint64, cfg GRPCConfig, srvOpts ...grpc.ServerOption) *node {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &node{id: id, addr: l.Addr().String(), h: newFakeHandler()}
	cfg.ID, cfg.ClusterName, cfg.AdvertiseAddr = id, "prod", n.addr
	n.tr = NewGRPC(cfg, n.h)
	n.srv = grpc.NewServer(srvOpts...)
	peerpb.RegisterPeerServer(n.srv, peerService{t: n.tr})
	go func() { _ = n.srv.Serve(l) }()
	t.Cleanup(n.stop)
	return n
}

// dialRaw opens a connection to addr with opts (default: plaintext).
func dialRaw(t *testing.T, addr string, opts ...grpc.DialOption) peerpb.PeerClient {
	t.Helper()
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return peerpb.NewPeerClient(conn)
}

// sendUntilDelivered sends MsgApps from n1 to n2 until one arrives.
func sendUntilDelivered(t *testing.T, n1, n2 *node) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for i := uint64(1); time.Now().Before(deadline); i++ {
		n1.tr.Send([]*raftpb.Message{app(1, 2, i, 0)})
		select {
		case <-n2.h.msgC:
			// Drain the messages sent before this one arrived, so that
			// later checks for "nothing arrived" see only new traffic.
			for {
				select {
				case <-n2.h.msgC:
				case <-time.After(200 * time.Millisecond):
					return
				}
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("no message got through")
}

// sendNeverDelivered sends from n1 to n2 until n1 reports n2
// unreachable, and checks that nothing arrived.
func sendNeverDelivered(t *testing.T, n1, n2 *node) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for i := uint64(1); ; i++ {
		n1.tr.Send([]*raftpb.Message{app(1, 2, i, 0)})
		select {
		case <-n1.h.unreachableC:
			// A few more rounds, each until its refusal is reported, to
			// be sure nothing slips through.
			for j := range 5 {
				n1.tr.Send([]*raftpb.Message{app(1, 2, i+1+uint64(j), 0)})
				select {
				case <-n1.h.unreachableC:
				case <-deadline:
					t.Fatalf("no refusal reported for round %d", j+1)
				}
			}
			n2.h.noMsg(t)
			return
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatal("the sender never saw the refusal")
		}
	}
}

// refusedCalls makes every call of the Peer service with client and
// returns their errors by method.
func refusedCalls(t *testing.T, client peerpb.PeerClient) map[string]error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	errs := map[string]error{}
	msg, _ := proto.Marshal(app(1, 2, 1, 0))
	if st, err := client.Raft(ctx); err != nil {
		errs["Raft"] = err
	} else {
		_ = st.Send(&peerpb.RaftBatch{ClusterName: "prod", From: 1, To: 2, Msgs: [][]byte{msg}})
		_, errs["Raft"] = st.CloseAndRecv()
	}
	snapMsg, _ := proto.Marshal(snap(1, 2, []byte("state")))
	if st, err := client.Snapshot(ctx); err != nil {
		errs["Snapshot"] = err
	} else {
		_ = st.Send(&peerpb.SnapshotChunk{ClusterName: "prod", From: 1, To: 2, TotalSize: uint64(len(snapMsg)), Data: snapMsg})
		_, errs["Snapshot"] = st.CloseAndRecv()
	}
	_, errs["Join"] = client.Join(ctx, &peerpb.JoinRequest{ClusterName: "prod"})
	_, errs["Leave"] = client.Leave(ctx, &peerpb.LeaveRequest{ClusterName: "prod", NodeId: 2})
	return errs
}

func TestSecretRefusesStrangers(t *testing.T) {
	srvOpts := SecretServerOptions(testSecret, nil)
	n2 := startSecureNode(t, 2, GRPCConfig{DialOptions: []grpc.DialOption{grpc.WithPerRPCCredentials(SecretCredentials(testSecret))}}, srvOpts...)
	member := startSecureNode(t, 1, GRPCConfig{DialOptions: []grpc.DialOption{grpc.WithPerRPCCredentials(SecretCredentials(testSecret))}}, srvOpts...)
	member.tr.AddPeer(2, n2.addr)
	sendUntilDelivered(t, member, n2)

	for name, creds := range map[string]grpc.DialOption{
		"no secret":    nil,
		"wrong secret": grpc.WithPerRPCCredentials(SecretCredentials("0123456789abcdef-secreT")),
		"prefix":       grpc.WithPerRPCCredentials(SecretCredentials("0123456789abcdef")),
	} {
		t.Run(name, func(t *testing.T) {
			opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
			if creds != nil {
				opts = append(opts, creds)
			}
			for method, err := range refusedCalls(t, dialRaw(t, n2.addr, opts...)) {
				if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "raft_secret") {
					t.Errorf("%s: %v, want Unauthenticated naming raft_secret", method, err)
				}
			}
			// A transport without the secret gets nothing through.
			stranger := startSecureNode(t, 1, GRPCConfig{DialOptions: opts[1:]})
			stranger.tr.AddPeer(2, n2.addr)
			sendNeverDelivered(t, stranger, n2)
			if got := n2.tr.Peers()[1]; got != member.addr {
				t.Fatalf("node 2 knows node 1 at %q, want the member's %q: a stranger was learned", got, member.addr)
			}
		})
	}
	n2.h.noMsg(t)
}

func TestSecretOverMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t)
	pairs := map[uint64]tlstest.Pair{1: ca.Issue(t, "node1"), 2: ca.Issue(t, "node2")}
	secure := func(id uint64) (srvOpts []grpc.ServerOption, cfg GRPCConfig) {
		srvTLS, cliTLS, err := tlsfiles.Mutual(pairs[id].CertFile, pairs[id].KeyFile, ca.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		srvOpts = append(SecretServerOptions(testSecret, nil), grpc.Creds(credentials.NewTLS(srvTLS)))
		cfg.DialOptions = []grpc.DialOption{
			grpc.WithTransportCredentials(credentials.NewTLS(cliTLS)),
			grpc.WithPerRPCCredentials(SecretCredentials(testSecret)),
		}
		return srvOpts, cfg
	}
	srv2, cfg2 := secure(2)
	n2 := startSecureNode(t, 2, cfg2, srv2...)
	srv1, cfg1 := secure(1)
	n1 := startSecureNode(t, 1, cfg1, srv1...)
	n1.tr.AddPeer(2, n2.addr)
	sendUntilDelivered(t, n1, n2)

	// The secret without a certificate of the cluster's CA is refused.
	stranger := tlstest.NewCA(t)
	sp := stranger.Issue(t, "stranger")
	noCert, err := tlsfiles.Client(ca.CertFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := tlsfiles.Client(ca.CertFile, sp.CertFile, sp.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]grpc.DialOption{
		"plaintext":       {grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(SecretCredentials(testSecret))},
		"no client cert":  {grpc.WithTransportCredentials(credentials.NewTLS(noCert)), grpc.WithPerRPCCredentials(SecretCredentials(testSecret))},
		"another CA cert": {grpc.WithTransportCredentials(credentials.NewTLS(otherCA)), grpc.WithPerRPCCredentials(SecretCredentials(testSecret))},
	} {
		t.Run(name, func(t *testing.T) {
			for method, err := range refusedCalls(t, dialRaw(t, n2.addr, opts...)) {
				if code := status.Code(err); code != codes.Unavailable {
					t.Errorf("%s: %v, want Unavailable (no TLS connection)", method, err)
				}
			}
		})
	}
	n2.h.noMsg(t)
}
