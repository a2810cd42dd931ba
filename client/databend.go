package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/databendpb"
)

// KeysCount is one line of a keys layout: the number of keys under a
// directory prefix, or of all keys for the prefix "".
type KeysCount struct {
	Prefix string `json:"prefix"`
	Count  uint64 `json:"count"`
}

// KeysLayout asks one node to count its keys under each '/'-separated
// directory prefix and passes the counts to fn as they come: inner
// directories first, each after those inside it, and the total last
// with the prefix "". depth N (non-nil) keeps only the directories with
// fewer than N '/'. The node counts every key it holds after a
// linearizable read barrier.
//
// It is the call databend-metactl keys-layout makes, SnapshotKeysLayout
// of Databend's service meta.MetaService, which every metasrv node serves
// beside metasrv.v1.Meta; the client's credentials go with it. The
// endpoints are tried as by Export; KeysLayout returns the one that
// served.
func (c *Client) KeysLayout(ctx context.Context, depth *uint32, fn func(KeysCount) error) (string, error) {
	return c.fromFirstServing(ctx, "keys layout", func(ep string) (bool, error) {
		return recvStream(ctx, c, ep,
			func(ctx context.Context, cc *grpc.ClientConn) (grpc.ServerStreamingClient[databendpb.KeysCount], error) {
				return databendpb.NewMetaServiceClient(cc).SnapshotKeysLayout(ctx, &databendpb.KeysLayoutRequest{Depth: depth})
			},
			func(kc *databendpb.KeysCount) error {
				return fn(KeysCount{Prefix: kc.GetPrefix(), Count: kc.GetCount()})
			})
	})
}

// ClusterStatus returns the status of the node at endpoint in Databend's
// form: what GetClusterStatus of meta.MetaService answers and
// databend-metactl status prints. As Status, it asks that node only,
// once (a refused token is renewed once).
func (c *Client) ClusterStatus(ctx context.Context, endpoint string) (*databendpb.ClusterStatus, error) {
	return askNode(ctx, c, "cluster status", endpoint, func(ctx context.Context, cc *grpc.ClientConn) (*databendpb.ClusterStatus, error) {
		return databendpb.NewMetaServiceClient(cc).GetClusterStatus(ctx, &databendpb.Empty{})
	})
}
