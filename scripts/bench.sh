#!/usr/bin/env bash
# Starts a 3-node metasrv cluster on loopback, runs the reference workloads of
# ../shared/peers/compare.sh against it with `databend-metactl bench` (every
# run gets the three nodes as endpoints), prints one JSON line per run, and
# stops the cluster. Compare with compare.sh's lines from runs made right
# before or after, on the same machine: ratios, never absolute numbers.
#
# usage: scripts/bench.sh                                the standard set
#        scripts/bench.sh WORKLOAD CLIENTS CONNS TOTAL   one run
# env:   BIN=dir          databend-meta and databend-metactl (default ./bin)
#        BENCH_DIR=dir    data and logs there, kept (default: a temp dir,
#                         removed unless a step failed)
#        BENCH_FLAGS=...  more flags for every bench run (e.g. --keys 1000)
#        BENCH_PPROF=dir  during each run, a CPU profile of the leader
#                         (BENCH_PPROF_SECONDS, default 10) into dir
#        BENCH_HEARTBEAT=ms  heartbeat_interval (default: the server's, 300)
set -euo pipefail
BIN=${BIN:-./bin}
runs=("put 1 1 2000" "put 100 10 50000" "put 1000 100 100000" "get 100 10 100000")
[ $# -eq 4 ] && runs=("$*")
[ $# -eq 0 ] || [ $# -eq 4 ] || { sed -n '8,9p' "$0" >&2; exit 2; }
meta="$BIN/databend-meta" ctl="$BIN/databend-metactl"
for b in "$meta" "$ctl"; do
  [ -x "$b" ] || { echo "bench.sh: $b not found: run make build (or set BIN)" >&2; exit 1; }
done

if [ -n "${BENCH_DIR:-}" ]; then dir=$BENCH_DIR; keep=1; mkdir -p "$dir"
else dir=$(mktemp -d "${TMPDIR:-/tmp}/metasrv-bench.XXXXXX"); keep=0; fi
pids=()
stop() {
  local rc=$?
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ $rc -ne 0 ] || [ $keep -eq 1 ]; then echo "bench.sh: data and logs in $dir" >&2
  else rm -rf "$dir"; fi
}
trap stop EXIT
trap 'exit 130' INT TERM

# free_port prints a loopback port nobody listens on and that this script
# has not handed out yet.
given=" "
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    case "$given" in *" $p "*) continue;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      given="$given$p "; echo "$p"; return
    fi
  done
}

raft=() grpc=() admin=()
for i in 1 2 3; do
  raft[$i]=$(free_port); grpc[$i]=$(free_port); admin[$i]=$(free_port); metric=$(free_port)
  args=(--id "$i" --raft-dir "$dir/n$i/raft" --log-dir "$dir/n$i/logs"
    --raft-api-port "${raft[$i]}" --raft-listen-host 127.0.0.1 --raft-advertise-host 127.0.0.1
    --grpc-api-address "127.0.0.1:${grpc[$i]}" --admin-api-address "127.0.0.1:${admin[$i]}"
    --metric-api-address "127.0.0.1:$metric")
  [ -n "${BENCH_HEARTBEAT:-}" ] && args+=(--heartbeat-interval "$BENCH_HEARTBEAT")
  if [ "$i" = 1 ]; then args+=(--single); else args+=(--join "127.0.0.1:${raft[1]}"); fi
  mkdir -p "$dir/n$i"
  "$meta" "${args[@]}" >"$dir/n$i/out.log" 2>&1 </dev/null &
  pids+=($!)
done
eps="127.0.0.1:${grpc[1]},127.0.0.1:${grpc[2]},127.0.0.1:${grpc[3]}"

# Up when all three are voters and every node answers.
up=0
for _ in $(seq 300); do
  if [ "$("$ctl" --grpc-api-address "$eps" --output json --timeout 2s member-list 2>/dev/null |
        grep -c '"voter": true')" = 3 ] &&
     "$ctl" --grpc-api-address "$eps" --timeout 2s status >/dev/null 2>&1; then up=1; break; fi
  sleep 0.2
done
[ $up = 1 ] || { echo "bench.sh: the cluster did not come up; see $dir/n*/out.log" >&2; exit 1; }

# leader_admin prints the admin address of the node that is leader now.
leader_admin() {
  local i
  for i in 1 2 3; do
    if curl -sf "http://127.0.0.1:${admin[$i]}/v1/cluster/status" | grep -q '"is_leader": true'; then
      echo "127.0.0.1:${admin[$i]}"; return
    fi
  done
}

n=0
for r in "${runs[@]}"; do
  set -- $r
  n=$((n + 1))
  prof=
  if [ -n "${BENCH_PPROF:-}" ]; then
    mkdir -p "$BENCH_PPROF"
    out="$BENCH_PPROF/$n-$1-$2-$3-$4.pprof"
    curl -sf -o "$out" "http://$(leader_admin)/debug/pprof/profile?seconds=${BENCH_PPROF_SECONDS:-10}" & prof=$!
  fi
  # shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
  "$ctl" --grpc-api-address "$eps" bench --workload "$1" --clients "$2" --conns "$3" --total "$4" --keys 10000 ${BENCH_FLAGS:-}
  if [ -n "$prof" ]; then wait "$prof" && echo "bench.sh: leader CPU profile in $out" >&2; fi
done
