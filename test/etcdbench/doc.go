// Package etcdbench pins etcd's benchmark tool (tools/benchmark, issue 13),
// as a module of its own so that its dependencies stay out of metasrv's
// go.mod and out of test/k8scompat's: `go build -o DIR/etcd-benchmark
// go.etcd.io/etcd/v3/tools/benchmark` in this directory builds it from the
// Go module proxy (scripts/etcd-benchmark.sh does).
//
// The tool lives in etcd's root module, go.etcd.io/etcd/v3, whose newest
// release on the module proxy is v3.6.8: etcd v3.7 publishes its other
// modules (api, client, server, etcdctl, ...) but no v3.7 root module. So
// this is the v3.6.8 benchmark with the v3.6.8 client. It cannot share a
// module with the v3.7.3 clients of test/etcdtools and test/k8scompat:
// it does not compile against go.etcd.io/etcd/pkg/v3 v3.7 (pkg/report's
// NewReport and NewReportSample take more arguments there). It speaks
// the same v3 gRPC API to etcd v3.7 and to metasrv.
//
// watchcount, beside it, counts how a server batches the events of the
// tool's watch workload (WATCH_COUNT=1 scripts/etcd-benchmark.sh).
package etcdbench
