package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/metasrv/metasrv/internal/metrics"
	"github.com/metasrv/metasrv/internal/server"
	"github.com/metasrv/metasrv/internal/transport"
)

// registerMetrics fills the registry that /metrics serves: Go runtime and
// process metrics, the node's metasrv_server_* and metasrv_raft_network_*
// read at scrape time, and interceptors for metasrv_meta_network_*.
func registerMetrics(reg *prometheus.Registry, srv *server.Server, tr *transport.GRPC) (*metrics.GRPC, error) {
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	serverStats := func() metrics.ServerStats {
		st := srv.Stats()
		return metrics.ServerStats{
			LeaderID: st.LeaderID, IsLeader: st.IsLeader, Healthy: st.Healthy,
			ApplyingSnapshot: st.ApplyingSnapshot, LeaderChanges: st.LeaderChanges,
			ProposalsApplied: st.EntriesApplied, ProposalsPending: st.ProposalsPending,
			ProposalsFailed: st.ProposalsFailed, ReadFailed: st.ReadFailed,
			LastLogIndex: st.LastLogIndex, LastSeq: st.LastSeq, CurrentTerm: st.Term,
			Watchers: st.Watchers, SnapshotKeyCount: st.KeyCount,
		}
	}
	peerStats := func() []metrics.PeerStats {
		var out []metrics.PeerStats
		for _, p := range tr.Stats() {
			out = append(out, metrics.PeerStats{
				ID: p.ID, Address: p.Address, Active: p.Address != "",
				SentBytes: p.BytesSent, RecvBytes: p.BytesReceived, SendFailures: p.SendFailures,
				SnapshotsSent: p.SnapshotsSent, SnapshotFailures: p.SnapshotFailures,
				MsgsSent: p.MsgsSent, MsgsReceived: p.MsgsReceived, MsgsDropped: p.MsgsDropped,
				BatchesSent: p.BatchesSent,
			})
		}
		return out
	}
	if err := metrics.RegisterServer(reg, serverStats, peerStats); err != nil {
		return nil, err
	}
	return metrics.NewGRPC(reg)
}
