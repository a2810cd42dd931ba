# metasrv: `make run` starts one node on built-in defaults, `make test` runs
# every test. `make run` needs only Go; `make test` also installs Debian's
# chromium and strace with apt-get for the dashboard and crash tests (make
# test-deps), and skips those tests, saying so, where it cannot.

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
BIN      := bin

.PHONY: all build run cluster test test-deps test-short vet proto clean chaos bench bench-compare bench-floor bench-state compat etcdctl etcd-benchmark

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/databend-meta ./cmd/databend-meta
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/databend-metactl ./cmd/databend-metactl

# One node on built-in defaults: data under ./.databend, gRPC on 127.0.0.1:9191.
run: build
	$(BIN)/databend-meta --single

# The deploy guide's 3-node cluster from examples/, in the foreground;
# Ctrl-C stops all three.
cluster: build
	./scripts/cluster.sh $(BIN)/databend-meta examples/metasrv-1.toml examples/metasrv-2.toml examples/metasrv-3.toml

# The reference runs of ../shared/peers/compare.sh against a 3-node cluster
# on loopback (scripts/bench.sh); bench-compare runs etcd and the no-op
# ceiling (compare.sh) right before, then put 1/1 with writes to the leader
# (as the Go client sends them), and prints metasrv's numbers as ratios of
# etcd's and of the no-op server's (scripts/benchratio).
PEERS ?= ../shared/peers
bench: build
	BIN=$(BIN) ./scripts/bench.sh

bench-compare: build
	bash -o pipefail -c '{ $(PEERS)/compare.sh && BIN=$(BIN) ./scripts/bench.sh && \
	  BIN=$(BIN) BENCH_FLAGS=--writes-to-leader ./scripts/bench.sh put 1 1 2000 | sed "s/\"system\":\"metasrv\"/\"system\":\"metasrv-leader\"/"; } | \
	  $(GO) run ./scripts/benchratio'

# What the benchmark client and gRPC servers that do no work cost a
# request when the replies come in groups, as a replicated server's do
# (test/groupnoop, scripts/bench-floor.sh): one server, then three.
bench-floor: build
	BIN=$(BIN) PEERS=$(PEERS) ./scripts/bench-floor.sh
	BIN=$(BIN) PEERS=$(PEERS) NODES=3 ./scripts/bench-floor.sh

# Issue 5's large-state measurements (scripts/bench-state.sh) on a 3-node
# cluster holding KEYS keys: RSS, snapshot size and time, restart and
# catch-up times, put p99 with and without snapshots. One JSON line each.
# A smoke run: make bench-state KEYS=20000.
KEYS ?= 1000000
bench-state: build
	BIN=$(BIN) KEYS=$(KEYS) ./scripts/bench-state.sh

vet:
	$(GO) vet ./...

test: build vet test-deps
	$(GO) test -race -timeout 12m ./...

# The fault-injection suite's long run (test/chaos/doc.go): CHAOS_DURATION
# of faults on 3 nodes, then on 5. `make test` runs a short one. Replay a
# failure with METASRV_CHAOS_SEED=N from its output.
CHAOS_DURATION ?= 5m
chaos:
	METASRV_CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -count=1 -timeout 60m -v -run TestChaos ./test/chaos/

# etcd's compatibility checks (issue 13) with clients we did not write,
# built from the Go module proxy: the etcdctl smoke test of test/e2e
# (etcdctl at the version of metasrv's etcd modules, test/etcdtools),
# which make test runs too; then test/k8scompat, a module of its own
# that make test does not run (its time is in the README): Kubernetes'
# storage tests (k8s.io/apiserver's etcd3 store) and clientv3's examples
# and concurrency recipes, each test on a 3-node cluster of the real
# binary. Its known failures are skipped, each with its reason
# (test/k8scompat/known_test.go); METASRV_COMPAT_RUN_KNOWN=1 runs them.
compat: build
	$(GO) test -count=1 -timeout 20m -v -run 'TestEtcdctl' ./test/e2e/
	cd test/k8scompat && $(GO) test -count=1 -timeout 40m -v .

# etcd's own benchmark tool (test/etcdbench: tools/benchmark of
# go.etcd.io/etcd/v3 v3.6.8, the newest on the module proxy) against etcd
# v3.7.3 ($(PEERS)/etcd-cluster.sh), then right after against a 3-node
# metasrv cluster: put, range, txn-mixed, watch, lease-keepalive
# (scripts/etcd-benchmark.sh). Run it on a quiet machine.
etcd-benchmark: build
	BIN=$(BIN) PEERS=$(PEERS) ./scripts/etcd-benchmark.sh

# etcdctl v3.7.x (test/etcdtools) into bin/, to try by hand:
# bin/etcdctl --endpoints=127.0.0.1:9191 member list
etcdctl:
	cd test/etcdtools && $(GO) build -o ../../$(BIN)/etcdctl go.etcd.io/etcd/etcdctl/v3

# Tools the tests need beyond Go: headless Chromium for the dashboard test
# (internal/admin), strace for the fsync failure test (test/e2e). Installs
# them with apt-get when missing (needs root or sudo); where it cannot, one
# line says which tests will be skipped. METASRV_TEST_DEPS=required (CI)
# makes that an error, and the tests fail instead of skipping.
test-deps:
	./scripts/install-test-deps.sh

# Regenerate api/*/*.pb.go: see api/gen.go for the tools (buf for metapb
# and peerpb, protoc for databendpb, protoc-gen-go, protoc-gen-go-grpc) and
# how to install them.
proto:
	cd api && $(GO) generate .

clean:
	rm -rf $(BIN)
