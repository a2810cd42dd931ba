// Package publicapi puts the public faces of a node on one gRPC server,
// as databend-meta serves its grpc_api_address: the native
// metasrv.v1.Meta (internal/grpcapi), Databend's meta.MetaService
// (internal/databendapi) and etcd's v3 API (internal/etcdapi), over the
// same server, with their authentication (etcd's services with a token
// from etcd's Authenticate in the metadata "token", or the native face's
// metadata "authorization"). cmd/databend-meta and internal/clustertest both serve
// the port through it, so tests serve exactly what the binary does.
//
//	faces, err := publicapi.New(srv, publicapi.Config{Auth: a, MaxMessageSize: n})
//	gs := grpc.NewServer(append(otherOpts, faces.ServerOptions()...)...)
//	faces.Register(gs)
package publicapi

import (
	"time"

	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/internal/databendapi"
	"github.com/metasrv/metasrv/internal/etcdapi"
	"github.com/metasrv/metasrv/internal/grpcapi"
	"github.com/metasrv/metasrv/internal/server"
)

// Authenticator is what the faces need of the users of [auth]
// (implemented by *auth.Authenticator): the native face's credentials and
// Databend's tokens. Called concurrently from gRPC goroutines.
type Authenticator interface {
	grpcapi.Authenticator
	// VerifyToken returns the user a token was issued to.
	VerifyToken(token string) (string, error)
}

// Config is what the faces need of the node's configuration.
type Config struct {
	// Auth holds the users of [auth]; nil when [auth] is disabled: the
	// native face is then open, and Databend's face gives root a token
	// whatever its password and checks it where databend-meta does.
	Auth Authenticator
	// MaxMessageSize is grpc_api_max_message_size, in bytes: the largest
	// message received or sent, from which grpcapi.DefaultLimits derives
	// the request limits of both faces.
	MaxMessageSize int
	// TLS: the port serves TLS (etcd's members then have https client
	// URLs).
	TLS bool
	// WatchProgressNotifyInterval is watch_progress_notify_interval: how
	// long an etcd watcher created with progress_notify stays silent
	// before it gets a progress notification; 0: etcd's default, 10
	// minutes (etcdapi.DefaultProgressNotifyInterval).
	WatchProgressNotifyInterval time.Duration
}

// Flow-control windows of a client connection, in bytes. Static: gRPC's
// default window grows by estimating the bandwidth-delay product, which
// pings the client whenever a request arrives while no such ping is out:
// at a connection's usual rate, a ping and its ack for nearly every
// request (docs/PERFORMANCE.md). 4 MiB a stream is what the estimate would
// reach for a client 50 ms away moving 80 MB/s.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// Faces are the faces of one node, ready to register.
type Faces struct {
	native   *grpcapi.Meta
	databend *databendapi.Service
	etcd     *etcdapi.Service
	opts     []grpc.ServerOption
}

// New builds the faces over srv. It fails only when the random key of
// Databend's open tokens cannot be drawn.
func New(srv *server.Server, cfg Config) (*Faces, error) {
	limits := grpcapi.DefaultLimits(cfg.MaxMessageSize)
	f := &Faces{
		etcd: etcdapi.New(srv, etcdapi.Config{Limits: limits, TLS: cfg.TLS, Auth: cfg.Auth,
			ProgressNotifyInterval: cfg.WatchProgressNotifyInterval}),
		opts: []grpc.ServerOption{
			grpc.MaxRecvMsgSize(cfg.MaxMessageSize), grpc.MaxSendMsgSize(cfg.MaxMessageSize), grpcapi.DecodeErrorsOption(),
			grpc.StaticStreamWindowSize(streamWindow), grpc.StaticConnWindowSize(connWindow),
		},
	}
	if cfg.Auth != nil {
		f.native = grpcapi.NewMeta(srv, limits, cfg.Auth)
		f.databend = databendapi.New(srv, cfg.Auth, limits)
		f.opts = append(f.opts, grpcapi.AuthServerOptions(cfg.Auth, append([]string{databendapi.ServiceName}, etcdapi.ServiceNames...)...)...)
		f.opts = append(f.opts, etcdapi.ServerOptions(cfg.Auth)...)
		f.opts = append(f.opts, databendapi.ServerOptions(cfg.Auth, databendapi.TokenEveryCall)...)
		return f, nil
	}
	open, err := databendapi.NewOpenAuthenticator()
	if err != nil {
		return nil, err
	}
	f.native = grpcapi.NewMeta(srv, limits)
	f.databend = databendapi.New(srv, open, limits)
	f.opts = append(f.opts, databendapi.ServerOptions(open, databendapi.TokenAsDatabend)...)
	return f, nil
}

// ServerOptions are the options the gRPC server of the faces needs: the
// message size limits, the decoding that answers a malformed request with
// InvalidArgument, and the authentication interceptors of both faces.
// Give them to grpc.NewServer after the metrics interceptors, so that
// refused calls count.
func (f *Faces) ServerOptions() []grpc.ServerOption { return f.opts }

// Register registers the faces on gs, made with ServerOptions.
func (f *Faces) Register(gs *grpc.Server) {
	grpcapi.RegisterMeta(gs, f.native)
	grpcapi.RegisterDecoded(gs, &databendpb.MetaService_ServiceDesc, f.databend)
	f.etcd.Register(gs)
}
