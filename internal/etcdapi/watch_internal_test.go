package etcdapi

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
)

// The watchers of a change share its conversion to etcd's event: the same
// event and prev_kv choice give the same converted event, each equal to
// etcdEvent's. Events that share a revision, or a slot, still get their
// own conversion.
func TestEventCacheConvertsOnce(t *testing.T) {
	put := func(key string, rev uint64) *metapb.Event {
		return &metapb.Event{Key: key, Seq: rev, Revision: rev,
			Prev:    &metapb.SeqV{Seq: rev - 1, Data: []byte("old"), ModRevision: rev - 1, CreateRevision: 1, Version: 1},
			Current: &metapb.SeqV{Seq: rev, Data: []byte("new"), ModRevision: rev, CreateRevision: 1, Version: 2}}
	}
	del := &metapb.Event{Key: "d", Seq: 3, Revision: 7, Prev: &metapb.SeqV{Seq: 3, Data: []byte("gone")}}
	tests := []struct {
		name string
		evs  []*metapb.Event // converted in turn, each with and without prev_kv, twice
	}{
		{"a put", []*metapb.Event{put("a", 5)}},
		{"a delete", []*metapb.Event{del}},
		{"two events of one revision", []*metapb.Event{put("a", 9), put("b", 9)}},
		{"two revisions of one slot", []*metapb.Event{put("a", 11), put("a", 11+eventCacheSlots/2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c eventCache
			for _, ev := range tt.evs {
				for _, prevKV := range []bool{false, true} {
					first := c.convert(ev, prevKV)
					if want := etcdEvent(ev, prevKV); !proto.Equal(first, want) {
						t.Fatalf("%s at %d, prev_kv %v: %v, want %v", ev.GetKey(), ev.GetRevision(), prevKV, first, want)
					}
					if again := c.convert(ev, prevKV); again != first {
						t.Errorf("%s at %d, prev_kv %v: converted again", ev.GetKey(), ev.GetRevision(), prevKV)
					}
				}
			}
		})
	}
}
