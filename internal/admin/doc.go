// Package admin serves the admin HTTP API on admin_api_address, and the
// live dashboard. Every response is JSON (numbers as JSON numbers) except
// the dashboard, the metrics and pprof.
//
//	GET  /                                  the dashboard: a page for a browser
//	GET  /v1/health                         200 {"status":"pass",...}, 503 {"status":"fail","reason":...}
//	GET  /v1/config                         the effective config, secrets redacted
//	GET  /v1/cluster/nodes                  [node...]
//	GET  /v1/cluster/status                 this node's status (statusJSON)
//	GET  /v1/cluster/overview               what the dashboard polls: status, health, every member
//	GET  /v1/ctrl/trigger_snapshot          take a snapshot now; answers null
//	GET  /v1/ctrl/trigger_transfer_leader   ?to=N; no to: the most caught-up voter
//	GET  /v1/features/list                  {"features":[...],"enabled":[...]}
//	GET  /v1/features/set                   ?feature=F&enable=true|false
//	GET  /v1/metrics, /metrics              Prometheus text (the handler passed in)
//	GET  /debug/pprof/                      net/http/pprof, on this mux only (/debug/home leads there)
//
// The paths, and the JSON of health, nodes, status, the control and the
// feature endpoints, are databend-meta's (its admin API, as its
// databend-metactl and operators use it): a node is databend-meta's Node
// ({"name","endpoint":{"addr","port"},"grpc_api_advertise_address"}), a
// log id openraft's ({"leader_id":{"term","node_id"},"index"}), and the
// state openraft's (Leader, Follower, ...). What metasrv tells beyond
// databend-meta follows in fields of its own (id, raft_address, raft_state,
// applied_index, progress, ...). The control and feature endpoints take GET,
// as databend-meta's do, and POST. /v1/config is JSON (databend-meta shows
// its Rust configuration as text).
//
// A node is healthy when it is not joining the cluster, knows a leader and
// its applied index is at most Options.MaxApplyLag entries behind its
// commit index. A joining node's health reason, and its status's "join",
// say what the join waits for.
//
// Leadership transfer runs on the leader only: on another node it answers
// 409 Conflict with the leader's id and addresses ("leader") and, when the
// leader told it (server.NotLeaderError), the leader's admin API address
// ("leader_admin_address"). It does not forward the request (it holds no
// client credentials for the leader's admin API): the caller asks there,
// as databend-metactl transfer-leader does. A target that is not another
// voter: 400 invalid_transfer, naming the voters.
//
// Features: databend-meta's state machine features (dummy,
// dummy_feature2) are for testing and enable nothing; metasrv's state
// machine has none. features/list names them with none enabled;
// features/set with enable=false answers the same, enable=true 501.
//
// The overview is built from this node alone: on the leader it includes
// every member's matched index and lag (raft's progress); on a follower,
// the roles and addresses of the members and who leads. The dashboard
// derives write, apply and read rates from successive overviews, using the
// server's clock (time_ms).
//
// Errors are {"error": "...", "code": "..."} with one status code per
// server error, in one table (errorCodes).
//
// With Options.Authorize (auth enabled), the endpoints that change the node
// or reveal its configuration or internals need credentials in the
// Authorization header, "Basic base64(user:password)" or "Bearer <token>":
// /v1/ctrl/*, /v1/features/set, /v1/config and /debug/. Without them: 401
// with a Basic challenge and {"code": "unauthenticated"}. The read-only
// endpoints (health, status, nodes, overview, features/list, metrics, the
// dashboard) stay open, so that probes, Prometheus and the dashboard need
// no password.
//
// Where databend-meta answers an error as text (a follower asked to
// transfer leadership: 404), metasrv answers its JSON error (409
// not_leader naming the leader): databend-metactl shows either.
package admin
