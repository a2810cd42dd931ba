package statemachine

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/tidwall/btree"

	"github.com/metasrv/metasrv/api/peerpb"
)

// MaxLeaseTTL is the largest TTL, in seconds, a lease may be granted
// (etcd's lease.MaxLeaseTTL).
const MaxLeaseTTL = 9_000_000_000

// lease is one replicated lease (etcd's): its id, the TTL it was granted
// (seconds), its expiry in Unix ms of the entries' clock, and the keys
// attached to it (an index derived from the keys' meta, rebuilt on
// Restore).
type lease struct {
	id       int64
	ttl      int64
	expireAt uint64
	keys     map[string]struct{}
}

// leaseExpKey orders the leases by (expiry, id): the order Expire revokes
// them in.
type leaseExpKey struct {
	at uint64
	id int64
}

func leaseExpLess(a, b leaseExpKey) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.id < b.id
}

func newLeaseExpIndex() *btree.BTreeG[leaseExpKey] {
	return btree.NewBTreeGOptions(leaseExpLess, btree.Options{NoLocks: true})
}

// LeaseReply is the result of a lease command.
type LeaseReply struct {
	// ID and TTL (seconds, as granted) of the lease granted or renewed.
	ID, TTL int64
	// Revision is the store's revision after the entry (a revoke's own
	// when it deleted keys).
	Revision uint64
}

// LeaseInfo describes a lease (StateMachine.Lease, Leases).
type LeaseInfo struct {
	ID int64
	// TTL is the granted TTL in seconds.
	TTL int64
	// ExpireAtMs is the expiry in Unix ms of the entries' clock: the
	// leader revokes the lease once its clock is at or past it.
	ExpireAtMs uint64
	// Keys are the attached keys, ascending (Lease only).
	Keys []string
}

// leaseTTLMs returns ttl seconds in ms after atMs, saturating.
func leaseExpiry(atMs uint64, ttl int64) uint64 {
	d := uint64(max(ttl, 0)) * 1000
	if d > math.MaxUint64-atMs {
		return math.MaxUint64
	}
	return atMs + d
}

// setLeaseExpiryLocked moves lease l's expiry to at, in the index too.
func (sm *StateMachine) setLeaseExpiryLocked(l *lease, at uint64) {
	sm.mu.leaseExp.Delete(leaseExpKey{at: l.expireAt, id: l.id})
	l.expireAt = at
	sm.mu.leaseExp.Set(leaseExpKey{at: at, id: l.id})
}

// grantLocked creates the lease of req, expiring at the entry's time +
// its TTL.
func (sm *StateMachine) grantLocked(req *peerpb.LeaseGrantRequest) (*LeaseReply, error) {
	id, ttl := req.GetId(), req.GetTtl()
	switch {
	case id == 0:
		return nil, fmt.Errorf("%w: lease id 0 is no lease; choose another id", ErrInvalidLease)
	case ttl > MaxLeaseTTL:
		return nil, fmt.Errorf("%w: TTL %d s, at most %d s", ErrLeaseTTLTooLarge, ttl, MaxLeaseTTL)
	case ttl < 1:
		return nil, fmt.Errorf("%w: TTL %d s, at least 1 s", ErrInvalidLease, ttl)
	case sm.mu.leases[id] != nil:
		return nil, fmt.Errorf("%w: lease %d", ErrLeaseExists, id)
	}
	l := &lease{id: id, ttl: ttl, keys: map[string]struct{}{}}
	sm.mu.leases[id] = l
	l.expireAt = leaseExpiry(sm.mu.entryMs, ttl)
	sm.mu.leaseExp.Set(leaseExpKey{at: l.expireAt, id: id})
	return &LeaseReply{ID: id, TTL: ttl}, nil
}

// keepAliveLocked renews lease id: it expires at the entry's time + its
// TTL. A lease past its expiry that is not revoked yet is renewed too:
// only the leader's Expire (or a Revoke) ends a lease.
func (sm *StateMachine) keepAliveLocked(id int64) (*LeaseReply, error) {
	l := sm.mu.leases[id]
	if l == nil {
		return nil, fmt.Errorf("%w: lease %d", ErrLeaseNotFound, id)
	}
	sm.setLeaseExpiryLocked(l, leaseExpiry(sm.mu.entryMs, l.ttl))
	return &LeaseReply{ID: id, TTL: l.ttl}, nil
}

// revokeLocked deletes lease id and every key attached to it, in key
// order, in the entry's one revision.
func (sm *StateMachine) revokeLocked(id int64) (*LeaseReply, error) {
	l := sm.mu.leases[id]
	if l == nil {
		return nil, fmt.Errorf("%w: lease %d", ErrLeaseNotFound, id)
	}
	keys := make([]string, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v, ok := sm.mu.tree.Get(keyOnly(k)); ok {
			sm.deleteLocked(v)
		}
	}
	sm.mu.leaseExp.Delete(leaseExpKey{at: l.expireAt, id: id})
	delete(sm.mu.leases, id)
	return &LeaseReply{ID: id, TTL: l.ttl}, nil
}

// extendLocked gives every lease at least its TTL from the entry's time
// (a new leader's LeaseExtendRequest, etcd's lessor Promote).
func (sm *StateMachine) extendLocked() {
	var ids []int64
	sm.mu.leaseExp.Scan(func(e leaseExpKey) bool {
		ids = append(ids, e.id)
		return true
	})
	for _, id := range ids {
		l := sm.mu.leases[id]
		if at := leaseExpiry(sm.mu.entryMs, l.ttl); at > l.expireAt {
			sm.setLeaseExpiryLocked(l, at)
		}
	}
}

// expireLeasesLocked revokes every lease whose expiry is at or before the
// entry's time, in (expiry, id) order (an ExpireRequest).
func (sm *StateMachine) expireLeasesLocked() {
	for {
		e, ok := sm.mu.leaseExp.Min()
		if !ok || e.at > sm.mu.entryMs {
			return
		}
		// Cannot fail: the index holds only existing leases.
		_, _ = sm.revokeLocked(e.id)
	}
}

// attachLocked adds the present value v to its lease's keys.
func (sm *StateMachine) attachLocked(v kv) {
	if id := v.meta().leaseID(); id != 0 {
		if l := sm.mu.leases[id]; l != nil {
			l.keys[v.key()] = struct{}{}
		}
	}
}

// detachLocked removes the present value v from its lease's keys.
func (sm *StateMachine) detachLocked(v kv) {
	if id := v.meta().leaseID(); id != 0 {
		if l := sm.mu.leases[id]; l != nil {
			delete(l.keys, v.key())
		}
	}
}

// leaseLocked returns the lease a put attaches to: the key's own
// (ignoreLease; the key must exist) or id, which must exist (0: none).
func (sm *StateMachine) putLeaseLocked(key string, prev kv, id int64, ignoreLease bool) (int64, error) {
	if ignoreLease {
		if !prev.present() {
			return 0, fmt.Errorf("%w: put key %q with ignore_lease", ErrKeyNotFound, key)
		}
		return prev.meta().leaseID(), nil
	}
	if id != 0 && sm.mu.leases[id] == nil {
		return 0, fmt.Errorf("%w: put key %q with lease %d", ErrLeaseNotFound, key, id)
	}
	return id, nil
}

// Lease returns lease id with its attached keys, and false when there is
// no such lease.
func (sm *StateMachine) Lease(id int64) (LeaseInfo, bool) {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	l := sm.mu.leases[id]
	if l == nil {
		return LeaseInfo{}, false
	}
	info := LeaseInfo{ID: id, TTL: l.ttl, ExpireAtMs: l.expireAt, Keys: make([]string, 0, len(l.keys))}
	for k := range l.keys {
		info.Keys = append(info.Keys, k)
	}
	slices.Sort(info.Keys)
	return info, true
}

// LeaseExpiry returns lease id's TTL (seconds) and expiry (Unix ms), and
// false when there is no such lease: Lease without the keys, O(1).
func (sm *StateMachine) LeaseExpiry(id int64) (ttl int64, expireAtMs uint64, ok bool) {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	l := sm.mu.leases[id]
	if l == nil {
		return 0, 0, false
	}
	return l.ttl, l.expireAt, true
}

// Leases returns every lease, ascending id, without their keys.
func (sm *StateMachine) Leases() []LeaseInfo {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return sm.leaseRecsLocked()
}

func (sm *StateMachine) leaseRecsLocked() []LeaseInfo {
	out := make([]LeaseInfo, 0, len(sm.mu.leases))
	for _, l := range sm.mu.leases {
		out = append(out, LeaseInfo{ID: l.id, TTL: l.ttl, ExpireAtMs: l.expireAt})
	}
	slices.SortFunc(out, func(a, b LeaseInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// LeaseCount returns the number of leases.
func (sm *StateMachine) LeaseCount() int {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	return len(sm.mu.leases)
}

// ExpiryDue reports whether an ExpireRequest entry of time nowMs would
// change something: a key whose expiry is before nowMs, or, with leases,
// a lease whose expiry is at or before it. The leader proposes one when
// it is (server's lessor).
func (sm *StateMachine) ExpiryDue(nowMs uint64, leases bool) bool {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	if e, ok := sm.mu.exp.Min(); ok && e.at < nowMs {
		return true
	}
	if !leases {
		return false
	}
	e, ok := sm.mu.leaseExp.Min()
	return ok && e.at <= nowMs
}

// NextExpiry returns the earliest expiry of a key or (with leases) a
// lease, in Unix ms, and false when nothing expires.
func (sm *StateMachine) NextExpiry(leases bool) (uint64, bool) {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	next, found := uint64(math.MaxUint64), false
	if e, ok := sm.mu.exp.Min(); ok {
		next, found = e.at+1, true
	}
	if leases {
		if e, ok := sm.mu.leaseExp.Min(); ok && e.at < next {
			next, found = e.at, true
		}
	}
	return next, found
}

// restoreLeases builds the lease table of recs and attaches the keys of
// tree to it.
func restoreLeases(recs []LeaseInfo, tree *btree.BTreeG[kv]) (map[int64]*lease, *btree.BTreeG[leaseExpKey]) {
	leases := make(map[int64]*lease, len(recs))
	exp := newLeaseExpIndex()
	for _, r := range recs {
		leases[r.ID] = &lease{id: r.ID, ttl: r.TTL, expireAt: r.ExpireAtMs, keys: map[string]struct{}{}}
		exp.Set(leaseExpKey{at: r.ExpireAtMs, id: r.ID})
	}
	if len(recs) > 0 {
		tree.Scan(func(v kv) bool {
			if id := v.meta().leaseID(); id != 0 {
				leases[id].keys[v.key()] = struct{}{}
			}
			return true
		})
	}
	return leases, exp
}
