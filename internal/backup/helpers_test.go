package backup

import (
	"bytes"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// testClock is the entry time of the test state machine's entries.
const testClock = 1_700_000_000_000

// applier applies entries to a state machine at increasing indexes.
type applier struct {
	t     testing.TB
	sm    *statemachine.StateMachine
	index uint64
}

func newApplier(t testing.TB, opts ...statemachine.Option) *applier {
	return &applier{t: t, sm: statemachine.New(opts...)}
}

func (a *applier) upsert(timeMs uint64, req *metapb.UpsertRequest) {
	a.t.Helper()
	a.index++
	res := a.sm.Apply(a.index, timeMs, &peerpb.Command{Proposer: 1, RequestId: a.index, Body: &peerpb.Command_Upsert{Upsert: req}})
	if res.Err != nil {
		a.t.Fatalf("apply %v: %v", req, res.Err)
	}
}

func (a *applier) addNode(id uint64, raftAddr, grpcAddr string) {
	a.t.Helper()
	a.index++
	ctx, err := proto.Marshal(&peerpb.ConfChangeContext{Node: &metapb.Node{Id: id, RaftAddress: raftAddr, GrpcAddress: grpcAddr}})
	if err != nil {
		a.t.Fatal(err)
	}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeAddNode.Enum(), NodeId: proto.Uint64(id)}},
		Context: ctx,
	}
	if err := a.sm.ApplyConfChange(a.index, 1, cc); err != nil {
		a.t.Fatal(err)
	}
}

// sampleState builds a state machine with every kind of key: text and
// binary values, an empty value, HTML characters, a multi-byte key, keys
// updated several times, a deleted key, keys with expiries, and one that has
// expired but is not removed yet (its expiry is the last entry's time).
func sampleState(t testing.TB, opts ...statemachine.Option) *statemachine.StateMachine {
	t.Helper()
	a := newApplier(t, opts...)
	a.addNode(1, "node-1:28103", "node-1:9191")
	a.addNode(2, "node-2:28103", "node-2:9191")
	now := uint64(testClock)
	a.upsert(now, &metapb.UpsertRequest{Key: "a", Value: []byte("1")})
	a.upsert(now+1, &metapb.UpsertRequest{Key: "a", Value: []byte("2")})
	a.upsert(now+2, &metapb.UpsertRequest{Key: "a", Value: []byte("three")})
	a.upsert(now+3, &metapb.UpsertRequest{Key: "bin", Value: []byte{0, 1, 0xff, 0xfe}})
	a.upsert(now+4, &metapb.UpsertRequest{Key: "empty"})
	a.upsert(now+5, &metapb.UpsertRequest{Key: "html<&>", Value: []byte(`<b>"quoted"</b> & \ newline
tab	`)})
	a.upsert(now+6, &metapb.UpsertRequest{Key: "gone", Value: []byte("x")})
	a.upsert(now+7, &metapb.UpsertRequest{Key: "gone", Op: metapb.UpsertRequest_DELETE})
	a.upsert(now+8, &metapb.UpsertRequest{Key: "ttl", Value: []byte("t"), TtlMs: 3_600_000})
	a.upsert(now+9, &metapb.UpsertRequest{Key: "züri/日本", Value: []byte("ünïcode")})
	a.upsert(now+10, &metapb.UpsertRequest{Key: "expire-at", Value: []byte("e"), ExpireAtMs: now + 86_400_000})
	a.upsert(now+11, &metapb.UpsertRequest{Key: "short-ttl", Value: []byte("s"), TtlMs: 5})
	// Sweeps short-ttl (expired at now+16): a removal takes no seq.
	a.upsert(now+20, &metapb.UpsertRequest{Key: "b", Value: []byte(strings.Repeat("v", 1000))})
	// Expires at its entry's time, so it is stored (a value already past
	// its expiry would be deleted at once); invisible to every later
	// read, but stored until the next apply.
	a.upsert(now+21, &metapb.UpsertRequest{Key: "stale", Value: []byte("old"), ExpireAtMs: now + 21})
	return a.sm
}

// dumpOf exports sm with a fixed export time.
func dumpOf(t testing.TB, sm *statemachine.StateMachine) string {
	t.Helper()
	var buf bytes.Buffer
	if err := ExportStateMachine(&buf, sm, "test", 42); err != nil {
		t.Fatalf("export: %v", err)
	}
	return buf.String()
}

// kvLines returns the kv lines of a dump: the keys with their seqs,
// versions, expiries and values, without the header.
func kvLines(t testing.TB, dump string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, `{"type":"kv"`) {
			out = append(out, l)
		}
	}
	return out
}

func upsertCmd(req *metapb.UpsertRequest) *peerpb.Command {
	return &peerpb.Command{Proposer: 1, RequestId: 1, Body: &peerpb.Command_Upsert{Upsert: req}}
}
