package metrics

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// values gathers reg into "name{l=v,...}" -> value.
func values(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := mf.GetName()
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			default:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestServerMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	st := ServerStats{LeaderID: 2, Healthy: true, LeaderChanges: 3, ProposalsApplied: 10,
		LastSeq: 7, CurrentTerm: 4, Watchers: 1, SnapshotKeyCount: 5}
	peers := []PeerStats{{ID: 2, Address: "a:1", Active: true, SentBytes: 100, RecvBytes: 50, MsgsSent: 9, BatchesSent: 4}, {ID: 3, SentBytes: 1}}
	if err := RegisterServer(reg, func() ServerStats { return st }, func() []PeerStats { return peers }); err != nil {
		t.Fatal(err)
	}
	got := values(t, reg)
	for name, want := range map[string]float64{
		"metasrv_server_current_leader_id":                    2,
		"metasrv_server_is_leader":                            0,
		"metasrv_server_node_is_health":                       1,
		"metasrv_server_leader_changes":                       3,
		"metasrv_server_proposals_applied":                    10,
		"metasrv_server_last_seq":                             7,
		"metasrv_server_current_term":                         4,
		"metasrv_server_watchers":                             1,
		"metasrv_server_snapshot_key_count":                   5,
		"metasrv_raft_network_sent_bytes{id=2}":               100,
		"metasrv_raft_network_recv_bytes{id=2}":               50,
		"metasrv_raft_network_msgs_sent{id=2}":                9,
		"metasrv_raft_network_batches_sent{id=2}":             4,
		"metasrv_raft_network_active_peers{address=a:1,id=2}": 1,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (exported: %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := got["metasrv_raft_network_active_peers{address=,id=3}"]; ok {
		t.Error("a peer not in the address book is reported active")
	}
}

func TestGRPCInterceptors(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	g, err := NewGRPC(reg)
	if err != nil {
		t.Fatal(err)
	}
	info := &grpc.UnaryServerInfo{FullMethod: "/metasrv.v1.Meta/Get"}
	ok := func(context.Context, any) (any, error) { return "ok", nil }
	bad := func(context.Context, any) (any, error) { return nil, status.Error(codes.Unavailable, "no leader") }
	for _, h := range []grpc.UnaryHandler{ok, ok, bad} {
		_, _ = g.Unary(context.Background(), nil, info, h)
	}
	sinfo := &grpc.StreamServerInfo{FullMethod: "/metasrv.v1.Meta/List"}
	_ = g.Stream(nil, nil, sinfo, func(any, grpc.ServerStream) error { return errors.New("boom") })

	got := values(t, reg)
	for name, want := range map[string]float64{
		"metasrv_meta_network_req_success{method=/metasrv.v1.Meta/Get}":                 2,
		"metasrv_meta_network_req_failed{code=Unavailable,method=/metasrv.v1.Meta/Get}": 1,
		"metasrv_meta_network_req_failed{code=Unknown,method=/metasrv.v1.Meta/List}":    1,
		"metasrv_meta_network_rpc_delay_seconds{method=/metasrv.v1.Meta/Get}":           3,
		"metasrv_meta_network_req_inflights":                                            0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (exported: %v), want %v", name, v, ok, want)
		}
	}
}

// BenchmarkUnary is the interceptor's cost on every public request.
func BenchmarkUnary(b *testing.B) {
	g, err := NewGRPC(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	info := &grpc.UnaryServerInfo{FullMethod: "/metasrv.v1.Meta/Upsert"}
	ok := func(context.Context, any) (any, error) { return nil, nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = g.Unary(context.Background(), nil, info, ok)
		}
	})
}
