package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/metasrv/metasrv/api/metapb"
	"github.com/metasrv/metasrv/internal/metrics"
	"github.com/metasrv/metasrv/internal/server"
)

// fakeCluster answers with a fixed status and records control calls.
type fakeCluster struct {
	st          server.AdminStatus
	snapErr     error
	transferErr error
	transferTo  uint64
}

func (f *fakeCluster) AdminStatus() server.AdminStatus { return f.st }

func (f *fakeCluster) TriggerSnapshot(ctx context.Context) (uint64, error) {
	if f.snapErr != nil {
		return 0, f.snapErr
	}
	f.st.SnapshotIndex, f.st.SnapshotTerm = f.st.Applied, f.st.Term
	return f.st.Applied, nil
}

func (f *fakeCluster) TransferLeader(ctx context.Context, to uint64) (uint64, error) {
	f.transferTo = to
	if f.transferErr != nil {
		return 0, f.transferErr
	}
	if to == 0 {
		to = 2
	}
	return to, nil
}

var members = []*metapb.Node{
	{Id: 1, RaftAddress: "10.0.0.1:28004", GrpcAddress: "10.0.0.1:9191", Voter: true},
	{Id: 2, RaftAddress: "10.0.0.2:28004", GrpcAddress: "10.0.0.2:9191", Voter: true},
	{Id: 3, RaftAddress: "10.0.0.3:28004", GrpcAddress: "10.0.0.3:9191", Voter: false},
}

// leaderStatus is node 1 leading a 3-node cluster, node 3 a learner.
func leaderStatus() server.AdminStatus {
	return server.AdminStatus{
		ID: 1, Version: "v1.2.3", ClusterName: "prod", RaftAddress: "10.0.0.1:28004", GrpcAddress: "10.0.0.1:9191",
		State: "leader", Term: 7, Leader: 1, CommitIndex: 120, LastLogIndex: 121, Applied: 119, AppliedTerm: 7,
		SnapshotIndex: 100, SnapshotTerm: 6, Purged: 90, PurgedTerm: 5, LastSeq: 55, KeyCount: 40, WALSize: 64 << 20,
		Members: members,
		Progress: []server.Progress{
			{ID: 1, Match: 121, MatchTerm: 7, Next: 122, State: "replicate", RecentActive: true},
			{ID: 2, Match: 118, MatchTerm: 7, Next: 122, State: "replicate", RecentActive: true},
			{ID: 3, Match: 0, Next: 61, State: "probe", Learner: true},
		},
	}
}

func followerStatus() server.AdminStatus {
	st := leaderStatus()
	st.ID, st.State, st.Progress = 2, "follower", nil
	return st
}

// get serves one request and returns the status code and body.
func get(t *testing.T, h http.Handler, method, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.Bytes()
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// node1..3 are members[0..2] as the admin API shows them.
const (
	node1 = `{"name":"1","endpoint":{"addr":"10.0.0.1","port":28004},"grpc_api_advertise_address":"10.0.0.1:9191","id":1,"raft_address":"10.0.0.1:28004","grpc_address":"10.0.0.1:9191","voter":true}`
	node2 = `{"name":"2","endpoint":{"addr":"10.0.0.2","port":28004},"grpc_api_advertise_address":"10.0.0.2:9191","id":2,"raft_address":"10.0.0.2:28004","grpc_address":"10.0.0.2:9191","voter":true}`
	node3 = `{"name":"3","endpoint":{"addr":"10.0.0.3","port":28004},"grpc_api_advertise_address":"10.0.0.3:9191","id":3,"raft_address":"10.0.0.3:28004","grpc_address":"10.0.0.3:9191","voter":false}`
)

// compact is the JSON b without its indentation.
func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("compact %s: %v", b, err)
	}
	return out.String()
}

func TestStatusOnLeader(t *testing.T) {
	h := Handler(&fakeCluster{st: leaderStatus()}, nil, Options{ReadCount: func() uint64 { return 9 }})
	code, body := get(t, h, "GET", "/v1/cluster/status")
	if code != 200 {
		t.Fatalf("code %d: %s", code, body)
	}
	// databend-meta's MetaNodeStatus, field by field and in its order,
	// then ours.
	want := `{"id":1,"binary_version":"v1.2.3","data_version":"V004","endpoint":"10.0.0.1:28004",` +
		`"raft_log":{"cache_items":31,"wal_total_size":67108864},"snapshot_key_count":40,` +
		`"state":"Leader","is_leader":true,"current_term":7,"last_log_index":121,` +
		`"last_applied":{"leader_id":{"term":7,"node_id":0},"index":119},` +
		`"snapshot_last_log_id":{"leader_id":{"term":6,"node_id":0},"index":100},` +
		`"purged":{"leader_id":{"term":5,"node_id":0},"index":90},` +
		`"leader":` + node1 + `,` +
		`"replication":{"1":{"leader_id":{"term":7,"node_id":0},"index":121},"2":{"leader_id":{"term":7,"node_id":0},"index":118},"3":null},` +
		`"voters":[` + node1 + `,` + node2 + `],"non_voters":[` + node3 + `],"last_seq":55,` +
		`"version":"v1.2.3","cluster_name":"prod","raft_address":"10.0.0.1:28004","grpc_address":"10.0.0.1:9191",` +
		`"raft_state":"leader","term":7,"leader_id":1,"commit_index":120,"applied_index":119,"snapshot_index":100,` +
		`"purged_index":90,"snapshotting":false,"key_count":40,"wal_size":67108864,` +
		`"nodes":[` + node1 + `,` + node2 + `,` + node3 + `],` +
		`"progress":[{"id":2,"matched":118,"lag":3,"next":122,"state":"replicate","active":true,"voter":true},` +
		`{"id":3,"matched":0,"lag":121,"next":61,"state":"probe","active":false,"voter":false}],"reads_total":9}`
	if got := compact(t, body); got != want {
		t.Errorf("status\n%s\nwant\n%s", got, want)
	}

	// The status decodes as the gRPC StatusReply, as clients do.
	var reply metapb.StatusReply
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &reply); err != nil {
		t.Fatalf("protojson: %v", err)
	}
	if reply.GetTerm() != 7 || reply.GetAppliedIndex() != 119 || reply.GetLeaderId() != 1 || len(reply.GetNodes()) != 3 ||
		reply.GetNodes()[2].GetRaftAddress() != "10.0.0.3:28004" || reply.GetNodes()[2].GetVoter() {
		t.Errorf("as StatusReply: %v", &reply)
	}
}

func TestStatusStates(t *testing.T) {
	for raftState, want := range map[string]string{
		"follower": "Follower", "learner": "Learner", "candidate": "Candidate", "pre-candidate": "Candidate", "stopped": "Shutdown",
	} {
		st := followerStatus()
		st.State = raftState
		_, body := get(t, Handler(&fakeCluster{st: st}, nil), "GET", "/v1/cluster/status")
		got := decode[map[string]any](t, body)
		if got["state"] != want || got["raft_state"] != raftState || got["is_leader"] != false {
			t.Errorf("%s: state %v raft_state %v is_leader %v, want %s", raftState, got["state"], got["raft_state"], got["is_leader"], want)
		}
	}
}

func TestStatusOnFollower(t *testing.T) {
	st := followerStatus()
	st.Purged, st.PurgedTerm, st.SnapshotIndex, st.SnapshotTerm, st.Applied, st.AppliedTerm = 0, 0, 0, 0, 0, 0
	h := Handler(&fakeCluster{st: st}, nil)
	_, body := get(t, h, "GET", "/v1/cluster/status")
	got := decode[map[string]any](t, body)
	if got["is_leader"] != false || got["state"] != "Follower" || got["leader_id"] != 1.0 {
		t.Errorf("is_leader %v state %v leader_id %v", got["is_leader"], got["state"], got["leader_id"])
	}
	for _, key := range []string{"replication", "progress", "purged", "snapshot_last_log_id"} {
		if v, ok := got[key]; !ok || v != nil {
			t.Errorf("%s = %v, want null", key, v)
		}
	}
	// Nothing applied: databend-meta's zero log id.
	if b, _ := json.Marshal(got["last_applied"]); string(b) != `{"index":0,"leader_id":{"node_id":0,"term":0}}` {
		t.Errorf("last_applied = %s", b)
	}
	if _, ok := got["reads_total"]; ok {
		t.Errorf("reads_total present without ReadCount")
	}
}

func TestHealth(t *testing.T) {
	lagging := leaderStatus()
	lagging.CommitIndex, lagging.Applied = 5000, 3000
	noLeader := followerStatus()
	noLeader.Leader, noLeader.State = 0, "pre-candidate"
	stopped := server.AdminStatus{ID: 1, State: "stopped"}
	tests := []struct {
		name   string
		st     server.AdminStatus
		code   int
		reason string
	}{
		{"leader", leaderStatus(), 200, ""},
		{"follower", followerStatus(), 200, ""},
		{"no leader", noLeader, 503, "sees no leader"},
		{"applied far behind commit", lagging, 503, "2000 entries behind commit index 5000"},
		{"stopped", stopped, 503, "not running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, Handler(&fakeCluster{st: tt.st}, nil), "GET", "/v1/health")
			if code != tt.code {
				t.Fatalf("code %d, want %d: %s", code, tt.code, body)
			}
			h := decode[map[string]any](t, body)
			wantStatus := map[bool]string{true: "pass", false: "fail"}[tt.code == 200]
			if h["status"] != wantStatus {
				t.Errorf("status %v, want %v", h["status"], wantStatus)
			}
			if reason, _ := h["reason"].(string); !strings.Contains(reason, tt.reason) || (tt.reason == "") != (reason == "") {
				t.Errorf("reason %q, want it to contain %q", reason, tt.reason)
			}
		})
	}
	// The allowed lag is an option.
	code, _ := get(t, Handler(&fakeCluster{st: lagging}, nil, Options{MaxApplyLag: 2000}), "GET", "/v1/health")
	if code != 200 {
		t.Errorf("lag 2000 with MaxApplyLag 2000: code %d, want 200", code)
	}
}

func TestNodes(t *testing.T) {
	_, body := get(t, Handler(&fakeCluster{st: leaderStatus()}, nil), "GET", "/v1/cluster/nodes")
	// databend-meta answers a list of its Node.
	if got, want := compact(t, body), `[`+node1+`,`+node2+`,`+node3+`]`; got != want {
		t.Errorf("nodes\n%s\nwant\n%s", got, want)
	}
	// A member whose gRPC address is not known yet.
	st := leaderStatus()
	st.Members = []*metapb.Node{{Id: 4, RaftAddress: "[::1]:28004"}}
	_, body = get(t, Handler(&fakeCluster{st: st}, nil), "GET", "/v1/cluster/nodes")
	want := `[{"name":"4","endpoint":{"addr":"::1","port":28004},"grpc_api_advertise_address":null,"id":4,"raft_address":"[::1]:28004","grpc_address":"","voter":false}]`
	if got := compact(t, body); got != want {
		t.Errorf("nodes\n%s\nwant\n%s", got, want)
	}
}

func TestOverview(t *testing.T) {
	type node struct {
		ID      uint64
		Role    string
		Self    bool
		Matched *uint64
		Lag     *uint64
		Active  *bool
	}
	type overview struct {
		TimeMs int64 `json:"time_ms"`
		Status struct{ ID uint64 }
		Health struct{ Status string }
		Nodes  []node
	}
	show := func(ns []node) string {
		var b strings.Builder
		for _, n := range ns {
			fmt.Fprintf(&b, "%d:%s", n.ID, n.Role)
			if n.Self {
				b.WriteString(":self")
			}
			if n.Matched != nil {
				fmt.Fprintf(&b, ":m%d", *n.Matched)
			}
			if n.Lag != nil {
				fmt.Fprintf(&b, ":l%d:%v", *n.Lag, *n.Active)
			}
			b.WriteString(" ")
		}
		return b.String()
	}
	for _, tt := range []struct {
		name string
		st   server.AdminStatus
		want string
	}{
		{"leader", leaderStatus(), "1:leader:self:m121:l0:true 2:follower:m118:l3:true 3:learner:m0:l121:false "},
		{"follower", followerStatus(), "1:leader 2:follower:self:m121 3:learner "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, body := get(t, Handler(&fakeCluster{st: tt.st}, nil), "GET", "/v1/cluster/overview")
			ov := decode[overview](t, body)
			if ov.TimeMs == 0 || ov.Status.ID != tt.st.ID || ov.Health.Status != "pass" {
				t.Errorf("time_ms %d status.id %d health %q", ov.TimeMs, ov.Status.ID, ov.Health.Status)
			}
			if got := show(ov.Nodes); got != tt.want {
				t.Errorf("nodes %q\nwant  %q", got, tt.want)
			}
		})
	}
}

func TestControl(t *testing.T) {
	tests := []struct {
		name     string
		fc       *fakeCluster
		path     string
		code     int
		wantBody string // a substring
		wantTo   uint64
	}{
		{"snapshot", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_snapshot", 200, "null", 0},
		{"snapshot without leader", &fakeCluster{st: followerStatus(), snapErr: fmt.Errorf("wake: %w", server.ErrNoLeader)},
			"/v1/ctrl/trigger_snapshot", 503, `"code": "no_leader"`, 0},
		{"snapshot timeout", &fakeCluster{st: leaderStatus(), snapErr: fmt.Errorf("%w: slow disk", server.ErrTimeout)},
			"/v1/ctrl/trigger_snapshot", 504, `"code": "timeout"`, 0},
		{"transfer to", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_transfer_leader?to=3", 200,
			`{"from":1,"to":3,"voter_ids":[1,2],"leader_id":3}`, 3},
		{"transfer to best", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_transfer_leader", 200,
			`{"from":1,"to":2,"voter_ids":[1,2],"leader_id":2}`, 0},
		{"transfer bad to", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_transfer_leader?to=x", 400, `"code": "bad_request"`, 0},
		{"transfer to zero", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_transfer_leader?to=0", 400, `"code": "bad_request"`, 0},
		{"transfer on follower", &fakeCluster{st: followerStatus(), transferErr: fmt.Errorf("%w: ask node 1", server.ErrNotLeader)},
			"/v1/ctrl/trigger_transfer_leader?to=2", 409, `"code":"not_leader","leader_id":1,"leader":{"name":"1",`, 2},
		{"transfer to non-member", &fakeCluster{st: leaderStatus(), transferErr: fmt.Errorf("%w: node 9", server.ErrInvalidMember)},
			"/v1/ctrl/trigger_transfer_leader?to=9", 400, `"code": "invalid_member"`, 9},
	}
	for _, tt := range tests {
		// GET as databend-meta and its metactl, POST as ours.
		for _, method := range []string{"GET", "POST"} {
			t.Run(tt.name+" "+method, func(t *testing.T) {
				fc := *tt.fc
				code, body := get(t, Handler(&fc, nil), method, tt.path)
				if got := string(body); code != tt.code || !strings.Contains(got, tt.wantBody) && !strings.Contains(compact(t, body), tt.wantBody) {
					t.Errorf("code %d body %s\nwant %d and %s", code, body, tt.code, tt.wantBody)
				}
				if fc.transferTo != tt.wantTo {
					t.Errorf("TransferLeader(%d), want %d", fc.transferTo, tt.wantTo)
				}
			})
		}
	}
	if code, _ := get(t, Handler(&fakeCluster{st: leaderStatus()}, nil), "PUT", "/v1/ctrl/trigger_snapshot"); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT trigger_snapshot: %d, want 405", code)
	}
}

func TestFeatures(t *testing.T) {
	const state = `{"features":["dummy","dummy_feature2"],"enabled":[]}`
	tests := []struct {
		method, path string
		code         int
		want         string // the compact body, or a substring of it
	}{
		{"GET", "/v1/features/list", 200, state},
		{"GET", "/v1/features/set?feature=dummy&enable=false", 200, state},
		{"POST", "/v1/features/set?feature=dummy_feature2&enable=false", 200, state},
		{"GET", "/v1/features/set?feature=dummy&enable=true", 501, "metasrv does not implement state machine features"},
		{"GET", "/v1/features/set?feature=dummy", 400, "'feature' and 'enable' query parameters are required"},
		{"GET", "/v1/features/set", 400, "'feature' and 'enable' query parameters are required"},
		{"GET", "/v1/features/set?feature=pb-messages&enable=true", 400, `unknown feature \"pb-messages\": the features are dummy, dummy_feature2`},
		{"GET", "/v1/features/set?feature=dummy&enable=yes", 400, `enable must be true or false; got \"yes\"`},
	}
	for _, tt := range tests {
		code, body := get(t, Handler(&fakeCluster{st: leaderStatus()}, nil), tt.method, tt.path)
		if got := compact(t, body); code != tt.code || !strings.Contains(got, tt.want) {
			t.Errorf("%s %s: %d %s\nwant %d and %s", tt.method, tt.path, code, got, tt.code, tt.want)
		}
	}
}

func TestConfig(t *testing.T) {
	type raftConfig struct {
		ID         uint64   `toml:"id"`
		Join       []string `toml:"join"`
		RaftSecret string   `toml:"raft_secret"`
	}
	type config struct {
		LogDir        string            `toml:"log_dir"`
		AdminPassword string            `toml:"admin_password"`
		TLSKey        string            `toml:"tls_key"`
		EmptyPassword string            `toml:"db_password"`
		Tagged        int               `json:"tagged" toml:"ignored"`
		Hidden        string            `json:"-"`
		Extra         map[string]string `toml:"extra"`
		Raft          raftConfig        `toml:"raft_config"`
		unexported    int
	}
	cfg := config{
		LogDir: "/var/log/metasrv", AdminPassword: "hunter2", TLSKey: "/etc/key.pem", Tagged: 3, Hidden: "x",
		Extra: map[string]string{"api_token": "t0k", "region": "eu"},
		Raft:  raftConfig{ID: 3, Join: nil, RaftSecret: "s3cret"},
	}
	_ = cfg.unexported
	code, body := get(t, Handler(&fakeCluster{}, nil, Options{Config: func() any { return cfg }}), "GET", "/v1/config")
	if code != 200 {
		t.Fatalf("code %d: %s", code, body)
	}
	var got, want any
	_ = json.Unmarshal(body, &got)
	_ = json.Unmarshal([]byte(`{
		"log_dir": "/var/log/metasrv", "admin_password": "<redacted>", "tls_key": "<redacted>", "db_password": "",
		"tagged": 3, "extra": {"api_token": "<redacted>", "region": "eu"},
		"raft_config": {"id": 3, "join": [], "raft_secret": "<redacted>"}}`), &want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("config\n%v\nwant\n%v", got, want)
	}
	for _, secret := range []string{"hunter2", "key.pem", "s3cret", "t0k"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("config shows secret %q: %s", secret, body)
		}
	}
	if code, _ := get(t, Handler(&fakeCluster{}, nil), "GET", "/v1/config"); code != 404 {
		t.Errorf("no Config option: code %d, want 404", code)
	}
}

func TestMetricsAndPprof(t *testing.T) {
	reg := prometheus.NewRegistry()
	g, err := metrics.NewGRPC(reg)
	if err != nil {
		t.Fatal(err)
	}
	ok := func(context.Context, any) (any, error) { return nil, nil }
	for _, m := range []string{"/metasrv.v1.Meta/Get", "/metasrv.v1.Meta/Get", "/metasrv.v1.Meta/MGet", "/metasrv.v1.Meta/Upsert"} {
		_, _ = g.Unary(context.Background(), nil, &grpc.UnaryServerInfo{FullMethod: m}, ok)
	}
	if n := GRPCReads(reg)(); n != 3 {
		t.Errorf("GRPCReads = %d, want 3 (2 Get, 1 MGet)", n)
	}

	h := Handler(&fakeCluster{st: leaderStatus()}, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	for _, tt := range []struct{ path, want string }{
		{"/v1/metrics", "metasrv_meta_network_req_success"},
		{"/metrics", "metasrv_meta_network_req_success"},
		{"/debug/pprof/", "goroutine"},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile"},
		{"/", `id="nodes"`},
		{"/assets/dashboard.js", "/v1/cluster/overview"},
		{"/assets/dashboard.css", ".badge-leader"},
	} {
		code, body := get(t, h, "GET", tt.path)
		if code != 200 || !strings.Contains(string(body), tt.want) {
			t.Errorf("GET %s: %d, want 200 with %q; got %.200s", tt.path, code, tt.want, body)
		}
	}
	if code, _ := get(t, h, "GET", "/nope"); code != 404 {
		t.Errorf("GET /nope: %d, want 404", code)
	}
}

// TestDashboardSelfContained: the page loads nothing from another origin.
func TestDashboardSelfContained(t *testing.T) {
	srv := httptest.NewServer(Handler(&fakeCluster{st: leaderStatus()}, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, name := range []string{"dashboard/index.html", "dashboard/dashboard.js", "dashboard/dashboard.css"} {
		src, err := dashboardFS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"http://", "https://", "//cdn"} {
			if s := strings.ReplaceAll(string(src), "http://www.w3.org/2000/svg", ""); strings.Contains(s, ref) {
				t.Errorf("%s refers to %q: the dashboard must not load external assets", name, ref)
			}
		}
	}
	if !strings.Contains(string(b), "/assets/dashboard.js") {
		t.Errorf("page does not load its script: %s", b)
	}
}
