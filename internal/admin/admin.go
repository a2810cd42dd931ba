// Package admin serves the admin HTTP API on admin_api_address: cluster
// status and membership as JSON, and the Prometheus metrics.
package admin

import (
	"encoding/json"
	"net/http"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

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
		writeProto(w, http.StatusOK, c.Status())
	})
	mux.HandleFunc("GET /v1/cluster/nodes", func(w http.ResponseWriter, r *http.Request) {
		writeProto(w, http.StatusOK, &metapb.MemberListReply{Nodes: c.Members()})
	})
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		st := c.Status()
		code, reason := http.StatusOK, "ok"
		if st.GetLeaderId() == 0 {
			code, reason = http.StatusServiceUnavailable, "no leader"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": reason, "id": st.GetId(), "leader_id": st.GetLeaderId()})
	})
	if metrics != nil {
		mux.Handle("GET /v1/metrics", metrics)
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

func writeProto(w http.ResponseWriter, code int, m proto.Message) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
