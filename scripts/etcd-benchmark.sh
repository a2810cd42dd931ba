#!/usr/bin/env bash
# Runs etcd's own benchmark tool (test/etcdbench: go.etcd.io/etcd/v3's
# tools/benchmark) against a 3-node etcd v3.7 cluster
# (../shared/peers/etcd-cluster.sh), then right after against a 3-node
# metasrv cluster on loopback, with the same workloads: put, range,
# txn-mixed, watch, lease-keepalive. Prints, per system and workload, the
# tool's summary (requests/sec, average, 99th percentile) or its error.
# Compare the two systems from one run, on a quiet machine: ratios, never
# absolute numbers from different times.
#
# put and txn-mixed write random binary keys, which metasrv stores as etcd
# does (README, "Keys"). When requests fail, the summary line counts only
# those that succeeded, and the errors line says so. lease-keepalive fails
# until metasrv serves leases.
#
# With WATCH_COUNT=1, a clientv3 client of ours (test/etcdbench/watchcount)
# watches the watch workload's key with 50 more watchers on one stream and
# prints how the system batched their events: events a response, and how
# far behind the writes the watchers were.
#
# usage: scripts/etcd-benchmark.sh
# env:   BIN=dir      databend-meta and databend-metactl (default ./bin);
#                     the benchmark is built there as etcd-benchmark
#        WATCH_COUNT=1  the watch workload's batching, as above
#        PEERS=dir    the peers' scripts (default ../shared/peers)
#        TOTAL=n      requests per workload (default 10000)
#        BENCH_DIR=dir  metasrv's data and logs there, kept
#        ETCD_DIR=dir   etcd's (default: a temp dir)
set -euo pipefail
name=etcd-benchmark.sh
root=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-./bin}
PEERS=${PEERS:-$root/../shared/peers}
TOTAL=${TOTAL:-10000}
bench="$BIN/etcd-benchmark"
out_bin=$(realpath -m "$BIN")
(cd "$root/test/etcdbench" && go build -o "$out_bin/etcd-benchmark" go.etcd.io/etcd/v3/tools/benchmark)
if [ -n "${WATCH_COUNT:-}" ]; then
  (cd "$root/test/etcdbench" && go build -o "$out_bin/watchcount" ./watchcount)
fi

# run SYSTEM ENDPOINTS: every workload against ENDPOINTS.
run() {
  local sys=$1 eps=$2 w out
  local common=(--endpoints "$eps" --clients 10 --conns 10)
  local workloads=(
    "put --total $TOTAL --key-space-size 10000 --val-size 256"
    "range bench-range-key --total $TOTAL --consistency l"
    "txn-mixed bench-txn --total $TOTAL --key-space-size 10000 --val-size 256 --rw-ratio 1"
    "watch --put-total 1000 --streams 10 --watch-per-stream 100"
    "lease-keepalive --total $TOTAL"
  )
  for w in "${workloads[@]}"; do
    local counter="" counted
    if [ -n "${WATCH_COUNT:-}" ] && [ "${w%% *}" = watch ]; then
      counted=$(mktemp "${TMPDIR:-/tmp}/metasrv-watchcount.XXXXXX")
      "$BIN/watchcount" -endpoints "$eps" >"$counted" 2>&1 &
      counter=$!
      sleep 1 # its watchers are in place before the tool's puts
    fi
    # shellcheck disable=SC2086 # w is a command line
    # (tr: the watch workload draws a progress bar with carriage returns)
    if out=$(timeout 300 "$bench" "${common[@]}" $w 2>&1 | tr '\r' '\n'; exit "${PIPESTATUS[0]}"); then
      echo "$sys ${w%% *}: $(grep -E 'Requests/sec|Average|99%' <<<"$out" | tr -s ' \t\n' ' ')"
      if grep -q 'Error distribution' <<<"$out"; then
        errs=$(sed -n '/Error distribution/,$p' <<<"$out" | grep -E '^\s*\[[0-9]+\]')
        echo "$sys ${w%% *}: $(wc -l <<<"$errs") requests refused, by message; the first: $(head -1 <<<"$errs" | cut -c1-240)"
      fi
    else
      echo "$sys ${w%% *}: failed: $(grep -m1 -E 'rpc error|panic|Error' <<<"$out" || tail -1 <<<"$out")"
    fi
    if [ -n "$counter" ]; then
      wait "$counter" || true
      echo "$sys watch batching: $(cat "$counted")"
      rm -f "$counted"
    fi
  done
}

# etcd's data, logs and pid files: our own, so that stop ends only ours.
export DIR=${ETCD_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/metasrv-etcd-bench.XXXXXX")}
"$PEERS/etcd-cluster.sh" start
trap '"$PEERS/etcd-cluster.sh" stop' EXIT
run etcd-v3.7.3 127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793
"$PEERS/etcd-cluster.sh" stop
trap - EXIT

. "$root/scripts/bench-lib.sh"
for i in 1 2 3; do
  if [ "$i" = 1 ]; then start_node 1; else start_node "$i" "127.0.0.1:${raft[1]}"; fi
done
eps=$(endpoints 1 2 3)
wait_cluster 3 "$eps"
run metasrv "$eps"
