#!/usr/bin/env bash
# Issue 14's share of the no-op ceiling, measured in pairs: the machine's
# speed moves by a third within minutes, and make bench-compare runs the
# no-op server and metasrv a minute apart. This starts the peers' no-op
# server and a 3-node metasrv cluster once, then ROUNDS times runs, one
# right after the other: the peers' client on the no-op server,
# `databend-metactl bench` on metasrv, and the peers' client (etcd's
# clientv3) on metasrv's etcd face. It prints every run's JSON line, each
# round's shares of the no-op rate, and their medians. With CLIENT_COST=1
# it also prints, after each run, what the benchmark client itself spent
# a request: CPU (user and system, µs) and read and write syscalls, from
# its /proc/PID/stat and /proc/PID/io sampled every 20 ms until it exits
# (the last 20 ms are not counted). With ETCD=1 it also keeps a 3-node
# etcd v3.7 cluster up (../shared/peers/etcd-cluster.sh) and runs the
# peers' client on it in each round, right after the no-op run, and
# prints metasrv's ops/s, p50 and p99 against etcd's, round by round and
# as medians: issue 14's ratios to etcd, in pairs too.
#
# usage: scripts/bench-pairs.sh [WORKLOAD CLIENTS CONNS TOTAL]
#        (default put 100 10 50000; WORKLOAD put or get)
# env:   ROUNDS=n   rounds (default 5)
#        CLIENT_COST=1  the client's cost a request, as above
#        ETCD=1     etcd in the rounds, as above
#        BENCH_FLAGS=...  more flags for databend-metactl bench, e.g.
#                   --writes-to-leader
#        BIN=dir    databend-meta and databend-metactl (default ./bin)
#        PEERS=dir  the peers' scripts (default ../shared/peers)
set -euo pipefail
name=bench-pairs.sh
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 0 ] || [ $# -eq 4 ] || { sed -n '11,12p' "$0" >&2; exit 2; }
run=(put 100 10 50000)
[ $# -eq 4 ] && run=("$@")
case "${run[0]}" in put | get) ;; *) echo "$name: WORKLOAD must be put or get" >&2; exit 2 ;; esac
PEERS=${PEERS:-$root/../shared/peers}
. "$PEERS/build.sh"
pb="$PEERS_CACHE/bin/peerbench"
. "$root/scripts/bench-lib.sh"

if [ -n "${ETCD:-}" ] && (: </dev/tcp/127.0.0.1/23791) 2>/dev/null; then
  echo "$name: something listens on 127.0.0.1:23791 already, where ETCD=1 starts etcd: stop it (another etcd-cluster.sh run?) first" >&2
  exit 1
fi
free_port
noop_addr=127.0.0.1:$port
"$PEERS_CACHE/bin/noop" -addr "$noop_addr" >"$dir/noop.log" 2>&1 &
pid[0]=$! # stopped with the nodes
for i in 1 2 3; do
  if [ "$i" = 1 ]; then start_node 1; else start_node "$i" "127.0.0.1:${raft[1]}"; fi
done
eps=$(endpoints 1 2 3)
wait_cluster 3 "$eps"
etcd_eps=127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793
# stop_etcd stops the etcd cluster and waits until its processes are gone:
# etcd-cluster.sh stop only signals them, and a cluster started on the
# same ports meanwhile would find the old members still there.
stop_etcd() {
  local pids p
  pids=$(cat "$DIR"/e*.pid 2>/dev/null || true)
  "$PEERS/etcd-cluster.sh" stop
  for p in $pids; do
    while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  done
}
if [ -n "${ETCD:-}" ]; then
  export DIR="$dir/etcd" # the etcd cluster's data, logs and pid files
  trap 'rc=$?; stop_etcd; (exit $rc); on_exit' EXIT
  "$PEERS/etcd-cluster.sh" start
fi

# ops JSON prints the ops_per_sec of a JSON line; field NAME JSON another
# number of it.
ops() { sed -n 's/.*"ops_per_sec":\([0-9.]*\).*/\1/p' <<<"$1"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }

# client WHO CMD... runs a benchmark client and prints its output; with
# CLIENT_COST=1 it prints to stderr what the client process spent a
# request (WHO names the run).
client() {
  local who=$1
  shift
  if [ -z "${CLIENT_COST:-}" ]; then
    "$@"
    return
  fi
  local out sample="" last="" p
  out=$(mktemp "$dir/client.XXXXXX")
  "$@" >"$out" &
  p=$!
  while sample=$( { awk '{ printf "%d %d ", $14, $15 }' "/proc/$p/stat" &&
    awk '/^syscr/ { r = $2 } /^syscw/ { w = $2 } END { print r, w }' "/proc/$p/io"; } 2>/dev/null); do
    last=$sample
    sleep 0.02
  done
  wait "$p"
  cat "$out"
  awk -v who="$who" -v n="${run[3]}" -v hz="$(getconf CLK_TCK)" '{
    printf "%s client a request: %.1f µs user, %.1f µs system, %.2f reads, %.2f writes\n",
      who, $1 * 1e6 / hz / n, $2 * 1e6 / hz / n, $3 / n, $4 / n }' <<<"$last" >&2
}
rounds=()
for r in $(seq "${ROUNDS:-5}"); do
  noop=$(client "no-op, peers' client:" "$pb" -system noop -endpoints "$noop_addr" -workload "${run[0]}" -clients "${run[1]}" -conns "${run[2]}" -total "${run[3]}" -keys 10000)
  etcd=""
  if [ -n "${ETCD:-}" ]; then
    etcd=$(client "etcd, peers' client:" "$pb" -system etcd -endpoints "$etcd_eps" -workload "${run[0]}" -clients "${run[1]}" -conns "${run[2]}" -total "${run[3]}" -keys 10000)
  fi
  # shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
  native=$(client "metasrv, databend-metactl bench:" "$ctl" --grpc-api-address "$eps" bench --workload "${run[0]}" --clients "${run[1]}" --conns "${run[2]}" --total "${run[3]}" --keys 10000 --progress off ${BENCH_FLAGS:-})
  etcdface=$(client "metasrv's etcd face, peers' client:" "$pb" -system etcd -endpoints "$eps" -workload "${run[0]}" -clients "${run[1]}" -conns "${run[2]}" -total "${run[3]}" -keys 10000 |
    sed 's/"system":"etcd"/"system":"metasrv-etcd-face"/')
  printf '%s\n' "$noop" $etcd "$native" "$etcdface"
  # Columns: metasrv/noop, etcd face/noop; with etcd, metasrv/etcd ops,
  # p50 and p99.
  line=$(awk -v n="$(ops "$noop")" -v a="$(ops "$native")" -v e="$(ops "$etcdface")" 'BEGIN { printf "%.3f %.3f", a / n, e / n }')
  msg="metasrv/noop ${line% *}, metasrv's etcd face with the peers' client/noop ${line#* }"
  if [ -n "$etcd" ]; then
    vs=$(awk -v eo="$(ops "$etcd")" -v e5="$(field p50_ms "$etcd")" -v e9="$(field p99_ms "$etcd")" \
      -v ao="$(ops "$native")" -v a5="$(field p50_ms "$native")" -v a9="$(field p99_ms "$native")" \
      'BEGIN { printf "%.3f %.3f %.3f", ao / eo, a5 / e5, a9 / e9 }')
    line="$line $vs"
    read -r vo v5 v9 <<<"$vs"
    msg="$msg; metasrv/etcd ops ${vo}x, p50 ${v5}x, p99 ${v9}x"
  fi
  echo "round $r: $msg" >&2
  rounds+=("$line")
done
printf '%s\n' "${rounds[@]}" | awk -v run="${run[*]}" '
  { for (c = 1; c <= NF; c++) col[c, NR] = $c; cols = NF }
  function median(c, n,   i, j, t, x) {
    for (i = 1; i <= n; i++) x[i] = col[c, i]
    for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
    return n % 2 ? x[(n+1)/2] : (x[n/2] + x[n/2+1]) / 2
  }
  END {
    printf "%s, %d rounds: median share of the no-op rate: metasrv %.1f%%, its etcd face with the peers'"'"' client %.1f%%", run, NR, 100*median(1, NR), 100*median(2, NR) > "/dev/stderr"
    if (cols > 2) printf "; metasrv against etcd: ops %.2fx, p50 %.2fx, p99 %.2fx", median(3, NR), median(4, NR), median(5, NR) > "/dev/stderr"
    printf "\n" > "/dev/stderr"
  }'
