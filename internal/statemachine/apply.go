package statemachine

import (
	"fmt"
	"math"
	"slices"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

// Result is the outcome of applying one command. Exactly one of Upsert,
// Txn, Compact, Lease and Err is set; Events may accompany any of them.
type Result struct {
	// Upsert is the reply of an upsert command.
	Upsert *metapb.UpsertReply
	// Txn is the reply of a transaction.
	Txn *metapb.TxnReply
	// Compact is the reply of a compact command.
	Compact *CompactReply
	// Lease is the reply of a lease command (grant, revoke, keep-alive,
	// extend) or of an expire command (zero).
	Lease *LeaseReply
	// Err is a deterministic rejection (wrapping ErrEmptyCommand,
	// ErrInvalidUpsert, ErrInvalidTxn) or ErrStaleIndex; the state did not
	// change apart from the applied index, the clock and the expiry sweep.
	Err error
	// Events are every change this entry made, in the order made, all
	// with the entry's revision: first the removals of expired keys swept
	// at its start, then the changes of the command. A rejected command
	// may still have sweep events; a stale index has none. The caller owns
	// them; they are the same on every node and also enter the history
	// (EventsBetween).
	Events []*metapb.Event
}

// Apply applies the committed normal entry at log index, whose header
// carried timeMs (the leader's clock), and returns the result for the
// proposer. It never returns nil.
//
// In order: the applied index becomes index; every key whose expiry is
// before timeMs is removed (none when timeMs is 0), in (expiry, seq)
// order; then cmd is executed at timeMs; if the entry changed any key it
// takes the next revision, and its changes become Result.Events and enter
// the history. A rejected command still advances the index and still
// sweeps. An index at or below the applied index changes nothing and
// returns ErrStaleIndex.
func (sm *StateMachine) Apply(index, timeMs uint64, cmd *peerpb.Command) *Result {
	return sm.ApplyWith(index, timeMs, cmd, ApplyOptions{})
}

// ApplyOptions leave out of a Result what its caller does not need. The
// state reached, the history and Err are the same either way: only the
// copies handed out are saved.
type ApplyOptions struct {
	// NoReply: no one waits for the reply of an upsert (this node did not
	// propose it): Result.Upsert says only whether it applied, without the
	// values. A transaction's reply is built whatever this says.
	NoReply bool
	// NoEvents: Result.Events stays nil (no one watches).
	NoEvents bool
}

// ApplyWith is Apply, leaving out of the Result what o says.
func (sm *StateMachine) ApplyWith(index, timeMs uint64, cmd *peerpb.Command, o ApplyOptions) *Result {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if err := sm.advanceLocked(index); err != nil {
		return &Result{Err: err}
	}
	sm.resetChangesLocked()
	sm.mu.nowMs = max(sm.mu.nowMs, timeMs)
	sm.mu.entryMs = timeMs
	sm.sweepLocked()
	res := sm.execLocked(cmd, o.NoReply)
	res.Events = sm.recordChangesLocked(!o.NoEvents)
	sm.pruneLocked()
	if res.Txn != nil {
		res.Txn.Revision = sm.mu.revision
	}
	if res.Lease != nil {
		res.Lease.Revision = sm.mu.revision
	}
	return res
}

// entryRevLocked returns the revision of the entry being applied: the
// next one. It is taken (becomes Revision) only if the entry changes a
// key, at its end (recordChangesLocked).
func (sm *StateMachine) entryRevLocked() uint64 { return sm.mu.revision + 1 }

// execLocked executes the body of cmd.
func (sm *StateMachine) execLocked(cmd *peerpb.Command, noReply bool) *Result {
	switch body := cmd.GetBody().(type) {
	case *peerpb.Command_Upsert:
		if body.Upsert == nil {
			return &Result{Err: fmt.Errorf("%w: upsert body is empty", ErrEmptyCommand)}
		}
		reply, err := sm.upsertLocked(body.Upsert, noReply, cmd.GetMaxReplyBytes())
		if err != nil {
			return &Result{Err: err}
		}
		return &Result{Upsert: reply}
	case *peerpb.Command_Txn:
		if body.Txn == nil {
			return &Result{Err: fmt.Errorf("%w: txn body is empty", ErrEmptyCommand)}
		}
		reply, err := sm.txnLocked(body.Txn, cmd.GetMaxReplyBytes())
		if err != nil {
			return &Result{Err: err}
		}
		return &Result{Txn: reply}
	case *peerpb.Command_Compact:
		reply, err := sm.compactLocked(body.Compact)
		if err != nil {
			return &Result{Err: err}
		}
		return &Result{Compact: reply}
	case *peerpb.Command_LeaseGrant:
		return leaseResult(sm.grantLocked(body.LeaseGrant))
	case *peerpb.Command_LeaseRevoke:
		return leaseResult(sm.revokeLocked(body.LeaseRevoke.GetId()))
	case *peerpb.Command_LeaseKeepAlive:
		return leaseResult(sm.keepAliveLocked(body.LeaseKeepAlive.GetId()))
	case *peerpb.Command_LeaseExtend:
		sm.extendLocked()
		return &Result{Lease: &LeaseReply{}}
	case *peerpb.Command_Expire:
		// The sweep at the start of the entry removed the expired keys.
		sm.expireLeasesLocked()
		return &Result{Lease: &LeaseReply{}}
	case nil:
		return &Result{Err: fmt.Errorf("%w: the command may come from a newer metasrv version", ErrEmptyCommand)}
	default:
		// Unreachable with the generated code of this version.
		return &Result{Err: fmt.Errorf("%w: unknown body %T", ErrEmptyCommand, body)}
	}
}

// ApplyEmpty applies an entry without data (the leader's no-op after an
// election): it only advances the applied index. Empty entries carry no
// time, so the clock does not move and nothing expires.
func (sm *StateMachine) ApplyEmpty(index uint64) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	// A stale index is ignored: there is nothing to apply.
	_ = sm.advanceLocked(index)
}

// ApplyConfChange applies the committed ConfChangeV2 entry at index,
// written in term, to the member table, and records (index, term) as the
// log id of the last membership change (Membership) whatever it changes.
// cc.Context is a marshaled peerpb.ConfChangeContext (may be empty, as in
// the entry that leaves a joint configuration). For each change:
//
//   - AddNode: the node is added or updated with voter = true;
//   - AddLearnerNode: likewise with voter = false;
//   - UpdateNode: addresses updated, voter kept (added as a voter if absent);
//   - RemoveNode: the node is removed (no-op when absent).
//
// Addresses come from the context's node when its id equals the change's
// node id; an empty address field keeps the node's current one. An invalid
// context or an unknown change type returns an error wrapping
// ErrInvalidConfChange, but the other changes are still applied so that the
// table follows raft's own configuration, and the applied index always
// advances (except for a stale index: ErrStaleIndex, nothing changes).
func (sm *StateMachine) ApplyConfChange(index, term uint64, cc *raftpb.ConfChangeV2) error {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	if err := sm.advanceLocked(index); err != nil {
		return err
	}
	sm.mu.membership = LogID{Index: index, Term: term}
	var firstErr error
	ctx := new(peerpb.ConfChangeContext)
	if err := proto.Unmarshal(cc.GetContext(), ctx); err != nil {
		firstErr = fmt.Errorf("%w: context at index %d: %w", ErrInvalidConfChange, index, err)
		ctx = new(peerpb.ConfChangeContext)
	}
	for _, c := range cc.GetChanges() {
		id := c.GetNodeId()
		var addr *metapb.Node
		if n := ctx.GetNode(); n != nil && n.GetId() == id {
			addr = n
		}
		switch c.GetType() {
		case raftpb.ConfChangeType_ConfChangeAddNode:
			sm.setMemberLocked(id, addr, true, false)
		case raftpb.ConfChangeType_ConfChangeAddLearnerNode:
			sm.setMemberLocked(id, addr, false, false)
		case raftpb.ConfChangeType_ConfChangeUpdateNode:
			sm.setMemberLocked(id, addr, true, true)
		case raftpb.ConfChangeType_ConfChangeRemoveNode:
			sm.removeMemberLocked(id)
		default:
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: index %d: unknown change type %d for node %d",
					ErrInvalidConfChange, index, c.GetType(), id)
			}
		}
	}
	return firstErr
}

// advanceLocked moves the applied index to index, or returns ErrStaleIndex.
func (sm *StateMachine) advanceLocked(index uint64) error {
	if index <= sm.mu.applied {
		return fmt.Errorf("%w: index %d, applied index %d", ErrStaleIndex, index, sm.mu.applied)
	}
	sm.mu.applied = index
	return nil
}

// setMemberLocked adds or updates member id. addr (may be nil) supplies the
// non-empty addresses. keepVoter keeps an existing member's voter flag.
func (sm *StateMachine) setMemberLocked(id uint64, addr *metapb.Node, voter, keepVoter bool) {
	i, found := slices.BinarySearchFunc(sm.mu.members, id, func(m member, id uint64) int {
		switch {
		case m.id < id:
			return -1
		case m.id > id:
			return 1
		}
		return 0
	})
	m := member{id: id, voter: voter}
	if found {
		m = sm.mu.members[i]
		if !keepVoter {
			m.voter = voter
		}
	}
	if a := addr.GetRaftAddress(); a != "" {
		m.raftAddr = a
	}
	if a := addr.GetGrpcAddress(); a != "" {
		m.grpcAddr = a
	}
	// Replace rather than modify: a Snapshot may share the old slice.
	ms := slices.Clone(sm.mu.members)
	if found {
		ms[i] = m
	} else {
		ms = slices.Insert(ms, i, m)
	}
	sm.mu.members = ms
}

func (sm *StateMachine) removeMemberLocked(id uint64) {
	ms := slices.DeleteFunc(slices.Clone(sm.mu.members), func(m member) bool { return m.id == id })
	sm.mu.members = ms
}

func (sm *StateMachine) resetChangesLocked() {
	clear(sm.mu.changes) // drop references to old data
	sm.mu.changes = sm.mu.changes[:0]
}

// nextSeqLocked takes the next sequence number.
func (sm *StateMachine) nextSeqLocked() uint64 {
	sm.mu.lastSeq++
	return sm.mu.lastSeq
}

// sweepLocked removes every key whose expiry is before the entry's time,
// in (expiry, seq) order, as databend-meta does before it applies an
// entry; an entry without a time (0) removes none. A removal takes no
// seq. O(expired keys).
func (sm *StateMachine) sweepLocked() {
	for {
		e, ok := sm.mu.exp.Min()
		if !ok || e.at >= sm.mu.entryMs {
			return
		}
		prev, ok := sm.mu.tree.Get(keyOnly(e.key))
		if !ok {
			panic(fmt.Sprintf("statemachine: expiry index has %q at %d but the key is absent", e.key, e.at))
		}
		sm.deleteLocked(prev)
	}
}

// unindexLocked removes the present value v from the expiry index and
// from its lease's keys.
func (sm *StateMachine) unindexLocked(v kv) {
	if e, ok := expKeyOf(v); ok {
		sm.mu.exp.Delete(e)
	}
	sm.detachLocked(v)
}

// indexLocked adds the present value v to the expiry index and to its
// lease's keys.
func (sm *StateMachine) indexLocked(v kv) {
	if e, ok := expKeyOf(v); ok {
		sm.mu.exp.Set(e)
	}
	sm.attachLocked(v)
}

// putLocked stores v, keeping the expiry index in step with the previous
// value prev. The index and the change share v's key string.
func (sm *StateMachine) putLocked(prev, v kv) {
	sm.unindexLocked(prev)
	sm.indexLocked(v)
	sm.mu.tree.Set(v)
	sm.mu.changes = append(sm.mu.changes, change{key: v.key(), prev: prev, cur: v, rev: sm.entryRevLocked(), ms: sm.mu.entryMs})
}

// deleteLocked removes the present key prev. A delete takes no seq
// (databend-meta: "just use the max seq for all tombstone").
func (sm *StateMachine) deleteLocked(prev kv) {
	sm.unindexLocked(prev)
	sm.mu.tree.Delete(prev)
	sm.mu.changes = append(sm.mu.changes, change{key: prev.key(), prev: prev, rev: sm.entryRevLocked(), ms: sm.mu.entryMs})
}

// validateUpsert checks what does not depend on the state.
func validateUpsert(req *metapb.UpsertRequest) error {
	if req.GetKey() == "" {
		return fmt.Errorf("%w: key is empty", ErrInvalidUpsert)
	}
	switch req.GetOp() {
	case metapb.UpsertRequest_UPDATE, metapb.UpsertRequest_DELETE, metapb.UpsertRequest_AS_IS:
	default:
		return fmt.Errorf("%w: key %q: unknown op %d; use UPDATE, DELETE or AS_IS", ErrInvalidUpsert, req.GetKey(), req.GetOp())
	}
	switch req.GetMatchSeq().GetKind() {
	case metapb.MatchSeq_ANY, metapb.MatchSeq_EXACT, metapb.MatchSeq_GE:
	default:
		return fmt.Errorf("%w: key %q: unknown match_seq kind %d; use ANY, EXACT or GE",
			ErrInvalidUpsert, req.GetKey(), req.GetMatchSeq().GetKind())
	}
	if req.GetExpireAtMs() != 0 && req.ExpireAt != nil {
		return fmt.Errorf("%w: key %q: expire_at_ms and expire_at are both set; set at most one",
			ErrInvalidUpsert, req.GetKey())
	}
	return nil
}

// matchSeq reports whether m (nil = ANY) accepts the current seq (0 = absent).
func matchSeq(m *metapb.MatchSeq, cur uint64) bool {
	switch m.GetKind() {
	case metapb.MatchSeq_EXACT:
		return cur == m.GetSeq()
	case metapb.MatchSeq_GE:
		return cur >= m.GetSeq()
	default:
		return true
	}
}

// upsertLocked executes one upsert at the state machine's clock. With
// noReply the reply says only whether it applied (ApplyOptions.NoReply).
// A reply over maxReply bytes (0: no bound) refuses the upsert with
// ErrReplyTooLarge, whether or not noReply leaves the values out.
func (sm *StateMachine) upsertLocked(req *metapb.UpsertRequest, noReply bool, maxReply uint64) (*metapb.UpsertReply, error) {
	if err := validateUpsert(req); err != nil {
		return nil, err
	}
	key := req.GetKey()
	reply := func(prev, result kv, applied bool) (*metapb.UpsertReply, error) {
		if err := checkUpsertReply(key, upsertReplySize(prev, result, applied), maxReply); err != nil {
			return nil, err
		}
		if noReply {
			return &metapb.UpsertReply{Applied: applied}, nil
		}
		return &metapb.UpsertReply{Prev: prev.seqV(), Result: result.seqV(), Applied: applied}, nil
	}
	prev, _ := sm.mu.tree.Get(keyOnly(key)) // zero kv when absent
	if !matchSeq(req.GetMatchSeq(), prev.meta().seq) {
		return reply(prev, prev, false)
	}
	cp := sm.checkpointLocked()
	var cur kv // absent after a delete
	switch req.GetOp() {
	case metapb.UpsertRequest_DELETE:
		if prev.present() {
			sm.deleteLocked(prev)
		}
	case metapb.UpsertRequest_AS_IS:
		if prev.present() {
			// The key keeps its data and its lease.
			m := sm.metaLocked(req.GetTtlMs(), req.GetExpireAtMs(), req.ExpireAt)
			m.setLease(prev.meta().leaseID())
			cur = sm.writeLocked(prev, key, []byte(prev.data()), m)
		}
	default:
		cur = sm.writeLocked(prev, key, req.GetValue(), sm.metaLocked(req.GetTtlMs(), req.GetExpireAtMs(), req.ExpireAt))
	}
	r, err := reply(prev, cur, true)
	if err != nil {
		sm.rollbackLocked(cp)
	}
	return r, err
}

// writeLocked stores a copy of data at key with the next seq and meta m
// (its flags, expiry and proposal time; metaLocked) and returns the new
// value. prev is the key's current value (absent: a create). A value
// whose expiry is already before the entry's time is deleted at once,
// after it took its seq, as databend-meta does: it returns an absent kv.
func (sm *StateMachine) writeLocked(prev kv, key string, data []byte, m kvMeta) kv {
	m.seq = sm.nextSeqLocked()
	m.modRev = sm.entryRevLocked()
	if prev.present() {
		pm := prev.meta()
		m.createSeq, m.createRev, m.version = pm.createSeq, pm.createRev, pm.version+1
	} else {
		m.createSeq, m.createRev, m.version = m.seq, m.modRev, 1
	}
	if m.expired(sm.mu.entryMs) {
		if prev.present() {
			sm.deleteLocked(prev)
		}
		return kv{}
	}
	v := newKV(key, m, data)
	sm.putLocked(prev, v)
	return v
}

// metaLocked returns the meta a put writes, as databend-meta builds its
// KVMeta: proposed_at_ms the entry's time; the expiry the entry's time +
// ttlMs (saturating) when ttlMs is set, else expireAtMs (milliseconds),
// else expireAt (databend-meta's seconds-or-milliseconds form), else none.
func (sm *StateMachine) metaLocked(ttlMs, expireAtMs uint64, expireAt *uint64) kvMeta {
	m := kvMeta{flags: metaFlagPresent | metaFlagProposed, proposedAt: sm.mu.entryMs}
	switch {
	case ttlMs > 0:
		at := uint64(math.MaxUint64)
		if ttlMs <= math.MaxUint64-sm.mu.entryMs {
			at = sm.mu.entryMs + ttlMs
		}
		m.setExpireAtMs(at)
	case expireAtMs > 0:
		m.setExpireAtMs(expireAtMs)
	case expireAt != nil:
		m.setExpireAt(*expireAt)
	}
	return m
}

// leaseResult is the Result of a lease command.
func leaseResult(r *LeaseReply, err error) *Result {
	if err != nil {
		return &Result{Err: err}
	}
	return &Result{Lease: r}
}
