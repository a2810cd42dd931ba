package clustertest

import (
	"crypto/tls"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/grpcapi"
	"github.com/metasrv/metasrv/internal/publicapi"
	"github.com/metasrv/metasrv/internal/transport"
)

// ServeOptions secure the ports ServePublic and ServePeer open, as
// databend-meta's configuration would.
type ServeOptions struct {
	// TLS, if set, serves over TLS (with ClientAuth for mutual TLS).
	TLS *tls.Config
	// Auth, if set, is [auth]: the public API issues tokens (Handshake)
	// and refuses calls without credentials.
	Auth publicapi.Authenticator
	// RaftSecret, if set, makes the peer API refuse calls without it.
	RaftSecret string
	// WatchProgressNotifyInterval, if set, is the public API's
	// watch_progress_notify_interval (publicapi.Config).
	WatchProgressNotifyInterval time.Duration
}

// ServePublic serves the public gRPC API of nd on a new loopback port as
// databend-meta does (publicapi: the native face, Databend's and etcd's, with
// their authentication; the health service), with databend-meta's
// security options, and returns its address. The server stops when the
// test ends.
func (c *Cluster) ServePublic(nd *Node, o ServeOptions) string {
	c.t.Helper()
	var opts []grpc.ServerOption
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	faces, err := publicapi.New(nd.Server, publicapi.Config{Auth: o.Auth, MaxMessageSize: c.maxMessageSize(), TLS: o.TLS != nil,
		WatchProgressNotifyInterval: o.WatchProgressNotifyInterval})
	if err != nil {
		c.t.Fatal(err)
	}
	gs := grpc.NewServer(append(opts, faces.ServerOptions()...)...)
	faces.Register(gs)
	healthpb.RegisterHealthServer(gs, health.NewServer())
	return c.serve(gs)
}

// ServePeer serves the peer API of nd (the raft port) on a new loopback
// port and returns its address: Join and Leave go to nd's server, Raft and
// Snapshot to streams. The nodes of a Cluster talk over the in-memory
// network, not through this port: it is for tests of what a caller of the
// raft port can do.
func (c *Cluster) ServePeer(nd *Node, streams grpcapi.RaftStreams, o ServeOptions) string {
	c.t.Helper()
	opts := append(transport.SecretServerOptions(o.RaftSecret, nil), transport.ServerFlowControl()...)
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	gs := grpc.NewServer(opts...)
	peerpb.RegisterPeerServer(gs, grpcapi.NewPeer(streams, nd.Server))
	return c.serve(gs)
}

// maxMessageSize is Options.MaxMessageSize or its default.
func (c *Cluster) maxMessageSize() int {
	if c.opts.MaxMessageSize > 0 {
		return c.opts.MaxMessageSize
	}
	return 4 << 20
}

func (c *Cluster) serve(gs *grpc.Server) string {
	c.t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	go func() { _ = gs.Serve(lis) }()
	c.t.Cleanup(gs.Stop)
	return lis.Addr().String()
}
