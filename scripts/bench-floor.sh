#!/usr/bin/env bash
# What a request costs the benchmark client and a gRPC server that does
# no work, when the replies come the way a replicated server sends them:
# in groups, one per commit, each request a few milliseconds after it was
# sent. test/groupnoop answers every request at the first tick (every
# EVERY) at least DELAY after it arrived; the peers' client drives NODES
# of them (its connections spread over them, as over a cluster's nodes).
# For each DELAY it prints one JSON line: ops/s, p50, and the CPU (user
# and system, /proc/PID/stat) the client and the servers spent a request.
#
# This is the part of issue 14's CPU budget that no server work can save:
# at a rate (and so a latency, with a fixed number of clients) that a
# target asks for, what is left of the machine's two cores for the
# replication work of three nodes (docs/PERFORMANCE.md, session 8).
#
# usage: scripts/bench-floor.sh [WORKLOAD CLIENTS CONNS TOTAL]
#        (default put 100 10 50000; WORKLOAD put or get)
# env:   DELAYS="0 1ms 2ms 4ms"  the delays to run (0: answer at once, as
#                                the peers' no-op server)
#        EVERY=1ms               how often the due requests are answered
#        NODES=n                 servers (default 1; 3 as a cluster's nodes)
#        BIN=dir                 where groupnoop is built (default ./bin)
#        PEERS=dir               the peers' scripts (default ../shared/peers)
set -euo pipefail
name=bench-floor.sh
root=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 0 ] || [ $# -eq 4 ] || { sed -n '16,17p' "$0" >&2; exit 2; }
run=(put 100 10 50000)
[ $# -eq 4 ] && run=("$@")
case "${run[0]}" in put | get) ;; *) echo "$name: WORKLOAD must be put or get" >&2; exit 2 ;; esac
PEERS=${PEERS:-$root/../shared/peers}
. "$PEERS/build.sh"
pb="$PEERS_CACHE/bin/peerbench"
. "$root/scripts/bench-lib.sh"
go build -o "$BIN/groupnoop" "$root/test/groupnoop"

hz=$(getconf CLK_TCK)
TIMEFORMAT='%U %S'
nodes=${NODES:-1}
# ticks prints the CPU ticks the servers spent so far.
ticks() {
  local i sum=0
  for i in $(seq "$nodes"); do sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/${pid[$i]}/stat"))); done
  echo "$sum"
}
for delay in ${DELAYS:-0 1ms 2ms 4ms}; do
  eps=""
  for i in $(seq "$nodes"); do
    free_port
    "$BIN/groupnoop" -addr "127.0.0.1:$port" -delay "$delay" -every "${EVERY:-1ms}" >"$dir/groupnoop$i.log" 2>&1 &
    pid[$i]=$! # stopped on exit, as the nodes of the other scripts
    eps="$eps${eps:+,}127.0.0.1:$port"
    for _ in $(seq 50); do (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
  done
  before=$(ticks)
  client=$( { time "$pb" -system noop -endpoints "$eps" -workload "${run[0]}" -clients "${run[1]}" \
    -conns "${run[2]}" -total "${run[3]}" -keys 10000 >"$dir/run.json"; } 2>&1)
  after=$(ticks)
  stop_nodes
  awk -v delay="$delay" -v every="${EVERY:-1ms}" -v nodes="$nodes" -v client="$client" -v server=$((after - before)) \
    -v hz="$hz" -v n="${run[3]}" '{
      split(client, c, " ")
      cu = (c[1] + c[2]) * 1e6 / n; su = server * 1e6 / hz / n
      sub(/"system":"noop"/, "\"system\":\"groupnoop\",\"nodes\":" nodes ",\"delay\":\"" delay "\",\"every\":\"" every "\"")
      sub(/}$/, sprintf(",\"client_us_per_op\":%.1f,\"server_us_per_op\":%.1f,\"all_us_per_op\":%.1f}", cu, su, cu + su))
      print }' "$dir/run.json"
done
