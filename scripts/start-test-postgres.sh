#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1 for the store tests and prints its SQLAlchemy URL.
# Usage: export SEVTRIAGE_TEST_POSTGRES_URL="$(bash scripts/start-test-postgres.sh)"
# Installs Debian's postgresql when it is missing (needs root). Prints nothing when it cannot start one,
# and the PostgreSQL variants of the store tests are then skipped.
set -uo pipefail
port="${SEVTRIAGE_TEST_POSTGRES_PORT:-55432}"
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >/dev/null 2>&1
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$bindir" ] || { echo "note: no PostgreSQL server; its store tests will be skipped" >&2; exit 0; }

url="postgresql+psycopg://sevtriage@127.0.0.1:${port}/postgres"
if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
  echo "$url"  # one started earlier (a previous run) is still up: reuse it
  exit 0
fi
datadir=$(mktemp -d /tmp/sevtriage-pg.XXXXXX)
run() {
  # PostgreSQL refuses to run as root: use the postgres account when we are root.
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = "0" ] && chown postgres "$datadir"
run "$bindir/initdb" -D "$datadir" -U sevtriage --auth=trust >/dev/null 2>&1 || { echo "note: initdb failed" >&2; exit 0; }
run "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w \
  -o "-k $datadir -h 127.0.0.1 -p $port" start >/dev/null 2>&1 || { echo "note: PostgreSQL did not start" >&2; exit 0; }
echo "$url"
