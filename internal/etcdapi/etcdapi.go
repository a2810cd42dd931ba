package etcdapi

import (
	"context"
	"hash/fnv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/grpcapi"
)

// Server is what the face needs of a node (implemented by
// *server.Server). Called concurrently from gRPC goroutines.
type Server interface {
	// Operations are the member changes, leadership transfer and state
	// copies of the Cluster and Maintenance handlers (cluster.go).
	Operations
	// Range reads keys as etcd's Range, after the read barrier of c, and
	// returns the revision read at.
	Range(ctx context.Context, req *metapb.TxnRange, c metapb.ReadConsistency) (*metapb.TxnRangeResponse, uint64, error)
	// Txn applies a transaction through raft; its reply carries the
	// store's revision after it.
	Txn(ctx context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error)
	// Members lists the members as this node applied them.
	Members() []*metapb.Node
	// Status describes this node (raft role, indexes, leader).
	Status() *metapb.StatusReply
	// DataSize is the size of the state in bytes (O(state)).
	DataSize() int64
	// RaftTerm is the current term; cheap.
	RaftTerm() uint64
	watchBackend
	leaseBackend
}

// Config is what the face needs of the node's configuration.
type Config struct {
	// Limits are the native face's request limits
	// (grpcapi.DefaultLimits): key length, request bytes, and the
	// deadline of a request that comes without one.
	Limits grpcapi.Limits
	// MaxTxnOps is etcd's --max-txn-ops: the most compares, or ops of a
	// branch, one Txn may hold; 0: etcd's default, DefaultMaxTxnOps.
	MaxTxnOps int
	// TLS: the port serves TLS, so members' client URLs are https.
	TLS bool
	// Auth holds the users of [auth]; nil when [auth] is disabled. It
	// serves Authenticate (auth.go); give the same one to ServerOptions.
	Auth Authenticator
	// ProgressNotifyInterval is how long a watcher created with
	// progress_notify stays silent before it gets a progress
	// notification: etcd's --watch-progress-notify-interval
	// (watch_progress_notify_interval); 0: etcd's default,
	// DefaultProgressNotifyInterval.
	ProgressNotifyInterval time.Duration
}

// DefaultMaxTxnOps is etcd's default --max-txn-ops.
const DefaultMaxTxnOps = 128

// Service is the etcd face of one node: the handlers of etcdserverpb's
// KV, Cluster and Maintenance services, and the refusals of what is not
// served yet (Register).
type Service struct {
	srv       Server
	cfg       Config
	memberID  uint64
	clusterID uint64
	events    eventCache // watch events as etcd's, shared by the watchers
}

// New returns the face over srv.
func New(srv Server, cfg Config) *Service {
	if cfg.MaxTxnOps <= 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	if cfg.ProgressNotifyInterval <= 0 {
		cfg.ProgressNotifyInterval = DefaultProgressNotifyInterval
	}
	st := srv.Status()
	h := fnv.New64a()
	h.Write([]byte(st.GetClusterName()))
	return &Service{srv: srv, cfg: cfg, memberID: st.GetId(), clusterID: h.Sum64()}
}

// ServiceNames are the full names of the services Register registers,
// for interceptors that treat faces apart.
var ServiceNames = []string{
	pb.KV_ServiceDesc.ServiceName,
	pb.Watch_ServiceDesc.ServiceName,
	pb.Lease_ServiceDesc.ServiceName,
	pb.Cluster_ServiceDesc.ServiceName,
	pb.Maintenance_ServiceDesc.ServiceName,
	pb.Auth_ServiceDesc.ServiceName,
}

// Register registers etcd's six services on gs (made with
// grpcapi.DecodeErrorsOption, through grpcapi.RegisterDecoded): the
// methods served here, and for every other method an Unimplemented answer
// naming the part of issue 13 that will serve it (notServed).
func (s *Service) Register(gs grpc.ServiceRegistrar) {
	grpcapi.RegisterDecoded(gs, notServed(&pb.KV_ServiceDesc, "KV"), &kv{s: s})
	grpcapi.RegisterDecoded(gs, notServed(&pb.Cluster_ServiceDesc, "Cluster"), &cluster{s: s})
	grpcapi.RegisterDecoded(gs, notServed(&pb.Maintenance_ServiceDesc, "Maintenance"), &maintenance{s: s})
	grpcapi.RegisterDecoded(gs, notServed(&pb.Watch_ServiceDesc, "Watch"), &watchService{s: s})
	grpcapi.RegisterDecoded(gs, notServed(&pb.Lease_ServiceDesc, "Lease"), &leaseService{s: s})
	grpcapi.RegisterDecoded(gs, notServed(&pb.Auth_ServiceDesc, "Auth"), &authService{s: s})
}

// header is the response header of this node at revision rev.
func (s *Service) header(rev uint64) *pb.ResponseHeader {
	return &pb.ResponseHeader{
		ClusterId: s.clusterID,
		MemberId:  s.memberID,
		Revision:  int64(rev),
		RaftTerm:  s.srv.RaftTerm(),
	}
}

// withDeadline gives a request without a deadline the default one.
func (s *Service) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || s.cfg.Limits.DefaultTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.cfg.Limits.DefaultTimeout)
}
