package admin_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/admin"
	"github.com/metasrv/metasrv/internal/clustertest"
	"github.com/metasrv/metasrv/internal/server"
)

// status is the part of GET /v1/cluster/status these tests read.
type status struct {
	ID uint64 `json:"id"`
	// State is databend-meta's (Leader, Follower, ...), RaftState ours.
	State        string `json:"state"`
	RaftState    string `json:"raft_state"`
	IsLeader     bool   `json:"is_leader"`
	CurrentTerm  uint64 `json:"current_term"`
	LeaderID     uint64 `json:"leader_id"`
	Leader       *struct{ ID uint64 }
	CommitIndex  uint64 `json:"commit_index"`
	LastLogIndex uint64 `json:"last_log_index"`
	LastApplied  uint64 `json:"applied_index"`
	// LastAppliedID is databend-meta's last_applied, a log id.
	LastAppliedID logID  `json:"last_applied"`
	Snapshot      *logID `json:"snapshot_last_log_id"`
	Purged        uint64 `json:"purged_index"`
	LastSeq       uint64 `json:"last_seq"`
	KeyCount      uint64 `json:"key_count"`
	WALSize       int64  `json:"wal_size"`
	Voters        []struct{ ID uint64 }
	NonVoters     []struct{ ID uint64 } `json:"non_voters"`
	// Replication is databend-meta's: node id -> matched log id.
	Replication map[string]*logID `json:"replication"`
	Progress    []struct {
		ID      uint64
		Matched uint64
		Lag     uint64
		Active  bool
	}
}

// logID is databend-meta's log id.
type logID struct {
	LeaderID struct {
		Term   uint64 `json:"term"`
		NodeID uint64 `json:"node_id"`
	} `json:"leader_id"`
	Index uint64 `json:"index"`
}

func (s status) snapshotIndex() uint64 {
	if s.Snapshot == nil {
		return 0
	}
	return s.Snapshot.Index
}

// adminNode is a cluster node with its admin API on 127.0.0.1:0.
type adminNode struct {
	*clustertest.Node
	URL string
}

// serveAdmin starts an admin HTTP server for every running node.
func serveAdmin(t *testing.T, c *clustertest.Cluster, opts ...admin.Options) map[uint64]*adminNode {
	t.Helper()
	out := map[uint64]*adminNode{}
	for _, nd := range c.Nodes() {
		srv := httptest.NewServer(admin.Handler(nd.Server, nil, opts...))
		t.Cleanup(srv.Close)
		out[nd.ID] = &adminNode{Node: nd, URL: srv.URL}
	}
	return out
}

// call does one request and returns the status code and body.
func (n *adminNode) call(t *testing.T, method, path string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("node %d: %s %s: %v", n.ID, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func (n *adminNode) status(t *testing.T) status {
	t.Helper()
	code, b := n.call(t, "GET", "/v1/cluster/status")
	if code != 200 {
		t.Fatalf("node %d: GET /v1/cluster/status: %d %s", n.ID, code, b)
	}
	var st status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("node %d: status %s: %v", n.ID, b, err)
	}
	return st
}

func put(t *testing.T, c *clustertest.Cluster, nd *clustertest.Node, n int, prefix string) {
	t.Helper()
	for i := range n {
		if _, err := nd.Server.Upsert(c.Ctx(), &metapb.UpsertRequest{Key: fmt.Sprintf("%s%03d", prefix, i), Value: []byte("v")}); err != nil {
			t.Fatalf("upsert through node %d: %v", nd.ID, err)
		}
	}
}

func ids[T any](xs []T, id func(T) uint64) []uint64 {
	var out []uint64
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func TestClusterStatus(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	nodes := serveAdmin(t, c)
	put(t, c, nodes[lead].Node, 10, "k")

	// The leader sees every follower catch up.
	var ls status
	c.Settled(func() bool {
		ls = nodes[lead].status(t)
		if len(ls.Progress) != 2 || len(ls.Replication) != 3 {
			return false
		}
		for _, r := range ls.Progress {
			if r.Matched != ls.LastLogIndex || r.Lag != 0 || !r.Active {
				return false
			}
		}
		for _, r := range ls.Replication {
			if r == nil || r.Index != ls.LastLogIndex || r.LeaderID.Term != ls.CurrentTerm {
				return false
			}
		}
		return true
	}, "the leader's status shows both followers caught up")
	if !ls.IsLeader || ls.State != "Leader" || ls.RaftState != "leader" || ls.LeaderID != lead || ls.Leader == nil || ls.Leader.ID != lead {
		t.Errorf("leader status: is_leader %v state %q raft_state %q leader_id %d leader %v", ls.IsLeader, ls.State, ls.RaftState, ls.LeaderID, ls.Leader)
	}
	if ls.CurrentTerm == 0 || ls.LastSeq < 10 || ls.KeyCount != 10 || ls.WALSize <= 0 || ls.LastApplied == 0 || ls.CommitIndex < ls.LastApplied {
		t.Errorf("leader status: %+v", ls)
	}
	// The applied entry's log id: the leader's no-op and the writes of
	// this term, so the current term.
	if ls.LastAppliedID.Index != ls.LastApplied || ls.LastAppliedID.LeaderID.Term != ls.CurrentTerm {
		t.Errorf("last_applied %+v, applied_index %d, term %d", ls.LastAppliedID, ls.LastApplied, ls.CurrentTerm)
	}
	if got := ids(ls.Voters, func(v struct{ ID uint64 }) uint64 { return v.ID }); fmt.Sprint(got) != "[1 2 3]" || len(ls.NonVoters) != 0 {
		t.Errorf("voters %v non_voters %v, want [1 2 3] and none", got, ls.NonVoters)
	}

	for id, n := range nodes {
		if id == lead {
			continue
		}
		var fs status
		c.Settled(func() bool {
			fs = n.status(t)
			return fs.LastApplied >= ls.LastApplied && fs.LeaderID == lead
		}, fmt.Sprintf("node %d applies what leader %d applied", id, lead))
		if fs.IsLeader || fs.State != "Follower" || fs.RaftState != "follower" || fs.LeaderID != lead || fs.Replication != nil || fs.Progress != nil {
			t.Errorf("follower %d: is_leader %v state %q leader_id %d replication %v progress %v",
				id, fs.IsLeader, fs.State, fs.LeaderID, fs.Replication, fs.Progress)
		}
		if fs.KeyCount != 10 || fs.LastSeq != ls.LastSeq || fs.CurrentTerm != ls.CurrentTerm {
			t.Errorf("follower %d: key_count %d last_seq %d term %d; leader %d %d %d",
				id, fs.KeyCount, fs.LastSeq, fs.CurrentTerm, ls.KeyCount, ls.LastSeq, ls.CurrentTerm)
		}
	}

	// databend-meta's Node list.
	code, b := nodes[lead].call(t, "GET", "/v1/cluster/nodes")
	var nl []struct {
		Name     string
		Endpoint struct {
			Addr string
			Port uint16
		}
		GrpcAPIAdvertiseAddress string `json:"grpc_api_advertise_address"`
	}
	if err := json.Unmarshal(b, &nl); code != 200 || err != nil || len(nl) != 3 {
		t.Fatalf("GET /v1/cluster/nodes: %d %s %v", code, b, err)
	}
	for i, n := range nl {
		id := uint64(i + 1)
		if want := fmt.Sprint(id); n.Name != want || fmt.Sprintf("%s:%d", n.Endpoint.Addr, n.Endpoint.Port) != clustertest.Addr(id) {
			t.Errorf("node %d: %+v, raft address %s", id, n, clustertest.Addr(id))
		}
	}
}

func TestClusterHealth(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	nodes := serveAdmin(t, c)
	for id, n := range nodes {
		if code, b := n.call(t, "GET", "/v1/health"); code != 200 {
			t.Errorf("node %d: health %d %s, want 200", id, code, b)
		}
	}

	var cut uint64
	for id := range nodes {
		if id != lead {
			cut = id
			break
		}
	}
	c.Isolate(cut)
	c.Tick(2 * clustertest.ElectionTick)
	var body []byte
	c.Settled(func() bool {
		var code int
		code, body = nodes[cut].call(t, "GET", "/v1/health")
		return code == http.StatusServiceUnavailable
	}, fmt.Sprintf("isolated node %d reports unhealthy", cut))
	var h struct{ Status, Reason string }
	if err := json.Unmarshal(body, &h); err != nil || h.Status != "fail" || h.Reason == "" {
		t.Errorf("isolated node's health: %s %v", body, err)
	}
	t.Logf("isolated node %d: %s", cut, h.Reason)
	// Without a leader a snapshot cannot be triggered (nothing wakes the
	// apply loop): 503 at once, not a hang.
	if code, b := nodes[cut].call(t, "POST", "/v1/ctrl/trigger_snapshot"); code != http.StatusServiceUnavailable ||
		!strings.Contains(string(b), `"no_leader"`) {
		t.Errorf("trigger_snapshot on isolated node %d: %d %s, want 503 no_leader", cut, code, b)
	}
	// The leader still has a majority.
	if code, b := nodes[lead].call(t, "GET", "/v1/health"); code != 200 {
		t.Errorf("leader %d: health %d %s, want 200", lead, code, b)
	}

	c.Heal()
	c.Tick(1) // the leader's heartbeat
	c.Settled(func() bool {
		code, _ := nodes[cut].call(t, "GET", "/v1/health")
		return code == 200
	}, fmt.Sprintf("node %d healthy again after the partition heals", cut))
}

func TestClusterTriggerSnapshot(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true})
	lead := c.WaitLeader()
	nodes := serveAdmin(t, c)
	put(t, c, nodes[lead].Node, 20, "s")

	for _, id := range []uint64{lead, lead%3 + 1} { // the leader, then a follower
		n := nodes[id]
		before := n.status(t)
		if before.snapshotIndex() >= before.LastApplied {
			t.Fatalf("node %d: snapshot at %d already covers applied %d", id, before.snapshotIndex(), before.LastApplied)
		}
		// GET, as databend-metactl sends it: the answer is null once the
		// snapshot is written.
		code, b := n.call(t, "GET", "/v1/ctrl/trigger_snapshot")
		if code != 200 || strings.TrimSpace(string(b)) != "null" {
			t.Fatalf("node %d: trigger_snapshot: %d %s, want 200 null", id, code, b)
		}
		after := n.status(t)
		if after.snapshotIndex() < before.LastApplied || after.Snapshot.LeaderID.Term == 0 {
			t.Errorf("node %d: snapshot %+v after trigger; applied before %d", id, after.Snapshot, before.LastApplied)
		}
		// Nothing new applied: the snapshot already covers it.
		if code, b := n.call(t, "POST", "/v1/ctrl/trigger_snapshot"); code != 200 {
			t.Errorf("node %d: second trigger_snapshot: %d %s", id, code, b)
		}
		put(t, c, nodes[lead].Node, 1, fmt.Sprintf("after-%d-", id))
	}
}

func TestClusterTransferLeader(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{ManualTicks: true, Configure: func(cfg *server.Config) {
		cfg.AdminAddress = fmt.Sprintf("admin-%d:28101", cfg.ID)
	}})
	lead := c.WaitLeader()
	nodes := serveAdmin(t, c)
	put(t, c, nodes[lead].Node, 3, "t")
	to := lead%3 + 1

	// A follower refuses and names the leader and its admin API.
	code, b := nodes[to].call(t, "POST", fmt.Sprintf("/v1/ctrl/trigger_transfer_leader?to=%d", to))
	var refusal struct {
		Code               string
		LeaderID           uint64 `json:"leader_id"`
		Leader             struct{ ID uint64 }
		LeaderAdminAddress string `json:"leader_admin_address"`
	}
	if err := json.Unmarshal(b, &refusal); code != http.StatusConflict || err != nil ||
		refusal.Code != "not_leader" || refusal.LeaderID != lead || refusal.Leader.ID != lead ||
		refusal.LeaderAdminAddress != fmt.Sprintf("admin-%d:28101", lead) {
		t.Errorf("transfer on follower %d: %d %s, want 409 naming leader %d and admin-%d:28101", to, code, b, lead, lead)
	}

	code, b = nodes[lead].call(t, "POST", fmt.Sprintf("/v1/ctrl/trigger_transfer_leader?to=%d", to))
	if code != 200 {
		t.Fatalf("transfer %d -> %d: %d %s", lead, to, code, b)
	}
	if got := c.WaitLeader(lead); got != to {
		t.Fatalf("leader is %d after transfer to %d", got, to)
	}
	if st := nodes[to].status(t); !st.IsLeader {
		t.Errorf("node %d after transfer: state %q", to, st.State)
	}

	// No to: the most caught-up other voter; GET, as databend-metactl
	// sends it.
	code, b = nodes[to].call(t, "GET", "/v1/ctrl/trigger_transfer_leader")
	var moved struct {
		From     uint64   `json:"from"`
		To       uint64   `json:"to"`
		VoterIDs []uint64 `json:"voter_ids"`
		LeaderID uint64   `json:"leader_id"`
	}
	if err := json.Unmarshal(b, &moved); code != 200 || err != nil || moved.LeaderID == to || moved.LeaderID == 0 ||
		moved.From != to || moved.To != moved.LeaderID || fmt.Sprint(moved.VoterIDs) != "[1 2 3]" {
		t.Fatalf("transfer from %d to the best voter: %d %s", to, code, b)
	}
	if got := c.WaitLeader(to); got != moved.LeaderID {
		t.Errorf("leader %d, the transfer reported %d", got, moved.LeaderID)
	}

	// A non-member cannot take over; the refusal names the voters.
	code, b = nodes[moved.LeaderID].call(t, "POST", "/v1/ctrl/trigger_transfer_leader?to=9")
	if code != http.StatusBadRequest || !strings.Contains(string(b), `"invalid_transfer"`) ||
		!strings.Contains(string(b), "node 9 is not a member of this cluster; the voters are 1, 2, 3") {
		t.Errorf("transfer to non-member 9: %d %s, want 400 invalid_transfer naming the voters", code, b)
	}
}

// A node that cannot reach the address it joins through says so in its
// health and its status, instead of "an election is under way".
func TestClusterHealthJoining(t *testing.T) {
	c := clustertest.New(t, 1, clustertest.Options{ManualTicks: true})
	retried := make(chan struct{}, 1)
	c.StartWith(2, t.TempDir(), false, func(cfg *server.Config) {
		cfg.Join = []string{clustertest.Addr(9)} // nobody there
		cfg.JoinRetrying = func(server.Retry) {
			select {
			case retried <- struct{}{}:
			default:
			}
		}
	})
	n := serveAdmin(t, c)[2]
	select {
	case <-retried:
	case <-time.After(clustertest.WaitTimeout):
		t.Fatalf("node 2 did not retry its join within %s", clustertest.WaitTimeout)
	}
	want := "node 2 is not a member yet: joining via " + clustertest.Addr(9) + ": not reachable yet (attempt "
	var h struct{ Status, Reason string }
	code, b := n.call(t, "GET", "/v1/health")
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("health %d %s: %v", code, b, err)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(h.Reason, want) {
		t.Fatalf("node 2's health after a failed join attempt: %d %s, want 503 saying %q", code, b, want)
	}

	code, b = n.call(t, "GET", "/v1/cluster/status")
	var st struct {
		Join *struct {
			Via       []string
			Attempt   int
			LastVia   string `json:"last_via"`
			LastError string `json:"last_error"`
			Message   string
		}
	}
	if err := json.Unmarshal(b, &st); code != 200 || err != nil || st.Join == nil {
		t.Fatalf("status %d %s: %v; want a join", code, b, err)
	}
	if j := st.Join; fmt.Sprint(j.Via) != "["+clustertest.Addr(9)+"]" || j.Attempt < 1 || j.LastVia != clustertest.Addr(9) ||
		j.LastError == "" || !strings.HasPrefix(j.Message, "joining via "+clustertest.Addr(9)) {
		t.Errorf("status join %+v", j)
	}
}
