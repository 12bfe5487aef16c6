#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and demos: initdb into a directory, pg_ctl on a loopback port,
# trust authentication, durability settings off (it is thrown away). Installs Debian's postgresql
# if missing. Prints the connection URL on start.
#
#   deploy/postgres/dev-postgres.sh start|stop|url      (PGROOT=/tmp/headroom-pg PGPORT=15432)
set -euo pipefail
PGROOT=${PGROOT:-/tmp/headroom-pg}
PGPORT=${PGPORT:-15432}
URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    BIN=$(bindir)
    if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
      BIN=$(bindir)
    fi
    mkdir -p "$PGROOT"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PGROOT"
    if [ ! -f "$PGROOT/data/PG_VERSION" ]; then
      as_postgres "$BIN/initdb" -D "$PGROOT/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$PGROOT/initdb.log"
    fi
    if ! as_postgres "$BIN/pg_ctl" -D "$PGROOT/data" status >/dev/null 2>&1; then
      as_postgres "$BIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w -t 60 start \
        -o "-p $PGPORT -k $PGROOT -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
    fi
    echo "$URL"
    ;;
  stop)
    BIN=$(bindir)
    if [ -n "$BIN" ] && [ -f "$PGROOT/data/PG_VERSION" ]; then
      as_postgres "$BIN/pg_ctl" -D "$PGROOT/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    [ "${WIPE:-0}" = 1 ] && rm -rf "$PGROOT"
    exit 0
    ;;
  url)
    echo "$URL"
    ;;
  *)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
