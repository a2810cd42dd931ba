package grpcapi

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

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
		{"over the request limit", limits.MaxRequestBytes, codes.InvalidArgument, "grpc_api_max_message_size"},
		{"at the request limit (with the key)", limits.MaxRequestBytes - 1, codes.OK, ""},
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

// TestUpsertAndTxnLimitsAgree: a key and value that an upsert may carry, a
// transaction's put may carry too, and one refused by one is refused by
// the other, at the limit DefaultLimits derives from the message size:
// M/2 - 64 KiB bytes of key and value.
func TestUpsertAndTxnLimitsAgree(t *testing.T) {
	for _, maxMsg := range []int{1 << 20, 32 << 20} {
		limits := DefaultLimits(maxMsg)
		if want := maxMsg/2 - 64<<10; limits.MaxRequestBytes != want {
			t.Fatalf("DefaultLimits(%d).MaxRequestBytes = %d, want %d", maxMsg, limits.MaxRequestBytes, want)
		}
		const key = "key"
		for _, size := range []int{limits.MaxRequestBytes - len(key), limits.MaxRequestBytes - len(key) + 1} {
			value := make([]byte, size)
			m := NewMeta(&fakeKV{}, limits)
			_, uerr := m.Upsert(context.Background(), &metapb.UpsertRequest{Key: key, Value: value})
			_, terr := m.Txn(context.Background(), &metapb.TxnRequest{IfThen: []*metapb.TxnOp{txnPut(key, value)}})
			if status.Code(uerr) != status.Code(terr) {
				t.Fatalf("M=%d, a %d-byte value: upsert %v, txn %v: the limits disagree", maxMsg, size, uerr, terr)
			}
			wantOK := len(key)+size <= limits.MaxRequestBytes
			if (uerr == nil) != wantOK {
				t.Fatalf("M=%d, a %d-byte value: upsert %v, want accepted %v", maxMsg, size, uerr, wantOK)
			}
			if uerr != nil && !strings.Contains(uerr.Error(), "grpc_api_max_message_size") {
				t.Errorf("upsert error %q does not name grpc_api_max_message_size", uerr)
			}
			if terr != nil && !strings.Contains(terr.Error(), "grpc_api_max_message_size") {
				t.Errorf("txn error %q does not name grpc_api_max_message_size", terr)
			}
		}
	}
}

// TestMGetReplyBound: an MGet whose values would not fit in one message is
// refused, saying to ask for fewer keys, instead of failing in gRPC's send.
func TestMGetReplyBound(t *testing.T) {
	limits := DefaultLimits(1 << 20)
	m := NewMeta(&fakeKV{valueSize: limits.MaxRequestBytes}, limits)
	if _, err := m.MGet(context.Background(), &metapb.MGetRequest{Keys: []string{"a", "b"}}); err != nil {
		t.Fatalf("MGet of two values that fit: %v", err)
	}
	_, err := m.MGet(context.Background(), &metapb.MGetRequest{Keys: []string{"a", "b", "c"}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "ask for fewer keys") {
		t.Fatalf("MGet of three: %v, want InvalidArgument saying to ask for fewer keys", err)
	}
}

// TestListChunkBound: a List chunk holds one KV, or KVs that together fit
// in listChunkBytes; never a full chunk plus a large value.
func TestListChunkBound(t *testing.T) {
	for _, size := range []int{100, listChunkBytes * 3 / 5, listChunkBytes + 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			st := &listStream{}
			if err := NewMeta(&fakeKV{keys: 5, valueSize: size}, DefaultLimits(4<<20)).List(&metapb.ListRequest{Prefix: "p/"}, st); err != nil {
				t.Fatal(err)
			}
			total := 0
			for _, c := range st.chunks {
				if n := proto.Size(&metapb.ListReply{Kvs: c}); len(c) > 1 && n > listChunkBytes {
					t.Fatalf("a chunk of %d KVs is %d bytes, over %d", len(c), n, listChunkBytes)
				}
				total += len(c)
			}
			if total != 5 {
				t.Fatalf("streamed %d keys, want 5", total)
			}
		})
	}
}
