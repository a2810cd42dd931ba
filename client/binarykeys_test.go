package client

import (
	"slices"
	"testing"
	"time"

	"github.com/metasrv/metasrv/client/clienttest"
)

// keysOf returns the keys of kvs, in order.
func keysOf(kvs []KV) []string {
	var ks []string
	for _, kv := range kvs {
		ks = append(ks, kv.Key)
	}
	return ks
}

// TestBinaryKeys: keys are bytes, as the server takes them: a key, a
// prefix or a range that is not UTF-8 is sent as it is by every call
// (get, mget, list, upsert, delete, txn, watch), and what comes back is
// the same bytes.
func TestBinaryKeys(t *testing.T) {
	cl := clienttest.Start(t, 1)
	c := newClient(t, cl.Addrs()...)
	ctx := ctxTimeout(t, 5*time.Second)
	// In byte order.
	keys := []string{"a\xc3(", "a\xff\x00", "a\xffb", "\xff", "\xff\xff"}
	for _, k := range keys {
		if _, err := c.Upsert(ctx, Upsert{Key: k, Value: []byte("v" + k)}); err != nil {
			t.Fatalf("upsert %q: %v", k, err)
		}
	}
	for _, k := range keys {
		kv, err := c.Get(ctx, k)
		if err != nil || kv.Key != k || string(kv.Data) != "v"+k {
			t.Errorf("get %q: %+v, %v", k, kv, err)
		}
	}
	got, err := c.MGet(ctx, []string{"\xff\xff", "a\xc3("})
	if err != nil || !slices.Equal(keysOf(got), []string{"\xff\xff", "a\xc3("}) || string(got[0].Data) != "v\xff\xff" {
		t.Errorf("mget: %+v, %v", got, err)
	}
	for prefix, want := range map[string][]string{
		"a\xff": {"a\xff\x00", "a\xffb"},
		"\xff":  {"\xff", "\xff\xff"},
		"":      keys,
	} {
		got, err := c.List(ctx, prefix, 0)
		if err != nil || !slices.Equal(keysOf(got), want) {
			t.Errorf("list %q: %q, %v; want %q", prefix, keysOf(got), err, want)
		}
	}
	req, err := NewTxn().If(Seq("\xff").Gt(0)).Then(OpPut("\xfe", []byte("t"))).Build()
	if err != nil {
		t.Fatal(err)
	}
	if reply, err := c.Txn(ctx, req); err != nil || !reply.GetSuccess() {
		t.Fatalf("txn on binary keys: %v, %v", reply, err)
	}
	if res, err := c.Delete(ctx, "\xfe"); err != nil || string(res.Prev.Data) != "t" {
		t.Fatalf("delete of the txn's binary key: %+v, %v", res, err)
	}

	// Watches of a binary prefix (its range ends at "\x00" when every byte
	// is 0xff: every key from the prefix) and of every key from a binary
	// key: the current values, then a change.
	for _, tt := range []struct {
		name string
		opts WatchOptions
		want []string // the initial keys, then the key of the change
	}{
		{"prefix a\\xff", WatchOptions{Prefix: "a\xff"}, []string{"a\xff\x00", "a\xffb", "a\xff\xff"}},
		{"prefix \\xff", WatchOptions{Prefix: "\xff"}, []string{"\xff", "\xff\xff", "\xff\xff\xff"}},
		{"every key from a\\xffb", WatchOptions{Key: "a\xffb", KeyEnd: "\x00"}, []string{"a\xffb", "a\xff\xff", "\xff", "\xff\xff", "\xff\xff\xff", "b"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.InitialFlush = true
			w := startWatch(t, c, ctx, tt.opts)
			var got []string
			for ev := range slices.Values(nextN(t, w, len(tt.want))) {
				if !ev.FlushDone {
					got = append(got, ev.Key)
				}
			}
			change := tt.want[len(tt.want)-1]
			if _, err := c.Upsert(ctx, Upsert{Key: change, Value: []byte("new")}); err != nil {
				t.Fatal(err)
			}
			for len(got) < len(tt.want) {
				ev, err := w.Next()
				if err != nil {
					t.Fatal(err)
				}
				if !ev.FlushDone {
					got = append(got, ev.Key)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("watch %+v: keys %q, want %q", tt.opts, got, tt.want)
			}
		})
	}
}
