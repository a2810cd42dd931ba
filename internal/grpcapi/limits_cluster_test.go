package grpcapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/client"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/grpcapi"
)

// limitsMaxMsg is the grpc_api_max_message_size of these tests: small, so
// that values at the limit are quick to move.
const limitsMaxMsg = 1 << 20

// serveLimited starts a one-node cluster whose public API has the message
// limit limitsMaxMsg, as databend-meta serves it, and returns a Go client
// and a plain gRPC client of it.
func serveLimited(t *testing.T) (*client.Client, metapb.MetaClient) {
	t.Helper()
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true, MaxMessageSize: limitsMaxMsg})
	addr := c.ServePublic(c.Node(c.WaitLeader()), clustertest.ServeOptions{})
	cli, err := client.New(client.Config{Endpoints: []string{addr}, MaxMessageSize: limitsMaxMsg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(limitsMaxMsg), grpc.MaxCallSendMsgSize(limitsMaxMsg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return cli, metapb.NewMetaClient(conn)
}

func statusOf(t *testing.T, mc metapb.MetaClient) *metapb.StatusReply {
	t.Helper()
	st, err := mc.Status(context.Background(), &metapb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func lastSeq(t *testing.T, mc metapb.MetaClient) uint64 { return statusOf(t, mc).GetLastSeq() }

func revision(t *testing.T, mc metapb.MetaClient) uint64 { return statusOf(t, mc).GetRevision() }

// TestLargestValueOverwrittenAndWatched: the largest value the server
// accepts can be overwritten by another again and again, each reply (the
// previous and the new value) arriving, and a watch of its prefix gets
// every change and then a small write after them. A value one byte larger
// is refused and not stored. (Issue 11: a 17 MB value was accepted under
// 32 MiB, its overwrite applied but its reply failed, and the watch
// resumed at its event for ever.)
func TestLargestValueOverwrittenAndWatched(t *testing.T) {
	cli, mc := serveLimited(t)
	ctx, cancel := context.WithTimeout(context.Background(), clustertest.WaitTimeout)
	defer cancel()
	w, err := cli.Watch(ctx, client.WatchOptions{Prefix: "big/"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const key = "big/k"
	size := grpcapi.DefaultLimits(limitsMaxMsg).MaxRequestBytes - len(key)
	var want []uint64
	for i := range 3 {
		value := bytes.Repeat([]byte{'a' + byte(i)}, size)
		res, err := cli.Upsert(ctx, client.Upsert{Key: key, Value: value})
		if err != nil {
			t.Fatalf("overwrite %d of a %d-byte value: %v", i, size, err)
		}
		if !bytes.Equal(res.Result.Data, value) || (i > 0 && res.Prev.Data[0] != 'a'+byte(i-1)) {
			t.Fatalf("overwrite %d: the reply does not hold the previous and new values", i)
		}
		want = append(want, res.Result.Seq)
	}

	before := lastSeq(t, mc)
	_, err = cli.Upsert(ctx, client.Upsert{Key: key, Value: make([]byte, size+1)})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "grpc_api_max_message_size") {
		t.Fatalf("a value one byte over the limit: %v, want InvalidArgument naming grpc_api_max_message_size", err)
	}
	if got := lastSeq(t, mc); got != before {
		t.Fatalf("a refused value moved last_seq from %d to %d", before, got)
	}

	res, err := cli.Upsert(ctx, client.Upsert{Key: "big/small", Value: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, res.Result.Seq)
	for _, seq := range want {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("watch, waiting for seq %d: %v", seq, err)
		}
		if ev.Seq != seq {
			t.Fatalf("watch delivered seq %d, want %d", ev.Seq, seq)
		}
	}
}

// TestTxnReplyBound: a transaction whose reply would hold more than a
// message (it reads or overwrites several large values) is refused,
// saying nothing was applied, and nothing is; one whose reply fits runs.
func TestTxnReplyBound(t *testing.T) {
	_, mc := serveLimited(t)
	ctx := context.Background()
	size := grpcapi.DefaultLimits(limitsMaxMsg).MaxRequestBytes - 16
	for _, k := range []string{"big/1", "big/2", "big/3"} {
		if _, err := mc.Upsert(ctx, &metapb.UpsertRequest{Key: k, Value: make([]byte, size)}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(k string) *metapb.TxnOp {
		return &metapb.TxnOp{Request: &metapb.TxnOp_Get{Get: &metapb.TxnGet{Key: k}}}
	}
	put := &metapb.TxnOp{Request: &metapb.TxnOp_Put{Put: &metapb.TxnPut{Key: "small", Value: []byte("x")}}}

	before := lastSeq(t, mc)
	_, err := mc.Txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{put, get("big/1"), get("big/2"), get("big/3")}})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nothing was applied") {
		t.Fatalf("txn reading three large values: %v, want InvalidArgument saying nothing was applied", err)
	}
	if got := lastSeq(t, mc); got != before {
		t.Fatalf("a refused txn moved last_seq from %d to %d", before, got)
	}
	reply, err := mc.Txn(ctx, &metapb.TxnRequest{IfThen: []*metapb.TxnOp{put, get("big/1")}})
	if err != nil || len(reply.GetResponses()) != 2 {
		t.Fatalf("txn reading one large value: %v, %v", reply, err)
	}
}

// TestWatchFutureStartRevision: a start_revision beyond the revision + 1
// is refused with OutOfRange naming the revision; revision + 1 is the next
// change.
func TestWatchFutureStartRevision(t *testing.T) {
	cli, mc := serveLimited(t)
	ctx, cancel := context.WithTimeout(context.Background(), clustertest.WaitTimeout)
	defer cancel()
	if _, err := mc.Upsert(ctx, &metapb.UpsertRequest{Key: "f/a", Value: []byte("1")}); err != nil {
		t.Fatal(err)
	}
	last := revision(t, mc)
	for _, start := range []uint64{last + 2, 1 << 62, math.MaxUint64} {
		stream, err := mc.Watch(ctx, &metapb.WatchRequest{Key: "f/", KeyEnd: "f0", StartRevision: start})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.OutOfRange || !strings.Contains(err.Error(), fmt.Sprintf("the revision %d", last)) {
			t.Fatalf("start_revision %d with revision %d: %v, want OutOfRange naming the revision", start, last, err)
		}
	}

	// The Go client tells a future start_revision from a compacted history.
	fw, err := cli.Watch(ctx, client.WatchOptions{Prefix: "f/", StartRevision: last + 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Next(); !errors.Is(err, client.ErrFutureRevision) || errors.Is(err, client.ErrCompacted) {
		t.Fatalf("client watch from revision + 2: %v, want ErrFutureRevision", err)
	}
	fw.Close()

	w, err := cli.Watch(ctx, client.WatchOptions{Prefix: "f/", StartRevision: last + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	res, err := cli.Upsert(ctx, client.Upsert{Key: "f/b", Value: []byte("2")})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := w.Next()
	if err != nil || ev.Seq != res.Result.Seq || ev.Revision != last+1 || res.Result.ModRevision != last+1 {
		t.Fatalf("watch from revision + 1: %+v, %v; want the next write, revision %d", ev, err, last+1)
	}
}
