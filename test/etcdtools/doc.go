// Package etcdtools pins the etcd tools the compatibility tests run
// against metasrv (issue 13), as a module of its own so that their
// dependencies stay out of metasrv's go.mod: `go build -o DIR/etcdctl
// go.etcd.io/etcd/etcdctl/v3` in this directory builds etcdctl at the
// version of metasrv's etcd modules from the Go module proxy
// (test/e2e/etcdctl_test.go does; `make etcdctl` too).
package etcdtools
