// Package metrics exports metasrv's Prometheus metrics under databend-meta's
// names:
//
//	metasrv_server_*        the node: leader, term, indexes, proposals, reads, watchers
//	metasrv_raft_network_*  traffic with each peer on the raft port
//	metasrv_meta_network_*  the public gRPC API: requests in flight, outcomes, latency
//
// Everything is registered on a prometheus.Registerer passed in, never on
// the default registry, so several nodes can run in one test process.
// Server and peer values are read at scrape time from source functions
// (ServerSource, PeerSource); the gRPC metrics come from interceptors.
package metrics
