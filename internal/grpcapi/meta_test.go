package grpcapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// fakeKV records the last upsert, txn and watch and answers with err.
type fakeKV struct {
	err      error
	upserted *metapb.UpsertRequest
	txn      *metapb.TxnRequest
	watched  *metapb.WatchRequest
	keys     int
	// valueSize is the length of the values MGet and List return.
	valueSize int
}

func (f *fakeKV) Txn(_ context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error) {
	f.txn = req
	if f.err != nil {
		return nil, f.err
	}
	return &metapb.TxnReply{Success: true, ExecutionPath: "then"}, nil
}

func (f *fakeKV) Watch(_ context.Context, req *metapb.WatchRequest, send func(*metapb.WatchResponse) error) error {
	f.watched = req
	if f.err != nil {
		return f.err
	}
	return send(&metapb.WatchResponse{ProgressRevision: 1})
}

func (f *fakeKV) Upsert(_ context.Context, req *metapb.UpsertRequest) (*metapb.UpsertReply, error) {
	f.upserted = req
	return &metapb.UpsertReply{Applied: true}, f.err
}
func (f *fakeKV) Get(context.Context, string, metapb.ReadConsistency) (*metapb.SeqV, error) {
	return &metapb.SeqV{Seq: 1}, f.err
}
func (f *fakeKV) MGet(_ context.Context, keys []string, _ metapb.ReadConsistency) ([]*metapb.KV, error) {
	if f.err != nil || f.valueSize == 0 {
		return nil, f.err
	}
	kvs := make([]*metapb.KV, len(keys))
	for i, k := range keys {
		kvs[i] = &metapb.KV{Key: k, Value: &metapb.SeqV{Seq: uint64(i + 1), Data: make([]byte, f.valueSize)}}
	}
	return kvs, nil
}
func (f *fakeKV) List(_ context.Context, prefix string, limit uint64, _ metapb.ReadConsistency, fn func(*metapb.KV) bool) error {
	if f.err != nil {
		return f.err
	}
	for i := 0; i < f.keys; i++ {
		v := &metapb.SeqV{Seq: uint64(i + 1), Data: make([]byte, f.valueSize)}
		if !fn(&metapb.KV{Key: fmt.Sprintf("%s%06d", prefix, i), Value: v}) {
			break
		}
	}
	return nil
}
func (f *fakeKV) Members() []*metapb.Node     { return nil }
func (f *fakeKV) Status() *metapb.StatusReply { return &metapb.StatusReply{} }
func (f *fakeKV) LeaderGrpcAddress() string   { return "" }

func TestUpsertValidation(t *testing.T) {
	limits := DefaultLimits(1 << 20)
	tests := []struct {
		name    string
		req     *metapb.UpsertRequest
		code    codes.Code
		message string // a part of the error message
	}{
		{"ok", &metapb.UpsertRequest{Key: "k", Value: []byte("v")}, codes.OK, ""},
		{"empty key", &metapb.UpsertRequest{Key: ""}, codes.InvalidArgument, "empty key"},
		{"long key", &metapb.UpsertRequest{Key: strings.Repeat("k", limits.MaxKeyBytes+1)}, codes.InvalidArgument, "longer than the limit"},
		{"large value", &metapb.UpsertRequest{Key: "k", Value: make([]byte, limits.MaxRequestBytes)}, codes.InvalidArgument, "grpc_api_max_message_size"},
		{"ttl and expire_at", &metapb.UpsertRequest{Key: "k", TtlMs: 1, ExpireAtMs: 2}, codes.InvalidArgument, "set one of them"},
		{"unknown op", &metapb.UpsertRequest{Key: "k", Op: 7}, codes.InvalidArgument, "unknown op"},
		{"unknown match kind", &metapb.UpsertRequest{Key: "k", MatchSeq: &metapb.MatchSeq{Kind: 9}}, codes.InvalidArgument, "match_seq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := &fakeKV{}
			_, err := NewMeta(kv, limits).Upsert(context.Background(), tt.req)
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.code)
			}
			if tt.code != codes.OK {
				if !strings.Contains(err.Error(), tt.message) {
					t.Errorf("message %q does not say %q", err, tt.message)
				}
				if kv.upserted != nil {
					t.Error("an invalid request reached the server")
				}
			}
		})
	}
}

func TestErrorCodes(t *testing.T) {
	tests := []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("x: %w", server.ErrNoLeader), codes.Unavailable},
		{fmt.Errorf("x: %w", server.ErrStopped), codes.Unavailable},
		{fmt.Errorf("x: %w", server.ErrTimeout), codes.DeadlineExceeded},
		{fmt.Errorf("x: %w", server.ErrClusterName), codes.FailedPrecondition},
		{fmt.Errorf("x: %w", server.ErrInvalidMember), codes.FailedPrecondition},
		{fmt.Errorf("x: %w", statemachine.ErrInvalidUpsert), codes.InvalidArgument},
		{context.Canceled, codes.Canceled},
		{errors.New("disk on fire"), codes.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			_, err := NewMeta(&fakeKV{err: tt.err}, DefaultLimits(1<<20)).Get(context.Background(), &metapb.GetRequest{Key: "k"})
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code = %v, want %v", got, tt.code)
			}
			if !strings.Contains(status.Convert(err).Message(), tt.err.Error()) {
				t.Errorf("message %q lost the cause %q", status.Convert(err).Message(), tt.err)
			}
		})
	}
}

// listStream collects what List sends.
type listStream struct {
	grpc.ServerStream
	chunks [][]*metapb.KV
}

func (s *listStream) Context() context.Context { return context.Background() }
func (s *listStream) Send(r *metapb.ListReply) error {
	s.chunks = append(s.chunks, r.GetKvs())
	return nil
}

func TestListStreamsInChunks(t *testing.T) {
	for _, n := range []int{0, 1, listChunkKeys, listChunkKeys + 1, 3*listChunkKeys + 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			st := &listStream{}
			if err := NewMeta(&fakeKV{keys: n}, DefaultLimits(1<<20)).List(&metapb.ListRequest{Prefix: "p/"}, st); err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, c := range st.chunks {
				if len(c) == 0 || len(c) > listChunkKeys {
					t.Fatalf("chunk of %d keys", len(c))
				}
				total += len(c)
			}
			if total != n {
				t.Fatalf("streamed %d keys, want %d", total, n)
			}
		})
	}
}
