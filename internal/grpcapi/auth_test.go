package grpcapi

import (
	"context"
	"encoding/base64"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/auth"
)

// countingKV counts the calls that reach the server.
type countingKV struct {
	fakeKV
	calls atomic.Int64
}

func (c *countingKV) Upsert(ctx context.Context, req *metapb.UpsertRequest) (*metapb.UpsertReply, error) {
	c.calls.Add(1)
	return c.fakeKV.Upsert(ctx, req)
}

func (c *countingKV) Txn(ctx context.Context, req *metapb.TxnRequest) (*metapb.TxnReply, error) {
	c.calls.Add(1)
	return c.fakeKV.Txn(ctx, req)
}

func (c *countingKV) Get(ctx context.Context, k string, rc metapb.ReadConsistency) (*metapb.SeqV, error) {
	c.calls.Add(1)
	return c.fakeKV.Get(ctx, k, rc)
}

func (c *countingKV) List(ctx context.Context, p string, l uint64, rc metapb.ReadConsistency, fn func(*metapb.KV) bool) error {
	c.calls.Add(1)
	return c.fakeKV.List(ctx, p, l, rc, fn)
}

func (c *countingKV) Watch(ctx context.Context, req *metapb.WatchRequest, send func(*metapb.WatchResponse) error) error {
	c.calls.Add(1)
	return c.fakeKV.Watch(ctx, req, send)
}

func (c *countingKV) Members() []*metapb.Node {
	c.calls.Add(1)
	return nil
}

// startAuthMeta serves Meta over kv with authentication by a, and the
// health service, on an in-memory listener.
func startAuthMeta(t *testing.T, kv KV, a *auth.Authenticator) *grpc.ClientConn {
	t.Helper()
	srv := grpc.NewServer(AuthServerOptions(a)...)
	metapb.RegisterMetaServer(srv, NewMeta(kv, DefaultLimits(1<<20), a))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	return serveInMemory(t, srv)
}

// everyCall makes one call of each kind with ctx and returns the errors by
// method.
func everyCall(ctx context.Context, c metapb.MetaClient) map[string]error {
	errs := map[string]error{}
	_, errs["Upsert"] = c.Upsert(ctx, &metapb.UpsertRequest{Key: "k", Value: []byte("v")})
	_, errs["Txn"] = c.Txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "k"}}}}})
	_, errs["Get"] = c.Get(ctx, &metapb.GetRequest{Key: "k"})
	_, errs["MemberList"] = c.MemberList(ctx, &metapb.MemberListRequest{})
	recvAll := func(st interface{ RecvMsg(any) error }, err error, m any) error {
		if err != nil {
			return err
		}
		for {
			if err := st.RecvMsg(m); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	}
	ls, err := c.List(ctx, &metapb.ListRequest{Prefix: "p/"})
	errs["List"] = recvAll(ls, err, new(metapb.ListReply))
	wctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ws, err := c.Watch(wctx, &metapb.WatchRequest{Key: "k"})
	if err == nil {
		_, err = ws.Recv()
	}
	errs["Watch"] = err
	return errs
}

func TestAuthInterceptors(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	hash, err := auth.HashPassword("pw", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{
		Users: []auth.User{{Name: "root", PasswordHash: hash}}, TokenTTL: time.Minute,
		Now: func() time.Time { return time.Unix(0, now.Load()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	kv := &countingKV{fakeKV: fakeKV{keys: 3}}
	conn := startAuthMeta(t, kv, a)
	c := metapb.NewMetaClient(conn)
	ctx := context.Background()

	refused := func(t *testing.T, ctx context.Context, want string) {
		t.Helper()
		for method, err := range everyCall(ctx, c) {
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "Handshake") {
				t.Errorf("%s: %v, want Unauthenticated with %q and how to authenticate", method, err, want)
			}
		}
		if n := kv.calls.Load(); n != 0 {
			t.Fatalf("%d refused calls reached the server", n)
		}
		if kv.upserted != nil || kv.txn != nil || kv.watched != nil {
			t.Fatal("a refused write reached the server")
		}
	}
	with := func(authorization string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, AuthorizationKey, authorization)
	}

	t.Run("no credentials", func(t *testing.T) { refused(t, ctx, "no credentials") })
	t.Run("wrong password", func(t *testing.T) {
		refused(t, with("Basic "+base64.StdEncoding.EncodeToString([]byte("root:nope"))), "wrong user name or password")
	})
	t.Run("forged token", func(t *testing.T) { refused(t, with("Bearer mt1.AAAAAAAAAAA.AAAA"), "invalid token") })

	t.Run("health needs nothing", func(t *testing.T) {
		if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	})

	if _, err := c.Handshake(ctx, &metapb.HandshakeRequest{User: "root", Password: "nope"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Handshake with a wrong password: %v, want Unauthenticated", err)
	}
	hs, err := c.Handshake(ctx, &metapb.HandshakeRequest{User: "root", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	if hs.GetTtlMs() != 60000 || hs.GetExpiresAtMs() != uint64(time.Unix(0, now.Load()).Add(time.Minute).UnixMilli()) {
		t.Fatalf("Handshake reply %v: want a 1m token", hs)
	}

	t.Run("token", func(t *testing.T) {
		for method, err := range everyCall(with("Bearer "+hs.GetToken()), c) {
			if err != nil {
				t.Errorf("%s: %v", method, err)
			}
		}
	})
	t.Run("basic", func(t *testing.T) {
		if _, err := c.Get(with("Basic "+base64.StdEncoding.EncodeToString([]byte("root:pw"))), &metapb.GetRequest{Key: "k"}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		now.Add(int64(time.Minute))
		kv.calls.Store(0)
		kv.upserted, kv.txn, kv.watched = nil, nil, nil
		refused(t, with("Bearer "+hs.GetToken()), "token expired")
	})
}

func TestHandshakeWithoutAuth(t *testing.T) {
	c := startMeta(t, &fakeKV{})
	hs, err := c.Handshake(context.Background(), &metapb.HandshakeRequest{User: "anyone", Password: "x"})
	if err != nil || hs.GetToken() != "" || hs.GetExpiresAtMs() != 0 {
		t.Fatalf("Handshake on a node without auth = %v, %v; want an empty token", hs, err)
	}
}

// The interceptors leave Handshake, health and the services of other faces
// (which check their own credentials) alone, and nothing else.
func TestExempt(t *testing.T) {
	faces := []string{"meta.MetaService"}
	for _, tt := range []struct {
		method string
		faces  []string
		want   bool
	}{
		{metapb.Meta_Handshake_FullMethodName, nil, true},
		{"/grpc.health.v1.Health/Check", nil, true},
		{metapb.Meta_Get_FullMethodName, faces, false},
		{"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", faces, false},
		{"/meta.MetaService/KvApi", faces, true},
		{"/meta.MetaService/KvApi", nil, false},
		{"/meta.MetaServiceX/KvApi", faces, false},
	} {
		if got := exempt(tt.method, tt.faces); got != tt.want {
			t.Errorf("exempt(%s, %v) = %v, want %v", tt.method, tt.faces, got, tt.want)
		}
	}
}
