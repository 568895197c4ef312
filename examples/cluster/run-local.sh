#!/usr/bin/env bash
# A 3-node Unwind deployment on one machine: three nats-servers (a JetStream cluster on loopback) and three replicas
# (`unwind serve --cluster`), each under a supervisor loop that starts it again when it stops leading (exit status 3)
# or is killed (a status above 128): it comes back as a standby. Ctrl-C (or SIGTERM) stops them all. State goes under
# WORKDIR (default ./unwind-cluster).
#
#   bash examples/cluster/run-local.sh [WORKDIR]
#
# UNWIND (default `npx unwind`) is the command that runs the CLI; NATS_SERVER (default nats-server) the NATS binary.
# Feed clients connect to the three replicas' URLs (ws://127.0.0.1:9101/v1/feed, 9102, 9103) and follow the leader.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:-./unwind-cluster}
unwind=${UNWIND:-npx unwind}
nats=${NATS_SERVER:-nats-server}
mkdir -p "$work"
cd "$work"

pids=()
stop() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

for n in 1 2 3; do
  "$nats" -c "$here/nats-n$n.conf" >"nats-n$n.log" 2>&1 &
  pids+=($!)
done

# One replica, started again whenever it stops leading (status 3) or a signal killed it; any other status (0: stopped,
# 1: a fault such as REPLICA_DIVERGED, 2: a bad config) ends its loop, as a restart would not mend it.
supervise() {
  local n=$1 status
  trap 'kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM
  while true; do
    $unwind serve --config "$here/replica-n$n.json" --cluster "$here/cluster.json" --node "n$n" >>"replica-n$n.log" 2>&1 &
    child=$!
    status=0
    wait "$child" || status=$?
    [ "$status" -eq 3 ] || [ "$status" -gt 128 ] || exit "$status"
    echo "$(date -u +%FT%TZ) n$n exited with status $status: starting it again as a standby" >>"replica-n$n.log"
  done
}
for n in 1 2 3; do
  supervise "$n" &
  pids+=($!)
done
echo "unwind: 3 nats-servers and 3 replicas under $(pwd) (logs: nats-n*.log, replica-n*.log); Ctrl-C stops them"
wait
