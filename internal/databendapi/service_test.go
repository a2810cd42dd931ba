package databendapi_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/auth"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/databendapi"
)

// node is one served node, dialed as Databend's client dials it.
type node struct {
	conn   *grpc.ClientConn
	db     databendpb.MetaServiceClient
	native metapb.MetaClient

	mu        sync.Mutex
	localAddr string // of the last connection dialed
}

// serve serves nd's public API on a loopback port as databend-meta does
// (clustertest.ServePublic: both faces, as the binary serves them), with
// [auth] when withAuth is set (users of withAuth), else without (a
// Databend face that gives root a token).
func serve(t *testing.T, cl *clustertest.Cluster, nd *clustertest.Node, withAuth *auth.Authenticator) *node {
	t.Helper()
	o := clustertest.ServeOptions{}
	if withAuth != nil {
		o.Auth = withAuth
	}
	addr := cl.ServePublic(nd, o)
	n := &node{}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err == nil {
				n.mu.Lock()
				n.localAddr = c.LocalAddr().String()
				n.mu.Unlock()
			}
			return c, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	n.conn, n.db, n.native = conn, databendpb.NewMetaServiceClient(conn), metapb.NewMetaClient(conn)
	return n
}

// handshake does what Databend's client does on a new connection: one
// HandshakeRequest with its version and an encoded BasicAuth, one
// HandshakeResponse.
func handshake(ctx context.Context, c databendpb.MetaServiceClient, client databendapi.Version, user, password string) (*databendpb.HandshakeResponse, error) {
	payload, err := proto.Marshal(&databendpb.BasicAuth{Username: user, Password: password})
	if err != nil {
		return nil, err
	}
	return handshakeRaw(ctx, c, &databendpb.HandshakeRequest{ProtocolVersion: client.Digit(), Payload: payload})
}

func handshakeRaw(ctx context.Context, c databendpb.MetaServiceClient, req *databendpb.HandshakeRequest) (*databendpb.HandshakeResponse, error) {
	st, err := c.Handshake(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.Send(req); err != nil {
		return nil, err
	}
	if err := st.CloseSend(); err != nil {
		return nil, err
	}
	return st.Recv()
}

// withToken adds the token of a handshake to ctx as Databend's client
// does.
func withToken(ctx context.Context, token []byte) context.Context {
	return metadata.AppendToOutgoingContext(ctx, databendapi.TokenKey, string(token))
}

func wantCode(t *testing.T, what string, err error, code codes.Code, words ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("%s: %v, want %v", what, err, code)
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("%s: %v, want it to say %q", what, err, w)
		}
	}
}

// A client handshakes as root, whatever the password, on a node without
// [auth], as on databend-meta; the answer is ServerVersion and a token.
func TestHandshake(t *testing.T) {
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	n := serve(t, cl, cl.Node(1), nil)
	ctx := cl.Ctx()

	for _, client := range []databendapi.Version{
		databendapi.MinClientVersion, {260629, 2, 0}, {270101, 0, 0},
		{}, // too old to send a version: let in, as databend-meta does
	} {
		resp, err := handshake(ctx, n.db, client, "root", "xxx")
		if err != nil {
			t.Fatalf("client %s: %v", client, err)
		}
		if resp.GetProtocolVersion() != 260_629_002_000 || len(resp.GetPayload()) == 0 {
			t.Fatalf("client %s: answer %v, want protocol_version 260629002000 and a token", client, resp)
		}
	}

	_, err := handshake(ctx, n.db, databendapi.Version{1, 2, 675}, "root", "xxx")
	wantCode(t, "client 1.2.675", err, codes.InvalidArgument, "1.2.675", "1.2.676")
	_, err = handshake(ctx, n.db, databendapi.Version{0, 9, 41}, "root", "xxx")
	wantCode(t, "client 0.9.41", err, codes.InvalidArgument, "0.9.41", "1.2.676")

	_, err = handshake(ctx, n.db, databendapi.MinClientVersion, "bob", "xxx")
	wantCode(t, "user bob without [auth]", err, codes.Unauthenticated, "bob")

	_, err = handshakeRaw(ctx, n.db, &databendpb.HandshakeRequest{ProtocolVersion: databendapi.ServerVersion.Digit(), Payload: []byte{0xff}})
	wantCode(t, "a payload that is no BasicAuth", err, codes.InvalidArgument, "BasicAuth")
}

// The calls databend-meta checks need the handshake's token in
// auth-token-bin; the others do not, on a node without [auth].
func TestTokenWithoutAuth(t *testing.T) {
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	n := serve(t, cl, cl.Node(1), nil)
	ctx := cl.Ctx()

	_, err := n.db.MemberList(ctx, &databendpb.MemberListRequest{})
	wantCode(t, "MemberList without a token", err, codes.Unauthenticated, "auth-token-bin", "Handshake")
	_, err = n.db.KvApi(ctx, &databendpb.RaftRequest{Data: `{"UpsertKV":{}}`})
	wantCode(t, "KvApi without a token", err, codes.Unauthenticated, "auth-token-bin")
	_, err = n.db.MemberList(withToken(ctx, []byte("mt1.AAAAAAAAAAA.AAAA")), &databendpb.MemberListRequest{})
	wantCode(t, "MemberList with a forged token", err, codes.Unauthenticated, "auth-token-bin", "invalid token")

	if _, err := n.db.GetClientInfo(ctx, &databendpb.Empty{}); err != nil {
		t.Fatalf("GetClientInfo needs no token on databend-meta: %v", err)
	}

	resp, err := handshake(ctx, n.db, databendapi.ServerVersion, "root", "")
	if err != nil {
		t.Fatal(err)
	}
	tctx := withToken(ctx, resp.GetPayload())
	if _, err := n.db.MemberList(tctx, &databendpb.MemberListRequest{}); err != nil {
		t.Fatalf("MemberList with the token: %v", err)
	}
	_, err = n.db.KvApi(tctx, &databendpb.RaftRequest{Data: `{"UpsertKV":{}}`})
	wantCode(t, "KvApi with the token, an UpsertKV without its fields", err, codes.InvalidArgument, "key")

	// The native face is open without [auth], Databend's token or not.
	if _, err := n.native.Get(ctx, &metapb.GetRequest{Key: "k"}); err != nil {
		t.Fatalf("native Get: %v", err)
	}
}

// With [auth] the user's password is checked and every Databend call but
// Handshake needs the token; the native face keeps its own credentials.
func TestTokenWithAuth(t *testing.T) {
	hash, err := auth.HashPassword("pw", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{Users: []auth.User{{Name: "root", PasswordHash: hash}}})
	if err != nil {
		t.Fatal(err)
	}
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	n := serve(t, cl, cl.Node(1), a)
	ctx := cl.Ctx()

	_, err = handshake(ctx, n.db, databendapi.ServerVersion, "root", "xxx")
	wantCode(t, "a wrong password", err, codes.Unauthenticated, "wrong user name or password")
	_, err = handshake(ctx, n.db, databendapi.ServerVersion, "bob", "pw")
	wantCode(t, "an unknown user", err, codes.Unauthenticated, "wrong user name or password")
	_, err = handshake(ctx, n.db, databendapi.Version{1, 2, 600}, "root", "pw")
	wantCode(t, "an old client", err, codes.InvalidArgument, "1.2.600", "1.2.676")

	_, err = n.db.GetClientInfo(ctx, &databendpb.Empty{})
	wantCode(t, "GetClientInfo without a token", err, codes.Unauthenticated, "auth-token-bin")
	_, err = n.db.MemberList(ctx, &databendpb.MemberListRequest{})
	wantCode(t, "MemberList without a token", err, codes.Unauthenticated, "auth-token-bin")

	resp, err := handshake(ctx, n.db, databendapi.ServerVersion, "root", "pw")
	if err != nil {
		t.Fatal(err)
	}
	tctx := withToken(ctx, resp.GetPayload())
	if _, err := n.db.GetClientInfo(tctx, &databendpb.Empty{}); err != nil {
		t.Fatalf("GetClientInfo with the token: %v", err)
	}
	if _, err := n.db.MemberList(tctx, &databendpb.MemberListRequest{}); err != nil {
		t.Fatalf("MemberList with the token: %v", err)
	}

	// The native face still wants its authorization metadata, and its
	// Handshake stays open.
	_, err = n.native.Get(tctx, &metapb.GetRequest{Key: "k"})
	wantCode(t, "native Get with only Databend's token", err, codes.Unauthenticated)
	if _, err := n.native.Handshake(ctx, &metapb.HandshakeRequest{User: "root", Password: "pw"}); err != nil {
		t.Fatalf("native Handshake: %v", err)
	}
}

func TestGetClientInfo(t *testing.T) {
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	n := serve(t, cl, cl.Node(1), nil)
	before := uint64(time.Now().UnixMilli())
	info, err := n.db.GetClientInfo(cl.Ctx(), &databendpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	after := uint64(time.Now().UnixMilli())
	n.mu.Lock()
	local := n.localAddr
	n.mu.Unlock()
	if info.GetClientAddr() != local {
		t.Errorf("client_addr %q, want the client's address %q", info.GetClientAddr(), local)
	}
	if info.ServerTime == nil || info.GetServerTime() < before || info.GetServerTime() > after {
		t.Errorf("server_time %v, want ms in [%d, %d]", info.ServerTime, before, after)
	}
}

// Every node of a 3-node cluster lists the public address of each member,
// in id order.
func TestMemberList(t *testing.T) {
	cl := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	cl.WaitLeader()
	want := []string{clustertest.Addr(1), clustertest.Addr(2), clustertest.Addr(3)} // clustertest advertises these as grpc addresses
	ctx := cl.Ctx()
	for id := uint64(1); id <= 3; id++ {
		n := serve(t, cl, cl.Node(id), nil)
		resp, err := handshake(ctx, n.db, databendapi.ServerVersion, "root", "")
		if err != nil {
			t.Fatal(err)
		}
		// A member table is applied from the log: once the cluster
		// settles, every node has applied it.
		cl.Settled(func() bool {
			r, err := n.db.MemberList(withToken(ctx, resp.GetPayload()), &databendpb.MemberListRequest{})
			if err != nil {
				t.Fatalf("node %d: %v", id, err)
			}
			return slices.Equal(r.GetData(), want)
		}, "every node lists the three members in id order")
	}
}

// A request that does not decode (a string field that is not UTF-8) is
// InvalidArgument naming the request type, on the Databend face as on the
// native one; gRPC alone would answer Internal.
func TestMalformedRequest(t *testing.T) {
	cl := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	n := serve(t, cl, cl.Node(cl.WaitLeader()), nil)
	ctx := cl.Ctx()
	resp, err := handshake(ctx, n.db, databendapi.ServerVersion, "root", "")
	if err != nil {
		t.Fatal(err)
	}
	// ExportChunk's field 1 is bytes, MemberListRequest's the string data.
	bad := &metapb.ExportChunk{Data: []byte("a\xffb")}
	err = n.conn.Invoke(withToken(ctx, resp.GetPayload()), "/meta.MetaService/MemberList", bad, &databendpb.MemberListReply{})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "malformed meta.MemberListRequest: ") {
		t.Fatalf("MemberList with a data field that is not UTF-8: %v, want InvalidArgument naming meta.MemberListRequest", err)
	}
}
