#!/usr/bin/env bash
# Starts the deploy guide's 3-node cluster in the foreground: the first
# config initializes the cluster, the others join it (started together, as
# the guide does). Ctrl-C stops all three.
# Usage: scripts/cluster.sh BINARY CONFIG1 CONFIG2 CONFIG3
set -euo pipefail
bin=$1; shift
pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait; }
trap stop INT TERM EXIT
"$bin" -c "$1" & pids+=($!)
shift
# The first node must be serving before the others ask to join; they retry
# for wait_leader_timeout anyway.
sleep 1
for c in "$@"; do "$bin" -c "$c" & pids+=($!); done
echo "cluster started: ${pids[*]} (Ctrl-C stops all three)"
wait -n "${pids[@]}" || true
