package backup

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/statemachine"
)

// encodeDump encodes a dump as a state machine snapshot.
func encodeDump(t *testing.T, dump string, index uint64, members []Node) []byte {
	t.Helper()
	r, err := NewReader(strings.NewReader(dump))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := EncodeSnapshot(&buf, r, index, members); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return buf.Bytes()
}

func TestSnapshotRestoresExactState(t *testing.T) {
	src := sampleState(t) // with history: it is not carried over
	dump := dumpOf(t, src)
	members := []Node{
		{ID: 11, RaftAddress: "n11:1", Voter: true},
		{ID: 12, RaftAddress: "n12:1", GrpcAddress: "n12:2", Voter: true},
	}
	data := encodeDump(t, dump, 1, members)

	dst := statemachine.New()
	if err := dst.Restore(bytes.NewReader(data)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if diff := cmp.Diff(kvLines(t, dump), kvLines(t, dumpOf(t, dst))); diff != "" {
		t.Errorf("restored keys differ (-exported +restored):\n%s", diff)
	}
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"applied index", dst.AppliedIndex(), 1},
		{"last seq", dst.LastSeq(), src.LastSeq()},
		{"clock", dst.NowMs(), src.NowMs()},
		{"key count", uint64(dst.KeyCount()), uint64(src.KeyCount())},
	} {
		if c.got != c.want {
			t.Errorf("%s %d, want %d", c.name, c.got, c.want)
		}
	}
	wantNodes := []*metapb.Node{
		{Id: 11, RaftAddress: "n11:1", Voter: true},
		{Id: 12, RaftAddress: "n12:1", GrpcAddress: "n12:2", Voter: true},
	}
	if diff := cmp.Diff(wantNodes, dst.Nodes(), cmp.Comparer(func(a, b *metapb.Node) bool {
		return a.GetId() == b.GetId() && a.GetRaftAddress() == b.GetRaftAddress() &&
			a.GetGrpcAddress() == b.GetGrpcAddress() && a.GetVoter() == b.GetVoter()
	})); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}

	// Both go on the same way: the already-expired key is swept first (one
	// seq), then the write takes the next seq.
	for _, sm := range []*statemachine.StateMachine{src, dst} {
		res := sm.Apply(sm.AppliedIndex()+1, testClock+100, upsertCmd(&metapb.UpsertRequest{Key: "new", Value: []byte("n")}))
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		if got, want := res.Upsert.GetResult().GetSeq(), src.LastSeq(); got != want {
			t.Errorf("new write got seq %d, want %d", got, want)
		}
	}
	if got, want := dst.LastSeq(), src.LastSeq(); got != want {
		t.Errorf("after a write: last seq %d, want %d", got, want)
	}
	if diff := cmp.Diff(kvLines(t, dumpOf(t, src)), kvLines(t, dumpOf(t, dst))); diff != "" {
		t.Errorf("after a write the states differ (-src +dst):\n%s", diff)
	}
}

func TestEncodeSnapshotErrors(t *testing.T) {
	dump := dumpOf(t, sampleState(t))
	r, _ := NewReader(strings.NewReader(dump))
	if _, err := EncodeSnapshot(&bytes.Buffer{}, r, 1, []Node{{ID: 2}, {ID: 1}}); !errors.Is(err, ErrInvalidCluster) {
		t.Errorf("unsorted members: %v", err)
	}
	// A truncated dump fails with the reader's error.
	cut := dump[:strings.LastIndex(dump, `{"type":"footer"`)]
	r, _ = NewReader(strings.NewReader(cut))
	if _, err := EncodeSnapshot(&bytes.Buffer{}, r, 1, nil); !errors.Is(err, ErrInvalidDump) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("truncated dump: %v", err)
	}
}
