package raftnode

import (
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func app(to, last uint64) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgApp.Enum(), To: proto.Uint64(to),
		Entries: []*raftpb.Entry{{Index: proto.Uint64(last)}}}
}

func resp(from, index uint64, reject bool) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgAppResp.Enum(), From: proto.Uint64(from),
		Index: proto.Uint64(index), Reject: proto.Bool(reject)}
}

func TestAppendTracker(t *testing.T) {
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name  string
		sends []*raftpb.Message // sent at 0, 1, 2 ... ms
		ack   *raftpb.Message   // at 10 ms
		want  []time.Duration   // observed latencies
	}{
		{"one append acked", []*raftpb.Message{app(2, 5)}, resp(2, 5, false), []time.Duration{10 * time.Millisecond}},
		{"ack covers two sends", []*raftpb.Message{app(2, 5), app(2, 7)}, resp(2, 7, false),
			[]time.Duration{10 * time.Millisecond, 9 * time.Millisecond}},
		{"partial ack", []*raftpb.Message{app(2, 5), app(2, 7)}, resp(2, 6, false), []time.Duration{10 * time.Millisecond}},
		{"rejection observes nothing", []*raftpb.Message{app(2, 5)}, resp(2, 5, true), nil},
		{"other peer's ack", []*raftpb.Message{app(2, 5)}, resp(3, 5, false), nil},
		{"resend keeps first time", []*raftpb.Message{app(2, 5), app(2, 5)}, resp(2, 5, false), []time.Duration{10 * time.Millisecond}},
		{"heartbeat not tracked", []*raftpb.Message{{Type: raftpb.MsgHeartbeat.Enum(), To: proto.Uint64(2)}}, resp(2, 5, false), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []time.Duration
			tr := newAppendTracker(func(_ uint64, d time.Duration) { got = append(got, d) })
			for i, m := range tt.sends {
				tr.sent([]*raftpb.Message{m}, at(i))
			}
			tr.acked(tt.ack, at(10))
			if len(got) != len(tt.want) {
				t.Fatalf("observed %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("observed %v, want %v", got, tt.want)
				}
			}
		})
	}
}
