package statemachine

import (
	"fmt"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
)

func TestGetReturnsCopy(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, put("a", "value"))
	v := a.sm.Get("a", t0)
	v.Data[0] = 'X'
	v.Seq = 99
	if got := a.sm.Get("a", t0); string(got.Data) != "value" || got.Seq != 1 {
		t.Fatalf("state changed through a returned value: %v", got)
	}
	// Nor through the request's buffer.
	req := put("b", "abc")
	a.upsert(t0, req)
	req.Value[0] = 'X'
	if got := a.sm.Get("b", t0); string(got.Data) != "abc" {
		t.Fatalf("state aliases the request: %v", got)
	}
	if a.sm.Get("absent", t0) != nil {
		t.Fatal("Get of an absent key is not nil")
	}
}

func TestMGet(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, put("a", "1"))
	a.upsert(t0, put("c", "3"))
	got := a.sm.MGet([]string{"c", "b", "a", "c"}, t0)
	want := []*metapb.KV{
		{Key: "c", Value: seqV(2, "3", 2, 1, 0)},
		{Key: "b"},
		{Key: "a", Value: seqV(1, "1", 1, 1, 0)},
		{Key: "c", Value: seqV(2, "3", 2, 1, 0)},
	}
	if !equalKVs(got, want) {
		t.Fatalf("MGet = %v, want %v", got, want)
	}
	if got := a.sm.MGet(nil, t0); len(got) != 0 {
		t.Fatalf("MGet(nil) = %v", got)
	}
}

func TestList(t *testing.T) {
	a := newApplier(t)
	for _, k := range []string{"b/2", "a", "b/1", "b", "b/3", "c", "b/10"} {
		a.upsert(t0, put(k, k))
	}
	a.upsert(t0, ttl(put("b/15", "x"), 9)) // invisible at t0+10

	tests := []struct {
		prefix string
		limit  uint64
		stop   int // fn returns false on this call (1-based); 0 = never
		want   []string
	}{
		{"", 0, 0, []string{"a", "b", "b/1", "b/10", "b/2", "b/3", "c"}},
		{"b/", 0, 0, []string{"b/1", "b/10", "b/2", "b/3"}},
		{"b/1", 0, 0, []string{"b/1", "b/10"}},
		{"b/", 3, 0, []string{"b/1", "b/10", "b/2"}}, // the expired b/15 does not count
		{"b/", 1, 0, []string{"b/1"}},
		{"b/", 0, 2, []string{"b/1", "b/10"}},
		{"d", 0, 0, nil},
		{"\xff", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%d/%d", tt.prefix, tt.limit, tt.stop), func(t *testing.T) {
			var got []string
			a.sm.List(tt.prefix, tt.limit, t0+10, func(kv *metapb.KV) bool {
				got = append(got, kv.Key)
				if string(kv.Value.Data) != kv.Key {
					t.Errorf("key %q has value %q", kv.Key, kv.Value.Data)
				}
				return len(got) != tt.stop
			})
			if !equalStrings(got, tt.want) {
				t.Fatalf("List = %v, want %v", got, tt.want)
			}
		})
	}
}

// List holds no lock while fn runs: fn can apply, and List keeps seeing the
// state it started from.
func TestListHoldsNoLock(t *testing.T) {
	a := newApplier(t)
	a.upsert(t0, put("a", "1"))
	a.upsert(t0, put("b", "1"))
	var got []*metapb.KV
	a.sm.List("", 0, t0, func(kv *metapb.KV) bool {
		got = append(got, kv)
		a.upsert(t0, put("a", "2"))
		a.upsert(t0, del("b"))
		a.upsert(t0, put("c", "1"))
		return true
	})
	want := []*metapb.KV{{Key: "a", Value: seqV(1, "1", 1, 1, 0)}, {Key: "b", Value: seqV(2, "1", 2, 1, 0)}}
	if !equalKVs(got, want) {
		t.Fatalf("List saw %v, want %v", got, want)
	}
	if v := a.sm.Get("a", t0); !equalSeqs(v, seqV(5, "2", 1, 3, 0)) {
		t.Fatalf("Get(a) = %v", v)
	}
}
