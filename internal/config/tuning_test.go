package config

import (
	"testing"
	"time"
)

func TestTuning(t *testing.T) {
	c := Default()
	c.Raft.HeartbeatIntervalMs = 300
	if got := c.TickInterval(); got != 150*time.Millisecond {
		t.Errorf("TickInterval at a 300 ms heartbeat = %v, want 150ms", got)
	}
	if got, want := time.Duration(ElectionTicks*TicksPerHeartbeat)*c.TickInterval(), c.ElectionTimeout(); got != want {
		t.Errorf("ElectionTick x TickInterval = %v, ElectionTimeout = %v", got, want)
	}
	for _, tt := range []struct{ msg, want int }{
		{32 << 20, RaftMinRecvMessageSize},
		{100 << 20, 100 << 20},
	} {
		c.GrpcAPIMaxMessageSize = tt.msg
		if got := c.RaftRecvMessageSize(); got != tt.want {
			t.Errorf("RaftRecvMessageSize with grpc_api_max_message_size %d = %d, want %d", tt.msg, got, tt.want)
		}
	}
	if KeepaliveMinTime > PeerKeepaliveTime {
		t.Errorf("servers refuse pings more frequent than %v, peers ping every %v", KeepaliveMinTime, PeerKeepaliveTime)
	}
}
