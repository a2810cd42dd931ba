package grpcapi

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/metasrv/metasrv/api/metapb"
)

// TestMessageSizeLimit serves Meta as databend-meta does, with the gRPC
// message limit grpc_api_max_message_size and the DefaultLimits derived
// from it: a request over the limit is refused by gRPC (ResourceExhausted,
// saying both sizes), a value that fits the message but not the value
// limit by the handler (InvalidArgument, naming the setting), and neither
// reaches the server.
func TestMessageSizeLimit(t *testing.T) {
	const maxMsg = 1 << 20
	kv := &fakeKV{}
	lis := bufconn.Listen(4 << 20)
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))
	metapb.RegisterMetaServer(srv, NewMeta(kv, DefaultLimits(maxMsg)))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(8<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	cli := metapb.NewMetaClient(conn)
	limits := DefaultLimits(maxMsg)

	tests := []struct {
		name  string
		value int
		code  codes.Code
		msg   string
	}{
		{"over the message limit", maxMsg + 1, codes.ResourceExhausted, "larger than max"},
		{"over the value limit", limits.MaxValueBytes + 1, codes.InvalidArgument, "grpc_api_max_message_size"},
		{"at the value limit", limits.MaxValueBytes, codes.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv.upserted = nil
			_, err := cli.Upsert(context.Background(), &metapb.UpsertRequest{Key: "k", Value: make([]byte, tt.value)})
			if status.Code(err) != tt.code || !strings.Contains(status.Convert(err).Message(), tt.msg) {
				t.Fatalf("Upsert of a %d-byte value: %v, want %v with %q", tt.value, err, tt.code, tt.msg)
			}
			if (kv.upserted != nil) != (tt.code == codes.OK) {
				t.Fatalf("reached the server: %v", kv.upserted != nil)
			}
		})
	}
}

// TestMGetKeyLimit: more keys than MaxKeysPerRequest in one MGet is
// refused, saying what to do.
func TestMGetKeyLimit(t *testing.T) {
	limits := DefaultLimits(1 << 20)
	limits.MaxKeysPerRequest = 3
	m := NewMeta(&fakeKV{}, limits)
	if _, err := m.MGet(context.Background(), &metapb.MGetRequest{Keys: []string{"a", "b", "c"}}); err != nil {
		t.Fatalf("MGet at the limit: %v", err)
	}
	_, err := m.MGet(context.Background(), &metapb.MGetRequest{Keys: []string{"a", "b", "c", "d"}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "split the request") {
		t.Fatalf("MGet over the limit: %v, want InvalidArgument saying to split", err)
	}
}
