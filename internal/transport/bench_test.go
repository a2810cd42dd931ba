package transport

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/metasrv/metasrv/api/peerpb"
)

// countingHandler counts messages and wakes a waiting sender.
type countingHandler struct {
	dataSnapshots
	n     atomic.Int64
	wakeC chan struct{}
}

func (h *countingHandler) Process(context.Context, *raftpb.Message) error {
	h.n.Add(1)
	select {
	case h.wakeC <- struct{}{}:
	default:
	}
	return nil
}
func (h *countingHandler) ReportUnreachable(uint64)                   {}
func (h *countingHandler) ReportSnapshot(uint64, raft.SnapshotStatus) {}
func (h *countingHandler) ProposalsDropped(uint64, []uint64)          {}
func (h *countingHandler) PeerLease(context.Context, uint64, *peerpb.LeaseForward) (*peerpb.LeaseForwardReply, error) {
	return nil, errors.New("not the leader")
}

// BenchmarkGRPCSend measures messages per second from one transport to
// another over loopback: MsgApp messages with one 100-byte entry, handed
// to Send perSend at a time, at most 2048 in flight (under the queue size,
// so none is dropped).
func BenchmarkGRPCSend(b *testing.B) {
	for _, perSend := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("perSend=%d", perSend), func(b *testing.B) {
			h := &countingHandler{wakeC: make(chan struct{}, 1)}
			l := mustListen(b)
			recv, srv := serveTransport(l, 2, "bench", GRPCConfig{}, h)
			defer func() {
				srv.Stop()
				recv.Stop()
			}()
			send := NewGRPC(GRPCConfig{ID: 1, ClusterName: "bench"}, &countingHandler{wakeC: make(chan struct{}, 1)})
			defer send.Stop()
			send.AddPeer(2, l.Addr().String())

			msgs := make([]*raftpb.Message, 0, perSend)
			const window = 2048
			b.ReportAllocs()
			b.SetBytes(100)
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				for sent-int(h.n.Load()) > window-perSend {
					<-h.wakeC
				}
				msgs = msgs[:0]
				for range min(perSend, b.N-sent) {
					sent++
					msgs = append(msgs, app(1, 2, uint64(sent), 100))
				}
				send.Send(msgs)
			}
			for int(h.n.Load()) < b.N {
				<-h.wakeC
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
