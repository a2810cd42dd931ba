package statemachine

import (
	"bytes"
	"errors"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/api/peerpb"
)

const (
	addVoter   = raftpb.ConfChangeType_ConfChangeAddNode
	addLearner = raftpb.ConfChangeType_ConfChangeAddLearnerNode
	removeNode = raftpb.ConfChangeType_ConfChangeRemoveNode
	updateNode = raftpb.ConfChangeType_ConfChangeUpdateNode
)

func node(id uint64, raftAddr, grpcAddr string, voter bool) *metapb.Node {
	return &metapb.Node{Id: id, RaftAddress: raftAddr, GrpcAddress: grpcAddr, Voter: voter}
}

func TestConfChange(t *testing.T) {
	base := []*raftpb.ConfChangeV2{
		confChange(nodeCtx(2, "r2", "g2"), single(addVoter, 2)),
		confChange(nodeCtx(1, "r1", "g1"), single(addVoter, 1)),
	}
	tests := []struct {
		name    string
		cc      *raftpb.ConfChangeV2
		want    []*metapb.Node
		wantErr error
	}{
		{
			name: "add learner",
			cc:   confChange(nodeCtx(3, "r3", "g3"), single(addLearner, 3)),
			want: []*metapb.Node{node(1, "r1", "g1", true), node(2, "r2", "g2", true), node(3, "r3", "g3", false)},
		},
		{
			name: "demote to learner keeps addresses",
			cc:   confChange(&peerpb.ConfChangeContext{Proposer: 1}, single(addLearner, 2)),
			want: []*metapb.Node{node(1, "r1", "g1", true), node(2, "r2", "g2", false)},
		},
		{
			name: "re-add with new addresses",
			cc:   confChange(nodeCtx(2, "r2b", ""), single(addVoter, 2)),
			want: []*metapb.Node{node(1, "r1", "g1", true), node(2, "r2b", "g2", true)},
		},
		{
			name: "context for another node is ignored",
			cc:   confChange(nodeCtx(9, "r9", "g9"), single(addLearner, 4)),
			want: []*metapb.Node{node(1, "r1", "g1", true), node(2, "r2", "g2", true), node(4, "", "", false)},
		},
		{
			name: "remove",
			cc:   confChange(nodeCtx(1, "", ""), single(removeNode, 1)),
			want: []*metapb.Node{node(2, "r2", "g2", true)},
		},
		{
			name: "remove absent",
			cc:   confChange(nil, single(removeNode, 7)),
			want: []*metapb.Node{node(1, "r1", "g1", true), node(2, "r2", "g2", true)},
		},
		{
			name: "update node keeps voter flag",
			cc:   confChange(nodeCtx(2, "r2c", "g2c"), single(updateNode, 2)),
			want: []*metapb.Node{node(1, "r1", "g1", true), node(2, "r2c", "g2c", true)},
		},
		{
			name: "leave joint (no changes, no context)",
			cc:   confChange(nil),
			want: []*metapb.Node{node(1, "r1", "g1", true), node(2, "r2", "g2", true)},
		},
		{
			name: "several changes",
			cc: confChange(nodeCtx(3, "r3", "g3"),
				single(addVoter, 3), single(removeNode, 2), single(addLearner, 1)),
			want: []*metapb.Node{node(1, "r1", "g1", false), node(3, "r3", "g3", true)},
		},
		{
			name:    "bad context still applies the change",
			cc:      &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{single(removeNode, 1)}, Context: []byte{0xff}},
			want:    []*metapb.Node{node(2, "r2", "g2", true)},
			wantErr: ErrInvalidConfChange,
		},
		{
			name:    "unknown change type",
			cc:      confChange(nil, single(raftpb.ConfChangeType(42), 1), single(removeNode, 2)),
			want:    []*metapb.Node{node(1, "r1", "g1", true)},
			wantErr: ErrInvalidConfChange,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApplier(t)
			for _, cc := range base {
				if err := a.conf(cc); err != nil {
					t.Fatal(err)
				}
			}
			err := a.conf(tt.cc)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got := a.sm.AppliedIndex(); got != 3 {
				t.Fatalf("AppliedIndex = %d, want 3", got)
			}
			got := a.sm.Nodes()
			if len(got) != len(tt.want) {
				t.Fatalf("Nodes = %v, want %v", got, tt.want)
			}
			for i := range got {
				if !proto.Equal(got[i], tt.want[i]) {
					t.Fatalf("Nodes = %v, want %v", got, tt.want)
				}
			}
			checkInvariants(t, a.sm)
		})
	}
}

func TestNodesAreCopies(t *testing.T) {
	a := newApplier(t)
	if err := a.conf(confChange(nodeCtx(1, "r1", "g1"), single(addVoter, 1))); err != nil {
		t.Fatal(err)
	}
	s := a.sm.Snapshot()
	a.sm.Nodes()[0].RaftAddress = "changed"
	if err := a.conf(confChange(nodeCtx(1, "r1-new", ""), single(updateNode, 1))); err != nil {
		t.Fatal(err)
	}
	if got := a.sm.Nodes()[0].RaftAddress; got != "r1-new" {
		t.Fatalf("RaftAddress = %q", got)
	}
	if got := s.members[0].raftAddr; got != "r1" {
		t.Fatalf("an earlier snapshot sees %q", got)
	}
}

// TestMembershipLogID: the state keeps the log id (index and term) of the
// conf change entry applied last, whatever it changed, and not of other
// entries; a snapshot carries it, and a stale conf change does not move it.
func TestMembershipLogID(t *testing.T) {
	sm := New()
	if _, id := sm.Membership(); id != (LogID{}) {
		t.Fatalf("a new state: membership log id %+v, want zero", id)
	}
	if err := sm.ApplyConfChange(1, 1, confChange(nodeCtx(1, "r1", "g1"), single(addVoter, 1))); err != nil {
		t.Fatal(err)
	}
	sm.Apply(2, t0, upsertCmd(put("a", "1")))
	sm.ApplyEmpty(3)
	if nodes, id := sm.Membership(); id != (LogID{Index: 1, Term: 1}) || len(nodes) != 1 {
		t.Fatalf("after a put and an empty entry: %v at %+v, want 1 node at {1 1}", nodes, id)
	}
	if err := sm.ApplyConfChange(4, 2, confChange(nodeCtx(1, "r1b", ""), single(updateNode, 1))); err != nil {
		t.Fatal(err)
	}
	if err := sm.ApplyConfChange(5, 3, confChange(nil)); err != nil {
		t.Fatal(err)
	}
	if _, id := sm.Membership(); id != (LogID{Index: 5, Term: 3}) {
		t.Fatalf("membership log id %+v, want {5 3}", id)
	}
	if err := sm.ApplyConfChange(4, 4, confChange(nil)); !errors.Is(err, ErrStaleIndex) {
		t.Fatalf("stale conf change: %v", err)
	}
	if _, id := sm.Membership(); id != (LogID{Index: 5, Term: 3}) {
		t.Fatalf("after a stale conf change: %+v", id)
	}
	restored := New()
	if err := restored.Restore(bytes.NewReader(encode(t, sm))); err != nil {
		t.Fatal(err)
	}
	if _, id := restored.Membership(); id != (LogID{Index: 5, Term: 3}) {
		t.Fatalf("restored: membership log id %+v, want {5 3}", id)
	}
}
