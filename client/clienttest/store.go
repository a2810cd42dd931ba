package clienttest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// Store is the fake key space: a global seq and the keys, with the same
// Upsert semantics as metasrv (match_seq, create_seq, version, expiry read
// against the wall clock).
type Store struct {
	mu     sync.Mutex
	seq    uint64
	kvs    map[string]*metapb.SeqV
	now    func() time.Time
	sorted []string // the keys in order, rebuilt lazily; nil = stale
}

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{kvs: make(map[string]*metapb.SeqV), now: time.Now}
}

// Put writes key unconditionally and returns the stored value; tests use it
// to seed data without going through a client.
func (st *Store) Put(key string, value []byte) *metapb.SeqV {
	r, _ := st.Upsert(&metapb.UpsertRequest{Key: key, Value: value})
	return r.GetResult()
}

// Seq returns the last seq handed out.
func (st *Store) Seq() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.seq
}

// liveLocked returns key's value, nil when absent or expired.
func (st *Store) liveLocked(key string) *metapb.SeqV {
	v := st.kvs[key]
	if v == nil {
		return nil
	}
	if v.GetExpireAtMs() != 0 && uint64(st.now().UnixMilli()) >= v.GetExpireAtMs() {
		return nil
	}
	return v
}

// Upsert applies req.
func (st *Store) Upsert(req *metapb.UpsertRequest) (*metapb.UpsertReply, error) {
	if req.GetKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "empty key")
	}
	if req.GetTtlMs() != 0 && req.GetExpireAtMs() != 0 {
		return nil, status.Error(codes.InvalidArgument, "both ttl_ms and expire_at_ms set")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	cur := st.liveLocked(req.GetKey())
	curSeq := cur.GetSeq()
	match := true
	switch m := req.GetMatchSeq(); m.GetKind() {
	case metapb.MatchSeq_EXACT:
		match = curSeq == m.GetSeq()
	case metapb.MatchSeq_GE:
		match = curSeq >= m.GetSeq()
	}
	prev := clone(cur)
	if !match {
		return &metapb.UpsertReply{Prev: prev, Result: clone(cur), Applied: false}, nil
	}
	if req.GetOp() == metapb.UpsertRequest_DELETE {
		if cur != nil {
			st.seq++
		}
		delete(st.kvs, req.GetKey())
		st.sorted = nil
		return &metapb.UpsertReply{Prev: prev, Applied: true}, nil
	}
	st.seq++
	v := &metapb.SeqV{
		Seq:        st.seq,
		Data:       append([]byte(nil), req.GetValue()...),
		ExpireAtMs: req.GetExpireAtMs(),
		CreateSeq:  st.seq,
		Version:    1,
	}
	if req.GetTtlMs() != 0 {
		v.ExpireAtMs = uint64(st.now().UnixMilli()) + req.GetTtlMs()
	}
	if cur != nil {
		v.CreateSeq = cur.GetCreateSeq()
		v.Version = cur.GetVersion() + 1
	}
	if _, ok := st.kvs[req.GetKey()]; !ok {
		st.sorted = nil
	}
	st.kvs[req.GetKey()] = v
	return &metapb.UpsertReply{Prev: prev, Result: clone(v), Applied: true}, nil
}

// Get returns key's value, nil when absent.
func (st *Store) Get(key string) *metapb.SeqV {
	st.mu.Lock()
	defer st.mu.Unlock()
	return clone(st.liveLocked(key))
}

// List returns the live keys with prefix in ascending order, at most limit
// (0 = all).
func (st *Store) List(prefix string, limit uint64) []*metapb.KV {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.sorted == nil {
		st.sorted = make([]string, 0, len(st.kvs))
		for k := range st.kvs {
			st.sorted = append(st.sorted, k)
		}
		sort.Strings(st.sorted)
	}
	var out []*metapb.KV
	for i := sort.SearchStrings(st.sorted, prefix); i < len(st.sorted) && strings.HasPrefix(st.sorted[i], prefix); i++ {
		if v := st.liveLocked(st.sorted[i]); v != nil {
			out = append(out, &metapb.KV{Key: st.sorted[i], Value: clone(v)})
			if limit != 0 && uint64(len(out)) >= limit {
				break
			}
		}
	}
	return out
}

func (st *Store) count() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	var n uint64
	for k := range st.kvs {
		if st.liveLocked(k) != nil {
			n++
		}
	}
	return n
}

func clone(v *metapb.SeqV) *metapb.SeqV {
	if v == nil {
		return nil
	}
	return proto.Clone(v).(*metapb.SeqV)
}

// The metapb.MetaServer methods.

func (s *Server) Upsert(_ context.Context, req *metapb.UpsertRequest) (*metapb.UpsertReply, error) {
	return s.cluster.Store.Upsert(req)
}

func (s *Server) Get(_ context.Context, req *metapb.GetRequest) (*metapb.GetReply, error) {
	if req.GetKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "empty key")
	}
	return &metapb.GetReply{Value: s.cluster.Store.Get(req.GetKey())}, nil
}

func (s *Server) MGet(_ context.Context, req *metapb.MGetRequest) (*metapb.MGetReply, error) {
	reply := &metapb.MGetReply{}
	for _, k := range req.GetKeys() {
		reply.Kvs = append(reply.Kvs, &metapb.KV{Key: k, Value: s.cluster.Store.Get(k)})
	}
	return reply, nil
}

func (s *Server) List(req *metapb.ListRequest, stream grpc.ServerStreamingServer[metapb.ListReply]) error {
	kvs := s.cluster.Store.List(req.GetPrefix(), req.GetLimit())
	for len(kvs) > 0 {
		n := min(s.listChunk, len(kvs))
		if err := stream.Send(&metapb.ListReply{Kvs: kvs[:n]}); err != nil {
			return err
		}
		kvs = kvs[n:]
	}
	return nil
}

// node describes server s as a member.
func (s *Server) node() *metapb.Node {
	return &metapb.Node{
		Id:          s.id,
		RaftAddress: fmt.Sprintf("raft-%d.invalid:28103", s.id),
		GrpcAddress: s.Addr,
		Voter:       true,
	}
}

func (s *Server) members() []*metapb.Node {
	s.cluster.mu.Lock()
	defer s.cluster.mu.Unlock()
	nodes := make([]*metapb.Node, len(s.cluster.mu.nodes))
	for i, n := range s.cluster.mu.nodes {
		nodes[i] = proto.Clone(n).(*metapb.Node)
	}
	return nodes
}

func (s *Server) MemberList(context.Context, *metapb.MemberListRequest) (*metapb.MemberListReply, error) {
	return &metapb.MemberListReply{Nodes: s.members()}, nil
}

func (s *Server) Status(context.Context, *metapb.StatusRequest) (*metapb.StatusReply, error) {
	state := "follower"
	if s.id == 1 {
		state = "leader"
	}
	seq := s.cluster.Store.Seq()
	n := s.node()
	return &metapb.StatusReply{
		Id:           s.id,
		Version:      "clienttest",
		ClusterName:  "clienttest",
		State:        state,
		LeaderId:     1,
		Term:         1,
		CommitIndex:  seq + 1,
		AppliedIndex: seq + 1,
		LastLogIndex: seq + 1,
		LastSeq:      seq,
		KeyCount:     s.cluster.Store.count(),
		Nodes:        s.members(),
		RaftAddress:  n.RaftAddress,
		GrpcAddress:  n.GrpcAddress,
	}, nil
}
