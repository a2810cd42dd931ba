package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// ServerStats is what the node reports at each scrape. Counters are
// monotonic since the process started.
type ServerStats struct {
	LeaderID         uint64
	IsLeader         bool
	Healthy          bool
	ApplyingSnapshot bool
	LeaderChanges    uint64
	ProposalsApplied uint64
	ProposalsPending uint64
	ProposalsFailed  uint64
	ReadFailed       uint64
	LastLogIndex     uint64
	LastSeq          uint64
	CurrentTerm      uint64
	Watchers         uint64
	SnapshotKeyCount uint64
}

// ServerSource returns the node's current stats; called on every scrape,
// from the scraping goroutine.
type ServerSource func() ServerStats

// PeerStats is the traffic exchanged with one peer.
type PeerStats struct {
	ID                                  uint64
	Address                             string
	Active                              bool
	SentBytes, RecvBytes                uint64
	SendFailures                        uint64
	SnapshotsSent, SnapshotFailures     uint64
	MsgsSent, MsgsReceived, MsgsDropped uint64
	BatchesSent                         uint64
}

// PeerSource returns per-peer traffic; called on every scrape.
type PeerSource func() []PeerStats

type serverCollector struct {
	src   ServerSource
	peer  PeerSource
	descs map[string]*prometheus.Desc
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	serverGauges = []struct {
		name, help string
		value      func(ServerStats) float64
	}{
		{"metasrv_server_current_leader_id", "Id of the leader this node knows; 0 = none.", func(s ServerStats) float64 { return float64(s.LeaderID) }},
		{"metasrv_server_is_leader", "1 if this node is the leader.", func(s ServerStats) float64 { return b2f(s.IsLeader) }},
		{"metasrv_server_node_is_health", "1 if this node sees a leader and has applied close to the commit index.", func(s ServerStats) float64 { return b2f(s.Healthy) }},
		{"metasrv_server_applying_snapshot", "1 while a snapshot is being built or installed.", func(s ServerStats) float64 { return b2f(s.ApplyingSnapshot) }},
		{"metasrv_server_proposals_pending", "Proposals made on this node waiting to be applied.", func(s ServerStats) float64 { return float64(s.ProposalsPending) }},
		{"metasrv_server_last_log_index", "Index of the last entry in this node's raft log.", func(s ServerStats) float64 { return float64(s.LastLogIndex) }},
		{"metasrv_server_last_seq", "The global sequence number of the last applied write.", func(s ServerStats) float64 { return float64(s.LastSeq) }},
		{"metasrv_server_current_term", "The current raft term.", func(s ServerStats) float64 { return float64(s.CurrentTerm) }},
		{"metasrv_server_watchers", "Watch streams served by this node.", func(s ServerStats) float64 { return float64(s.Watchers) }},
		{"metasrv_server_snapshot_key_count", "Keys in the state machine.", func(s ServerStats) float64 { return float64(s.SnapshotKeyCount) }},
	}
	serverCounters = []struct {
		name, help string
		value      func(ServerStats) float64
	}{
		{"metasrv_server_leader_changes", "Times this node saw the leader change.", func(s ServerStats) float64 { return float64(s.LeaderChanges) }},
		{"metasrv_server_proposals_applied", "Raft entries applied to the state machine.", func(s ServerStats) float64 { return float64(s.ProposalsApplied) }},
		{"metasrv_server_proposals_failed", "Proposals made on this node that failed.", func(s ServerStats) float64 { return float64(s.ProposalsFailed) }},
		{"metasrv_server_read_failed", "Linearizable reads that failed.", func(s ServerStats) float64 { return float64(s.ReadFailed) }},
	}
	peerCounters = []struct {
		name, help string
		value      func(PeerStats) float64
	}{
		{"metasrv_raft_network_sent_bytes", "Bytes sent to a peer.", func(p PeerStats) float64 { return float64(p.SentBytes) }},
		{"metasrv_raft_network_recv_bytes", "Bytes received from a peer.", func(p PeerStats) float64 { return float64(p.RecvBytes) }},
		{"metasrv_raft_network_sent_failures", "Failed attempts to send to a peer.", func(p PeerStats) float64 { return float64(p.SendFailures) }},
		{"metasrv_raft_network_snapshot_send_success", "Snapshots sent to a peer.", func(p PeerStats) float64 { return float64(p.SnapshotsSent) }},
		{"metasrv_raft_network_snapshot_send_failures", "Snapshot sends to a peer that failed.", func(p PeerStats) float64 { return float64(p.SnapshotFailures) }},
		{"metasrv_raft_network_msgs_sent", "Raft messages sent to a peer.", func(p PeerStats) float64 { return float64(p.MsgsSent) }},
		{"metasrv_raft_network_msgs_recv", "Raft messages received from a peer.", func(p PeerStats) float64 { return float64(p.MsgsReceived) }},
		{"metasrv_raft_network_msgs_dropped", "Raft messages to a peer dropped (peer down or queue full).", func(p PeerStats) float64 { return float64(p.MsgsDropped) }},
		{"metasrv_raft_network_batches_sent", "Batches of raft messages sent to a peer (one gRPC message each).", func(p PeerStats) float64 { return float64(p.BatchesSent) }},
	}
	activePeers = desc("metasrv_raft_network_active_peers", "1 for each peer in the address book.", "id", "address")
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
	ch <- activePeers
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	for _, g := range serverGauges {
		ch <- prometheus.MustNewConstMetric(c.descs[g.name], prometheus.GaugeValue, g.value(s))
	}
	for _, k := range serverCounters {
		ch <- prometheus.MustNewConstMetric(c.descs[k.name], prometheus.CounterValue, k.value(s))
	}
	if c.peer == nil {
		return
	}
	for _, p := range c.peer() {
		id := strconv.FormatUint(p.ID, 10)
		for _, k := range peerCounters {
			ch <- prometheus.MustNewConstMetric(c.descs[k.name], prometheus.CounterValue, k.value(p), id)
		}
		if p.Active {
			ch <- prometheus.MustNewConstMetric(activePeers, prometheus.GaugeValue, 1, id, p.Address)
		}
	}
}

// RegisterServer registers the metasrv_server_* and metasrv_raft_network_*
// metrics, read from src and peers (nil: no peer metrics) at each scrape.
func RegisterServer(reg prometheus.Registerer, src ServerSource, peers PeerSource) error {
	c := &serverCollector{src: src, peer: peers, descs: map[string]*prometheus.Desc{}}
	for _, g := range serverGauges {
		c.descs[g.name] = desc(g.name, g.help)
	}
	for _, k := range serverCounters {
		c.descs[k.name] = desc(k.name, k.help)
	}
	for _, k := range peerCounters {
		c.descs[k.name] = desc(k.name, k.help, "id")
	}
	return reg.Register(c)
}
