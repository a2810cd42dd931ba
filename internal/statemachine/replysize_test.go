package statemachine

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

// TestUpsertReplySize: the size computed without copying the values is
// proto.Size of the reply the proposer gets.
func TestUpsertReplySize(t *testing.T) {
	big := strings.Repeat("v", 300)
	kvs := []kv{
		{},
		newKV("k", kvMeta{seq: 1, createSeq: 1, version: 1}, nil),
		newKV("k", kvMeta{seq: 1 << 40, createSeq: 3, version: 200, expireAt: 1 << 62}, []byte(big)),
		newKV("k", kvMeta{seq: 7, createSeq: 7, version: 1}, []byte("x")),
	}
	for _, prev := range kvs {
		for _, cur := range kvs {
			for _, applied := range []bool{false, true} {
				want := proto.Size(&metapb.UpsertReply{Prev: prev.seqV(), Result: cur.seqV(), Applied: applied})
				if got := upsertReplySize(prev, cur, applied); got != want {
					t.Errorf("upsertReplySize(%v, %v, %v) = %d, want %d", prev.seqV(), cur.seqV(), applied, got, want)
				}
			}
		}
	}
}

// TestReplyBound: a command whose reply would be over its max_reply_bytes
// is refused with ErrReplyTooLarge and changes nothing (no seq, no event,
// the values kept), on the proposer and on a node that builds no reply
// alike; one whose reply fits applies as before, and 0 bounds nothing.
func TestReplyBound(t *testing.T) {
	const bound = 1000
	v600 := strings.Repeat("a", 600)
	v300 := strings.Repeat("b", 300)
	bounded := func(cmd *peerpb.Command) *peerpb.Command {
		cmd.MaxReplyBytes = bound
		return cmd
	}
	txnOps := func(ops ...*metapb.TxnOp) *metapb.TxnRequest { return &metapb.TxnRequest{IfThen: ops} }
	tests := []struct {
		name    string
		cmd     *peerpb.Command
		refused bool
	}{
		{"upsert: prev and new value over the bound", bounded(upsertCmd(put("big", v600))), true},
		{"upsert: prev and new value fit", bounded(upsertCmd(put("big", v300))), false},
		{"upsert: no bound", upsertCmd(put("big", v600)), false},
		{"upsert: match_seq mismatch answers prev twice", bounded(upsertCmd(exact(put("big", "x"), 99))), true},
		{"upsert: delete answers prev only", bounded(upsertCmd(del("big"))), false},
		{"txn: two gets of a big value", bounded(txnCmd(txnOps(opGet("big"), opGet("big")))), true},
		{"txn: one get", bounded(txnCmd(txnOps(opGet("big")))), false},
		{"txn: a put whose prev and current are over", bounded(txnCmd(txnOps(opPut("small", "s"), opPut("big", v600)))), true},
		{"txn: deletes of two big values", bounded(txnCmd(txnOps(opDel("big", nil), opDel("big2", nil)))), true},
		{"txn: no bound", txnCmd(txnOps(opGet("big"), opGet("big"))), false},
	}
	for _, tt := range tests {
		for _, o := range []ApplyOptions{{}, {NoReply: true, NoEvents: true}} {
			t.Run(tt.name, func(t *testing.T) {
				a := newApplier(t)
				a.upsert(1, put("big", v600))
				a.upsert(1, put("big2", v600))
				before, seq := dump(a.sm), a.sm.LastSeq()
				res := a.sm.ApplyWith(a.next(), 1, tt.cmd, o)
				if !tt.refused {
					if res.Err != nil {
						t.Fatalf("refused: %v", res.Err)
					}
					return
				}
				if !errors.Is(res.Err, ErrReplyTooLarge) || !strings.Contains(res.Err.Error(), "nothing was applied") {
					t.Fatalf("err = %v, want ErrReplyTooLarge saying nothing was applied", res.Err)
				}
				if res.Upsert != nil || res.Txn != nil || len(res.Events) != 0 {
					t.Fatalf("a refused command answered %+v", res)
				}
				if got := a.sm.LastSeq(); got != seq {
					t.Fatalf("last seq %d, want %d", got, seq)
				}
				if !equalKVs(dump(a.sm), before) {
					t.Fatalf("the state changed: %v, was %v", dump(a.sm), before)
				}
			})
		}
	}
}
