package admin

import (
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
		State: "leader", Term: 7, Leader: 1, CommitIndex: 120, LastLogIndex: 121, Applied: 119,
		SnapshotIndex: 100, SnapshotTerm: 6, Purged: 90, LastSeq: 55, KeyCount: 40, WALSize: 64 << 20,
		Members: members,
		Progress: []server.Progress{
			{ID: 1, Match: 121, Next: 122, State: "replicate", RecentActive: true},
			{ID: 2, Match: 118, Next: 122, State: "replicate", RecentActive: true},
			{ID: 3, Match: 60, Next: 61, State: "probe", Learner: true},
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

func TestStatusOnLeader(t *testing.T) {
	h := Handler(&fakeCluster{st: leaderStatus()}, nil, Options{ReadCount: func() uint64 { return 9 }})
	code, body := get(t, h, "GET", "/v1/cluster/status")
	if code != 200 {
		t.Fatalf("code %d: %s", code, body)
	}
	st := decode[map[string]any](t, body)
	for key, want := range map[string]any{
		"id": 1.0, "version": "v1.2.3", "cluster_name": "prod", "state": "leader", "is_leader": true,
		"current_term": 7.0, "term": 7.0, "leader_id": 1.0, "commit_index": 120.0, "last_log_index": 121.0,
		"last_applied": 119.0, "applied_index": 119.0, "snapshot_index": 100.0, "purged": 90.0,
		"last_seq": 55.0, "key_count": 40.0, "wal_size": float64(64 << 20), "reads_total": 9.0,
		"snapshotting": false,
	} {
		if st[key] != want {
			t.Errorf("%s = %#v, want %#v", key, st[key], want)
		}
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for key, want := range map[string]string{
		"snapshot_last_log_id": `{"index":100,"term":6}`,
		"leader":               `{"grpc_address":"10.0.0.1:9191","id":1,"raft_address":"10.0.0.1:28004","voter":true}`,
		"voters":               `[{"grpc_address":"10.0.0.1:9191","id":1,"raft_address":"10.0.0.1:28004","voter":true},{"grpc_address":"10.0.0.2:9191","id":2,"raft_address":"10.0.0.2:28004","voter":true}]`,
		"non_voters":           `[{"grpc_address":"10.0.0.3:9191","id":3,"raft_address":"10.0.0.3:28004","voter":false}]`,
		"replication": `[{"active":true,"id":2,"lag":3,"matched":118,"next":122,"state":"replicate","voter":true},` +
			`{"active":false,"id":3,"lag":61,"matched":60,"next":61,"state":"probe","voter":false}]`,
	} {
		if got := js(st[key]); got != want {
			t.Errorf("%s = %s\nwant %s", key, got, want)
		}
	}
	if n, ok := st["nodes"].([]any); !ok || len(n) != 3 {
		t.Errorf("nodes = %v, want 3", st["nodes"])
	}

	// The status decodes as the gRPC StatusReply, as clients do.
	var reply metapb.StatusReply
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &reply); err != nil {
		t.Fatalf("protojson: %v", err)
	}
	if reply.GetTerm() != 7 || reply.GetAppliedIndex() != 119 || reply.GetLeaderId() != 1 || len(reply.GetNodes()) != 3 {
		t.Errorf("as StatusReply: %v", &reply)
	}
}

func TestStatusOnFollower(t *testing.T) {
	h := Handler(&fakeCluster{st: followerStatus()}, nil)
	_, body := get(t, h, "GET", "/v1/cluster/status")
	st := decode[map[string]any](t, body)
	if st["is_leader"] != false || st["state"] != "follower" || st["leader_id"] != 1.0 {
		t.Errorf("is_leader %v state %v leader_id %v", st["is_leader"], st["state"], st["leader_id"])
	}
	if v, ok := st["replication"]; !ok || v != nil {
		t.Errorf("replication = %v, want null on a follower", v)
	}
	if _, ok := st["reads_total"]; ok {
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
			wantStatus := map[bool]string{true: "ok", false: "unhealthy"}[tt.code == 200]
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
	got := decode[struct{ Nodes []nodeJSON }](t, body)
	want := []nodeJSON{
		{1, "10.0.0.1:28004", "10.0.0.1:9191", true},
		{2, "10.0.0.2:28004", "10.0.0.2:9191", true},
		{3, "10.0.0.3:28004", "10.0.0.3:9191", false},
	}
	if fmt.Sprint(got.Nodes) != fmt.Sprint(want) {
		t.Errorf("nodes %v, want %v", got.Nodes, want)
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
		{"leader", leaderStatus(), "1:leader:self:m121:l0:true 2:follower:m118:l3:true 3:learner:m60:l61:false "},
		{"follower", followerStatus(), "1:leader 2:follower:self:m121 3:learner "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, body := get(t, Handler(&fakeCluster{st: tt.st}, nil), "GET", "/v1/cluster/overview")
			ov := decode[overview](t, body)
			if ov.TimeMs == 0 || ov.Status.ID != tt.st.ID || ov.Health.Status != "ok" {
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
		{"snapshot", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_snapshot", 200, `"index": 119`, 0},
		{"snapshot without leader", &fakeCluster{st: followerStatus(), snapErr: fmt.Errorf("wake: %w", server.ErrNoLeader)},
			"/v1/ctrl/trigger_snapshot", 503, `"code": "no_leader"`, 0},
		{"snapshot timeout", &fakeCluster{st: leaderStatus(), snapErr: fmt.Errorf("%w: slow disk", server.ErrTimeout)},
			"/v1/ctrl/trigger_snapshot", 504, `"code": "timeout"`, 0},
		{"transfer to", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_transfer_leader?to=3", 200, `"leader_id": 3`, 3},
		{"transfer to best", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_transfer_leader", 200, `"leader_id": 2`, 0},
		{"transfer bad to", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_transfer_leader?to=x", 400, `"code": "bad_request"`, 0},
		{"transfer to zero", &fakeCluster{st: leaderStatus()}, "/v1/ctrl/trigger_transfer_leader?to=0", 400, `"code": "bad_request"`, 0},
		{"transfer on follower", &fakeCluster{st: followerStatus(), transferErr: fmt.Errorf("%w: ask node 1", server.ErrNotLeader)},
			"/v1/ctrl/trigger_transfer_leader?to=2", 409, `"leader": {` + "\n" + `    "id": 1,`, 2},
		{"transfer to non-member", &fakeCluster{st: leaderStatus(), transferErr: fmt.Errorf("%w: node 9", server.ErrInvalidMember)},
			"/v1/ctrl/trigger_transfer_leader?to=9", 400, `"code": "invalid_member"`, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, Handler(tt.fc, nil), "POST", tt.path)
			if code != tt.code || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("code %d body %s\nwant %d and %s", code, body, tt.code, tt.wantBody)
			}
			if tt.fc.transferTo != tt.wantTo {
				t.Errorf("TransferLeader(%d), want %d", tt.fc.transferTo, tt.wantTo)
			}
		})
	}
	// Control endpoints take POST only.
	if code, _ := get(t, Handler(&fakeCluster{st: leaderStatus()}, nil), "GET", "/v1/ctrl/trigger_snapshot"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET trigger_snapshot: %d, want 405", code)
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
