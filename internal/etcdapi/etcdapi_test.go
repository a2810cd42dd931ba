package etcdapi_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/status"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/clustertest"
)

// etcdCluster is a 3-node in-process cluster serving the public port on
// every node, and a clientv3 client over the three endpoints.
type etcdCluster struct {
	cl  *clustertest.Cluster
	cli *clientv3.Client
	// kv is etcd's raw KV client over cli's connection, for requests
	// clientv3 does not build (etcd's own tests use it too).
	kv  pb.KVClient
	eps []string
}

// Its raft time moves only with c.cl.Tick (clustertest's manual ticks)
// unless opts say otherwise.
func newEtcdCluster(t *testing.T, opts ...clustertest.Options) *etcdCluster {
	t.Helper()
	o := clustertest.Options{ManualTicks: true}
	if len(opts) > 0 {
		o = opts[0]
	}
	return newEtcdClusterServing(t, o, clustertest.ServeOptions{})
}

// newEtcdClusterServing is newEtcdCluster with the cluster's options o
// and each public port served with so.
func newEtcdClusterServing(t *testing.T, o clustertest.Options, so clustertest.ServeOptions) *etcdCluster {
	t.Helper()
	cl := clustertest.New(t, 3, o)
	c := &etcdCluster{cl: cl}
	for _, nd := range cl.Nodes() {
		c.eps = append(c.eps, cl.ServePublic(nd, so))
	}
	c.cli = c.dial(t, c.eps...)
	c.kv = pb.NewKVClient(c.cli.ActiveConnection())
	return c
}

func (c *etcdCluster) dial(t *testing.T, eps ...string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func keysOf(kvs []*mvccpb.KeyValue) []string {
	out := []string{}
	for _, kv := range kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

// eqErr compares a gRPC error with etcd's, as etcd's eqErrGRPC does.
func eqErr(err, want error) bool {
	if err == nil || want == nil {
		return err == want
	}
	return status.Code(err) == status.Code(want) && status.Convert(err).Message() == status.Convert(want).Message()
}

// TestRangeRequest is etcd's TestV3RangeRequest (tests/integration/
// v3_grpc_test.go) with its expected keys, more, counts and header
// revisions. Past revisions are refused as compacted until the history of
// issue 13 lands, where etcd serves them.
func TestRangeRequest(t *testing.T) {
	type want struct {
		keys  []string
		more  bool
		count int64
		err   error
	}
	all := []byte{0}
	tests := []struct {
		name    string
		putKeys []string
		reqs    []*pb.RangeRequest
		wants   []want
	}{
		{"single key", []string{"foo", "bar"},
			[]*pb.RangeRequest{{Key: []byte("foo")}, {Key: []byte("baz")}},
			[]want{{keys: []string{"foo"}, count: 1}, {keys: []string{}}}},
		{"multi-key", []string{"a", "b", "c", "d", "e"},
			[]*pb.RangeRequest{
				{Key: []byte("a"), RangeEnd: []byte("z")},
				{Key: []byte("b"), RangeEnd: []byte("d")},
				{Key: []byte("f"), RangeEnd: []byte("z")},
				{Key: []byte("c"), RangeEnd: []byte("c")},
				{Key: []byte("d"), RangeEnd: []byte("b")},
				{Key: all, RangeEnd: all},
			},
			[]want{
				{keys: []string{"a", "b", "c", "d", "e"}, count: 5},
				{keys: []string{"b", "c"}, count: 2},
				{keys: []string{}}, {keys: []string{}}, {keys: []string{}},
				{keys: []string{"a", "b", "c", "d", "e"}, count: 5},
			}},
		{"revision", []string{"a", "b", "c", "d", "e"},
			[]*pb.RangeRequest{
				{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 0},
				{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 6},
				{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 3},
				{Key: []byte("a"), RangeEnd: []byte("z"), Revision: 7},
			},
			[]want{
				{keys: []string{"a", "b", "c", "d", "e"}, count: 5},
				{keys: []string{"a", "b", "c", "d", "e"}, count: 5},
				{keys: []string{"a", "b"}, count: 2},
				{err: rpctypes.ErrGRPCFutureRev},
			}},
		{"limit", []string{"a", "b", "c"},
			[]*pb.RangeRequest{
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 1},
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 2},
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 3},
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 4},
			},
			[]want{
				{keys: []string{"a"}, more: true, count: 3},
				{keys: []string{"a", "b"}, more: true, count: 3},
				{keys: []string{"a", "b", "c"}, count: 3},
				{keys: []string{"a", "b", "c"}, count: 3},
			}},
		{"count only", []string{"a", "b", "c"},
			[]*pb.RangeRequest{
				{Key: []byte("a"), RangeEnd: []byte("z"), CountOnly: true},
				{Key: []byte("b"), RangeEnd: []byte("c"), CountOnly: true},
				{Key: []byte("x"), RangeEnd: []byte("z"), CountOnly: true},
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 1, CountOnly: true},
			},
			[]want{{keys: []string{}, count: 3}, {keys: []string{}, count: 1}, {keys: []string{}}, {keys: []string{}, count: 3}}},
		{"sort", []string{"b", "a", "c", "d", "c"},
			[]*pb.RangeRequest{
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 1, SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_KEY},
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 1, SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_KEY},
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 1, SortOrder: pb.RangeRequest_ASCEND, SortTarget: pb.RangeRequest_CREATE},
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 1, SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_MOD},
				{Key: []byte("z"), RangeEnd: []byte("z"), Limit: 1, SortOrder: pb.RangeRequest_DESCEND, SortTarget: pb.RangeRequest_CREATE},
				{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 10, SortOrder: pb.RangeRequest_NONE, SortTarget: pb.RangeRequest_CREATE},
			},
			[]want{
				{keys: []string{"a"}, more: true, count: 4},
				{keys: []string{"d"}, more: true, count: 4},
				{keys: []string{"b"}, more: true, count: 4},
				{keys: []string{"c"}, more: true, count: 4},
				{keys: []string{}},
				{keys: []string{"b", "a", "c", "d"}, count: 4},
			}},
		{"min/max mod rev", []string{"rev2", "rev3", "rev4", "rev5", "rev6"},
			[]*pb.RangeRequest{
				{Key: all, RangeEnd: all, MinModRevision: 3},
				{Key: all, RangeEnd: all, MaxModRevision: 3},
				{Key: all, RangeEnd: all, MinModRevision: 3, MaxModRevision: 5},
				{Key: all, RangeEnd: all, MaxModRevision: 10},
			},
			[]want{
				{keys: []string{"rev3", "rev4", "rev5", "rev6"}, count: 5},
				{keys: []string{"rev2", "rev3"}, count: 5},
				{keys: []string{"rev3", "rev4", "rev5"}, count: 5},
				{keys: []string{"rev2", "rev3", "rev4", "rev5", "rev6"}, count: 5},
			}},
		{"min/max create rev", []string{"rev2", "rev3", "rev2", "rev2", "rev6", "rev3"},
			[]*pb.RangeRequest{
				{Key: all, RangeEnd: all, MinCreateRevision: 3},
				{Key: all, RangeEnd: all, MaxCreateRevision: 3},
				{Key: all, RangeEnd: all, MinCreateRevision: 3, MaxCreateRevision: 5},
				{Key: all, RangeEnd: all, MaxCreateRevision: 10},
			},
			[]want{
				{keys: []string{"rev3", "rev6"}, count: 3},
				{keys: []string{"rev2", "rev3"}, count: 3},
				{keys: []string{"rev3"}, count: 3},
				{keys: []string{"rev2", "rev3", "rev6"}, count: 3},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newEtcdCluster(t)
			for _, k := range tt.putKeys {
				if _, err := c.kv.Put(ctx(t), &pb.PutRequest{Key: []byte(k), Value: []byte("bar")}); err != nil {
					t.Fatal(err)
				}
			}
			for j, req := range tt.reqs {
				w := tt.wants[j]
				resp, err := c.kv.Range(ctx(t), req)
				if w.err != nil {
					if !eqErr(err, w.err) {
						t.Errorf("#%d: error %v, want %v", j, err, w.err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("#%d: %v", j, err)
				}
				if got := keysOf(resp.Kvs); !slices.Equal(got, w.keys) {
					t.Errorf("#%d: keys %q, want %q", j, got, w.keys)
				}
				if resp.More != w.more || resp.Count != w.count {
					t.Errorf("#%d: more %v count %d, want %v %d", j, resp.More, resp.Count, w.more, w.count)
				}
				if want := int64(len(tt.putKeys) + 1); resp.Header.Revision != want {
					t.Errorf("#%d: header revision %d, want %d", j, resp.Header.Revision, want)
				}
			}
		})
	}
}

// TestDeleteRange is etcd's TestV3DeleteRange, on one cluster (each case
// deletes every key first).
func TestDeleteRange(t *testing.T) {
	tests := []struct {
		name       string
		keySet     []string
		begin, end string
		prevKV     bool
		wantSet    []string
		deleted    int64
	}{
		{"delete middle", []string{"foo", "foo/abc", "fop"}, "foo/", "fop", false, []string{"foo", "fop"}, 1},
		{"no delete", []string{"foo", "foo/abc", "fop"}, "foo/", "foo/", false, []string{"foo", "foo/abc", "fop"}, 0},
		{"delete first", []string{"foo", "foo/abc", "fop"}, "fo", "fop", false, []string{"fop"}, 2},
		{"delete tail", []string{"foo", "foo/abc", "fop"}, "foo/", "fos", false, []string{"foo"}, 2},
		{"delete exact", []string{"foo", "foo/abc", "fop"}, "foo/abc", "", false, []string{"foo", "fop"}, 1},
		{"delete none [x,x)", []string{"foo"}, "foo", "foo", false, []string{"foo"}, 0},
		{"delete middle with preserveKVs set", []string{"foo", "foo/abc", "fop"}, "foo/", "fop", true, []string{"foo", "fop"}, 1},
	}
	c := newEtcdCluster(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.kv.DeleteRange(ctx(t), &pb.DeleteRangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.keySet {
				if _, err := c.kv.Put(ctx(t), &pb.PutRequest{Key: []byte(k), Value: []byte{}}); err != nil {
					t.Fatal(err)
				}
			}
			dresp, err := c.kv.DeleteRange(ctx(t), &pb.DeleteRangeRequest{Key: []byte(tt.begin), RangeEnd: []byte(tt.end), PrevKv: tt.prevKV})
			if err != nil {
				t.Fatal(err)
			}
			if dresp.Deleted != tt.deleted {
				t.Errorf("deleted %d, want %d", dresp.Deleted, tt.deleted)
			}
			if tt.prevKV && len(dresp.PrevKvs) != int(dresp.Deleted) {
				t.Errorf("%d prev kvs, want %d", len(dresp.PrevKvs), dresp.Deleted)
			}
			if !tt.prevKV && len(dresp.PrevKvs) != 0 {
				t.Errorf("prev kvs %v without prev_kv", dresp.PrevKvs)
			}
			rresp, err := c.kv.Range(ctx(t), &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0xff}})
			if err != nil {
				t.Fatal(err)
			}
			if dresp.Header.Revision != rresp.Header.Revision {
				t.Errorf("delete at revision %d, range at %d", dresp.Header.Revision, rresp.Header.Revision)
			}
			if got := keysOf(rresp.Kvs); !slices.Equal(got, tt.wantSet) {
				t.Errorf("keys %q, want %q", got, tt.wantSet)
			}
		})
	}
}

func putOp(k, v string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}}
}

func delOp(k, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(k), RangeEnd: []byte(end)}}}
}

func txnOp(then, els []*pb.RequestOp) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: &pb.TxnRequest{Success: then, Failure: els}}}
}

// TestTxnChecks are etcd's TestV3TxnDuplicateKeys, TestV3TxnTooManyOps
// and the refusals of TestV3PutIgnoreValue and TestV3TxnInvalidRange.
func TestTxnChecks(t *testing.T) {
	c := newEtcdCluster(t)
	put := putOp("abc", "def")
	delKey, delIn, delOut := delOp("abc", ""), delOp("a", "b"), delOp("abb", "abc")
	txnDel, txnDel2 := txnOp([]*pb.RequestOp{delIn}, nil), txnOp([]*pb.RequestOp{delIn}, []*pb.RequestOp{delIn})
	txnPut2 := txnOp([]*pb.RequestOp{put}, []*pb.RequestOp{put})
	dup := []struct {
		ops  []*pb.RequestOp
		werr error
	}{
		{[]*pb.RequestOp{put, put}, rpctypes.ErrGRPCDuplicateKey},
		{[]*pb.RequestOp{put, delKey}, rpctypes.ErrGRPCDuplicateKey},
		{[]*pb.RequestOp{put, delIn}, rpctypes.ErrGRPCDuplicateKey},
		{[]*pb.RequestOp{put, txnDel}, rpctypes.ErrGRPCDuplicateKey},
		{[]*pb.RequestOp{delIn, txnOp([]*pb.RequestOp{put}, nil)}, rpctypes.ErrGRPCDuplicateKey},
		{[]*pb.RequestOp{txnPut2, txnPut2}, rpctypes.ErrGRPCDuplicateKey},
		{[]*pb.RequestOp{delOut, txnPut2}, nil},
		{[]*pb.RequestOp{txnDel, txnDel2}, nil},
		{[]*pb.RequestOp{delKey, delIn, delKey, delIn}, nil},
		{[]*pb.RequestOp{put, delOut}, nil},
	}
	for i, tt := range dup {
		if _, err := c.kv.Txn(ctx(t), &pb.TxnRequest{Success: tt.ops}); !eqErr(err, tt.werr) {
			t.Errorf("duplicate keys #%d: %v, want %v", i, err, tt.werr)
		}
	}

	n := 0
	key := func() []byte { n++; return fmt.Appendf(nil, "key-%d", n) }
	fill := []func(*pb.TxnRequest){
		func(r *pb.TxnRequest) {
			r.Compare = append(r.Compare, &pb.Compare{Result: pb.Compare_GREATER, Target: pb.Compare_CREATE, Key: key()})
		},
		func(r *pb.TxnRequest) { r.Success = append(r.Success, putOp(string(key()), "bar")) },
		func(r *pb.TxnRequest) { r.Failure = append(r.Failure, putOp(string(key()), "bar")) },
		func(r *pb.TxnRequest) {
			r.Success = append(r.Success, txnOp([]*pb.RequestOp{putOp(string(key()), "bar")}, nil))
		},
	}
	for i, f := range fill {
		r := &pb.TxnRequest{}
		for range 129 {
			f(r)
		}
		if _, err := c.kv.Txn(ctx(t), r); !eqErr(err, rpctypes.ErrGRPCTooManyOps) {
			t.Errorf("too many ops #%d: %v", i, err)
		}
	}

	ignore := &pb.PutRequest{Key: []byte("foo"), IgnoreValue: true}
	if _, err := c.kv.Put(ctx(t), ignore); !eqErr(err, rpctypes.ErrGRPCKeyNotFound) {
		t.Errorf("put ignore_value of an absent key: %v", err)
	}
	if _, err := c.kv.Txn(ctx(t), &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: ignore}}}}); !eqErr(err, rpctypes.ErrGRPCKeyNotFound) {
		t.Errorf("txn put ignore_value of an absent key: %v", err)
	}
	if _, err := c.kv.Put(ctx(t), &pb.PutRequest{Key: []byte("foo"), Value: []byte("bar"), IgnoreValue: true}); !eqErr(err, rpctypes.ErrGRPCValueProvided) {
		t.Errorf("ignore_value with a value: %v", err)
	}
	if _, err := c.kv.Put(ctx(t), &pb.PutRequest{Key: []byte("foo"), Value: []byte("bar")}); err != nil {
		t.Fatal(err)
	}
	presp, err := c.kv.Put(ctx(t), ignore)
	if err != nil || presp.PrevKv != nil {
		t.Fatalf("put ignore_value: %v, prev kv %v (none asked)", err, presp.GetPrevKv())
	}
	if r, _ := c.kv.Range(ctx(t), &pb.RangeRequest{Key: []byte("foo")}); string(r.GetKvs()[0].Value) != "bar" || r.GetKvs()[0].Version != 2 {
		t.Errorf("foo after put ignore_value = %v, want bar at version 2", r.GetKvs())
	}

	rng := func(rev int64) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("foo"), Revision: rev}}}
	}
	if _, err := c.kv.Txn(ctx(t), &pb.TxnRequest{Success: []*pb.RequestOp{putOp("foo", "x"), rng(100)}}); !eqErr(err, rpctypes.ErrGRPCFutureRev) {
		t.Errorf("txn range at a future revision: %v", err)
	}
	cr, err := c.kv.Compact(ctx(t), &pb.CompactionRequest{Revision: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.kv.Txn(ctx(t), &pb.TxnRequest{Success: []*pb.RequestOp{putOp("foo", "x"), rng(2)}}); !eqErr(err, rpctypes.ErrGRPCCompacted) {
		t.Errorf("txn range at a compacted revision (compacted at 3, store at %d): %v", cr.GetHeader().GetRevision(), err)
	}

	if _, err := c.kv.Put(ctx(t), &pb.PutRequest{Key: []byte("foo"), Value: []byte("bar"), Lease: 7}); !eqErr(err, rpctypes.ErrGRPCLeaseNotFound) {
		t.Errorf("put with a lease that does not exist: %v, want %v", err, rpctypes.ErrGRPCLeaseNotFound)
	}
	if _, err := c.kv.Range(ctx(t), &pb.RangeRequest{}); !eqErr(err, rpctypes.ErrGRPCEmptyKey) {
		t.Errorf("range without a key: %v", err)
	}
}

// TestTxn is etcd's TestV3TxnRevision, TestV3TxnRangeCompare and
// TestV3TxnNestedPath.
func TestTxn(t *testing.T) {
	c := newEtcdCluster(t)
	presp, err := c.kv.Put(ctx(t), &pb.PutRequest{Key: []byte("abc"), Value: []byte("def")})
	if err != nil {
		t.Fatal(err)
	}
	get := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("abc")}}}
	tresp, err := c.kv.Txn(ctx(t), &pb.TxnRequest{Success: []*pb.RequestOp{get}})
	if err != nil || tresp.Header.Revision != presp.Header.Revision {
		t.Fatalf("read-only txn: %v at revision %d, want %d", err, tresp.GetHeader().GetRevision(), presp.Header.Revision)
	}
	if kvs := tresp.Responses[0].GetResponseRange().Kvs; len(kvs) != 1 || string(kvs[0].Value) != "def" {
		t.Fatalf("txn range = %v", kvs)
	}
	tresp, err = c.kv.Txn(ctx(t), &pb.TxnRequest{Success: []*pb.RequestOp{delOp("def", "")}})
	if err != nil || tresp.Header.Revision != presp.Header.Revision {
		t.Fatalf("txn deleting nothing: %v at revision %d, want %d", err, tresp.GetHeader().GetRevision(), presp.Header.Revision)
	}
	tresp, err = c.kv.Txn(ctx(t), &pb.TxnRequest{Success: []*pb.RequestOp{putOp("abc", "123")}})
	if err != nil || tresp.Header.Revision != presp.Header.Revision+1 {
		t.Fatalf("txn put: %v at revision %d, want %d", err, tresp.GetHeader().GetRevision(), presp.Header.Revision+1)
	}

	// TestV3TxnRangeCompare: keys named by their revision on a fresh store.
	c = newEtcdCluster(t)
	for _, k := range []string{"/a/2", "/a/3", "/a/4", "/f/5"} {
		if _, err := c.cli.Put(ctx(t), k, "x"); err != nil {
			t.Fatal(err)
		}
	}
	cmps := []struct {
		cmp  *pb.Compare
		want bool
	}{
		{&pb.Compare{Key: []byte("/a/"), RangeEnd: []byte{0}, Target: pb.Compare_CREATE, Result: pb.Compare_LESS, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 6}}, true},
		{&pb.Compare{Key: []byte("/a/"), RangeEnd: []byte{0}, Target: pb.Compare_CREATE, Result: pb.Compare_LESS, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 5}}, false},
		{&pb.Compare{Key: []byte("/a/"), RangeEnd: []byte("/a0"), Target: pb.Compare_CREATE, Result: pb.Compare_LESS, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 5}}, true},
		{&pb.Compare{Key: []byte("/a/"), RangeEnd: []byte("/a0"), Target: pb.Compare_CREATE, Result: pb.Compare_LESS, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 4}}, false},
		{&pb.Compare{Key: []byte("/b/"), RangeEnd: []byte("/b0"), Target: pb.Compare_VALUE, Result: pb.Compare_EQUAL, TargetUnion: &pb.Compare_Value{Value: []byte("x")}}, false},
	}
	for i, tt := range cmps {
		tresp, err := c.kv.Txn(ctx(t), &pb.TxnRequest{Compare: []*pb.Compare{tt.cmp}})
		if err != nil || tresp.Succeeded != tt.want {
			t.Errorf("range compare #%d: %v, succeeded %v, want %v", i, err, tresp.GetSucceeded(), tt.want)
		}
	}
	lease := &pb.Compare{Key: []byte("/a/"), RangeEnd: []byte("/a0"), Target: pb.Compare_LEASE, Result: pb.Compare_EQUAL}
	if tresp, err := c.kv.Txn(ctx(t), &pb.TxnRequest{Compare: []*pb.Compare{lease}}); err != nil || !tresp.Succeeded {
		t.Errorf("lease compare (no key has a lease: lease 0 everywhere): %v, %v", tresp, err)
	}

	// TestV3TxnNestedPath.
	cmpTrue := &pb.Compare{Result: pb.Compare_EQUAL, Target: pb.Compare_VERSION, Key: []byte("k"), TargetUnion: &pb.Compare_Version{Version: 0}}
	cmpFalse := &pb.Compare{Result: pb.Compare_EQUAL, Target: pb.Compare_VERSION, Key: []byte("k"), TargetUnion: &pb.Compare_Version{Version: 1}}
	top := &pb.TxnRequest{}
	txn := top
	path := make([]bool, 10)
	for i := range path {
		next := &pb.TxnRequest{}
		op := &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: next}}
		path[i] = rand.IntN(2) == 0
		if path[i] {
			txn.Compare, txn.Success = append(txn.Compare, cmpTrue), append(txn.Success, op)
		} else {
			txn.Compare, txn.Failure = append(txn.Compare, cmpFalse), append(txn.Failure, op)
		}
		txn = next
	}
	tresp, err = c.kv.Txn(ctx(t), top)
	if err != nil {
		t.Fatal(err)
	}
	cur := tresp
	for i := range path {
		if cur.Succeeded != path[i] {
			t.Fatalf("path %v, got %v", path, tresp)
		}
		cur = cur.Responses[0].GetResponseTxn()
	}
}

// TestClientV3 runs clientv3's own calls, as its examples use them
// (client/v3's example_kv_test.go), through several endpoints.
func TestClientV3(t *testing.T) {
	c := newEtcdCluster(t)
	cli := c.cli
	p, err := cli.Put(ctx(t), "sample_key", "sample_value")
	if err != nil {
		t.Fatal(err)
	}
	if p.Header.Revision != 2 || p.Header.MemberId == 0 || p.Header.RaftTerm == 0 {
		t.Errorf("first put header %v, want revision 2 with a member id and a term", p.Header)
	}
	for _, k := range []string{"key0", "key1", "key2"} {
		if _, err := cli.Put(ctx(t), k, "v-"+k); err != nil {
			t.Fatal(err)
		}
	}
	g, err := cli.Get(ctx(t), "key", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(2))
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(g.Kvs); !slices.Equal(got, []string{"key2", "key1"}) || !g.More || g.Count != 3 || g.Header.Revision != 5 {
		t.Errorf("get prefix key sorted descending limit 2 = %q more %v count %d revision %d", got, g.More, g.Count, g.Header.Revision)
	}
	g, err = cli.Get(ctx(t), "", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil || g.Count != 4 || len(g.Kvs) != 0 {
		t.Errorf("count from the first key: %v %v", err, g)
	}
	g, err = cli.Get(ctx(t), "key1", clientv3.WithSerializable(), clientv3.WithKeysOnly())
	if err != nil || len(g.Kvs) != 1 || g.Kvs[0].Value != nil || g.Kvs[0].CreateRevision != 4 || g.Kvs[0].Version != 1 {
		t.Errorf("serializable keys-only get key1 = %v %v", err, g)
	}
	p, err = cli.Put(ctx(t), "key1", "new", clientv3.WithPrevKV())
	if err != nil || string(p.PrevKv.GetValue()) != "v-key1" || p.Header.Revision != 6 {
		t.Errorf("put with prev kv: %v %v", err, p)
	}

	resp, err := cli.Txn(ctx(t)).
		If(clientv3.Compare(clientv3.Value("key1"), "=", "new"), clientv3.Compare(clientv3.Version("key1"), ">", 1), clientv3.Compare(clientv3.CreateRevision("nokey"), "=", 0)).
		Then(clientv3.OpPut("key1", "txn"), clientv3.OpGet("key", clientv3.WithPrefix())).
		Else(clientv3.OpGet("key1")).Commit()
	if err != nil || !resp.Succeeded || resp.Header.Revision != 7 {
		t.Fatalf("txn: %v %v", err, resp)
	}
	if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) != 3 || string(kvs[1].Value) != "txn" || kvs[1].ModRevision != 7 {
		t.Errorf("txn's get after its put = %v", kvs)
	}
	resp, err = cli.Txn(ctx(t)).If(clientv3.Compare(clientv3.ModRevision("key1"), "<", 7)).Then(clientv3.OpDelete("key1")).Else(clientv3.OpGet("key1")).Commit()
	if err != nil || resp.Succeeded || string(resp.Responses[0].GetResponseRange().Kvs[0].Value) != "txn" {
		t.Errorf("txn else: %v %v", err, resp)
	}
	if _, err := cli.Txn(ctx(t)).Then(clientv3.OpPut("a", "1"), clientv3.OpPut("a", "2")).Commit(); !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Errorf("duplicate key: %v, want %v", err, rpctypes.ErrDuplicateKey)
	}
	if _, err := cli.Get(ctx(t), "key1", clientv3.WithRev(100)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("get at a future revision: %v, want %v", err, rpctypes.ErrFutureRev)
	}
	if g, err := cli.Get(ctx(t), "key1", clientv3.WithRev(2)); err != nil || len(g.Kvs) != 0 || g.Header.Revision != 7 {
		t.Errorf("get at a past revision, before key1 was put: %v %v", err, g)
	}

	d, err := cli.Delete(ctx(t), "key", clientv3.WithPrefix(), clientv3.WithPrevKV())
	if err != nil || d.Deleted != 3 || len(d.PrevKvs) != 3 || d.Header.Revision != 8 {
		t.Errorf("delete prefix: %v %v", err, d)
	}
	g, err = cli.Get(ctx(t), "", clientv3.WithPrefix())
	if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Key) != "sample_key" {
		t.Errorf("what is left: %v %v", err, g)
	}
}

// TestFacesShareKeys: a write through one face is seen by the other with
// its native and etcd metadata.
func TestFacesShareKeys(t *testing.T) {
	c := newEtcdCluster(t)
	native := metapb.NewMetaClient(c.cli.ActiveConnection())
	p, err := c.cli.Put(ctx(t), "from-etcd", "v1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := native.Get(ctx(t), &metapb.GetRequest{Key: "from-etcd"})
	if err != nil {
		t.Fatal(err)
	}
	if v := got.GetValue(); string(v.GetData()) != "v1" || v.GetSeq() != 1 || v.GetModRevision() != uint64(p.Header.Revision) || v.GetVersion() != 1 {
		t.Errorf("native get of an etcd put = %v, want v1 at seq 1, mod revision %d, version 1", v, p.Header.Revision)
	}

	for _, v := range []string{"n1", "n2"} {
		if _, err := native.Upsert(ctx(t), &metapb.UpsertRequest{Key: "from-native", Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	g, err := c.cli.Get(ctx(t), "from-native")
	if err != nil || len(g.Kvs) != 1 {
		t.Fatalf("etcd get of a native upsert: %v %v", err, g)
	}
	kv := g.Kvs[0]
	if string(kv.Value) != "n2" || kv.CreateRevision != 3 || kv.ModRevision != 4 || kv.Version != 2 || g.Header.Revision != 4 {
		t.Errorf("etcd get of a native upsert = %v at %d, want n2, create 3, mod 4, version 2 at 4", kv, g.Header.Revision)
	}
	seq, err := native.Get(ctx(t), &metapb.GetRequest{Key: "from-native"})
	if err != nil || seq.GetValue().GetSeq() != 3 {
		t.Errorf("native seq after two upserts: %v %v, want 3 (one after the etcd put)", err, seq)
	}
}

// TestClusterAndMaintenance: MemberList and Status, as etcdctl's member
// list and endpoint status read them, from each node.
func TestClusterAndMaintenance(t *testing.T) {
	c := newEtcdCluster(t)
	lead := c.cl.WaitLeader()
	ml, err := c.cli.MemberList(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(ml.Members) != 3 {
		t.Fatalf("members %v, want 3", ml.Members)
	}
	for i, m := range ml.Members {
		if m.ID != uint64(i+1) || m.Name != fmt.Sprintf("node-%d", i+1) || m.IsLearner || len(m.ClientURLs) != 1 || !strings.HasPrefix(m.ClientURLs[0], "http://") {
			t.Errorf("member %d = %v", i, m)
		}
	}
	for _, ep := range c.eps {
		st, err := c.cli.Status(ctx(t), ep)
		if err != nil {
			t.Fatal(err)
		}
		if st.Version != "3.7.3" || st.DbSize <= 0 || st.Leader != lead || st.RaftTerm == 0 || st.RaftIndex == 0 || st.RaftAppliedIndex == 0 || st.Header.MemberId == 0 {
			t.Errorf("status of %s = %v", ep, st)
		}
	}
	if _, err := pb.NewKVClient(c.cli.ActiveConnection()).Compact(ctx(t), &pb.CompactionRequest{Revision: 1}); err != nil {
		t.Errorf("compact at 1: %v", err)
	}
}
