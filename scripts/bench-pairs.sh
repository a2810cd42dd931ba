#!/usr/bin/env bash
# Issue 14's share of the no-op ceiling, measured in pairs: the machine's
# speed moves by a third within minutes, and make bench-compare runs the
# no-op server and metasrv a minute apart. This starts the peers' no-op
# server and a 3-node metasrv cluster once, then ROUNDS times runs, one
# right after the other: the peers' client on the no-op server,
# `databend-metactl bench` on metasrv, and the peers' client (etcd's
# clientv3) on metasrv's etcd face. It prints every run's JSON line, each
# round's shares of the no-op rate, and their medians.
#
# usage: scripts/bench-pairs.sh [WORKLOAD CLIENTS CONNS TOTAL]
#        (default put 100 10 50000; WORKLOAD put or get)
# env:   ROUNDS=n   rounds (default 5)
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
shares=()
for r in $(seq "${ROUNDS:-5}"); do
  noop=$("$pb" -system noop -endpoints "$noop_addr" -workload "${run[0]}" -clients "${run[1]}" -conns "${run[2]}" -total "${run[3]}" -keys 10000)
  native=$("$ctl" --grpc-api-address "$eps" bench --workload "${run[0]}" --clients "${run[1]}" --conns "${run[2]}" --total "${run[3]}" --keys 10000 --progress off)
  etcdface=$("$pb" -system etcd -endpoints "$eps" -workload "${run[0]}" -clients "${run[1]}" -conns "${run[2]}" -total "${run[3]}" -keys 10000 |
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
