#!/usr/bin/env bash
# Measures issue 5's large-state targets on a 3-node metasrv cluster on
# loopback holding KEYS keys (bench/key/%08d) of 256-byte values, and prints
# one JSON line per measurement:
#
#   {"system":"metasrv","keys":K,"measure":M,"node":N,...,"value":V}
#
# In order (node = the node measured; 0 = the cluster):
#   load              `databend-metactl bench --workload load` writes every
#                     key once; its own line (workload "load") is printed
#   version           databend-meta --version (the commit it was built at)
#   loadavg           the 1-minute load average, "when": "start" and "end"
#   rss_mb, hwm_mb    each node's VmRSS and VmHWM (/proc/PID/status), MiB,
#   heap_mb           and Go's heap in use (go_memstats_heap_inuse_bytes),
#                     "phase": "loaded" (all nodes applied the load),
#                     "snapshotted" (after each took a snapshot), "restarted"
#                     (a node after its restart), "caught_up" (node 4),
#                     "end" (nodes 1-3 at the end)
#   snapshot_s        `databend-metactl trigger-snapshot` on each node, one
#                     after the other, with no writes: seconds until the
#                     snapshot file is written (the admin API's
#                     "snapshotting" is false again)
#   snapshot_trigger_s  ... until trigger-snapshot returned (at some commits
#                     before the file is written)
#   snapshot_mb       the size of the snapshot file it wrote, MiB
#   put               put CLIENTS_CONNS PUT_TOTAL on all KEYS keys, bench's
#                     own line with "phase" "nosnap" or "snap" and "round"
#                     added; in "snap" every node is asked for a snapshot at
#                     once SNAP_DELAY s after the run started ("snap_s": the
#                     slowest one's trigger-snapshot time, "snap_in_run":
#                     whether all ended before the run did); with
#                     SNAP_WHO=leader or follower only that node is asked
#                     ("snap_who")
#   put_p99_ratio     p99 of the snap run over p99 of the nosnap run before it
#   restart_s         a follower ("role":"follower"), then the leader, is
#                     killed with SIGKILL and started again: seconds from
#                     start until its admin API says it knows a leader and
#                     applied what it had applied before the kill
#                     ("log_since_snapshot": entries past its snapshot, at
#                     most about 1000: every node takes a snapshot just
#                     before)
#   restart_read_s    ... until a linearizable get of a key written just
#                     before the kill, through that node alone, returns the
#                     value written (polled with a 500 ms deadline: a read
#                     that reaches a node knowing no leader waits for it)
#   catchup_s         node 4 starts with --join: seconds until its admin API
#                     says it is a voter, knows a leader and applied the
#                     leader's applied index (no writes meanwhile; every log
#                     was purged after a snapshot, so it needs the snapshot)
#   catchup_read_s    ... until it serves that linearizable get
#
# Times are polled every 50 ms (plus the time a poll takes: ~10-30 ms).
# The nodes run with --snapshot-logs-since-last 1000000000 (SNAPSHOT_LOGS),
# so only triggered snapshots happen, at known times.
#
# usage: scripts/bench-state.sh
# env:   KEYS=n          keys (default 1000000)
#        BATCH=n         keys per load request (default 100)
#        PUT_TOTAL=n     puts per p99 run (default KEYS/20, 10000..50000)
#        CLIENTS_CONNS="c m"  of the put runs (default "100 10")
#        ROUNDS=n        nosnap/snap pairs of put runs (default 2)
#        SNAP_DELAY=s    (default 1)
#        SNAP_WHO=all|leader|follower  the nodes that snapshot during the
#                        "snap" runs (default all, at once: the worst case
#                        for nodes sharing a machine; each node's own
#                        schedule spreads them, see snapshotDue)
#        SNAPSHOT_LOGS=n the nodes' snapshot_logs_since_last (default
#                        1000000000: only triggered snapshots; 1024, the
#                        server's default, measures memory as deployed)
#        STATE_PPROF=dir at the end, a heap profile of every node into dir
#        BIN, BENCH_DIR, BENCH_HEARTBEAT: see scripts/bench-lib.sh
# A smoke run: KEYS=20000 scripts/bench-state.sh (under a minute on two
# cores). The script fails (exit 1) when any step does: a node that does
# not come up, serve or catch up within 120 s, a load with errors.
# Takes about 5 minutes at 1M keys on 2 cores, and ~1 GB of memory per node.
set -euo pipefail
name=bench-state.sh
[ $# -eq 0 ] || { grep -m1 '^# usage:' "$0" >&2; exit 2; }
KEYS=${KEYS:-1000000}
BATCH=${BATCH:-100}
PUT_TOTAL=${PUT_TOTAL:-$(( KEYS / 20 < 10000 ? 10000 : KEYS / 20 > 50000 ? 50000 : KEYS / 20 ))}
read -r put_clients put_conns <<<"${CLIENTS_CONNS:-100 10}"
ROUNDS=${ROUNDS:-2}
SNAP_DELAY=${SNAP_DELAY:-1}
SNAP_WHO=${SNAP_WHO:-all}
case "$SNAP_WHO" in all|leader|follower) ;; *) echo "$name: SNAP_WHO must be all, leader or follower" >&2; exit 2 ;; esac
. "$(dirname "$0")/bench-lib.sh"
node_flags=(--snapshot-logs-since-last "${SNAPSHOT_LOGS:-1000000000}")
wait_limit=120 # seconds a node gets to come up, serve or catch up
last_key=bench-state/last

# emit prints one measurement line: emit MEASURE NODE VALUE [JSON-FIELDS].
emit() {
  [ -n "$3" ] || { echo "$name: no value for $1 of node $2" >&2; exit 1; }
  echo "{\"system\":\"metasrv\",\"keys\":$KEYS,\"measure\":\"$1\",\"node\":$2${4:+,$4},\"value\":$3}"
}

# field NAME prints the first number named NAME in the JSON on stdin.
field() {
  grep -o "\"$1\": *[0-9.]*" | head -1 | sed 's/.*: *//'
}

now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

# memory I PHASE prints node I's rss_mb and hwm_mb, and heap_mb when its
# metrics endpoint answers.
memory() {
  local s rss hwm heap
  s=$(cat "/proc/${pid[$1]}/status")
  rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' <<<"$s")
  hwm=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' <<<"$s")
  emit rss_mb "$1" "$rss" "\"phase\":\"$2\""
  emit hwm_mb "$1" "$hwm" "\"phase\":\"$2\""
  if heap=$(curl -sf --max-time 5 "http://127.0.0.1:${metric[$1]}/metrics" |
            awk '$1 == "go_memstats_heap_inuse_bytes" { printf "%.1f", $2 / 1048576 }') && [ -n "$heap" ]; then
    emit heap_mb "$1" "$heap" "\"phase\":\"$2\""
  fi
}

# loadavg WHEN prints the machine's 1-minute load average: the nodes share
# its cores with whatever else runs.
loadavg() {
  emit loadavg 0 "$(cut -d' ' -f1 /proc/loadavg)" "\"when\":\"$1\",\"cores\":$(nproc)"
}

# heap_profile I LABEL saves node I's heap profile when STATE_PPROF is set.
heap_profile() {
  [ -n "${STATE_PPROF:-}" ] || return 0
  mkdir -p "$STATE_PPROF"
  curl -sf -o "$STATE_PPROF/heap-n$1-$2.pprof" "http://127.0.0.1:${admin[$1]}/debug/pprof/heap?gc=1"
  echo "$name: heap profile of node $1 in $STATE_PPROF/heap-n$1-$2.pprof" >&2
}

# applied I prints node I's applied index.
applied() { admin_status "$1" | field applied_index; }

# wait_applied I... waits until every node given applied what the leader
# has.
wait_applied() {
  local l target i start
  start=$(now)
  l=$(leader_id 1 2 3)
  target=$(applied "$l")
  for i in "$@"; do
    until [ "$(applied "$i" 2>/dev/null || echo 0)" -ge "$target" ]; do
      check_time "$start" "node $i to apply index $target"
      sleep 0.1
    done
  done
}

# check_time START WHAT fails the script when wait_limit has passed since
# START.
check_time() {
  check_alive
  if awk -v s="$(since "$1")" -v l="$wait_limit" 'BEGIN { exit !(s > l) }'; then
    echo "$name: waited more than ${wait_limit}s for $2; see $dir/n*/out.log" >&2
    exit 1
  fi
}

# serves I: node I answers a linearizable get of last_key with its value.
# (A read that reaches a node knowing no leader waits for its deadline:
# hence the short one.)
serves() {
  [ "$("$ctl" --grpc-api-address "127.0.0.1:${grpc[$1]}" --timeout 500ms --output json get --key "$last_key" 2>/dev/null |
        field seq)" = "$last_seq" ]
}

# ready I TARGET: node I's admin API says it is a voter, knows a leader and
# applied TARGET.
ready() {
  admin_status "$1" 2>/dev/null | jq -e --argjson id "$1" --argjson t "$2" \
    '.leader_id != 0 and .applied_index >= $t and (.voters | any(.id == $id))' >/dev/null
}

# wait_serving I TARGET START WHAT waits until node I is ready (sets
# ready_s, seconds since START) and serves (sets read_s).
wait_serving() {
  ready_s= read_s=
  until [ -n "$ready_s" ] && [ -n "$read_s" ]; do
    check_time "$3" "$4"
    if [ -z "$ready_s" ] && ready "$1" "$2"; then ready_s=$(since "$3"); fi
    if [ -z "$read_s" ] && serves "$1"; then read_s=$(since "$3"); fi
    sleep 0.05
  done
}

# snapshot I: node I takes a snapshot now. trigger-snapshot waits for it
# (trigger_s: seconds it took), but at some commits returns once the
# snapshot is in memory, before its file is written: so the function then
# waits until the node's admin API no longer says "snapshotting" (snap_s:
# seconds in all). Sets snap_file to the snapshot's file.
snapshot() {
  local r t
  t=$(now)
  r=$("$ctl" --timeout 120s --output json trigger-snapshot --admin-api-address "127.0.0.1:${admin[$1]}")
  trigger_s=$(since "$t")
  until admin_status "$1" | jq -e '.snapshotting == false' >/dev/null; do
    check_time "$t" "node $1 to write its snapshot"
    sleep 0.05
  done
  snap_s=$(since "$t")
  snap_file=$(printf '%s/n%d/raft/snap/%016x-%016x.snap' "$dir" "$1" \
    "$(jq .snapshot_last_log_id.leader_id.term <<<"$r")" "$(jq .snapshot_last_log_id.index <<<"$r")")
}

# file_mb F prints the size of file F in MiB.
file_mb() {
  local b
  b=$(stat -c %s "$1")
  awk -v b="$b" 'BEGIN { printf "%.1f", b / 1048576 }'
}

# write_last writes last_key and remembers its seq: the key the restarted
# and new nodes must serve.
write_last() {
  last_seq=$("$ctl" --grpc-api-address "$eps" --output json upsert --key "$last_key" --value "$(now)" |
    jq '.result.seq')
}

version=$("$meta" --version)
emit version 0 "\"${version##* }\""
loadavg start
start_node 1
for i in 2 3; do start_node "$i" "127.0.0.1:${raft[1]}"; done
eps=$(endpoints 1 2 3)
wait_cluster 3 "$eps"

"$ctl" --grpc-api-address "$eps" bench --workload load --keys "$KEYS" --batch "$BATCH" \
  --clients 16 --conns 4 --progress off
wait_applied 1 2 3
for i in 1 2 3; do memory "$i" loaded; done

for i in 1 2 3; do
  snapshot "$i"
  emit snapshot_s "$i" "$snap_s"
  emit snapshot_trigger_s "$i" "$trigger_s"
  mb=$(file_mb "$snap_file")
  emit snapshot_mb "$i" "$mb"
done
for i in 1 2 3; do memory "$i" snapshotted; done

# put_run PHASE ROUND [JSON-FIELDS] runs the put workload and prints its
# line with the phase and round; sets p99.
put_run() {
  local line
  line=$("$ctl" --grpc-api-address "$eps" bench --workload put --clients "$put_clients" --conns "$put_conns" \
    --total "$PUT_TOTAL" --keys "$KEYS" --progress off)
  p99=$(field p99_ms <<<"$line")
  echo "${line%\}},\"keys\":$KEYS,\"phase\":\"$1\",\"round\":$2${3:+,$3}}"
}
for r in $(seq "$ROUNDS"); do
  put_run nosnap "$r"
  base=$p99
  snapdir=$(mktemp -d "$dir/snaps.XXXX")
  l=$(leader_id 1 2 3)
  case "$SNAP_WHO" in
    all) who="1 2 3" ;;
    leader) who=$l ;;
    follower) who=$(( l % 3 + 1 )) ;;
  esac
  (
    sleep "$SNAP_DELAY"
    for i in $who; do
      ( snapshot "$i"; echo "$snap_s" >"$snapdir/$i"; now >"$snapdir/$i.end" ) &
    done
    wait
  ) &
  snaps=$!
  run=$(put_run snap "$r")
  ended=$(now)
  wait "$snaps"
  slowest=$(cat "$snapdir"/[0-9] | sort -n | tail -1)
  last_end=$(cat "$snapdir"/*.end | sort -n | tail -1)
  in_run=$(awk -v a="$last_end" -v b="$ended" 'BEGIN { print (a < b) ? "true" : "false" }')
  p99=$(field p99_ms <<<"$run")
  echo "${run%\}},\"snap_s\":$slowest,\"snap_in_run\":$in_run,\"snap_who\":\"$SNAP_WHO\"}"
  emit put_p99_ratio 0 "$(awk -v a="$p99" -v b="$base" 'BEGIN { printf "%.3f", a / b }')" "\"round\":$r"
done

# restart ROLE: SIGKILL the node of that role (follower or leader) and
# start it again.
restart() {
  local l i s t start
  for i in 1 2 3; do snapshot "$i"; done
  write_last
  wait_applied 1 2 3
  l=$(leader_id 1 2 3)
  i=$l
  [ "$1" = leader ] || i=$(( l % 3 + 1 ))
  s=$(admin_status "$i")
  t=$(( $(field applied_index <<<"$s") - $(field snapshot_index <<<"$s") ))
  target=$(field applied_index <<<"$s")
  kill_node "$i"
  start=$(now)
  start_node "$i"
  wait_serving "$i" "$target" "$start" "node $i to serve after its restart"
  emit restart_s "$i" "$ready_s" "\"role\":\"$1\",\"log_since_snapshot\":$t"
  emit restart_read_s "$i" "$read_s" "\"role\":\"$1\""
  memory "$i" restarted
  wait_cluster 3 "$eps"
}
restart follower
restart leader

# Node 4 joins through the leader; its log starts past index 1, so node 4
# gets a snapshot.
for i in 1 2 3; do snapshot "$i"; done
write_last
wait_applied 1 2 3
l=$(leader_id 1 2 3)
target=$(applied "$l")
start=$(now)
start_node 4 "127.0.0.1:${raft[$l]}"
wait_serving 4 "$target" "$start" "node 4 to catch up"
emit catchup_s 4 "$ready_s"
emit catchup_read_s 4 "$read_s"
memory 4 caught_up
for i in 1 2 3; do memory "$i" end; done
loadavg end
for i in 1 2 3 4; do heap_profile "$i" end; done
