package etcdapi_test

import (
	"errors"
	"io"
	"slices"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/metasrv/metasrv/api/metapb"
)

// TestBinaryKeys: keys that are not UTF-8 (etcd's API writes any bytes,
// as etcd's benchmark tool does) are stored, read, ranged in byte order,
// compared, watched, attached to leases and deleted through clientv3, and
// the native API sees them.
func TestBinaryKeys(t *testing.T) {
	c := newEtcdCluster(t)
	cli := c.cli
	// In byte order; "b\xff\x00" and "b\xff\xff" share the prefix "b\xff".
	keys := []string{"\x00", "\x00\x01", "a\xc3(", "b\xff\x00", "b\xff\xff", "\xc0\xaf", "\xff", "\xff\xff"}
	wch := cli.Watch(ctx(t), "\x00", clientv3.WithFromKey())
	for _, k := range keys {
		if _, err := cli.Put(ctx(t), k, "v"+k); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	var want []string
	for _, k := range keys {
		want = append(want, "PUT "+k+"=v"+k)
	}
	got := collect(t, wch, len(keys))
	for i := range got {
		got[i] = got[i][:len(want[i])] // without the revisions
	}
	if !equal(got, want) {
		t.Errorf("watch from \\x00 to the end: %q, want %q", got, want)
	}

	for _, tt := range []struct {
		name string
		key  string
		opts []clientv3.OpOption
		want []string
	}{
		{"one key", "\xff", nil, []string{"\xff"}},
		{"invalid sequence", "a\xc3(", nil, []string{"a\xc3("}},
		{"every key", "\x00", []clientv3.OpOption{clientv3.WithFromKey()}, keys},
		{"prefix", "b\xff", []clientv3.OpOption{clientv3.WithPrefix()}, []string{"b\xff\x00", "b\xff\xff"}},
		{"prefix \\xff", "\xff", []clientv3.OpOption{clientv3.WithPrefix()}, []string{"\xff", "\xff\xff"}},
		{"range_end", "a", []clientv3.OpOption{clientv3.WithRange("\xff")}, []string{"a\xc3(", "b\xff\x00", "b\xff\xff", "\xc0\xaf"}},
		{"descending", "\x00", []clientv3.OpOption{clientv3.WithRange("a"), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}, []string{"\x00\x01", "\x00"}},
	} {
		g, err := cli.Get(ctx(t), tt.key, tt.opts...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := keysOf(g.Kvs); !slices.Equal(got, tt.want) {
			t.Errorf("%s: get %q: %q, want %q", tt.name, tt.key, got, tt.want)
		}
		for _, kv := range g.Kvs {
			if string(kv.Value) != "v"+string(kv.Key) {
				t.Errorf("%s: %q = %q, want %q", tt.name, kv.Key, kv.Value, "v"+string(kv.Key))
			}
		}
	}

	// The native API sees them: Get, List by a binary prefix.
	native := metapb.NewMetaClient(cli.ActiveConnection())
	ng, err := native.Get(ctx(t), &metapb.GetRequest{Key: "a\xc3("})
	if err != nil || string(ng.GetValue().GetData()) != "va\xc3(" {
		t.Errorf("native get of a binary key: %v, %v", ng, err)
	}
	stream, err := native.List(ctx(t), &metapb.ListRequest{Prefix: "b\xff"})
	if err != nil {
		t.Fatalf("native list of a binary prefix: %v", err)
	}
	var listed []string
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("native list of a binary prefix: %v", err)
		}
		for _, kv := range r.GetKvs() {
			listed = append(listed, kv.GetKey())
		}
	}
	if want := []string{"b\xff\x00", "b\xff\xff"}; !slices.Equal(listed, want) {
		t.Errorf("native list of prefix b\\xff: %q, want %q", listed, want)
	}

	// A transaction compares and writes binary keys.
	tr, err := cli.Txn(ctx(t)).
		If(clientv3.Compare(clientv3.Value("\xff"), "=", "v\xff"), clientv3.Compare(clientv3.Version("\xff\xff"), "=", 1)).
		Then(clientv3.OpPut("\xfe", "txn"), clientv3.OpDelete("b\xff", clientv3.WithPrefix())).
		Commit()
	if err != nil || !tr.Succeeded || tr.Responses[1].GetResponseDeleteRange().Deleted != 2 {
		t.Fatalf("txn comparing binary keys: %v, %v", tr, err)
	}
	g, err := cli.Get(ctx(t), "b", clientv3.WithRange("\xff"))
	if got := keysOf(g.Kvs); err != nil || !slices.Equal(got, []string{"\xc0\xaf", "\xfe"}) {
		t.Errorf("after the txn, [b, \\xff): %q, %v", got, err)
	}

	// A binary key with a lease goes with the lease.
	l, err := cli.Grant(ctx(t), 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx(t), "lease\xff", "v", clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	if g, err := cli.Get(ctx(t), "lease\xff"); err != nil || len(g.Kvs) != 1 || g.Kvs[0].Lease != int64(l.ID) {
		t.Fatalf("get of a binary key with a lease: %v, %v", g, err)
	}
	if _, err := cli.Revoke(ctx(t), l.ID); err != nil {
		t.Fatal(err)
	}
	if g, err := cli.Get(ctx(t), "lease\xff"); err != nil || len(g.Kvs) != 0 {
		t.Errorf("a binary key after its lease was revoked: %v, %v", g, err)
	}

	d, err := cli.Delete(ctx(t), "\x00", clientv3.WithFromKey())
	if err != nil || d.Deleted != int64(len(keys)-2+1) {
		t.Errorf("delete of every key: %v, %v; want %d deleted", d, err, len(keys)-2+1)
	}
}
