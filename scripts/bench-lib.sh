# shellcheck shell=bash
# Sourced by scripts/bench*.sh: starts metasrv nodes on loopback in a
# scratch directory and stops them when the script exits, however it exits
# (done, failed, Ctrl-C). Not a script of its own.
#
# The sourcing script sets, before sourcing:
#   name         its name, for messages ("bench.sh")
# and may set:
#   BIN=dir          databend-meta and databend-metactl (default ./bin)
#   BENCH_DIR=dir    data and logs there, kept (default: a temp dir, removed
#                    unless the script failed)
#   BENCH_HEARTBEAT=ms  heartbeat_interval (default: the server's, 300)
# Then it calls start_node for each node and wait_cluster.
#
# What it defines: meta, ctl (the binaries), dir, node_flags (more flags for
# every node started from then on), raft[i] grpc[i] admin[i] pid[i] (node
# i's ports and process), and the functions below.

BIN=${BIN:-./bin}
meta="$BIN/databend-meta" ctl="$BIN/databend-metactl"
for b in "$meta" "$ctl"; do
  [ -x "$b" ] || { echo "$name: $b not found: run make build (or set BIN)" >&2; exit 1; }
done

if [ -n "${BENCH_DIR:-}" ]; then dir=$BENCH_DIR; keep=1; mkdir -p "$dir"
else dir=$(mktemp -d "${TMPDIR:-/tmp}/metasrv-bench.XXXXXX"); keep=0; fi
pid=() raft=() grpc=() admin=() metric=() node_flags=()

# stop_nodes ends every node still running: SIGTERM, then waits for it.
stop_nodes() {
  local p
  for p in "${pid[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pid[@]}"; do wait "$p" 2>/dev/null || true; done
  pid=()
}
on_exit() {
  local rc=$? j
  stop_nodes
  for j in $(jobs -p); do kill -TERM "$j" 2>/dev/null || true; done
  if [ $rc -ne 0 ] || [ $keep -eq 1 ]; then echo "$name: data and logs in $dir" >&2
  else rm -rf "$dir"; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# free_port sets port to a loopback port nobody listens on and that this
# script has not handed out yet. (It sets a variable rather than printing:
# in a $(...) subshell it could not remember what it handed out.) The port
# is below the kernel's ephemeral range, where an outgoing connection can
# hold a port that nobody listens on.
given=" " port=
ephemeral_low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  local p
  while :; do
    p=$((10000 + RANDOM % (ephemeral_low - 10000)))
    case "$given" in *" $p "*) continue;; esac
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      given="$given$p " port=$p; return
    fi
  done
}

# start_node I [JOIN_RAFT_ADDR] starts node I in the background, in
# $dir/nI, with node_flags: the first time on new ports, with --single
# when no address to join is given (else --join it); again after it
# stopped, on the same ports and raft_dir (where --single and --join are
# ignored). Its stdout and stderr go to $dir/nI/out.log.
start_node() {
  local i=$1 join=${2:-}
  if [ -z "${raft[$i]:-}" ]; then
    free_port; raft[$i]=$port
    free_port; grpc[$i]=$port
    free_port; admin[$i]=$port
    free_port; metric[$i]=$port
  fi
  local args=(--id "$i" --raft-dir "$dir/n$i/raft" --log-dir "$dir/n$i/logs"
    --raft-api-port "${raft[$i]}" --raft-listen-host 127.0.0.1 --raft-advertise-host 127.0.0.1
    --grpc-api-address "127.0.0.1:${grpc[$i]}" --admin-api-address "127.0.0.1:${admin[$i]}"
    --metric-api-address "127.0.0.1:${metric[$i]}")
  [ -n "${BENCH_HEARTBEAT:-}" ] && args+=(--heartbeat-interval "$BENCH_HEARTBEAT")
  if [ -n "$join" ]; then args+=(--join "$join"); else args+=(--single); fi
  mkdir -p "$dir/n$i"
  "$meta" "${args[@]}" "${node_flags[@]}" >>"$dir/n$i/out.log" 2>&1 </dev/null &
  pid[$i]=$!
}

# kill_node I ends node I with SIGKILL (no clean shutdown) and waits for
# it to be gone.
kill_node() {
  kill -KILL "${pid[$1]}"
  wait "${pid[$1]}" 2>/dev/null || true
  unset "pid[$1]"
}

# check_alive fails the script when a node it started has exited.
check_alive() {
  local i
  for i in "${!pid[@]}"; do
    if ! kill -0 "${pid[$i]}" 2>/dev/null; then
      echo "$name: node $i exited; the end of $dir/n$i/out.log:" >&2
      tail -3 "$dir/n$i/out.log" >&2
      exit 1
    fi
  done
}

# endpoints prints the gRPC addresses of nodes I..., comma-separated.
endpoints() {
  local i out=
  for i in "$@"; do out="$out${out:+,}127.0.0.1:${grpc[$i]}"; done
  echo "$out"
}

# wait_cluster N EPS waits (up to 60 s) until the cluster has N voters and
# every address of EPS answers; else fails the script.
wait_cluster() {
  local n=$1 eps=$2
  for _ in $(seq 300); do
    if [ "$("$ctl" --grpc-api-address "$eps" --output json --timeout 2s member-list 2>/dev/null |
          grep -c '"voter": true')" = "$n" ] &&
       "$ctl" --grpc-api-address "$eps" --timeout 2s status >/dev/null 2>&1; then return 0; fi
    check_alive
    sleep 0.2
  done
  echo "$name: the cluster did not come up with $n voters; see $dir/n*/out.log" >&2
  exit 1
}

# admin_status I prints node I's /v1/cluster/status (JSON); fails when the
# node does not answer.
admin_status() {
  curl -sf --max-time 5 "http://127.0.0.1:${admin[$1]}/v1/cluster/status"
}

# leader_id prints the id of the node among I... that is leader now, or
# nothing.
leader_id() {
  local i
  for i in "$@"; do
    if admin_status "$i" 2>/dev/null | grep -q '"is_leader": true'; then echo "$i"; return; fi
  done
}

# cpu_ticks I... prints the CPU time (user + system, clock ticks) each node
# I has used so far, one number per node, in the order given.
cpu_ticks() {
  local i
  for i in "$@"; do
    awk '{ print $14 + $15 }' "/proc/${pid[$i]}/stat"
  done | tr '\n' ' '
}

# cpu_report RUN TOTAL LEADER BEFORE AFTER CLIENT prints a JSON line: the
# CPU µs a request of RUN (TOTAL requests) cost the leader, each follower
# (BEFORE and AFTER from cpu_ticks 1 2 3) and the client (CLIENT: "user
# system" seconds).
cpu_report() {
  local run=$1 total=$2 leader=$3 hz
  hz=$(getconf CLK_TCK)
  awk -v run="$run" -v total="$total" -v leader="$leader" -v hz="$hz" \
    -v before="$4" -v after="$5" -v client="$6" 'BEGIN {
      nb = split(before, b, " "); split(after, a, " "); split(client, c, " ")
      printf "{\"cpu_us_per_op\":{\"run\":\"%s\"", run
      f = 0
      for (i = 1; i <= nb; i++) {
        us = (a[i] - b[i]) / hz * 1e6 / total
        if (i == leader) printf ",\"leader\":%.1f", us
        else printf ",\"follower%d\":%.1f", ++f, us
        sum += us
      }
      cl = (c[1] + c[2]) * 1e6 / total
      printf ",\"client\":%.1f,\"all\":%.1f}}\n", cl, sum + cl
    }'
}
