package raftnode

import (
	"io"
	"log/slog"
	"slices"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The append goroutine writes the Readys it takes with as few Saves as the
// log allows, and sends and steps their responses only after.
func TestPersistBatchesReadys(t *testing.T) {
	ents := func(term uint64, idx ...uint64) []*raftpb.Entry {
		var es []*raftpb.Entry
		for _, i := range idx {
			es = append(es, &raftpb.Entry{Term: proto.Uint64(term), Index: proto.Uint64(i)})
		}
		return es
	}
	appendMsg := func(term uint64, es []*raftpb.Entry, resps ...*raftpb.Message) *raftpb.Message {
		return &raftpb.Message{Type: raftpb.MsgStorageAppend.Enum(), To: proto.Uint64(raft.LocalAppendThread),
			Term: proto.Uint64(term), Vote: proto.Uint64(1), Commit: proto.Uint64(0), Entries: es, Responses: resps}
	}
	resp := func(to uint64) *raftpb.Message {
		typ := raftpb.MsgAppResp
		if to == 1 {
			typ = raftpb.MsgStorageAppendResp
		}
		return &raftpb.Message{Type: typ.Enum(), To: proto.Uint64(to)}
	}
	snap := &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: proto.Uint64(10), Term: proto.Uint64(2),
		ConfState: &raftpb.ConfState{Voters: []uint64{1}}}}
	withSnap := appendMsg(2, ents(2, 11))
	withSnap.Snapshot = snap

	tests := []struct {
		name       string
		items      []appendItem
		saves      []int // entries per Save
		sent       int   // messages to peers
		steps      int   // ops queued for the loop
		snapshotOK bool  // a snapshot reached ApplyC
	}{
		{"entries that follow each other: one Save",
			[]appendItem{{m: appendMsg(1, ents(1, 1, 2), resp(1))}, {m: appendMsg(1, ents(1, 3), resp(1), resp(2))}},
			[]int{3}, 1, 1, false},
		{"entries that rewrite the tail: two Saves",
			[]appendItem{{m: appendMsg(1, ents(1, 1, 2, 3))}, {m: appendMsg(2, ents(2, 2))}},
			[]int{3, 1}, 0, 0, false},
		{"a snapshot starts its own Save",
			[]appendItem{{m: appendMsg(1, ents(1, 1, 2))}, {m: withSnap}, {m: appendMsg(2, ents(2, 12))}},
			[]int{2, 2}, 0, 0, true},
		{"responses to peers go after the Save of everything before them",
			[]appendItem{{m: appendMsg(1, ents(1, 1))}, {m: appendMsg(1, ents(1, 2), resp(2), resp(3))}},
			[]int{2}, 2, 0, false},
		{"responses alone: no Save",
			[]appendItem{{m: &raftpb.Message{Type: raftpb.MsgStorageAppend.Enum(), Responses: []*raftpb.Message{resp(2)}}}},
			nil, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &memStorage{MemoryStorage: raft.NewMemoryStorage()}
			tr := &recordTransport{}
			n := &Node{
				cfg: Config{ID: 1, Storage: st, Transport: tr},
				lg:  slog.New(slog.NewTextHandler(io.Discard, nil)),
				mb:  newQueue[op](), applyC: make(chan Apply, 1), stopC: make(chan struct{}),
			}
			var b saveBatch
			if err := n.persist(&b, tt.items); err != nil {
				t.Fatal(err)
			}
			if got := st.saveBatches(); !slices.Equal(got, tt.saves) {
				t.Errorf("entries per Save %v, want %v", got, tt.saves)
			}
			if got := len(tr.msgs); got != tt.sent {
				t.Errorf("sent %d messages, want %d", got, tt.sent)
			}
			if got := n.mb.len(); got != tt.steps {
				t.Errorf("queued %d ops for the loop, want %d", got, tt.steps)
			}
			if got := len(n.applyC) == 1; got != tt.snapshotOK {
				t.Errorf("snapshot handed to ApplyC: %v, want %v", got, tt.snapshotOK)
			}
		})
	}
}
