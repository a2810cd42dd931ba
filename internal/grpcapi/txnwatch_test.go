package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
	"github.com/metasrv/metasrv/internal/watch"
)

func txnPut(key string, value []byte) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: key, Value: value}}}
}

func txnGet(key string) *metapb.TxnOp {
	return &metapb.TxnOp{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: key}}}
}

func seqCond(key string, seq uint64) *metapb.TxnCondition {
	return &metapb.TxnCondition{Key: key, Target: &metapb.TxnCondition_Seq{Seq: seq}}
}

func TestTxnValidation(t *testing.T) {
	limits := DefaultLimits(32 << 20)
	long := strings.Repeat("k", limits.MaxKeyBytes+1)
	manyGets := make([]*metapb.TxnOp, statemachine.MaxTxnOps+1)
	for i := range manyGets {
		manyGets[i] = txnGet(fmt.Sprintf("k%d", i))
	}
	big := make([]byte, limits.MaxRequestBytes/2)
	tests := []struct {
		name    string
		req     *metapb.TxnRequest
		code    codes.Code
		message string // a part of the error message
	}{
		{"ok", &metapb.TxnRequest{
			Condition: []*metapb.TxnCondition{seqCond("k", 0)},
			IfThen:    []*metapb.TxnOp{txnPut("k", []byte("v"))},
			ElseThen:  []*metapb.TxnOp{txnGet("k")},
		}, codes.OK, ""},
		{"ok branches", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{
			{Predicate: &metapb.BoolExpression{Conditions: []*metapb.TxnCondition{seqCond("a", 1)}}, Ops: []*metapb.TxnOp{txnGet("a")}},
			{Ops: []*metapb.TxnOp{txnGet("b")}},
		}}, codes.OK, ""},
		{"condition without target", &metapb.TxnRequest{
			Condition: []*metapb.TxnCondition{{Key: "k"}},
		}, codes.InvalidArgument, "no target"},
		{"condition with empty key", &metapb.TxnRequest{
			Condition: []*metapb.TxnCondition{seqCond("", 1)},
		}, codes.InvalidArgument, "condition[0]"},
		{"op without request", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{{}}}, codes.InvalidArgument, "no request"},
		{"put with empty key", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{txnPut("", nil)}}, codes.InvalidArgument, "if_then[0]"},
		{"expire_at_ms and expire_at", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_Put{
			Put: &metapb.TxnPut{Key: "k", ExpireAt: proto.Uint64(1), ExpireAtMs: 2}}}}}, codes.InvalidArgument, "set at most one"},
		{"both forms", &metapb.TxnRequest{
			IfThen:   []*metapb.TxnOp{txnGet("a")},
			Branches: []*metapb.ConditionalOps{{Ops: []*metapb.TxnOp{txnGet("b")}}},
		}, codes.InvalidArgument, "use one form"},
		{"too many ops", &metapb.TxnRequest{IfThen: manyGets}, codes.InvalidArgument, "split the transaction"},
		{"too many bytes", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{txnPut("a", big), txnPut("b", big)}},
			codes.InvalidArgument, "split the transaction"},
		{"long condition key", &metapb.TxnRequest{Condition: []*metapb.TxnCondition{seqCond(long, 0)}},
			codes.InvalidArgument, "condition[0]: key of"},
		{"long key in a nested predicate", &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{
			Predicate: &metapb.BoolExpression{Children: []*metapb.BoolExpression{{Conditions: []*metapb.TxnCondition{seqCond(long, 0)}}}},
		}}}, codes.InvalidArgument, "branches[0].predicate.children[0].conditions[0]"},
		{"long put key", &metapb.TxnRequest{ElseThen: []*metapb.TxnOp{txnPut(long, nil)}},
			codes.InvalidArgument, "else_then[0].put: key of"},
		{"long delete_by_prefix", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_DeleteByPrefix{
			DeleteByPrefix: &metapb.TxnDeleteByPrefix{Prefix: long}}}}}, codes.InvalidArgument, "use a shorter prefix"},
		{"put_sequential prefix too long with its number", &metapb.TxnRequest{IfThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_PutSequential{
			PutSequential: &metapb.PutSequential{Prefix: long[:limits.MaxKeyBytes-sequentialSuffix+1], SequenceKey: "seq"}}}}},
			codes.InvalidArgument, "number appended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := &fakeKV{}
			_, err := NewMeta(kv, limits).Txn(context.Background(), tt.req)
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.code)
			}
			if tt.code == codes.OK {
				if kv.txn != tt.req {
					t.Error("a valid transaction did not reach the server")
				}
				return
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q does not say %q", err, tt.message)
			}
			if kv.txn != nil {
				t.Error("an invalid transaction reached the server")
			}
		})
	}
}

// A value over the edge's limit is refused even when the transaction is
// within MaxTxnBytes.
func TestTxnValueLimit(t *testing.T) {
	limits := DefaultLimits(1 << 20)
	kv := &fakeKV{}
	_, err := NewMeta(kv, limits).Txn(context.Background(), &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{
		Ops: []*metapb.TxnOp{{Request: &metapb.TxnOp_PutSequential{PutSequential: &metapb.PutSequential{
			Prefix: "p/", SequenceKey: "seq", Value: make([]byte, limits.MaxRequestBytes+1)}}}},
	}}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "grpc_api_max_message_size") ||
		!strings.Contains(err.Error(), "branches[0].ops[0].put_sequential") {
		t.Fatalf("err = %v, want InvalidArgument naming the op and grpc_api_max_message_size", err)
	}
	if kv.txn != nil {
		t.Error("an invalid transaction reached the server")
	}
}

// watchStream collects what Watch sends.
type watchStream struct {
	grpc.ServerStream
	resps []*metapb.WatchResponse
}

func (s *watchStream) Context() context.Context { return context.Background() }
func (s *watchStream) Send(r *metapb.WatchResponse) error {
	s.resps = append(s.resps, r)
	return nil
}

func TestWatchValidation(t *testing.T) {
	limits := DefaultLimits(1 << 20)
	long := strings.Repeat("k", limits.MaxKeyBytes+1)
	tests := []struct {
		name    string
		req     *metapb.WatchRequest
		code    codes.Code
		message string
	}{
		{"one key", &metapb.WatchRequest{Key: "k"}, codes.OK, ""},
		{"range", &metapb.WatchRequest{Key: "a/", KeyEnd: "a0", Filter: metapb.WatchRequest_DELETE}, codes.OK, ""},
		{"initial flush", &metapb.WatchRequest{Key: "a", InitialFlush: true, ProgressIntervalMs: 10}, codes.OK, ""},
		{"start revision", &metapb.WatchRequest{Key: "a", StartRevision: 7, ProgressIntervalMs: maxProgressIntervalMs}, codes.OK, ""},
		{"binary range", &metapb.WatchRequest{Key: "\x00\xff", KeyEnd: "\xff"}, codes.OK, ""},
		{"every key from key", &metapb.WatchRequest{Key: "b\xff", KeyEnd: "\x00"}, codes.OK, ""},
		{"every key", &metapb.WatchRequest{Key: "\x00", KeyEnd: "\x00"}, codes.OK, ""},
		{"empty key", &metapb.WatchRequest{KeyEnd: "z"}, codes.InvalidArgument, "empty key"},
		{"long key", &metapb.WatchRequest{Key: long}, codes.InvalidArgument, "longer than the limit"},
		{"long key_end", &metapb.WatchRequest{Key: "a", KeyEnd: long}, codes.InvalidArgument, "key_end of"},
		{"key_end equal to key", &metapb.WatchRequest{Key: "a", KeyEnd: "a"}, codes.InvalidArgument, "range [key, key_end) is empty"},
		{"key_end before key", &metapb.WatchRequest{Key: "b", KeyEnd: "a"}, codes.InvalidArgument, "not after key"},
		{"unknown filter", &metapb.WatchRequest{Key: "a", Filter: 9}, codes.InvalidArgument, "unknown filter"},
		{"flush and start revision", &metapb.WatchRequest{Key: "a", InitialFlush: true, StartRevision: 3}, codes.InvalidArgument, "both set"},
		{"progress too often", &metapb.WatchRequest{Key: "a", ProgressIntervalMs: 1}, codes.InvalidArgument, "progress_interval_ms"},
		{"progress too rare", &metapb.WatchRequest{Key: "a", ProgressIntervalMs: maxProgressIntervalMs + 1}, codes.InvalidArgument, "progress_interval_ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := &fakeKV{}
			st := &watchStream{}
			err := NewMeta(kv, limits).Watch(tt.req, st)
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.code)
			}
			if tt.code == codes.OK {
				if kv.watched != tt.req || len(st.resps) != 1 {
					t.Errorf("valid watch: reached the server %v, sent %v", kv.watched != nil, st.resps)
				}
				return
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q does not say %q", err, tt.message)
			}
			if kv.watched != nil {
				t.Error("an invalid watch reached the server")
			}
		})
	}
}

func TestWatchErrorCodes(t *testing.T) {
	tests := []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("x: %w", statemachine.ErrCompacted), codes.OutOfRange},
		{fmt.Errorf("%w; resume the watch with start_revision = 5", watch.ErrSlowWatcher), codes.ResourceExhausted},
		{fmt.Errorf("x: %w", watch.ErrTooManyWatchers), codes.ResourceExhausted},
		{fmt.Errorf("%w: snapshot; resume the watch with start_revision = 5", watch.ErrInterrupted), codes.Unavailable},
		{fmt.Errorf("%w; resume the watch with start_revision = 5", watch.ErrClosed), codes.Unavailable},
		{server.ErrNotStarted, codes.Unavailable},
		{context.Canceled, codes.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			err := NewMeta(&fakeKV{err: tt.err}, DefaultLimits(1<<20)).Watch(&metapb.WatchRequest{Key: "k"}, &watchStream{})
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v, want %v", got, tt.code)
			}
			if status.Convert(err).Message() != tt.err.Error() {
				t.Errorf("message %q, want the cause %q", status.Convert(err).Message(), tt.err)
			}
		})
	}
	_, err := NewMeta(&fakeKV{err: fmt.Errorf("x: %w", statemachine.ErrInvalidTxn)}, DefaultLimits(1<<20)).
		Txn(context.Background(), &metapb.TxnRequest{})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("ErrInvalidTxn from the server: %v, want InvalidArgument", err)
	}
}

// startMeta serves Meta over kv on an in-memory listener and returns a
// client.
func startMeta(t *testing.T, kv KV) metapb.MetaClient {
	t.Helper()
	srv := grpc.NewServer()
	metapb.RegisterMetaServer(srv, NewMeta(kv, DefaultLimits(1<<20)))
	return metapb.NewMetaClient(serveInMemory(t, srv))
}

// A write that never entered the log carries the not-proposed trailer, so
// that the client can retry it safely; other failures do not.
func TestNotProposedTrailer(t *testing.T) {
	notProposed := fmt.Errorf("%w: %w: the proposal was dropped", server.ErrNoLeader, server.ErrNotProposed)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"dropped", notProposed, true},
		{"not started", fmt.Errorf("%w: %w", server.ErrNotStarted, server.ErrNotProposed), true},
		{"timed out", fmt.Errorf("%w: may or may not have been applied", server.ErrTimeout), false},
		{"no leader, unknown outcome", server.ErrNoLeader, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startMeta(t, &fakeKV{err: tt.err})
			ctx := context.Background()
			calls := map[string]func(*metadata.MD) error{
				"Upsert": func(md *metadata.MD) error {
					_, err := c.Upsert(ctx, &metapb.UpsertRequest{Key: "k"}, grpc.Trailer(md))
					return err
				},
				"Txn": func(md *metadata.MD) error {
					_, err := c.Txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{txnGet("k")}}, grpc.Trailer(md))
					return err
				},
			}
			for name, call := range calls {
				var md metadata.MD
				err := call(&md)
				if err == nil || status.Code(err) == codes.InvalidArgument {
					t.Fatalf("%s: err = %v, want the server's error", name, err)
				}
				got := md.Get(NotProposedTrailer)
				if tt.want && (len(got) != 1 || got[0] != "1") {
					t.Errorf("%s: trailer %s = %v, want [1]", name, NotProposedTrailer, got)
				}
				if !tt.want && len(got) != 0 {
					t.Errorf("%s: trailer %s = %v on an error that may have been applied", name, NotProposedTrailer, got)
				}
			}
		})
	}
	if errors.Is(notProposed, server.ErrNoLeader) != true {
		t.Fatal("the marker must not hide the cause")
	}
}
