// Package e2e holds the end-to-end tests of metasrv: they build the real
// databend-meta and databend-metactl binaries once (TestMain), run them as
// subprocesses on free loopback ports with their data under t.TempDir(), and
// drive them through the public gRPC API, the admin HTTP API and the CLI.
//
// The package has no code of its own; everything is in the _test files:
//
//	main_test.go     builds the binaries
//	harness_test.go  node processes, clusters, polling waits, clients, dir hashes
//	commands_test.go commands run to completion, and ones run until stopped
//	config_test.go   the deploy guide's configs, rewritten for a test
//	cluster_test.go  cluster formation, fail-over, crash recovery, snapshots
//	refuse_test.go   start-up refusals, default logging, --version,
//	                 --cmd show-config
//	metactl_test.go  the databend-metactl CLI against a cluster: KV
//	                 commands, txn --file, watch
//	txn_test.go      transactions through a follower with the Go client
//	ttl_test.go      expiring keys: visibility on every node, delete events
//	watch_test.go    watches: SIGKILL of the serving node, resume from a
//	                 seq on another node, compacted history
//
// Every node runs with --log-stderr-on, so that its output file holds its
// log; a failed test prints the last lines of each node's output.
//
// Run with `go test ./test/e2e/ -v`. Set METASRV_E2E_RACE=1 to build the
// binaries with the race detector (slower).
package e2e
