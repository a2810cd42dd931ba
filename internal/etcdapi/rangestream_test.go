package etcdapi_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// rangeStream calls RangeStream and returns the chunks' merge (as etcd's
// rangeStream test helper does) and how many chunks came.
func (c *etcdCluster) rangeStream(t *testing.T, req *pb.RangeRequest) (*pb.RangeResponse, int, error) {
	t.Helper()
	stream, err := c.kv.RangeStream(ctx(t), req)
	if err != nil {
		return nil, 0, err
	}
	got, chunks := &pb.RangeResponse{}, 0
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got, chunks, nil
		}
		if err != nil {
			return nil, chunks, err
		}
		chunks++
		proto.Merge(got, chunk.GetRangeResponse())
	}
}

// TestRangeStream is etcd's TestV3RangeStreamCount (25 keys: the first
// chunk holds 10, so a longer answer takes several chunks; count and
// more on the last one), and checks that the merged chunks are what
// Range answers, for the other requests RangeStream takes too.
func TestRangeStream(t *testing.T) {
	c := newEtcdCluster(t)
	const nKeys = 25
	var revs []int64
	for i := range nKeys {
		revs = append(revs, c.put(t, fmt.Sprintf("k%02d", i), fmt.Sprint("v", i)))
	}
	c.put(t, "other", "x")

	for _, tt := range []struct {
		name      string
		limit     int64
		wantCount int64
		wantMore  bool
		wantKeys  int
		minChunks int
	}{
		{"unlimited exhausts with running count", 0, nKeys, false, nKeys, 2},
		{"limit below total truncates with the rest counted", 5, nKeys, true, 5, 1},
		{"limit equal to total", nKeys, nKeys, false, nKeys, 2},
		{"limit above total", 100, nKeys, false, nKeys, 2},
		{"limit at the first chunk's end, the rest counted", 10, nKeys, true, 10, 1},
	} {
		for _, keysOnly := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s keys only %v", tt.name, keysOnly), func(t *testing.T) {
				got, chunks, err := c.rangeStream(t, &pb.RangeRequest{Key: []byte("k00"), RangeEnd: []byte("l"), Limit: tt.limit, KeysOnly: keysOnly})
				if err != nil {
					t.Fatal(err)
				}
				if got.Count != tt.wantCount || got.More != tt.wantMore || len(got.Kvs) != tt.wantKeys || chunks < tt.minChunks {
					t.Errorf("count %d, more %v, %d keys in %d chunks; want count %d, more %v, %d keys in at least %d chunks",
						got.Count, got.More, len(got.Kvs), chunks, tt.wantCount, tt.wantMore, tt.wantKeys, tt.minChunks)
				}
			})
		}
	}

	for _, req := range []*pb.RangeRequest{
		{Key: []byte("k"), RangeEnd: []byte("l")},
		{Key: []byte{0}, RangeEnd: []byte{0}},
		{Key: []byte("k"), RangeEnd: []byte("l"), Limit: 17, KeysOnly: true},
		{Key: []byte("k"), RangeEnd: []byte("l"), Revision: revs[14]},
		{Key: []byte("k"), RangeEnd: []byte("l"), Limit: 12, Revision: revs[20], Serializable: true},
		{Key: []byte("k"), RangeEnd: []byte("l"), CountOnly: true},
		{Key: []byte("k"), RangeEnd: []byte("l"), SortOrder: pb.RangeRequest_ASCEND},
		{Key: []byte("k07")},
		{Key: []byte("missing")},
	} {
		t.Run(fmt.Sprintf("as Range %v", req), func(t *testing.T) {
			want, err := c.kv.Range(ctx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := c.rangeStream(t, req)
			if err != nil {
				t.Fatal(err)
			}
			// The header is the answering node's; the revision is the store's.
			got.Header, want.Header = nil, nil
			if !proto.Equal(got, want) {
				t.Errorf("merged RangeStream\n%v\nwant Range's\n%v", got, want)
			}
		})
	}
}

// TestRangeStreamRefused: what etcd's RangeStream refuses (a sort other
// than by key ascending, revision filters: Unimplemented), and a
// compacted revision as clientv3's ErrCompacted through GetStream (etcd's
// TestKVGetStreamCompactedError).
func TestRangeStreamRefused(t *testing.T) {
	c := newEtcdCluster(t)
	var rev int64
	for range 5 {
		rev = c.put(t, "foo", "bar")
	}
	if _, err := c.cli.Compact(ctx(t), rev-1); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		req  *pb.RangeRequest
		want codes.Code
	}{
		{&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortOrder: pb.RangeRequest_DESCEND}, codes.Unimplemented},
		{&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_MOD}, codes.Unimplemented},
		{&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), MinModRevision: 2}, codes.Unimplemented},
		{&pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), MaxCreateRevision: 2}, codes.Unimplemented},
		{&pb.RangeRequest{Key: []byte("a"), SortOrder: 7}, codes.InvalidArgument},
		{&pb.RangeRequest{}, codes.InvalidArgument},
	} {
		if _, _, err := c.rangeStream(t, tt.req); status.Code(err) != tt.want {
			t.Errorf("RangeStream(%v): %v, want %v", tt.req, err, tt.want)
		}
	}

	stream, err := c.cli.GetStream(ctx(t), "foo", clientv3.WithRev(rev-3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clientv3.GetStreamToGetResponse(stream); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("GetStream below the compact revision: %v, want %v", err, rpctypes.ErrCompacted)
	}
}
