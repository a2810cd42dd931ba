package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/h2count"
)

// TestPortsSendNoWindowPings calls a node 50 times in a row on its gRPC
// port and on its raft port, each call once the one before returned (an
// idle connection between requests). gRPC's default flow control would
// have the node ping the caller for nearly every request, to estimate its
// window; the node's windows are static, so it never pings.
func TestPortsSendNoWindowPings(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	n1 := c.node(1)
	n1.start()
	c.waitLeader(n1)

	for _, port := range []struct {
		name string
		addr string
		call func(context.Context, *grpc.ClientConn, int) error
	}{
		{"grpc_api_address", n1.grpcAddr(), func(ctx context.Context, cc *grpc.ClientConn, i int) error {
			_, err := metapb.NewMetaClient(cc).Upsert(ctx, &metapb.UpsertRequest{Key: fmt.Sprintf("pings/%d", i), Value: make([]byte, 256)})
			return err
		}},
		{"raft_api_port", n1.raftAddr(), func(ctx context.Context, cc *grpc.ClientConn, _ int) error {
			_, err := peerpb.NewPeerClient(cc).Members(ctx, &peerpb.MembersRequest{ClusterName: "foo_cluster"})
			return err
		}},
	} {
		t.Run(port.name, func(t *testing.T) {
			var d h2count.Dialer
			cc, err := grpc.NewClient(port.addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(d.Dial))
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			for i := range 50 {
				ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
				err := port.call(ctx, cc, i)
				cancel()
				if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if _, received := d.Pings(); received != 0 {
				t.Errorf("the node sent %d pings over 50 calls, want none", received)
			}
		})
	}
}

// TestValueLargerThanWindows writes a 15 MiB value (about the largest a
// request may carry by default: half of grpc_api_max_message_size) through
// a follower and reads it back from each node: almost four times a
// stream's flow-control window (4 MiB) and nearly a connection's (16 MiB),
// on the gRPC port both ways and on the raft port from the follower to the
// leader and from the leader to the other follower.
func TestValueLargerThanWindows(t *testing.T) {
	t.Parallel()
	c := newGuideCluster(t, clusterOptions{})
	c.startAll()
	nodes, _ := followerFirst(c)
	big := bytes.Repeat([]byte("w"), 15<<20)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, n := range nodes {
		cc, err := grpc.NewClient(n.grpcAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(32<<20)))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		mc := metapb.NewMetaClient(cc)
		if i == 0 {
			if _, err := mc.Upsert(ctx, &metapb.UpsertRequest{Key: "big", Value: big}); err != nil {
				t.Fatalf("Upsert of 15 MiB through %v: %v", n, err)
			}
		}
		got, err := mc.Get(ctx, &metapb.GetRequest{Key: "big", Consistency: metapb.ReadConsistency_LINEARIZABLE})
		if err != nil || !bytes.Equal(got.GetValue().GetData(), big) {
			t.Fatalf("Get from %v: %d bytes, %v; want the 15 MiB written", n, len(got.GetValue().GetData()), err)
		}
	}
}
