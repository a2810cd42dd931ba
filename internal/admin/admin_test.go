package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/metasrv/metasrv/api/metapb"
)

type fakeCluster struct{ st *metapb.StatusReply }

func (f fakeCluster) Status() *metapb.StatusReply { return f.st }
func (f fakeCluster) Members() []*metapb.Node    { return f.st.GetNodes() }

func TestEndpoints(t *testing.T) {
	nodes := []*metapb.Node{{Id: 1, RaftAddress: "localhost:1", GrpcAddress: "127.0.0.1:2", Voter: true}}
	withLeader := fakeCluster{&metapb.StatusReply{Id: 1, State: "leader", LeaderId: 1, Term: 3, LastSeq: 9, Nodes: nodes}}
	noLeader := fakeCluster{&metapb.StatusReply{Id: 1, State: "follower"}}
	tests := []struct {
		name    string
		c       Cluster
		path    string
		code    int
		key     string
		wantVal any
	}{
		{"status", withLeader, "/v1/cluster/status", 200, "last_seq", float64(9)},
		{"status is_leader", withLeader, "/v1/cluster/status", 200, "is_leader", true},
		{"health ok", withLeader, "/v1/health", 200, "status", "ok"},
		{"health no leader", noLeader, "/v1/health", 503, "status", "no leader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Handler(tt.c, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.code {
				t.Fatalf("code %d, want %d", rec.Code, tt.code)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if body[tt.key] != tt.wantVal {
				t.Errorf("%s = %v, want %v", tt.key, body[tt.key], tt.wantVal)
			}
		})
	}
	rec := httptest.NewRecorder()
	Handler(withLeader, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/cluster/nodes", nil))
	var body struct{ Nodes []nodeJSON }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Nodes) != 1 || body.Nodes[0].ID != 1 {
		t.Fatalf("nodes: %s %v", rec.Body, err)
	}
}
