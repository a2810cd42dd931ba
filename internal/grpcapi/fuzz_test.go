package grpcapi

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// FuzzRequests decodes random bytes into each write and watch request, as
// gRPC would, and runs the handler's validation. It must never panic; a
// refused request must never reach the server and must be InvalidArgument;
// an accepted one must be within the limits the handler promises.
func FuzzRequests(f *testing.F) {
	seeds := []proto.Message{
		&metapb.UpsertRequest{Key: "k", Value: []byte("v"), TtlMs: 10},
		&metapb.UpsertRequest{Key: "k", Op: 9, MatchSeq: &metapb.MatchSeq{Kind: 7}},
		&metapb.TxnRequest{
			Condition: []*metapb.TxnCondition{seqCond("a", 1)},
			IfThen:    []*metapb.TxnOp{txnPut("a", []byte("1")), txnGet("a")},
			ElseThen:  []*metapb.TxnOp{txnGet("b")},
		},
		&metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{
			Predicate: &metapb.BoolExpression{Children: []*metapb.BoolExpression{{Conditions: []*metapb.TxnCondition{seqCond("x", 0)}}}},
			Ops:       []*metapb.TxnOp{{Request: &metapb.TxnOp_PutSequential{PutSequential: &metapb.PutSequential{Prefix: "q/", SequenceKey: "n"}}}},
		}}},
		&metapb.WatchRequest{Key: "a", KeyEnd: "b", InitialFlush: true, ProgressIntervalMs: 100},
		&metapb.WatchRequest{Key: "a", StartRevision: 5, Filter: 7},
	}
	for i, m := range seeds {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(i%3), b)
	}
	f.Add(byte(1), []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})

	limits := DefaultLimits(1 << 20)
	limits.MaxKeyBytes = 64 // small, so that random keys reach it
	f.Fuzz(func(t *testing.T, kind byte, data []byte) {
		kv := &fakeKV{}
		m := NewMeta(kv, limits)
		ctx := context.Background()
		var err error
		var reached bool
		switch kind % 3 {
		case 0:
			var req metapb.UpsertRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			_, err = m.Upsert(ctx, &req)
			if reached = kv.upserted != nil; reached {
				checkKey(t, limits, req.GetKey())
				if n := len(req.GetKey()) + len(req.GetValue()); n > limits.MaxRequestBytes {
					t.Fatalf("a key and value of %d bytes passed", n)
				}
			}
		case 1:
			var req metapb.TxnRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			_, err = m.Txn(ctx, &req)
			if reached = kv.txn != nil; reached {
				if verr := statemachine.ValidateTxn(&req); verr != nil {
					t.Fatalf("a transaction ValidateTxn refuses passed: %v", verr)
				}
				for _, c := range req.GetCondition() {
					checkKey(t, limits, c.GetKey())
				}
			}
		case 2:
			var req metapb.WatchRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			err = m.Watch(&req, &watchStream{})
			if reached = kv.watched != nil; reached {
				checkKey(t, limits, req.GetKey())
				if end := req.GetKeyEnd(); end != "" && end <= req.GetKey() {
					t.Fatalf("an empty range [%q, %q) passed", req.GetKey(), end)
				}
			}
		}
		if !reached {
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("refused with %v, want InvalidArgument", err)
			}
			if len(status.Convert(err).Message()) == 0 {
				t.Fatal("refused without a message")
			}
		} else if err != nil {
			t.Fatalf("accepted request failed against a server that succeeds: %v", err)
		}
	})
}

func checkKey(t *testing.T, l Limits, key string) {
	t.Helper()
	if key == "" || len(key) > l.MaxKeyBytes {
		t.Fatalf("key of %d bytes passed (limit %d)", len(key), l.MaxKeyBytes)
	}
}
