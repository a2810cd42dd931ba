package server

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// Leases (etcd's) are replicated state (internal/statemachine: grant,
// revoke, keep-alive through the log). What is not in the log is when a
// lease, or a native key, is due: the leader's lessor loop proposes an
// ExpireRequest when something is, and, once it becomes leader, a
// LeaseExtendRequest first, which gives every lease at least its TTL from
// then (etcd's lessor Promote): the time without a leader does not count
// against a lease.

// MinLeaseTTL is the smallest TTL, in seconds, a lease is granted: a
// shorter one gets it (etcd's minLeaseTTL: 1.5 election timeouts, rounded
// up to a second), so that a lease outlives a leader election.
func (s *Server) MinLeaseTTL() int64 {
	min := (3*s.electionTimeout()/2 + time.Second - 1) / time.Second
	return max(int64(min), 1)
}

// LeaseGrant grants a lease of ttl seconds (raised to MinLeaseTTL) with id,
// or, when id is 0, an id of its choosing, and returns the lease's id and
// TTL. Errors: statemachine.ErrLeaseExists for an id in use,
// statemachine.ErrLeaseTTLTooLarge, and propose's.
func (s *Server) LeaseGrant(ctx context.Context, id, ttl int64) (*statemachine.LeaseReply, error) {
	if ttl > statemachine.MaxLeaseTTL {
		return nil, fmt.Errorf("%w: TTL %d s, at most %d s", statemachine.ErrLeaseTTLTooLarge, ttl, statemachine.MaxLeaseTTL)
	}
	ttl = max(ttl, s.MinLeaseTTL())
	choose := id == 0
	for attempt := 0; ; attempt++ {
		if choose {
			id = rand.Int64N(1<<63-1) + 1
		}
		res, err := s.propose(ctx, &peerpb.Command{Body: &peerpb.Command_LeaseGrant{
			LeaseGrant: &peerpb.LeaseGrantRequest{Id: id, Ttl: ttl}}})
		if choose && errors.Is(err, statemachine.ErrLeaseExists) && attempt < 3 {
			continue // a random id taken: draw another
		}
		if err != nil {
			return nil, err
		}
		return res.Lease, nil
	}
}

// LeaseRevoke deletes lease id and every key attached to it, in one
// revision, which it returns. Errors: statemachine.ErrLeaseNotFound, and
// propose's.
func (s *Server) LeaseRevoke(ctx context.Context, id int64) (uint64, error) {
	res, err := s.propose(ctx, &peerpb.Command{Body: &peerpb.Command_LeaseRevoke{
		LeaseRevoke: &peerpb.LeaseRevokeRequest{Id: id}}})
	if err != nil {
		return 0, err
	}
	return res.Lease.Revision, nil
}

// LeaseKeepAlive renews lease id and returns its TTL. The leader renews
// in memory, as etcd's lessor does (renewInMemory), or through the log
// for a lease it cannot renew so. A follower forwards the keep-alive to
// the leader, as etcd's does, and renews through the log when it gets no
// answer: no leader known, or any error from the leader within an
// election timeout (unreachable, no longer the leader, a barrier or a
// write that failed there, an older version without the call). Errors:
// statemachine.ErrLeaseNotFound, and propose's.
func (s *Server) LeaseKeepAlive(ctx context.Context, id int64) (int64, error) {
	if n := s.node.Load(); n == nil || n.IsLeader() {
		return s.leaderKeepAlive(ctx, id)
	}
	if lead := s.leaderToAsk(); lead != 0 {
		reply, err := s.forwardLease(ctx, lead, id, peerpb.LeaseForward_KEEP_ALIVE)
		switch {
		case err == nil && reply.GetFound():
			return reply.GetTtl(), nil
		case err == nil:
			return 0, fmt.Errorf("%w: lease %d (the leader, node %d, has none)", statemachine.ErrLeaseNotFound, id, lead)
		case ctx.Err() != nil:
			return 0, ctx.Err()
		}
		s.lg.Debug("keep-alive not answered by the leader; renewing through the log", "lease", id, "leader", lead, "err", err)
	}
	return s.keepAliveLogged(ctx, id)
}

// leaderToAsk returns the leader a follower forwards lease calls to: 0
// on the leader, without a known leader, or without peers.
func (s *Server) leaderToAsk() uint64 {
	n := s.node.Load()
	if n == nil || n.IsLeader() || s.peers == nil {
		return 0
	}
	return n.Leader()
}

// forwardLease asks lead, the leader this node knows, to answer a lease
// call (PeerLease on lead), waiting at most an election timeout: after
// that the leader this node knows is likely gone.
func (s *Server) forwardLease(ctx context.Context, lead uint64, id int64, op peerpb.LeaseForward_Op) (*peerpb.LeaseForwardReply, error) {
	ctx, cancel := context.WithTimeout(ctx, s.electionTimeout())
	defer cancel()
	return s.peers.ForwardLease(ctx, lead, &peerpb.LeaseForward{Id: id, Op: op})
}

// PeerLease answers a lease call that peer from forwarded for its client
// (transport.Handler), on the leader: KEEP_ALIVE as LeaseKeepAlive does
// here, TIME_TO_LIVE with the time until this node expires the lease
// (its replicated expiry or its latest promise, whichever is later).
// found is false when the lease does not exist. A node that is not the
// leader refuses it with a NotLeaderError.
func (s *Server) PeerLease(ctx context.Context, from uint64, req *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
	n := s.node.Load()
	if n == nil || !n.IsLeader() {
		lead := uint64(0)
		if n != nil {
			lead = n.Leader()
		}
		return nil, &NotLeaderError{ID: s.cfg.ID, Leader: lead}
	}
	id := req.GetId()
	switch req.GetOp() {
	case peerpb.LeaseForward_KEEP_ALIVE:
		ttl, err := s.leaderKeepAlive(ctx, id)
		if errors.Is(err, statemachine.ErrLeaseNotFound) {
			return &peerpb.LeaseForwardReply{}, nil
		}
		if err != nil {
			return nil, err
		}
		return &peerpb.LeaseForwardReply{Found: true, Ttl: ttl}, nil
	case peerpb.LeaseForward_TIME_TO_LIVE:
		_, expireAt, found := s.sm.LeaseExpiry(id)
		if !found {
			return &peerpb.LeaseForwardReply{}, nil
		}
		reply := &peerpb.LeaseForwardReply{Found: true}
		if at, now := max(expireAt, s.promisedExpiry(id)), s.nowMs(); at > now {
			reply.RemainingMs = int64(at - now)
		}
		return reply, nil
	}
	return nil, fmt.Errorf("node %d does not serve lease call %v from node %d (no op, or a newer version's)", s.cfg.ID, req.GetOp(), from)
}

// leaderKeepAlive renews lease id on this node: from memory when it is the
// leader and has extended the leases in its term, else through the log.
// A read barrier that does not complete (ctx ended, or the node stopped)
// is the call's error: no entry is proposed for a caller that gave up.
func (s *Server) leaderKeepAlive(ctx context.Context, id int64) (int64, error) {
	if n := s.node.Load(); n != nil && n.IsLeader() && s.leaseTerm.Load() == n.Term() {
		term, now := n.Term(), s.nowMs()
		// As etcd's leader does (ensureLeadership): a read barrier first,
		// so that a leader cut off from the others, which a successor may
		// have replaced already, promises nothing. The promise counts from
		// before it, so it ends before any successor's lease extension.
		if err := s.linearizableRead(ctx); err != nil {
			return 0, err
		}
		if ttl, ok := s.renewInMemory(id, term, now); ok {
			return ttl, nil
		}
	}
	return s.keepAliveLogged(ctx, id)
}

// keepAliveLogged renews lease id through the log: it expires its TTL
// after the entry's time.
func (s *Server) keepAliveLogged(ctx context.Context, id int64) (int64, error) {
	res, err := s.propose(ctx, &peerpb.Command{Body: &peerpb.Command_LeaseKeepAlive{
		LeaseKeepAlive: &peerpb.LeaseKeepAliveRequest{Id: id}}})
	if err != nil {
		return 0, err
	}
	return res.Lease.TTL, nil
}

// renewals are the keep-alives the leader of term answered from memory:
// by lease id, the expiry (Unix ms, this node's clock) each promised. A
// promise reaches the log (a LeaseKeepAliveRequest, keepAliveLogged) once
// the lease's replicated expiry is within half its TTL, so before it is
// due, and the lessor does that and then proposes an expiry under mu,
// which renewInMemory holds too: an expiry never revokes a lease that a
// keep-alive was told is alive. A new leader forgets them: its lease
// extension gives every lease its TTL from then, which covers every
// promise an earlier leader made.
type renewals struct {
	mu       sync.Mutex
	term     uint64
	promised map[int64]uint64
}

// renewInMemory renews lease id without a log entry, promising it
// expires no earlier than now + its TTL, and returns its TTL. ok is false,
// and the caller renews through the log, unless this node is still the
// leader of term and has extended the leases in it (lessorTick), and the
// lease is applied here and not past its expiry (then it is revoked or
// renewed in log order).
func (s *Server) renewInMemory(id int64, term, now uint64) (ttl int64, ok bool) {
	n := s.node.Load()
	if n == nil || !n.IsLeader() || n.Term() != term || s.leaseTerm.Load() != term {
		return 0, false
	}
	r := &s.renewals
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.term != term {
		r.term, r.promised = term, map[int64]uint64{}
	}
	ttl, expireAt, found := s.sm.LeaseExpiry(id)
	if !found {
		return 0, false
	}
	if max(expireAt, r.promised[id]) <= now {
		return 0, false
	}
	r.promised[id] = max(r.promised[id], now+uint64(ttl)*1000)
	return ttl, true
}

// promisedExpiry returns the expiry this node promised lease id as the
// leader of its current term (renewInMemory), or 0.
func (s *Server) promisedExpiry(id int64) uint64 {
	n := s.node.Load()
	if n == nil || !n.IsLeader() {
		return 0
	}
	r := &s.renewals
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.term != n.Term() {
		return 0
	}
	return r.promised[id]
}

// flushRenewalsLocked puts into the log (keepAliveLogged, all at once)
// the promises of term (r.mu held) that are past their lease's replicated
// expiry while that expiry is within half the lease's TTL. A promise that
// reached the log, or whose lease is gone, is forgotten. It returns the
// first error but a gone lease's.
func (s *Server) flushRenewalsLocked(ctx context.Context, term uint64) error {
	r := &s.renewals
	if r.term != term {
		return nil
	}
	now := s.nowMs()
	var due []int64
	for id, promised := range r.promised {
		ttl, expireAt, found := s.sm.LeaseExpiry(id)
		switch {
		case !found || promised <= expireAt:
			delete(r.promised, id)
		case expireAt <= now+uint64(ttl)*1000/2:
			due = append(due, id)
		}
	}
	errs := make([]error, len(due))
	var wg sync.WaitGroup
	for i, id := range due {
		wg.Go(func() {
			if _, err := s.keepAliveLogged(ctx, id); err != nil && !errors.Is(err, statemachine.ErrLeaseNotFound) {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	for i, id := range due {
		if errs[i] != nil {
			return errs[i]
		}
		delete(r.promised, id)
	}
	return nil
}

// LeaseTimeToLive reads lease id after the read barrier of c: its
// granted TTL, its expiry, its keys, and the time left by this node's
// clock (0 once past). found is false when there is no such lease. It
// returns the revision read at. A linearizable call on a follower also
// asks the leader how long until it expires the lease, as etcd's
// follower does: the leader's promises to keep-alives are not in the
// replicated expiry until half the TTL is left. Without its answer
// within an election timeout, the time left is the replicated expiry's.
func (s *Server) LeaseTimeToLive(ctx context.Context, id int64, c metapb.ReadConsistency) (info statemachine.LeaseInfo, left time.Duration, found bool, rev uint64, err error) {
	if err := s.barrier(ctx, c); err != nil {
		return info, 0, false, 0, err
	}
	rev = s.sm.Revision()
	info, found = s.sm.Lease(id)
	if !found {
		return info, 0, false, rev, nil
	}
	info.ExpireAtMs = max(info.ExpireAtMs, s.promisedExpiry(id))
	if now := s.nowMs(); info.ExpireAtMs > now {
		left = time.Duration(info.ExpireAtMs-now) * time.Millisecond
	}
	if lead := s.leaderToAsk(); c != metapb.ReadConsistency_SERIALIZABLE && lead != 0 {
		reply, err := s.forwardLease(ctx, lead, id, peerpb.LeaseForward_TIME_TO_LIVE)
		if err == nil && reply.GetFound() {
			if d := time.Duration(reply.GetRemainingMs()) * time.Millisecond; d > left {
				left = d
				info.ExpireAtMs = s.nowMs() + uint64(reply.GetRemainingMs())
			}
		} else if err != nil {
			s.lg.Debug("time to live not answered by the leader; the replicated expiry's", "lease", id, "err", err)
		}
	}
	return info, left, true, rev, nil
}

// Leases lists every lease, ascending id, after the read barrier of c, and
// the revision read at.
func (s *Server) Leases(ctx context.Context, c metapb.ReadConsistency) ([]statemachine.LeaseInfo, uint64, error) {
	if err := s.barrier(ctx, c); err != nil {
		return nil, 0, err
	}
	rev := s.sm.Revision()
	return s.sm.Leases(), rev, nil
}

// lessorLoop runs on every node; it acts only on the leader (lessorTick),
// at every raft tick (the tick clock, tickclock.go, from t on): an expiry
// is proposed within a tick of being due. A tick handled is work under way
// for Server.Settle until lessorTick returns.
func (s *Server) lessorLoop(t *tickTimer) {
	for {
		select {
		case <-t.C:
			s.lessorTick()
			t = s.clock.renew(t, 1)
		case <-s.stopC:
			s.clock.release(t)
			return
		}
	}
}

// lessorTick, on the leader: once per term, after a linearizable barrier
// (every entry of earlier terms applied, so every lease known), propose a
// LeaseExtendRequest if there are leases; then put into the log the
// in-memory renewals whose lease's replicated expiry is within half its
// TTL, and, when a key or a lease is due, propose an ExpireRequest.
// Proposals are waited for before the next step; a failure is tried again
// at the next tick.
func (s *Server) lessorTick() {
	n := s.node.Load()
	if n == nil || !n.IsLeader() {
		return
	}
	term := n.Term()
	timeout := max(s.electionTimeout(), time.Second)
	// Stop ends the waits below too: they return when the node stops.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if s.leaseTerm.Load() != term {
		if err := s.linearizableRead(ctx); err != nil {
			return
		}
		if !n.IsLeader() || n.Term() != term {
			return
		}
		if s.sm.LeaseCount() > 0 {
			if _, err := s.propose(ctx, &peerpb.Command{Body: &peerpb.Command_LeaseExtend{
				LeaseExtend: &peerpb.LeaseExtendRequest{Term: term}}}); err != nil {
				s.lg.Debug("lease extension not applied; retrying", "term", term, "err", err)
				return
			}
			s.lg.Info("extended the leases as the new leader", "term", term, "leases", s.sm.LeaseCount())
		}
		s.leaseTerm.Store(term)
	}
	r := &s.renewals
	r.mu.Lock()
	defer r.mu.Unlock()
	// Keep-alives answered from memory wait from here until the expiry
	// is applied (see renewals).
	if err := s.flushRenewalsLocked(ctx, term); err != nil {
		s.lg.Debug("lease renewals not applied; retrying", "err", err)
		return
	}
	if !s.sm.ExpiryDue(s.nowMs(), true) {
		return
	}
	if _, err := s.propose(ctx, &peerpb.Command{Body: &peerpb.Command_Expire{Expire: &peerpb.ExpireRequest{}}}); err != nil {
		s.lg.Debug("expiry not applied; retrying", "err", err)
	}
}
