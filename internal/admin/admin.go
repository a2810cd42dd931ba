// Package admin serves the admin HTTP API on admin_api_address: cluster
// status and membership as JSON, and the Prometheus metrics.
package admin

import (
	"encoding/json"
	"net/http"

	"github.com/metasrv/metasrv/api/metapb"
)

// Cluster is what the admin API reads from the server.
type Cluster interface {
	Status() *metapb.StatusReply
	Members() []*metapb.Node
}

// Handler returns the admin API mux. metrics serves /v1/metrics.
func Handler(c Cluster, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/cluster/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, statusJSON(c.Status()))
	})
	mux.HandleFunc("GET /v1/cluster/nodes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"nodes": nodesJSON(c.Members())})
	})
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		st := c.Status()
		code, reason := http.StatusOK, "ok"
		if st.GetLeaderId() == 0 {
			code, reason = http.StatusServiceUnavailable, "no leader"
		}
		writeJSON(w, code, map[string]any{"status": reason, "id": st.GetId(), "leader_id": st.GetLeaderId()})
	})
	if metrics != nil {
		mux.Handle("GET /v1/metrics", metrics)
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// nodeJSON is a member as the admin API shows it.
type nodeJSON struct {
	ID          uint64 `json:"id"`
	RaftAddress string `json:"raft_address"`
	GrpcAddress string `json:"grpc_address"`
	Voter       bool   `json:"voter"`
}

func nodesJSON(nodes []*metapb.Node) []nodeJSON {
	out := make([]nodeJSON, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, nodeJSON{ID: n.GetId(), RaftAddress: n.GetRaftAddress(), GrpcAddress: n.GetGrpcAddress(), Voter: n.GetVoter()})
	}
	return out
}

// statusJSON is GET /v1/cluster/status: numbers as JSON numbers.
func statusJSON(st *metapb.StatusReply) map[string]any {
	return map[string]any{
		"id":             st.GetId(),
		"version":        st.GetVersion(),
		"cluster_name":   st.GetClusterName(),
		"state":          st.GetState(),
		"is_leader":      st.GetState() == "leader",
		"leader_id":      st.GetLeaderId(),
		"term":           st.GetTerm(),
		"commit_index":   st.GetCommitIndex(),
		"applied_index":  st.GetAppliedIndex(),
		"last_log_index": st.GetLastLogIndex(),
		"snapshot_index": st.GetSnapshotIndex(),
		"last_seq":       st.GetLastSeq(),
		"key_count":      st.GetKeyCount(),
		"raft_address":   st.GetRaftAddress(),
		"grpc_address":   st.GetGrpcAddress(),
		"nodes":          nodesJSON(st.GetNodes()),
	}
}
