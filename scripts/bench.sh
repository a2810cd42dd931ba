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
#        BENCH_FLAGS=...  more flags for every bench run (e.g. --keys 1000;
#                         --writes-to-leader: writes to the leader, as the
#                         Go client sends them, reads still to all three)
#        BENCH_PPROF=dir  during each run, a CPU profile of each node
#                         (BENCH_PPROF_SECONDS, default 10) into dir, named
#                         RUN-leaderI.pprof or RUN-followerI.pprof
#        BENCH_HEARTBEAT=ms  heartbeat_interval (default: the server's, 300)
#        BENCH_TARGET=all|leader|follower  the nodes the bench sends to
#                         (default all three, as compare.sh does with etcd)
#        BENCH_NODE_FLAGS=...  more flags for every node (e.g.
#                         --gc-percent 100)
#        BENCH_CPU=1      after each run, a JSON line on stderr with the CPU
#                         time (user + system, /proc/PID/stat) each node
#                         and the bench client spent in it, in µs a request
set -euo pipefail
name=bench.sh
runs=("put 1 1 2000" "put 100 10 50000" "put 1000 100 100000" "get 100 10 100000")
[ $# -eq 4 ] && runs=("$*")
[ $# -eq 0 ] || [ $# -eq 4 ] || { sed -n '8,9p' "$0" >&2; exit 2; }
. "$(dirname "$0")/bench-lib.sh"
read -ra node_flags <<<"${BENCH_NODE_FLAGS:-}"

for i in 1 2 3; do
  if [ "$i" = 1 ]; then start_node 1; else start_node "$i" "127.0.0.1:${raft[1]}"; fi
done
eps=$(endpoints 1 2 3)
wait_cluster 3 "$eps"
case "${BENCH_TARGET:-all}" in
  all) ;;
  leader) eps=$(endpoints "$(leader_id 1 2 3)") ;;
  follower) l=$(leader_id 1 2 3); eps=$(endpoints $(( l % 3 + 1 ))) ;;
  *) echo "bench.sh: BENCH_TARGET must be all, leader or follower" >&2; exit 2 ;;
esac

n=0
for r in "${runs[@]}"; do
  set -- $r
  n=$((n + 1))
  prof=
  if [ -n "${BENCH_PPROF:-}" ]; then
    mkdir -p "$BENCH_PPROF"
    l=$(leader_id 1 2 3)
    for i in 1 2 3; do
      role=follower; [ "$i" = "$l" ] && role=leader
      out="$BENCH_PPROF/$n-$1-$2-$3-$4-$role$i.pprof"
      curl -sf -o "$out" "http://127.0.0.1:${admin[$i]}/debug/pprof/profile?seconds=${BENCH_PPROF_SECONDS:-10}" & prof="$prof $!"
    done
  fi
  [ -n "${BENCH_CPU:-}" ] && { l=$(leader_id 1 2 3); before=$(cpu_ticks 1 2 3); }
  # shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
  TIMEFORMAT='%U %S'
  { time "$ctl" --grpc-api-address "$eps" bench --workload "$1" --clients "$2" --conns "$3" --total "$4" --keys 10000 ${BENCH_FLAGS:-} 2>&3; } 3>&2 2>"$dir/client.time"
  if [ -n "${BENCH_CPU:-}" ]; then
    after=$(cpu_ticks 1 2 3)
    cpu_report "$1 $2 $3 $4" "$4" "$l" "$before" "$after" "$(cat "$dir/client.time")" >&2
  fi
  # shellcheck disable=SC2086 # prof is a list of pids
  if [ -n "$prof" ]; then wait $prof && echo "bench.sh: CPU profiles of the nodes in $BENCH_PPROF/$n-$1-$2-$3-$4-*.pprof" >&2; fi
done
