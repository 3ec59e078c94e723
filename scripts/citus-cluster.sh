#!/usr/bin/env bash
# A Citus cluster on this machine for development and CI: a coordinator and CITUS_WORKERS workers,
# each its own PostgreSQL 15 cluster (initdb) on its own port of 127.0.0.1, with its data under
# CITUS_DIR. Needs Citus installed into PostgreSQL 15 (../shared/citus/install.sh).
#
#   scripts/citus-cluster.sh start   make (first time) and start the nodes, join the workers; prints DATABASE_URL
#   scripts/citus-cluster.sh stop    stop the nodes (the data stays)
#   scripts/citus-cluster.sh url     print DATABASE_URL
#
# Both are idempotent: starting a running cluster only prints its URL, stopping a stopped one does
# nothing. Settings: CITUS_DIR (.citus), CITUS_PORT (the coordinator's, 9700; worker i listens on
# CITUS_PORT + i), CITUS_WORKERS (2), CITUS_DATABASE (booking), CITUS_WORKER_LOCK_TIMEOUT (5s),
# PG_BIN (PostgreSQL 15's bin).
set -euo pipefail

dir="$(realpath -m "${CITUS_DIR:-.citus}")"
port="${CITUS_PORT:-9700}"
workers="${CITUS_WORKERS:-2}"
database="${CITUS_DATABASE:-booking}"
bin="${PG_BIN:-/usr/lib/postgresql/15/bin}"
host=127.0.0.1

# PostgreSQL refuses to run as root: as root, the nodes run as the postgres user.
as_owner () {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
psql_on () { # port database sql
  PGOPTIONS='-c client_min_messages=warning' as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$host" -p "$1" -U postgres -d "$2" -Atc "$3"
}
node_ports () { seq "$port" $((port + workers)); }
url () { echo "postgres://postgres@$host:$port/$database"; }

init_node () { # port
  local data="$dir/$1"
  [ -f "$data/PG_VERSION" ] && return
  as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --no-sync > "$dir/initdb-$1.log"
  # Citus needs: its library preloaded; prepared transactions for the rare statement that writes
  # on several workers (two-phase commit); logical WAL to move shards without blocking writes.
  cat >> "$data/postgresql.conf" <<EOF
listen_addresses = '$host'
port = $1
unix_socket_directories = '$dir'
shared_preload_libraries = 'citus'
max_connections = 300
max_prepared_transactions = 200
wal_level = logical
EOF
}

start () {
  [ -x "$bin/pg_ctl" ] || { echo "no PostgreSQL at $bin" >&2; exit 1; }
  [ -f "$("$bin/pg_config" --pkglibdir)/citus.so" ] || { echo 'Citus is not installed: run ../shared/citus/install.sh' >&2; exit 1; }
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  for p in $(node_ports); do
    init_node "$p"
    as_owner "$bin/pg_ctl" -D "$dir/$p" status > /dev/null 2>&1 ||
      as_owner "$bin/pg_ctl" -D "$dir/$p" -l "$dir/$p.log" -w -t 60 start > /dev/null
  done
  for p in $(node_ports); do
    # Every node needs the extension in the postgres database (for tests' scratch databases) and the app's.
    [ "$(psql_on "$p" postgres "SELECT count(*) FROM pg_database WHERE datname = '$database'")" = 1 ] ||
      psql_on "$p" postgres "CREATE DATABASE $database"
    for db in postgres "$database"; do psql_on "$p" "$db" 'CREATE EXTENSION IF NOT EXISTS citus'; done
  done
  # A connection's lock_timeout stays on the coordinator; the statements Citus sends to a worker
  # wait for row locks there under the worker's own settings. The role's default bounds them as the
  # service bounds its own (5 s; docs/operations.md, "Running on Citus").
  for p in $(seq $((port + 1)) $((port + workers))); do
    psql_on "$p" postgres "ALTER ROLE postgres SET lock_timeout = '${CITUS_WORKER_LOCK_TIMEOUT:-5s}'"
  done
  for db in postgres "$database"; do
    psql_on "$port" "$db" "SELECT citus_set_coordinator_host('$host', $port)" > /dev/null
    for p in $(seq $((port + 1)) $((port + workers))); do
      psql_on "$port" "$db" "SELECT citus_add_node('$host', $p) WHERE NOT EXISTS (SELECT FROM pg_dist_node WHERE nodeport = $p)" > /dev/null
    done
  done
  echo "Citus: coordinator on $host:$port, workers on ports $((port + 1))-$((port + workers)), data in $dir" >&2
  echo "DATABASE_URL=$(url)"
}

stop () {
  [ -d "$dir" ] || return 0
  for p in $(node_ports); do
    [ -f "$dir/$p/PG_VERSION" ] || continue
    as_owner "$bin/pg_ctl" -D "$dir/$p" status > /dev/null 2>&1 || continue
    as_owner "$bin/pg_ctl" -D "$dir/$p" -m fast -w stop > /dev/null
  done
  echo "Citus: stopped (data kept in $dir)" >&2
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "DATABASE_URL=$(url)" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
