#!/usr/bin/env bash
# A project-local Redis Cluster for `make cluster` and the cluster half of `make test`.
#   scripts/cluster.sh start|stop|status|url
# Six nodes of Debian's redis-server on 127.0.0.1 (3 masters, 3 replicas), ports
# GATEWAY_CLUSTER_BASE_PORT (57001) .. +5, data and logs under .data/cluster/<port>/, AOF
# `appendfsync everysec` like scripts/services.sh. `start` is idempotent: it starts the nodes
# that are down (reusing their data and nodes.conf), creates the cluster the first time only, and
# waits until every node says the cluster is ok with all 16384 slots covered. A node timeout of
# 2 s makes a failover (kill -9 a master) take a few seconds. Each node's cluster bus listens on
# its port - 10000 (the default, port + 10000, is past 65535).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="${GATEWAY_DATA_DIR:-$ROOT/.data}/cluster"
BASE=${GATEWAY_CLUSTER_BASE_PORT:-57001}
PORTS=$(seq "$BASE" $((BASE + 5)))
NODE_TIMEOUT_MS=${GATEWAY_CLUSTER_NODE_TIMEOUT_MS:-2000}
URL="redis://127.0.0.1:$BASE/0"

log() { echo "cluster: $*" >&2; }

ensure_binaries() {
  if ! command -v redis-server >/dev/null; then
    log "installing redis-server from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq redis-server >/dev/null
  fi
}

cli() { local port=$1; shift; redis-cli -h 127.0.0.1 -p "$port" "$@"; }
up() { cli "$1" ping >/dev/null 2>&1; }                       # answering at all
ready() { [ "$(cli "$1" ping 2>/dev/null)" = PONG ]; }        # not still loading its AOF
ours() { [ -f "$DATA/$1/redis.pid" ] && kill -0 "$(cat "$DATA/$1/redis.pid")" 2>/dev/null; }
info_field() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

wait_ready() {
  local i
  for i in $(seq 3000); do
    ready "$1" && return
    if [ "$i" -gt 20 ] && ! ours "$1"; then break; fi  # it died (a bad flag, a taken port)
    sleep 0.1
  done
  log "node $1 did not become ready; $DATA/$1/redis.log says:"; tail -3 "$DATA/$1/redis.log" >&2
  exit 1
}

start_node() {
  local port=$1 dir="$DATA/$1"
  mkdir -p "$dir"
  if up "$port"; then
    if ours "$port"; then wait_ready "$port"; return; fi
    log "port $port is taken by another Redis; set GATEWAY_CLUSTER_BASE_PORT"; exit 1
  fi
  redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-port "$((port - 10000))" \
    --cluster-node-timeout "$NODE_TIMEOUT_MS" \
    --appendonly yes --appendfsync everysec --save "" --repl-diskless-sync-delay 0 \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  wait_ready "$port"
}

# Every node up says ok and counts all 16384 slots as served, and every replica has synced with
# its master (a replica that never did cannot take over: the failover drill needs them).
cluster_ok() {
  local port
  for port in $PORTS; do
    up "$port" || continue
    [ "$(info_field "$port" cluster_state)" = ok ] || return 1
    [ "$(info_field "$port" cluster_slots_ok)" = 16384 ] || return 1
    if cli "$port" info replication | grep -q '^role:slave'; then
      cli "$port" info replication | grep -q '^master_link_status:up' || return 1
    fi
  done
}

wait_ok() {
  for _ in $(seq 600); do cluster_ok && return; sleep 0.1; done
  log "the cluster did not reach state ok within 60 s:"; status >&2; exit 1
}

create_cluster() {
  local port nodes=()
  for port in $PORTS; do
    if [ "$(info_field "$port" cluster_known_nodes)" != 1 ]; then
      log "node $port already knows other nodes but the cluster has no slots: a create that" \
          "stopped half-way? Run scripts/cluster.sh stop, remove $DATA and start again"
      exit 1
    fi
    nodes+=("127.0.0.1:$port")
  done
  log "creating the cluster (3 masters, 3 replicas)"
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$DATA/create.log" 2>&1 \
    || { cat "$DATA/create.log" >&2; exit 1; }
  # The masters as created (once the replicas have attached), so that `status` can name a
  # failover.
  for _ in $(seq 300); do
    [ "$(cli "$BASE" cluster nodes | grep -c ' slave ')" = 3 ] && break
    sleep 0.1
  done
  cli "$BASE" cluster nodes | awk '$3 ~ /master/ && $9 != "" {split($2, a, "[:@]"); print a[2]}' \
    | sort >"$DATA/masters.created"
}

start() {
  ensure_binaries
  local port
  for port in $PORTS; do start_node "$port"; done
  if [ "$(info_field "$BASE" cluster_slots_assigned)" = 0 ]; then create_cluster; fi
  wait_ok
  log "$URL (nodes 127.0.0.1:$BASE..$((BASE + 5)); GATEWAY_REDIS_CLUSTER=1)"
}

stop() {
  local port pid pids=()
  for port in $PORTS; do
    ours "$port" || continue
    pids+=("$(cat "$DATA/$port/redis.pid")")
    cli "$port" shutdown now >/dev/null 2>&1 || true  # now: no wait for replicas also stopping
  done
  for pid in "${pids[@]}"; do  # all told first: each takes a second or so to exit
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
}

# One line per node (port, role, its master for a replica, slots, flags), then the cluster's
# state; a master that is not one of the masters created, or a created master that is now a
# replica or down, is named a failover.
status() {
  local port seen="" created="" line
  [ -f "$DATA/masters.created" ] && created=$(tr '\n' ' ' <"$DATA/masters.created")
  for port in $PORTS; do up "$port" && { seen=$port; break; }; done
  if [ -z "$seen" ]; then echo "cluster down (no node answers on $BASE..$((BASE + 5)))"; return 0; fi
  cli "$seen" cluster nodes | tr -d '\r' | awk -v created=" $created" '
    { split($2, a, "[:@]"); port[$1] = a[2]; line[NR] = $0 }
    END {
      for (i = 1; i <= NR; i++) {
        n = split(line[i], f, " ")
        p = port[f[1]]
        flags = f[3]; gsub(/myself,?/, "", flags)
        role = (flags ~ /master/) ? "master" : "replica"
        slots = ""
        for (j = 9; j <= n; j++) slots = slots " " f[j]
        desc = (role == "replica") ? "replica of " port[f[4]] : "master, slots" slots
        if (flags ~ /fail/) desc = desc " [" flags "]"
        was = created != " " && index(created, " " p " ") > 0
        if (role == "master" && created != " " && !was) desc = desc "  <- failover: promoted"
        if (was && (role != "master" || flags ~ /fail/)) desc = desc "  <- failover: was a master"
        printf "%s %s\n", p, desc
      }
    }' | sort -n | while read -r port line; do
      if up "$port"; then echo "127.0.0.1:$port $line"; else echo "127.0.0.1:$port $line (not answering)"; fi
    done
  echo "cluster_state $(info_field "$seen" cluster_state), slots ok $(info_field "$seen" cluster_slots_ok)/16384 ($URL)"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
