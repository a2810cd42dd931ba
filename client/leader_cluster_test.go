package client

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/grpcapi"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/tlsfiles"
	"github.com/metasrv/metasrv/internal/tlstest"
)

// realNode is one node of TestLeaderWritesRealCluster: its public API, with
// mutual TLS and auth, and the writes it received.
type realNode struct {
	addr   string
	gs     *grpc.Server
	writes atomic.Int64
}

// TestLeaderWritesRealCluster runs the client against real nodes with
// mutual TLS and auth. Node 1 advertises clustertest's grpc address, which
// does not resolve; nodes 2 and 3 advertise the addresses they serve on.
// The client, given nodes 1 and 3 only, learns the leader from a follower,
// dials it with the same TLS and credentials and sends its writes there,
// gets over a leader it cannot reach, and follows a new leader after the
// old one stopped.
func TestLeaderWritesRealCluster(t *testing.T) {
	ca := tlstest.NewCA(t)
	srvPair, cliPair := ca.Issue(t, "server"), ca.Issue(t, "client")
	serverTLS, err := tlsfiles.Server(srvPair.CertFile, srvPair.KeyFile, ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	cliTLS, err := LoadTLS(ca.CertFile, cliPair.CertFile, cliPair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	clock.ns.Store(time.Now().UnixNano())
	a := newAuthenticator(t, clock, time.Hour)

	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	ctx := ctxTimeout(t, 60*time.Second)
	nodes := map[uint64]*realNode{}
	serve := func(nd *clustertest.Node, lis net.Listener) {
		rn := &realNode{addr: lis.Addr().String()}
		count := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if info.FullMethod == metapb.Meta_Upsert_FullMethodName {
				rn.writes.Add(1)
			}
			return handler(ctx, req)
		}
		opts := append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(serverTLS)), grpc.ChainUnaryInterceptor(count)},
			grpcapi.AuthServerOptions(a)...)
		rn.gs = grpc.NewServer(opts...)
		metapb.RegisterMetaServer(rn.gs, grpcapi.NewMeta(nd.Server, grpcapi.DefaultLimits(4<<20), a))
		go func() { _ = rn.gs.Serve(lis) }()
		t.Cleanup(rn.gs.Stop)
		nodes[nd.ID] = rn
	}
	listen := func() net.Listener {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return lis
	}
	serve(cl.Node(1), listen())
	for id := uint64(2); id <= 3; id++ {
		lis := listen()
		nd := cl.StartWith(id, t.TempDir(), false, func(cfg *server.Config) { cfg.GrpcAddress = lis.Addr().String() })
		cl.WaitJoined(nd)
		serve(nd, lis)
	}
	// leaderKnown checks that, once the cluster settles, every running
	// node but the leader names the leader's advertised address.
	leaderKnown := func(lead uint64, addr string) {
		t.Helper()
		cl.Settled(func() bool {
			for _, nd := range cl.Nodes() {
				if nd.ID != lead && nd.Server.LeaderGrpcAddress() != addr {
					return false
				}
			}
			return true
		}, "the followers name the leader")
	}
	writes := func() [3]int64 {
		var w [3]int64
		for id, rn := range nodes {
			w[id-1] = rn.writes.Load()
		}
		return w
	}
	n1, n2, n3 := nodes[1], nodes[2], nodes[3]
	cfg := Config{Endpoints: []string{n1.addr, n3.addr}, TLS: cliTLS, User: "root", Password: "pw"}
	write := func(c *Client, step string) {
		t.Helper()
		if _, err := c.Upsert(ctx, Upsert{Key: "k", Value: []byte(step)}); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	check := func(c *Client, step string, want [3]int64, hint string) {
		t.Helper()
		if got := writes(); got != want {
			t.Fatalf("%s: writes per node %v, want %v", step, got, want)
		}
		if got := c.leader.get(); got != hint {
			t.Fatalf("%s: leader %q, want %q", step, got, hint)
		}
	}

	// Node 1 leads and advertises an address that does not resolve: a
	// client of node 3 learns it, fails to connect (nothing sent), and
	// goes on with node 3.
	leaderKnown(1, clustertest.Addr(1))
	c3 := newAuthClient(t, Config{Endpoints: []string{n3.addr}, TLS: cliTLS, User: "root", Password: "pw"})
	c3.timing.leaderPause = time.Hour
	write(c3, "learn an unreachable leader")
	check(c3, "learn an unreachable leader", [3]int64{0, 0, 1}, clustertest.Addr(1))
	write(c3, "unreachable leader")
	check(c3, "unreachable leader", [3]int64{0, 0, 2}, "")

	// Node 2 takes over: the client learns it from node 1 and sends its
	// writes there, over TLS and with a token of its own.
	if _, err := cl.Node(1).Server.TransferLeader(ctx, 2); err != nil {
		t.Fatal(err)
	}
	leaderKnown(2, n2.addr)
	c := newAuthClient(t, cfg)
	c.timing.leaderPause = time.Hour
	handshakes := a.handshakes.Load()
	write(c, "learn")
	check(c, "learn", [3]int64{1, 0, 2}, n2.addr)
	write(c, "to the leader")
	write(c, "to the leader again")
	check(c, "to the leader", [3]int64{1, 2, 2}, n2.addr)
	if n := a.handshakes.Load() - handshakes; n != 2 {
		t.Fatalf("%d handshakes, want 2: one with node 1, one with the leader", n)
	}

	// Node 2 stops; node 3 takes over. The write fails unsent on node 2,
	// goes through node 1, which names node 3, and the next goes there.
	cc, err := c.conn(n2.addr)
	if err != nil {
		t.Fatal(err)
	}
	n2.gs.Stop()
	cl.Stop(2)
	for cc.GetState() == connectivity.Ready {
		cc.WaitForStateChange(ctx, connectivity.Ready)
	}
	if lead := cl.WaitLeader(2); lead != 3 {
		if _, err := cl.Node(lead).Server.TransferLeader(ctx, 3); err != nil {
			t.Fatal(err)
		}
	}
	leaderKnown(3, n3.addr)
	write(c, "leader stopped")
	check(c, "leader stopped", [3]int64{2, 2, 2}, n3.addr)
	write(c, "to the new leader")
	check(c, "to the new leader", [3]int64{2, 2, 3}, n3.addr)

	kv, err := c.Get(ctx, "k")
	if err != nil || string(kv.Data) != "to the new leader" || kv.Version != 7 {
		t.Fatalf("Get: %+v, %v; want the last write, version 7 (each write applied once)", kv, err)
	}
}
