package grpcapi

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/metasrv/metasrv/api/metapb"
)

// A raw client sends bytes the server cannot decode as any message: field
// 1, length-delimited, of 5 bytes, with 1 byte left (malformed(), sent as
// an unknown field of an empty message). The server answers
// InvalidArgument naming the request type, not Internal, for unary calls
// and for streams, and no handler runs.
func TestMalformedRequestInvalidArgument(t *testing.T) {
	kv := &fakeKV{}
	conn := serveMeta(t, kv, []grpc.ServerOption{DecodeErrorsOption()}, RegisterMeta)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	bad := malformed()
	unary := func(method string, reply any) func() error {
		return func() error { return conn.Invoke(ctx, "/metasrv.v1.Meta/"+method, bad, reply) }
	}
	serverStream := func(method string) func() error {
		return func() error {
			s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/metasrv.v1.Meta/"+method)
			if err != nil {
				return err
			}
			if err := s.SendMsg(bad); err != nil {
				return err
			}
			if err := s.CloseSend(); err != nil {
				return err
			}
			return s.RecvMsg(&metapb.WatchResponse{})
		}
	}
	tests := []struct {
		name string
		call func() error
		want string // the request type the error names
	}{
		{"Get", unary("Get", &metapb.GetReply{}), "metasrv.v1.GetRequest"},
		{"Upsert", unary("Upsert", &metapb.UpsertReply{}), "metasrv.v1.UpsertRequest"},
		{"MGet", unary("MGet", &metapb.MGetReply{}), "metasrv.v1.MGetRequest"},
		{"Txn", unary("Txn", &metapb.TxnReply{}), "metasrv.v1.TxnRequest"},
		{"Handshake", unary("Handshake", &metapb.HandshakeReply{}), "metasrv.v1.HandshakeRequest"},
		{"List", serverStream("List"), "metasrv.v1.ListRequest"},
		{"Watch", serverStream("Watch"), "metasrv.v1.WatchRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.HasPrefix(st.Message(), "malformed "+tt.want+": ") {
				t.Fatalf("err = %v, want InvalidArgument \"malformed %s: ...\"", err, tt.want)
			}
		})
	}
	if kv.upserted != nil || kv.txn != nil || kv.watched != nil {
		t.Errorf("a handler ran on a malformed request")
	}

	// A well-formed request still works, through the same wrapping.
	if _, err := metapb.NewMetaClient(conn).Get(ctx, &metapb.GetRequest{Key: "k"}); err != nil {
		t.Errorf("Get: %v", err)
	}
}

// malformed returns a message whose encoding is truncated protobuf (field
// 1, length-delimited, 5 bytes announced, 1 present). A key that is not
// UTF-8 is not malformed: metapb's strings hold any bytes.
func malformed() *metapb.ExportChunk {
	m := &metapb.ExportChunk{}
	m.ProtoReflect().SetUnknown(protoreflect.RawFields{0x0a, 0x05, 'a'})
	return m
}

// serveMeta serves Meta over kv on an in-memory listener, with opts and
// registered by register, and returns a connection to it.
func serveMeta(t *testing.T, kv KV, opts []grpc.ServerOption, register func(grpc.ServiceRegistrar, metapb.MetaServer)) *grpc.ClientConn {
	t.Helper()
	srv := grpc.NewServer(opts...)
	register(srv, NewMeta(kv, DefaultLimits(1<<20)))
	return serveInMemory(t, srv)
}

// serveInMemory serves srv on an in-memory listener until the test ends
// and returns a connection to it.
func serveInMemory(t *testing.T, srv *grpc.Server) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// DecodeErrorsOption and RegisterMeta each alone leave gRPC's behaviour:
// requests are served, and one that does not decode fails with Internal
// before any handler runs.
func TestDecodeErrorsPiecesAlone(t *testing.T) {
	tests := []struct {
		name     string
		opts     []grpc.ServerOption
		register func(grpc.ServiceRegistrar, metapb.MetaServer)
	}{
		{"RegisterMeta alone", nil, RegisterMeta},
		{"DecodeErrorsOption alone", []grpc.ServerOption{DecodeErrorsOption()}, func(s grpc.ServiceRegistrar, m metapb.MetaServer) {
			metapb.RegisterMetaServer(s, m)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := &fakeKV{}
			conn := serveMeta(t, kv, tt.opts, tt.register)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := metapb.NewMetaClient(conn).Upsert(ctx, &metapb.UpsertRequest{Key: "k", Value: []byte("v")}); err != nil || kv.upserted.GetKey() != "k" {
				t.Fatalf("Upsert: %v, the handler saw %v", err, kv.upserted)
			}
			kv.upserted = nil
			err := conn.Invoke(ctx, "/metasrv.v1.Meta/Upsert", malformed(), &metapb.UpsertReply{})
			if status.Code(err) != codes.Internal || kv.upserted != nil {
				t.Errorf("malformed Upsert: %v, the handler saw %v; want Internal and no handler", err, kv.upserted)
			}
		})
	}
}
