package grpcapi_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/grpcapi"
)

// A follower's answer to a write names the leader's public address (its
// grpc_address in the member table) in LeaderTrailer; the leader's answer,
// and answers to reads, carry no such trailer.
func TestLeaderTrailer(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := cl.WaitLeader()
	ctx := cl.Ctx()
	leadAddr := clustertest.Addr(lead) // the grpc_address clustertest advertises
	for _, nd := range cl.Nodes() {
		// Every node must know the leader, or a follower rightly sets
		// nothing: the leader's first append, settled, told them.
		if nd.ID != lead && nd.Server.LeaderGrpcAddress() == "" {
			t.Fatalf("node %d, settled, does not know the leader's address", nd.ID)
		}
	}

	calls := []struct {
		name  string
		write bool
		call  func(mc metapb.MetaClient, md *metadata.MD) error
	}{
		{"Upsert", true, func(mc metapb.MetaClient, md *metadata.MD) error {
			_, err := mc.Upsert(ctx, &metapb.UpsertRequest{Key: "k", Value: []byte("v")}, grpc.Trailer(md))
			return err
		}},
		{"Txn", true, func(mc metapb.MetaClient, md *metadata.MD) error {
			put := &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "t", Value: []byte("v")}}}
			_, err := mc.Txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{put}}, grpc.Trailer(md))
			return err
		}},
		{"Get", false, func(mc metapb.MetaClient, md *metadata.MD) error {
			_, err := mc.Get(ctx, &metapb.GetRequest{Key: "k"}, grpc.Trailer(md))
			return err
		}},
		{"MemberList", false, func(mc metapb.MetaClient, md *metadata.MD) error {
			_, err := mc.MemberList(ctx, &metapb.MemberListRequest{}, grpc.Trailer(md))
			return err
		}},
	}
	for _, nd := range cl.Nodes() {
		mc := dialPublic(t, cl.ServePublic(nd, clustertest.ServeOptions{}))
		for _, c := range calls {
			var md metadata.MD
			if err := c.call(mc, &md); err != nil {
				t.Fatalf("node %d %s: %v", nd.ID, c.name, err)
			}
			got := md.Get(grpcapi.LeaderTrailer)
			switch {
			case c.write && nd.ID != lead:
				if len(got) != 1 || got[0] != leadAddr {
					t.Errorf("follower %d %s: trailer %s = %v, want [%s]", nd.ID, c.name, grpcapi.LeaderTrailer, got, leadAddr)
				}
			case len(got) != 0:
				t.Errorf("node %d (leader %d) %s: trailer %s = %v, want none", nd.ID, lead, c.name, grpcapi.LeaderTrailer, got)
			}
		}
	}
}

func dialPublic(t *testing.T, addr string) metapb.MetaClient {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return metapb.NewMetaClient(cc)
}

// The leader's address comes from the member table: a node with no raft
// node yet, or one that knows no leader, names none.
func TestLeaderGrpcAddressWithoutLeader(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := cl.WaitLeader()
	var follower uint64
	for _, nd := range cl.Nodes() {
		if nd.ID != lead {
			follower = nd.ID
		}
	}
	// An isolated follower campaigns, and a candidate knows no leader.
	cl.Isolate(follower)
	nd := cl.Node(follower)
	cl.Tick(2 * clustertest.ElectionTick)
	if got := nd.Server.LeaderGrpcAddress(); got != "" {
		t.Fatalf("node %d, cut off for two election timeouts, names leader address %q", follower, got)
	}
	mc := dialPublic(t, cl.ServePublic(nd, clustertest.ServeOptions{}))
	var md metadata.MD
	ctx, cancel := context.WithTimeout(cl.Ctx(), 100*time.Millisecond) // the write cannot commit: no ticks, no leader
	defer cancel()
	_, _ = mc.Upsert(ctx, &metapb.UpsertRequest{Key: "k"}, grpc.Trailer(&md))
	if got := md.Get(grpcapi.LeaderTrailer); len(got) != 0 {
		t.Fatalf("isolated node: trailer %s = %v, want none", grpcapi.LeaderTrailer, got)
	}
}
