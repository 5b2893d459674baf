#!/usr/bin/env bash
# Start (or reuse) a PostgreSQL server for the test suite, listening on 127.0.0.1 only,
# and print its URL (postgresql://graphfuse:graphfuse@127.0.0.1:PORT/graphfuse).
# Installs Debian's postgresql package when no server binaries are found (needs root).
# Safe to run twice: a running server is reused, an existing role/database kept.
# Settings: GRAPHFUSE_PG_PORT (55432), GRAPHFUSE_PG_DIR (/tmp/graphfuse-ci-postgres).
set -euo pipefail
PORT="${GRAPHFUSE_PG_PORT:-55432}"
DIR="${GRAPHFUSE_PG_DIR:-/tmp/graphfuse-ci-postgres}"

bindir() {
  local found
  found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$found" ] && [ -x "$found/initdb" ]; then echo "$found"; return; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; fi
}

BIN="$(bindir)"
if [ -z "$BIN" ]; then
  echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN="$(bindir)"
fi
[ -n "$BIN" ] || { echo "postgres.sh: no initdb found after installing postgresql" >&2; exit 1; }

# The server refuses to run as root: as root, run it as the postgres user (the package
# creates it) or a user made for it here.
as_owner() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as_owner() { runuser -u postgres -- "$@"; }
fi

mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
chmod 700 "$DIR"
if [ ! -s "$DIR/data/PG_VERSION" ]; then
  as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
fi
if ! as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c max_connections=200" start >&2
fi

psql_admin() { "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname='graphfuse'")" != 1 ]; then
  psql_admin -c "CREATE ROLE graphfuse LOGIN CREATEDB PASSWORD 'graphfuse'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='graphfuse'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE graphfuse OWNER graphfuse"
fi
echo "postgresql://graphfuse:graphfuse@127.0.0.1:$PORT/graphfuse"
