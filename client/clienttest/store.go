package clienttest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// Store is the fake key space: a global seq, a revision and the keys, with
// the same Upsert and Txn semantics as metasrv (match_seq, create_seq,
// version, expiry read against the wall clock), and the event history
// watches replay from. Every put takes the next seq (a delete none); every
// write that changes keys takes the next revision, shared by its events.
// An expired key is hidden from reads but, unlike metasrv, not removed and
// no delete event is emitted for it.
type Store struct {
	mu     sync.Mutex
	seq    uint64
	rev    uint64
	kvs    map[string]*metapb.SeqV
	now    func() time.Time
	sorted []string // the keys in order, rebuilt lazily; nil = stale

	// pending holds the events of the write in progress; commitLocked
	// adds them to the history and hands them to the watchers.
	pending []*metapb.Event
	// history holds the most recent events, oldest first; every event
	// with a revision above compacted is in it.
	history     []*metapb.Event
	historySize int
	compacted   uint64
	watchers    map[*watcher]struct{}
	// watchersChanged is closed, and replaced, when a watcher is added or
	// removed (watchersChangedLocked).
	watchersChanged chan struct{}
}

// DefaultHistorySize is the number of events a Store keeps for watches
// that resume, unless Options.WatchHistory says otherwise.
const DefaultHistorySize = 10000

// NewStore returns an empty Store keeping DefaultHistorySize events.
func NewStore() *Store {
	return &Store{
		kvs:         make(map[string]*metapb.SeqV),
		now:         time.Now,
		historySize: DefaultHistorySize,
		rev:         1,
		watchers:    make(map[*watcher]struct{}),

		watchersChanged: make(chan struct{}),
	}
}

// Put writes key unconditionally and returns the stored value; tests use it
// to seed data without going through a client.
func (st *Store) Put(key string, value []byte) *metapb.SeqV {
	r, _ := st.Upsert(&metapb.UpsertRequest{Key: key, Value: value})
	return r.GetResult()
}

// Delete removes key (watchers see a delete event) and returns its value
// before, nil when it was absent.
func (st *Store) Delete(key string) *metapb.SeqV {
	r, _ := st.Upsert(&metapb.UpsertRequest{Key: key, Op: metapb.UpsertRequest_DELETE})
	return r.GetPrev()
}

// Seq returns the last seq handed out.
func (st *Store) Seq() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.seq
}

// Revision returns the revision of the last write that changed keys (1:
// none yet).
func (st *Store) Revision() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.rev
}

// liveLocked returns key's value, nil when absent or expired.
func (st *Store) liveLocked(key string) *metapb.SeqV {
	v := st.kvs[key]
	if v == nil {
		return nil
	}
	if v.GetExpireAtMs() != 0 && uint64(st.now().UnixMilli()) > v.GetExpireAtMs() {
		return nil
	}
	return v
}

// matchLocked reports whether m (nil = any) matches key's current seq.
func (st *Store) matchLocked(key string, m *metapb.MatchSeq) bool {
	cur := st.liveLocked(key).GetSeq()
	switch m.GetKind() {
	case metapb.MatchSeq_EXACT:
		return cur == m.GetSeq()
	case metapb.MatchSeq_GE:
		return cur >= m.GetSeq()
	}
	return true
}

// setLocked writes key with the next seq and records the event; it returns
// the value before (nil: absent) and after.
func (st *Store) setLocked(key string, value []byte, ttlMs, expireAtMs uint64) (prev, cur *metapb.SeqV) {
	old := st.liveLocked(key)
	st.seq++
	now := uint64(st.now().UnixMilli())
	rev := st.rev + 1 // taken by commitLocked
	v := &metapb.SeqV{
		Seq:            st.seq,
		Data:           append([]byte(nil), value...),
		ExpireAtMs:     expireAtMs,
		CreateSeq:      st.seq,
		Version:        1,
		CreateRevision: rev,
		ModRevision:    rev,
		Meta:           &metapb.KVMeta{ProposedAtMs: &now},
	}
	if ttlMs != 0 {
		v.ExpireAtMs = now + ttlMs
	}
	if v.ExpireAtMs != 0 {
		e := v.ExpireAtMs
		v.Meta.ExpireAt = &e
	}
	if old != nil {
		v.CreateSeq = old.GetCreateSeq()
		v.CreateRevision = old.GetCreateRevision()
		v.Version = old.GetVersion() + 1
	}
	if _, ok := st.kvs[key]; !ok {
		st.sorted = nil
	}
	st.kvs[key] = v
	st.pending = append(st.pending, &metapb.Event{Key: key, Seq: st.seq, Prev: clone(old), Current: clone(v), Revision: rev})
	return clone(old), clone(v)
}

// deleteLocked removes key, taking no seq; when it was live, that records
// the event. It returns the value before (nil: absent, no change).
func (st *Store) deleteLocked(key string) *metapb.SeqV {
	old := st.liveLocked(key)
	if _, ok := st.kvs[key]; ok {
		delete(st.kvs, key)
		st.sorted = nil
	}
	if old == nil {
		return nil
	}
	st.pending = append(st.pending, &metapb.Event{Key: key, Seq: old.GetSeq(), Prev: clone(old), Revision: st.rev + 1})
	return clone(old)
}

// commitLocked ends a write: if it changed keys it takes the next
// revision, and its events enter the history, dropping the oldest beyond
// its size, and go to the watchers.
func (st *Store) commitLocked() {
	if len(st.pending) > 0 {
		st.rev++
	}
	for _, ev := range st.pending {
		st.history = append(st.history, ev)
		for w := range st.watchers {
			st.offerLocked(w, ev)
		}
	}
	st.pending = nil
	if n := len(st.history) - st.historySize; n > 0 {
		st.compacted = max(st.compacted, st.history[n-1].GetRevision())
		st.history = append([]*metapb.Event(nil), st.history[n:]...)
	}
}

// SetHistorySize changes how many events the store keeps for watches that
// resume (0: none, so that only a resume at the next revision succeeds).
func (st *Store) SetHistorySize(n int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.historySize = max(n, 0)
	st.commitLocked()
}

// Compact drops the events with revision <= rev from the history: a watch
// that resumes from them gets codes.OutOfRange.
func (st *Store) Compact(rev uint64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := 0
	for i < len(st.history) && st.history[i].GetRevision() <= rev {
		i++
	}
	st.history = append([]*metapb.Event(nil), st.history[i:]...)
	st.compacted = max(st.compacted, rev)
}

// Upsert applies req.
func (st *Store) Upsert(req *metapb.UpsertRequest) (*metapb.UpsertReply, error) {
	if req.GetKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "empty key")
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	defer st.commitLocked()
	cur := clone(st.liveLocked(req.GetKey()))
	if !st.matchLocked(req.GetKey(), req.GetMatchSeq()) {
		return &metapb.UpsertReply{Prev: cur, Result: clone(cur), Applied: false}, nil
	}
	if req.GetOp() == metapb.UpsertRequest_DELETE {
		prev := st.deleteLocked(req.GetKey())
		return &metapb.UpsertReply{Prev: prev, Applied: true}, nil
	}
	prev, v := st.setLocked(req.GetKey(), req.GetValue(), req.GetTtlMs(), req.GetExpireAtMs())
	return &metapb.UpsertReply{Prev: prev, Result: v, Applied: true}, nil
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
	var out []*metapb.KV
	st.rangeLocked(prefix, prefixEnd(prefix), func(k string, v *metapb.SeqV) bool {
		out = append(out, &metapb.KV{Key: k, Value: clone(v)})
		return limit == 0 || uint64(len(out)) < limit
	})
	return out
}

// rangeLocked calls fn for the live keys in [key, keyEnd) in ascending
// order (keyEnd "": no upper bound) until it returns false.
func (st *Store) rangeLocked(key, keyEnd string, fn func(string, *metapb.SeqV) bool) {
	if st.sorted == nil {
		st.sorted = make([]string, 0, len(st.kvs))
		for k := range st.kvs {
			st.sorted = append(st.sorted, k)
		}
		sort.Strings(st.sorted)
	}
	for i := sort.SearchStrings(st.sorted, key); i < len(st.sorted) && (keyEnd == "" || st.sorted[i] < keyEnd); i++ {
		if v := st.liveLocked(st.sorted[i]); v != nil {
			if !fn(st.sorted[i], v) {
				return
			}
		}
	}
}

// prefixEnd returns the smallest string above every string with prefix p
// in byte order, "" when there is none (p empty or all 0xff).
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return ""
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

func (s *Server) Upsert(ctx context.Context, req *metapb.UpsertRequest) (*metapb.UpsertReply, error) {
	s.setLeaderTrailer(ctx)
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
		n := min(s.opts.ListChunk, len(kvs))
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
	leader, _ := s.cluster.leader()
	state := "follower"
	if s.id == leader {
		state = "leader"
	}
	seq := s.cluster.Store.Seq()
	rev := s.cluster.Store.Revision()
	n := s.node()
	return &metapb.StatusReply{
		Id:           s.id,
		Version:      "clienttest",
		ClusterName:  "clienttest",
		State:        state,
		LeaderId:     leader,
		Term:         1,
		CommitIndex:  seq + 1,
		AppliedIndex: seq + 1,
		LastLogIndex: seq + 1,
		LastSeq:      seq,
		Revision:     rev,
		KeyCount:     s.cluster.Store.count(),
		Nodes:        s.members(),
		RaftAddress:  n.RaftAddress,
		GrpcAddress:  n.GrpcAddress,
	}, nil
}
