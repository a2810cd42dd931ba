package client

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client/clienttest"
)

// A key or other string that is not valid UTF-8 cannot be marshaled: the
// client refuses it with ErrInvalidArgument naming the field, instead of
// gRPC's codes.Internal "error while marshaling", and sends nothing.
func TestInvalidUTF8Refused(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 5*time.Second)
	const bad = "a\xffb"
	txnPut := func(key string) *metapb.TxnOp {
		return &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: key}}}
	}
	tests := []struct {
		name  string
		call  func(context.Context) error
		field string // the call and the path the error names
	}{
		{"get", func(ctx context.Context) error { _, err := c.Get(ctx, bad); return err }, "get: key"},
		{"mget", func(ctx context.Context) error { _, err := c.MGet(ctx, []string{"ok", bad}); return err }, "mget: keys[1]"},
		{"list", func(ctx context.Context) error { _, err := c.List(ctx, bad, 0); return err }, "list: prefix"},
		{"upsert", func(ctx context.Context) error {
			_, err := c.Upsert(ctx, Upsert{Key: bad, Value: []byte("\xff is fine in a value")})
			return err
		}, "upsert: key"},
		{"delete", func(ctx context.Context) error { _, err := c.Delete(ctx, bad); return err }, "delete: key"},
		{"txn if_then", func(ctx context.Context) error {
			_, err := c.Txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{txnPut("ok"), txnPut(bad)}})
			return err
		}, "txn: if_then[1].put.key"},
		{"txn predicate", func(ctx context.Context) error {
			_, err := c.Txn(ctx, &metapb.TxnRequest{Branches: []*metapb.ConditionalOps{{
				Predicate: &metapb.BoolExpression{Children: []*metapb.BoolExpression{{
					Conditions: []*metapb.TxnCondition{{Key: bad, Target: &metapb.TxnCondition_Seq{Seq: 1}}},
				}}},
			}}})
			return err
		}, "txn: branches[0].predicate.children[0].conditions[0].key"},
		{"txn sequence key", func(ctx context.Context) error {
			_, err := c.Txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_PutSequential{
				PutSequential: &metapb.PutSequential{Prefix: "p/", SequenceKey: bad}}}}})
			return err
		}, "txn: if_then[0].put_sequential.sequence_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(ctx)
			if !errors.Is(err, ErrInvalidArgument) || status.Code(err) == codes.Internal {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
			if want := tt.field + ` "a\xffb" is not valid UTF-8`; !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to contain %q", err, want)
			}
		})
	}
	for _, m := range []string{"Get", "MGet", "List", "Upsert", "Txn"} {
		if n := cl.Servers[0].Calls(m); n != 0 {
			t.Errorf("%d %s calls reached the server", n, m)
		}
	}
}

// User and Password travel in the Handshake as protobuf strings; New
// refuses them when they are not UTF-8, without quoting the password.
func TestNewRefusesInvalidUTF8Credentials(t *testing.T) {
	if _, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, User: "r\xfft", Password: "pw"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("user: %v, want ErrInvalidArgument", err)
	}
	_, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, User: "root", Password: "se\xffcret"})
	if !errors.Is(err, ErrInvalidArgument) || strings.Contains(err.Error(), "cret") {
		t.Errorf("password: %v, want ErrInvalidArgument without the password", err)
	}
}
