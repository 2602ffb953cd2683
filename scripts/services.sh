#!/usr/bin/env bash
# Project-local Redis and Postgres for `make run` / `make test`.
#   scripts/services.sh start|stop|status
# Skips a server whose URL is given (GATEWAY_REDIS_URL / GATEWAY_DATABASE_URL), installs the
# Debian packages when the binaries are missing, and keeps all data under .data/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DATA="${GATEWAY_DATA_DIR:-$ROOT/.data}"
REDIS_PORT=${GATEWAY_LOCAL_REDIS_PORT:-56379}
PG_PORT=${GATEWAY_LOCAL_PG_PORT:-55432}
PG_BIN=""

log() { echo "services: $*" >&2; }

apt_install() {
  log "installing $* from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

find_pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then PG_BIN=$d; fi
  done
}

ensure_binaries() {
  if [ -z "${GATEWAY_REDIS_URL:-}" ] && ! command -v redis-server >/dev/null; then
    apt_install redis-server
  fi
  if [ -z "${GATEWAY_DATABASE_URL:-}" ]; then
    find_pg_bin
    if [ -z "$PG_BIN" ]; then apt_install postgresql; find_pg_bin; fi
  fi
}

# Postgres refuses to run as root: run it as the `postgres` user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

redis_up() { redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; }  # answering at all
redis_ready() { [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }  # not still loading

wait_redis_ready() {
  # A large AOF takes a while to load; PING answers LOADING until it is done.
  for _ in $(seq 3000); do redis_ready && return; sleep 0.1; done
  log "redis did not become ready; see $DATA/redis/redis.log"; exit 1
}

start_redis() {
  mkdir -p "$DATA/redis"
  if redis_up; then
    # Up: ours only if our pid file names a live process; else the port belongs to another server.
    if [ -f "$DATA/redis/redis.pid" ] && kill -0 "$(cat "$DATA/redis/redis.pid")" 2>/dev/null; then
      wait_redis_ready
      return
    fi
    log "port $REDIS_PORT is taken by another Redis; set GATEWAY_LOCAL_REDIS_PORT"; exit 1
  fi
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$DATA/redis" \
    --appendonly yes --appendfsync everysec --save "" --daemonize yes \
    --pidfile "$DATA/redis/redis.pid" --logfile "$DATA/redis/redis.log"
  wait_redis_ready
}

pg_ctl_() { as_pg "$PG_BIN/pg_ctl" -D "$DATA/pg" "$@"; }

start_pg() {
  mkdir -p "$DATA"
  if [ ! -f "$DATA/pg/PG_VERSION" ]; then
    mkdir -p "$DATA/pg"
    [ "$(id -u)" = 0 ] && { id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres; chown postgres "$DATA/pg"; }
    chmod 700 "$DATA/pg"
    as_pg "$PG_BIN/initdb" -D "$DATA/pg" -U gateway --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  if ! pg_ctl_ status >/dev/null 2>&1; then
    if (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null; then
      log "port $PG_PORT is taken by another server; set GATEWAY_LOCAL_PG_PORT"; exit 1
    fi
    pg_ctl_ -w -t 60 -l "$DATA/pg/server.log" start \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=200 -c shared_buffers=256MB" >/dev/null
  fi
  for db in gateway gateway_test gateway_test_cluster; do
    if ! psql -h 127.0.0.1 -p "$PG_PORT" -U gateway -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
      psql -h 127.0.0.1 -p "$PG_PORT" -U gateway -d postgres -qc "CREATE DATABASE $db" >/dev/null
    fi
  done
}

stop_all() {
  if [ -z "${GATEWAY_REDIS_URL:-}" ] && redis_up; then redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true; fi
  if [ -z "${GATEWAY_DATABASE_URL:-}" ] && [ -f "$DATA/pg/PG_VERSION" ]; then
    find_pg_bin
    if pg_ctl_ status >/dev/null 2>&1; then pg_ctl_ -w -m fast stop >/dev/null; fi
  fi
}

case "${1:-start}" in
  start)
    ensure_binaries
    [ -z "${GATEWAY_REDIS_URL:-}" ] && start_redis
    [ -z "${GATEWAY_DATABASE_URL:-}" ] && start_pg
    log "redis ${GATEWAY_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}, postgres ${GATEWAY_DATABASE_URL:-postgresql://gateway@127.0.0.1:$PG_PORT/gateway}"
    ;;
  stop) stop_all ;;
  status)
    redis_ready && echo "redis up on $REDIS_PORT" || echo "redis down (or loading)"
    find_pg_bin; pg_ctl_ status >/dev/null 2>&1 && echo "postgres up on $PG_PORT" || echo "postgres down"
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
