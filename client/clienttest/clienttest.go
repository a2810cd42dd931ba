// Package clienttest runs fake metasrv servers in-process, for tests of code
// that uses package client (the client's own tests and databend-metactl's).
//
// A Cluster is N gRPC servers on 127.0.0.1 ports chosen by the kernel, all
// serving one shared in-memory Store: a write through one is seen by the
// others at once, as if replication were instant. There is no raft: Status
// reports node 1 (or the one given to SetLeader) as the leader and fixed
// terms; after SetLeader, the other servers name the leader in their
// answers to writes, as metasrv's followers do (LeaderTrailer). Hooks make a server fail in
// chosen ways, Stop takes it down (its address then refuses connections) and
// Restart brings it back on the same address.
//
// Txn and Watch behave as metasrv's: a Txn is atomic; a Watch stream sends
// the initial values or replays the Store's event history from start_seq
// (codes.OutOfRange once Store.Compact or Options.WatchHistory dropped it),
// then live events and idle progress markers. A stream whose buffer of
// Options.WatchBuffer events fills up (the client does not read) ends with
// codes.ResourceExhausted; Server.EndWatches ends the streams of one server
// on demand, and Stop breaks them as a dying node would. Server.WaitWatches
// and Cluster.WaitWatching wait for streams to come or go, so a test need
// not poll.
//
//	c := clienttest.Start(t, 3)
//	cli, _ := client.New(client.Config{Endpoints: c.Addrs()})
//	c.Servers[0].SetHook(func(ctx context.Context, method string, stage clienttest.Stage) error {
//		if method == "Get" && stage == clienttest.Before {
//			return status.Error(codes.Unavailable, "injected")
//		}
//		return nil
//	})
package clienttest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/metasrv/metasrv/api/metapb"
)

// Stage says when a Hook runs.
type Stage int

const (
	// Before runs before the handler: an error fails the call without
	// effect.
	Before Stage = iota
	// After runs after the handler succeeded: an error fails the call,
	// but a write has been applied and a List stream has sent every
	// chunk.
	After
)

func (s Stage) String() string {
	if s == Before {
		return "before"
	}
	return "after"
}

// Hook is called around every RPC a Server receives; method is the short
// name ("Upsert", "Txn", "Get", "MGet", "List", "Watch", "MemberList",
// "Status") and ctx the RPC's context. A hook may set a trailer with
// grpc.SetTrailer(ctx, ...) before it returns an error, e.g. the
// client.NotProposedTrailer. For Watch, After runs only when the stream
// ended without an error, which a watch never does on its own. A non-nil error fails the RPC with it (use status.Error for
// a gRPC code). A Hook may block, e.g. until ctx is done. It is called from
// the server's goroutines, concurrently.
type Hook func(ctx context.Context, method string, stage Stage) error

// Cluster is a set of fake servers sharing one Store.
type Cluster struct {
	Store   *Store
	Servers []*Server

	mu struct {
		sync.Mutex
		nodes []*metapb.Node // what MemberList and Status report
		// leader is the leader's id, 1 until SetLeader; nameLeader:
		// SetLeader was called, followers name the leader.
		leader     uint64
		nameLeader bool
	}
}

// Options configure a Cluster.
type Options struct {
	// ListChunk is the number of keys per List chunk; default 2, so that
	// small tests see several chunks.
	ListChunk int
	// WatchHistory is the number of events the Store keeps for watches
	// that resume; default DefaultHistorySize. Store.SetHistorySize
	// changes it later.
	WatchHistory int
	// WatchBuffer is the number of events a Watch stream may have waiting
	// to be sent before it is cut off with codes.ResourceExhausted;
	// default DefaultWatchBuffer.
	WatchBuffer int
	// ProgressInterval is the interval of progress markers on an idle
	// Watch stream whose request does not set one; default
	// DefaultProgressInterval.
	ProgressInterval time.Duration
}

// Start starts a cluster of n servers and stops it when tb ends; it fails
// tb if a server cannot start.
func Start(tb testing.TB, n int) *Cluster {
	tb.Helper()
	c, err := NewCluster(n, Options{})
	if err != nil {
		tb.Fatalf("clienttest: %v", err)
	}
	tb.Cleanup(c.Stop)
	return c
}

// NewCluster starts n servers on 127.0.0.1:0. Call Stop when done.
func NewCluster(n int, opts Options) (*Cluster, error) {
	if opts.ListChunk <= 0 {
		opts.ListChunk = 2
	}
	if opts.WatchHistory <= 0 {
		opts.WatchHistory = DefaultHistorySize
	}
	if opts.WatchBuffer <= 0 {
		opts.WatchBuffer = DefaultWatchBuffer
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	c := &Cluster{Store: NewStore()}
	c.mu.leader = 1
	c.Store.SetHistorySize(opts.WatchHistory)
	for i := range n {
		s := &Server{id: uint64(i + 1), cluster: c, opts: opts}
		s.mu.calls = make(map[string]int)
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			c.Stop()
			return nil, fmt.Errorf("listen: %w", err)
		}
		s.Addr = lis.Addr().String()
		s.serve(lis)
		c.Servers = append(c.Servers, s)
	}
	nodes := make([]*metapb.Node, len(c.Servers))
	for i, s := range c.Servers {
		nodes[i] = s.node()
	}
	c.SetMembers(nodes)
	return c, nil
}

// Addrs returns the servers' addresses, in order.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		addrs[i] = s.Addr
	}
	return addrs
}

// SetMembers replaces the member list the servers report (by default one
// voter per server), e.g. to add a member that does not exist.
func (c *Cluster) SetMembers(nodes []*metapb.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.nodes = nodes
}

// Stop stops every server.
func (c *Cluster) Stop() {
	for _, s := range c.Servers {
		s.Stop()
	}
}

// Server is one fake node. Its id is its index in Cluster.Servers plus 1.
type Server struct {
	metapb.UnimplementedMetaServer

	// Addr is host:port of the server; it stays the same across Stop and
	// Restart.
	Addr string

	id      uint64
	cluster *Cluster
	opts    Options

	mu struct {
		sync.Mutex
		grpc      *grpc.Server // nil while stopped
		hook      Hook
		watchSend WatchSendHook
		calls     map[string]int
	}
}

// WatchSendHook is called before a Watch stream of the server sends a
// response; a non-nil error ends the stream with it instead (the response
// is not sent). It is called from the stream's goroutine.
type WatchSendHook func(*metapb.WatchResponse) error

// ID returns the node id.
func (s *Server) ID() uint64 { return s.id }

func (s *Server) serve(lis net.Listener) {
	gs := grpc.NewServer(
		grpc.UnaryInterceptor(s.unaryInterceptor),
		grpc.StreamInterceptor(s.streamInterceptor),
	)
	metapb.RegisterMetaServer(gs, s)
	s.mu.Lock()
	s.mu.grpc = gs
	s.mu.Unlock()
	go func() { _ = gs.Serve(lis) }() // returns when gs stops
}

// Stop closes the listener and every connection; RPCs in flight fail on the
// client with Unavailable. Connections to Addr are refused until Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	gs := s.mu.grpc
	s.mu.grpc = nil
	s.mu.Unlock()
	if gs != nil {
		gs.Stop()
	}
}

// Restart serves again on Addr after Stop.
func (s *Server) Restart() error {
	lis, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("restart %s: %w", s.Addr, err)
	}
	s.serve(lis)
	return nil
}

// SetHook installs h (nil removes it).
func (s *Server) SetHook(h Hook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.hook = h
}

// SetWatchSendHook installs h for the Watch streams of the server (nil
// removes it), e.g. to break a stream in the middle of an initial flush.
func (s *Server) SetWatchSendHook(h WatchSendHook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.watchSend = h
}

// Calls returns how many calls of method reached this server (counted
// before the hook runs).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.calls[method]
}

func (s *Server) enter(fullMethod string) (method string, hook Hook) {
	method = fullMethod[strings.LastIndex(fullMethod, "/")+1:]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.calls[method]++
	return method, s.mu.hook
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method, hook := s.enter(info.FullMethod)
	if hook != nil {
		if err := hook(ctx, method, Before); err != nil {
			return nil, err
		}
	}
	resp, err := handler(ctx, req)
	if err != nil || hook == nil {
		return resp, err
	}
	if err := hook(ctx, method, After); err != nil {
		return nil, err
	}
	return resp, nil
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	method, hook := s.enter(info.FullMethod)
	if hook != nil {
		if err := hook(ss.Context(), method, Before); err != nil {
			return err
		}
	}
	if err := handler(srv, ss); err != nil || hook == nil {
		return err
	}
	return hook(ss.Context(), method, After)
}
