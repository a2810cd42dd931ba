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
# (the last 20 ms are not counted).
#
# usage: scripts/bench-pairs.sh [WORKLOAD CLIENTS CONNS TOTAL]
#        (default put 100 10 50000; WORKLOAD put or get)
# env:   ROUNDS=n   rounds (default 5)
#        CLIENT_COST=1  the client's cost a request, as above
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

free_port
noop_addr=127.0.0.1:$port
"$PEERS_CACHE/bin/noop" -addr "$noop_addr" >"$dir/noop.log" 2>&1 &
pid[0]=$! # stopped with the nodes
for i in 1 2 3; do
  if [ "$i" = 1 ]; then start_node 1; else start_node "$i" "127.0.0.1:${raft[1]}"; fi
done
eps=$(endpoints 1 2 3)
wait_cluster 3 "$eps"

# ops JSON prints the ops_per_sec of a JSON line.
ops() { sed -n 's/.*"ops_per_sec":\([0-9.]*\).*/\1/p' <<<"$1"; }

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
shares=()
for r in $(seq "${ROUNDS:-5}"); do
  noop=$(client "no-op, peers' client:" "$pb" -system noop -endpoints "$noop_addr" -workload "${run[0]}" -clients "${run[1]}" -conns "${run[2]}" -total "${run[3]}" -keys 10000)
  native=$(client "metasrv, databend-metactl bench:" "$ctl" --grpc-api-address "$eps" bench --workload "${run[0]}" --clients "${run[1]}" --conns "${run[2]}" --total "${run[3]}" --keys 10000 --progress off)
  etcdface=$(client "metasrv's etcd face, peers' client:" "$pb" -system etcd -endpoints "$eps" -workload "${run[0]}" -clients "${run[1]}" -conns "${run[2]}" -total "${run[3]}" -keys 10000 |
    sed 's/"system":"etcd"/"system":"metasrv-etcd-face"/')
  printf '%s\n%s\n%s\n' "$noop" "$native" "$etcdface"
  share=$(awk -v n="$(ops "$noop")" -v a="$(ops "$native")" -v e="$(ops "$etcdface")" 'BEGIN { printf "%.3f %.3f", a / n, e / n }')
  echo "round $r: metasrv/noop ${share% *}, metasrv's etcd face with the peers' client/noop ${share#* }" >&2
  shares+=("$share")
done
printf '%s\n' "${shares[@]}" | awk -v run="${run[*]}" '
  { a[NR] = $1; e[NR] = $2 }
  function median(x, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) { t = x[j]; x[j] = x[j-1]; x[j-1] = t }
    return n % 2 ? x[(n+1)/2] : (x[n/2] + x[n/2+1]) / 2
  }
  END { printf "%s, %d rounds: median share of the no-op rate: metasrv %.1f%%, its etcd face with the peers'"'"' client %.1f%%\n", run, NR, 100*median(a, NR), 100*median(e, NR) > "/dev/stderr" }'
