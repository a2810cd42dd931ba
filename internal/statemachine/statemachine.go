package statemachine

import (
	"hash/crc64"
	"strings"
	"sync"

	"github.com/tidwall/btree"

	"github.com/metasrv/metasrv/api/metapb"
)

// expKey is an entry of the expiry index, ordered by (at, seq, key):
// databend-meta's order (its index is keyed by expiry and seq); the key
// breaks ties between keys of imported data that share a seq.
type expKey struct {
	at  uint64
	seq uint64
	key string
}

func expLess(a, b expKey) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if a.seq != b.seq {
		return a.seq < b.seq
	}
	return a.key < b.key
}

// expKeyOf returns the expiry index entry of the present value v, and
// false when v does not expire.
func expKeyOf(v kv) (expKey, bool) {
	m := v.meta()
	if !m.hasExpire() {
		return expKey{}, false
	}
	return expKey{at: m.expireAt, seq: m.seq, key: v.key()}, true
}

// member is one row of the member table.
type member struct {
	id       uint64
	raftAddr string
	grpcAddr string
	voter    bool
}

func (m member) node() *metapb.Node {
	return &metapb.Node{Id: m.id, RaftAddress: m.raftAddr, GrpcAddress: m.grpcAddr, Voter: m.voter}
}

// change is one modification made by an Apply, in the order it happened:
// a put (prev may be absent), a delete, or the removal of an expired key.
// All changes of one entry share its revision. The changes of the current
// Apply collect in mu.changes; at its end they become the Result's events
// and enter the history.
type change struct {
	key  string
	prev kv // absent: the key did not exist
	cur  kv // absent: the key was deleted or expired
	rev  uint64
	// ms is the entry's time (Unix ms), for the retention by time.
	ms uint64
}

// seq returns the key's seq after the change: cur's, or the deleted
// value's.
func (c *change) seq() uint64 {
	if c.cur.present() {
		return c.cur.meta().seq
	}
	return c.prev.meta().seq
}

// StateMachine is the replicated key-value state. Apply, ApplyEmpty,
// ApplyConfChange and Restore must be called from one goroutine (the apply
// loop), in log order. All other methods are safe from any goroutine,
// concurrently with those.
type StateMachine struct {
	// historySize is the most changes hist keeps (WithHistorySize).
	historySize int
	// retentionMs is how long hist keeps a change, by entry time
	// (WithHistoryRetention); 0: no limit.
	retentionMs uint64

	mu struct {
		sync.RWMutex
		applied uint64
		// lastSeq is the last seq handed out (databend-meta's Sequences
		// generic-kv): only puts take one.
		lastSeq uint64
		// revision is the revision of the last entry that changed keys;
		// FirstRevision while none has.
		revision uint64
		// nowMs is the largest entry time applied (Unix ms), for
		// information: a command runs at its own entry's time (entryMs).
		nowMs uint64
		// entryMs is the time of the entry being applied.
		entryMs uint64
		// tree holds the keys, ordered by key. Readers that iterate take
		// an O(1) Copy under the write lock (Copy mutates the source tree).
		tree *btree.BTreeG[kv]
		// exp indexes the keys with an expiry by (expireAt, key).
		exp *btree.BTreeG[expKey]
		// leases are the leases by id; leaseExp indexes them by (expiry,
		// id). Maps are never iterated where the order reaches the state.
		leases   map[int64]*lease
		leaseExp *btree.BTreeG[leaseExpKey]
		// members is sorted by id.
		members []member
		// membership is the log id of the conf change entry applied last
		// (databend-meta's LastMembership); zero when none was.
		membership LogID
		// changes are the changes of the current Apply (reused buffer).
		changes []change
		// hist holds the most recent changes, up to historySize.
		hist history
	}
}

// New returns an empty state machine at applied index 0.
func New(opts ...Option) *StateMachine {
	o := options{historySize: DefaultHistorySize, retentionMs: uint64(DefaultHistoryRetention.Milliseconds())}
	for _, opt := range opts {
		opt(&o)
	}
	sm := &StateMachine{historySize: o.historySize, retentionMs: o.retentionMs}
	sm.mu.revision = FirstRevision
	sm.mu.tree = newTree()
	sm.mu.exp = newExpIndex()
	sm.mu.leases = map[int64]*lease{}
	sm.mu.leaseExp = newLeaseExpIndex()
	return sm
}

func newTree() *btree.BTreeG[kv] {
	return btree.NewBTreeGOptions(kvLess, btree.Options{NoLocks: true})
}

func newExpIndex() *btree.BTreeG[expKey] {
	return btree.NewBTreeGOptions(expLess, btree.Options{NoLocks: true})
}

// Get returns a copy of the value of key, or nil when the key is absent or
// expired at nowMs (the caller's wall clock, Unix ms).
func (sm *StateMachine) Get(key string, nowMs uint64) *metapb.SeqV {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.getLocked(key, nowMs)
}

func (sm *StateMachine) getLocked(key string, nowMs uint64) *metapb.SeqV {
	v, ok := sm.mu.tree.Get(keyOnly(key))
	if !ok || v.expired(nowMs) {
		return nil
	}
	return v.seqV()
}

// MGet returns one KV per key, in the order of keys, read at one point of
// the log. Value is nil for a key that is absent or expired at nowMs.
func (sm *StateMachine) MGet(keys []string, nowMs uint64) []*metapb.KV {
	out := make([]*metapb.KV, len(keys))
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	for i, k := range keys {
		out[i] = &metapb.KV{Key: k, Value: sm.getLocked(k, nowMs)}
	}
	return out
}

// List calls fn for every key with prefix that is not expired at nowMs, in
// ascending key order, at most limit times (0: no limit), until fn returns
// false. It iterates an O(1) copy of the tree taken at one point of the log,
// so no lock is held while fn runs and fn may call any method. fn owns the
// KV it receives.
func (sm *StateMachine) List(prefix string, limit uint64, nowMs uint64, fn func(*metapb.KV) bool) {
	sm.mu.Lock()
	tree := sm.mu.tree.Copy()
	sm.mu.Unlock()

	var n uint64
	tree.Ascend(keyOnly(prefix), func(v kv) bool {
		if !strings.HasPrefix(v.key(), prefix) {
			return false
		}
		if v.expired(nowMs) {
			return true
		}
		if !fn(&metapb.KV{Key: v.key(), Value: v.seqV()}) {
			return false
		}
		n++
		return limit == 0 || n < limit
	})
}

// Range calls fn for every key in [key, keyEnd) that is not expired at
// nowMs, in ascending key order, until fn returns false; keyEnd "" means
// the key alone and "\x00" every key >= key (etcd's range_end; keys are
// any bytes, so no other end is above them all). Like List, it iterates
// an O(1) copy taken at one point of the log and holds no lock while fn
// runs; fn owns the KV it receives.
func (sm *StateMachine) Range(key, keyEnd string, nowMs uint64, fn func(*metapb.KV) bool) {
	sm.mu.Lock()
	tree := sm.mu.tree.Copy()
	sm.mu.Unlock()
	rangeTree(tree, key, keyEnd, nowMs, fn)
}

func rangeTree(tree *btree.BTreeG[kv], key, keyEnd string, nowMs uint64, fn func(*metapb.KV) bool) {
	keyBounds{key: key, end: keyEnd}.ascend(tree, func(v kv) bool {
		if v.expired(nowMs) {
			return true
		}
		return fn(&metapb.KV{Key: v.key(), Value: v.seqV()})
	})
}

// View is a read-only copy of the keys at one point of the log, taken in
// O(1) by StateMachine.View. Apply never changes what a View sees. Its
// methods are safe from any goroutine.
type View struct {
	index    uint64
	lastSeq  uint64
	revision uint64
	nowMs    uint64
	tree     *btree.BTreeG[kv]
}

// View returns a read-only copy of the current state. A watcher sends the
// values it ranges as of exactly Revision, then the events from Revision
// + 1 (EventsBetween, then the live ones). It takes the write lock for an O(1)
// tree copy; later Applies copy the tree nodes they change.
func (sm *StateMachine) View() *View {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	v := sm.viewLocked()
	return &v
}

func (sm *StateMachine) viewLocked() View {
	return View{index: sm.mu.applied, lastSeq: sm.mu.lastSeq, revision: sm.mu.revision, nowMs: sm.mu.nowMs, tree: sm.mu.tree.Copy()}
}

// LastSeq returns the last seq handed out when the view was made.
func (v *View) LastSeq() uint64 { return v.lastSeq }

// Revision returns the revision when the view was made: the view holds
// every change up to it and none after.
func (v *View) Revision() uint64 { return v.revision }

// AppliedIndex returns the applied index when the view was made.
func (v *View) AppliedIndex() uint64 { return v.index }

// Range is StateMachine.Range on the view: keys in [key, keyEnd) (keyEnd ""
// = the key alone, "\x00" = every key >= key) not expired at nowMs,
// ascending, until fn returns false.
func (v *View) Range(key, keyEnd string, nowMs uint64, fn func(*metapb.KV) bool) {
	rangeTree(v.tree, key, keyEnd, nowMs, fn)
}

// AppliedIndex returns the index of the last applied log entry.
func (sm *StateMachine) AppliedIndex() uint64 {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.mu.applied
}

// LastSeq returns the last sequence number handed out (0: none yet):
// databend-meta's Sequences generic-kv. The next put takes LastSeq + 1.
func (sm *StateMachine) LastSeq() uint64 {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.mu.lastSeq
}

// Revision returns the revision of the last entry that changed keys
// (FirstRevision: none yet).
func (sm *StateMachine) Revision() uint64 {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.mu.revision
}

// NowMs returns the largest entry time applied so far (Unix ms).
func (sm *StateMachine) NowMs() uint64 {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.mu.nowMs
}

// KeyCount returns the number of stored keys, including keys that have
// expired but are not removed yet (removal happens at the next Apply).
func (sm *StateMachine) KeyCount() int {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.mu.tree.Len()
}

// LogID names a raft log entry: its index and the term it was written
// in.
type LogID struct {
	Index, Term uint64
}

// Membership returns copies of the members, sorted by id, and the log id
// of the conf change entry applied last (databend-meta's LastMembership),
// read together. The log id is zero when no conf change was applied; a
// restored snapshot carries its own (an import sets it).
func (sm *StateMachine) Membership() ([]*metapb.Node, LogID) {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return membersToNodes(sm.mu.members), sm.mu.membership
}

// Nodes returns copies of the members, sorted by id.
func (sm *StateMachine) Nodes() []*metapb.Node {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return membersToNodes(sm.mu.members)
}

func membersToNodes(ms []member) []*metapb.Node {
	out := make([]*metapb.Node, len(ms))
	for i, m := range ms {
		out[i] = m.node()
	}
	return out
}

var crcECMA = crc64.MakeTable(crc64.ECMA)

// Hash returns a deterministic 64-bit hash of the whole state: every key
// with its data and meta, the last seq, the revision, the clock (NowMs),
// the member table and its log id, and the event history; not the applied index. Two nodes that applied the same log up to the same index (with
// the same history size) have the same Hash. It is the CRC-64 (ECMA) of the
// snapshot encoding with the applied index written as 0, computed on a copy
// without holding the lock; O(state size).
func (sm *StateMachine) Hash() uint64 {
	s := sm.Snapshot()
	s.index = 0
	h := crc64.New(crcECMA)
	// Writing to a hash.Hash never fails.
	_, _ = s.WriteTo(h)
	return h.Sum64()
}
