package databendapi

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/databendpb"
	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/databendjson"
)

// A value's KVMeta crosses as stored: no meta stays none (null in JSON),
// an empty one stays empty, expire_at keeps its form.
func TestSeqVMeta(t *testing.T) {
	u := func(n uint64) *uint64 { return &n }
	for _, tt := range []struct {
		name string
		meta *metapb.KVMeta
		pb   *databendpb.KVMeta
		json string
	}{
		{"none", nil, nil, `{"seq":7,"meta":null,"data":[118]}`},
		{"empty", &metapb.KVMeta{}, &databendpb.KVMeta{}, `{"seq":7,"meta":{},"data":[118]}`},
		{"proposed", &metapb.KVMeta{ProposedAtMs: u(1_700_000_000_123)}, &databendpb.KVMeta{ProposedAtMs: u(1_700_000_000_123)},
			`{"seq":7,"meta":{"proposed_at_ms":1700000000123},"data":[118]}`},
		{"seconds", &metapb.KVMeta{ExpireAt: u(2051518343), ProposedAtMs: u(5)}, &databendpb.KVMeta{ExpireAt: u(2051518343), ProposedAtMs: u(5)},
			`{"seq":7,"meta":{"expire_at":2051518343,"proposed_at_ms":5},"data":[118]}`},
		{"millis", &metapb.KVMeta{ExpireAt: u(2051518343000)}, &databendpb.KVMeta{ExpireAt: u(2051518343000)},
			`{"seq":7,"meta":{"expire_at":2051518343000},"data":[118]}`},
	} {
		v := &metapb.SeqV{Seq: 7, Data: []byte("v"), ExpireAtMs: 2051518343000, Meta: tt.meta}
		if got, want := pbSeqV(v), (&databendpb.SeqV{Seq: 7, Data: []byte("v"), Meta: tt.pb}); !proto.Equal(got, want) {
			t.Errorf("%s: protobuf %v, want %v", tt.name, got, want)
		}
		b, err := databendjson.Marshal(jsonSeqV(v))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.json {
			t.Errorf("%s: JSON %s, want %s", tt.name, b, tt.json)
		}
	}
}
