package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/raftnode"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// propose appends cmd to the log and waits until this node has applied it:
// register an id, propose, wait for the result, ctx or stop; the
// registration is always cleaned up. An error that wraps ErrNotProposed
// means cmd never entered the log.
func (s *Server) propose(ctx context.Context, cmd *peerpb.Command) (*statemachine.Result, error) {
	s.stats.proposalsPending.Add(1)
	defer s.stats.proposalsPending.Add(-1)
	res, err := s.proposeWait(ctx, cmd)
	if err != nil {
		s.stats.proposalsFailed.Add(1)
	}
	return res, err
}

func (s *Server) proposeWait(ctx context.Context, cmd *peerpb.Command) (*statemachine.Result, error) {
	n := s.node.Load()
	if n == nil {
		return nil, fmt.Errorf("%w: %w", ErrNotStarted, ErrNotProposed)
	}
	if err := s.waitLeader(ctx, n); err != nil {
		return nil, err
	}
	id := s.reqID.Add(1)
	cmd.Proposer = s.cfg.ID
	cmd.RequestId = id
	cmd.MaxReplyBytes = uint64(max(s.cfg.MaxMessageBytes, 0))
	data, err := statemachine.EncodeEntry(s.nowMs(), cmd)
	if err != nil {
		return nil, err
	}
	resC := s.proposals.register(id, n.Term())
	defer s.proposals.cancel(id)

	if err := n.Propose(ctx, data); err != nil {
		return nil, s.mapRaftErr(ctx, err)
	}
	select {
	case res := <-resC:
		if res.Err != nil {
			return nil, res.Err
		}
		return res, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: the write may or may not have been applied: %v", ErrTimeout, ctx.Err())
	case <-n.Done():
		return nil, ErrStopped
	}
}

// waitLeader returns once this node knows a leader. raft does not take a
// proposal while there is none (Propose fails at once with
// raft.ErrProposalDropped): waiting here lets a write that arrives during
// an election go through once it ends, and one that finds no leader in
// time fail as certainly not proposed. A leader lost between this check
// and Propose makes Propose fail the same way (not proposed); one lost
// after it ends in ErrLeaderChanged or ErrTimeout (outcome unknown).
func (s *Server) waitLeader(ctx context.Context, n *raftnode.Node) error {
	if n.Leader() != 0 {
		return nil
	}
	t := time.NewTicker(max(s.cfg.TickInterval, time.Millisecond))
	defer t.Stop()
	for n.Leader() == 0 {
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w: no leader was elected before the request's deadline (%v); retry later",
				ErrNoLeader, ErrNotProposed, ctx.Err())
		case <-n.Done():
			return fmt.Errorf("%w: %w", ErrStopped, ErrNotProposed)
		}
	}
	return nil
}

// mapRaftErr maps an error of raftnode.Propose. A dropped proposal is not
// in the log, nor is one whose ctx ended first: Propose returns ctx's
// error only when its Ready loop never took the proposal. A stopped node
// may have handed the entry to raft already.
func (s *Server) mapRaftErr(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, raft.ErrProposalDropped):
		return fmt.Errorf("%w: %w: the proposal was dropped; retry when a leader is elected", ErrNoLeader, ErrNotProposed)
	case errors.Is(err, raftnode.ErrStopped):
		return fmt.Errorf("%w: %w", ErrStopped, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %w: the request ended before raft took the write (%v); retry it with a longer deadline",
			ErrTimeout, ErrNotProposed, ctx.Err())
	default:
		return err
	}
}

// Upsert applies an upsert through raft and returns its result.
func (s *Server) Upsert(ctx context.Context, req *metapb.UpsertRequest) (*metapb.UpsertReply, error) {
	res, err := s.propose(ctx, &peerpb.Command{Body: &peerpb.Command_Upsert{Upsert: req}})
	if err != nil {
		return nil, err
	}
	return res.Upsert, nil
}

// Txn applies a transaction through raft, as one log entry, and returns
// its reply. A malformed transaction is rejected by the state machine with
// an error wrapping statemachine.ErrInvalidTxn; the gRPC edge checks it
// first with statemachine.ValidateTxn.
//
// A transaction that only reads (statemachine.ReadOnlyTxn) changes
// nothing when applied: it is answered here after a linearizable read
// barrier (statemachine.ReadTxn), with the reply the log would have given,
// as etcd serves a read-only Txn. It costs one ReadIndex round shared with
// the reads under way, not an entry applied on every node.
func (s *Server) Txn(ctx context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error) {
	if statemachine.ReadOnlyTxn(req) {
		if err := s.barrier(ctx, metapb.ReadConsistency_LINEARIZABLE); err != nil {
			return nil, err
		}
		return s.sm.ReadTxn(req, s.nowMs(), uint64(max(s.cfg.MaxMessageBytes, 0)))
	}
	res, err := s.propose(ctx, &peerpb.Command{Body: &peerpb.Command_Txn{Txn: req}})
	if err != nil {
		return nil, err
	}
	return res.Txn, nil
}

// Compact drops the history below rev through raft (etcd's KV.Compact):
// from then on a Range at a revision below it, or a watch that starts
// below it, is refused as compacted. It returns the store's revision.
// Errors: statemachine.ErrFutureRevision beyond the revision, a
// *statemachine.CompactedError when rev is compacted already, and
// propose's.
func (s *Server) Compact(ctx context.Context, rev uint64) (uint64, error) {
	res, err := s.propose(ctx, &peerpb.Command{Body: &peerpb.Command_Compact{Compact: &peerpb.CompactRequest{Revision: rev}}})
	if err != nil {
		return 0, err
	}
	return res.Compact.Revision, nil
}

// barrier makes a read see every write acknowledged before it started:
// linearizable waits for a ReadIndex round; serializable does nothing.
func (s *Server) barrier(ctx context.Context, c metapb.ReadConsistency) error {
	if c == metapb.ReadConsistency_SERIALIZABLE {
		return nil
	}
	err := s.linearizableRead(ctx)
	if err != nil {
		s.stats.readFailed.Add(1)
	}
	return err
}

// Get reads one key. nil means absent.
func (s *Server) Get(ctx context.Context, key string, c metapb.ReadConsistency) (*metapb.SeqV, error) {
	if err := s.barrier(ctx, c); err != nil {
		return nil, err
	}
	return s.sm.Get(key, s.nowMs()), nil
}

// MGet reads several keys, one KV per key in order.
func (s *Server) MGet(ctx context.Context, keys []string, c metapb.ReadConsistency) ([]*metapb.KV, error) {
	if err := s.barrier(ctx, c); err != nil {
		return nil, err
	}
	return s.sm.MGet(keys, s.nowMs()), nil
}

// List calls fn for each key with prefix, ascending, up to limit (0 = all);
// fn returning false stops. fn runs on a copy of the state: no lock is held.
func (s *Server) List(ctx context.Context, prefix string, limit uint64, c metapb.ReadConsistency, fn func(*metapb.KV) bool) error {
	if err := s.barrier(ctx, c); err != nil {
		return err
	}
	s.sm.List(prefix, limit, s.nowMs(), fn)
	return nil
}
