package main

import (
	"context"
	"fmt"
	"math/rand"
	"sync/atomic"

	"github.com/metasrv/metasrv/api/metapb"
)

// opFunc sends one request about key number k and waits for its answer.
type opFunc func(ctx context.Context, k int) error

// workload is what runOps runs.
type workload struct {
	// preload: write every key before the timed run.
	preload bool
	// requests is how many requests the run sends; 0 = --total.
	requests int
	// byNumber: request i is about key (or batch) number i, not a random
	// key.
	byNumber bool
	// newClient returns the request function of client c, which owns r;
	// called on the client's goroutine.
	newClient func(c int, r *rand.Rand) opFunc
}

// newWorkload returns the workload of cfg.workload (not watch).
func (b *bench) newWorkload() (workload, error) {
	switch b.cfg.workload {
	case workloadPut:
		return workload{newClient: func(c int, _ *rand.Rand) opFunc {
			put := b.putter(c)
			return func(ctx context.Context, k int) error { return put(ctx, k, b.val) }
		}}, nil
	case workloadGet:
		return workload{preload: true, newClient: func(c int, _ *rand.Rand) opFunc {
			return b.getter(c, metapb.ReadConsistency_LINEARIZABLE)
		}}, nil
	case workloadGetSerializable:
		return workload{preload: true, newClient: func(c int, _ *rand.Rand) opFunc {
			return b.getter(c, metapb.ReadConsistency_SERIALIZABLE)
		}}, nil
	case workloadTxnCAS:
		seqs := make([]atomic.Uint64, b.cfg.keys)
		return workload{newClient: func(c int, _ *rand.Rand) opFunc {
			return b.casser(c, seqs)
		}}, nil
	case workloadMixed:
		// A request is a get with probability reads/(reads+1).
		pRead := b.cfg.rwRatio / (b.cfg.rwRatio + 1)
		return workload{preload: true, newClient: func(c int, r *rand.Rand) opFunc {
			get := b.getter(c, metapb.ReadConsistency_LINEARIZABLE)
			put := b.putter(c)
			return func(ctx context.Context, k int) error {
				if r.Float64() < pRead {
					return get(ctx, k)
				}
				return put(ctx, k, b.val)
			}
		}}, nil
	case workloadLoad:
		return workload{requests: b.batches(), byNumber: true, newClient: func(c int, _ *rand.Rand) opFunc {
			return b.loader(c)
		}}, nil
	}
	return workload{}, usagef("workload %q does not run as requests", b.cfg.workload)
}

// batches returns how many requests of --batch keys write every key.
func (b *bench) batches() int {
	return (b.cfg.keys + b.cfg.batch - 1) / b.cfg.batch
}

// loader returns client c's write of batch number n: keys n*batch up to
// (n+1)*batch (fewer in the last batch), with an upsert when --batch is 1,
// else with one txn of unconditional puts (no condition: the txn takes
// its if-then branch).
func (b *bench) loader(c int) opFunc {
	if b.cfg.batch == 1 {
		put := b.putter(c)
		return func(ctx context.Context, n int) error { return put(ctx, n, b.val) }
	}
	rot := b.conns.newWriter(c)
	return func(ctx context.Context, n int) error {
		lo, hi := n*b.cfg.batch, min((n+1)*b.cfg.batch, b.cfg.keys)
		ops := make([]*metapb.TxnOp, 0, hi-lo)
		for k := lo; k < hi; k++ {
			ops = append(ops, &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: b.keyNames[k], Value: b.val}}})
		}
		reply, err := rot.pick().Txn(ctx, &metapb.TxnRequest{IfThen: ops})
		if err != nil {
			return err
		}
		if !reply.GetSuccess() || len(reply.GetResponses()) != hi-lo {
			return fmt.Errorf("txn of %d puts from %s: %w: success %v, %d responses", hi-lo, b.keyNames[lo],
				errBenchBadReply, reply.GetSuccess(), len(reply.GetResponses()))
		}
		return nil
	}
}

// putter returns client c's upsert of a value to key number k (no
// condition, no expiry). The value is marshaled before the call returns,
// so the caller may reuse it at once.
func (b *bench) putter(c int) func(ctx context.Context, k int, val []byte) error {
	rot := b.conns.newWriter(c)
	return func(ctx context.Context, k int, val []byte) error {
		_, err := rot.pick().Upsert(ctx, &metapb.UpsertRequest{Key: b.keyNames[k], Value: val})
		return err
	}
}

// getter returns client c's read of key number k.
func (b *bench) getter(c int, consistency metapb.ReadConsistency) opFunc {
	rot := b.conns.newRotor(c)
	return func(ctx context.Context, k int) error {
		_, err := rot.pick().Get(ctx, &metapb.GetRequest{Key: b.keyNames[k], Consistency: consistency})
		return err
	}
}

// casser returns client c's compare-and-swap: one transaction that puts the
// value if the key's seq is the last one any client saw (seqs, shared by
// the clients; 0 = absent), else reads the key. Either answer tells the
// key's new seq. A condition that fails is an answer, not an error.
func (b *bench) casser(c int, seqs []atomic.Uint64) opFunc {
	rot := b.conns.newWriter(c)
	return func(ctx context.Context, k int) error {
		key := b.keyNames[k]
		req := &metapb.TxnRequest{
			Condition: []*metapb.TxnCondition{{
				Key:    key,
				Op:     metapb.TxnCondition_EQ,
				Target: &metapb.TxnCondition_Seq{Seq: seqs[k].Load()},
			}},
			IfThen:   []*metapb.TxnOp{{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: key, Value: b.val}}}},
			ElseThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: key}}}},
		}
		reply, err := rot.pick().Txn(ctx, req)
		if err != nil {
			return err
		}
		if len(reply.GetResponses()) != 1 {
			return fmt.Errorf("txn on %s: %w: %d responses, want 1", key, errBenchBadReply, len(reply.GetResponses()))
		}
		resp := reply.GetResponses()[0]
		seq := resp.GetGet().GetValue().GetSeq()
		if reply.GetSuccess() {
			seq = resp.GetPut().GetCurrent().GetSeq()
		}
		storeMax(&seqs[k], seq)
		return nil
	}
}

// storeMax raises v to n unless it holds more already.
func storeMax(v *atomic.Uint64, n uint64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}
