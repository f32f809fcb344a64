#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on 127.0.0.1 for the store tests and prints its SQLAlchemy URL.
# Usage: export SEVTRIAGE_TEST_POSTGRES_URL="$(bash scripts/start-test-postgres.sh [DATADIR])"
#        ... then: bash scripts/stop-test-postgres.sh DATADIR
# Every run gets a fresh data folder (DATADIR, which must be empty or missing; a new temporary one without it) and
# a port nobody listens on, so a server someone else left running is never mistaken for ours. Installs Debian's
# postgresql when it is missing (needs root). Prints nothing when it cannot start one, and the PostgreSQL variants
# of the store tests are then skipped.
set -uo pipefail
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >/dev/null 2>&1
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
[ -n "$bindir" ] || { echo "note: no PostgreSQL server; its store tests will be skipped" >&2; exit 0; }

datadir="${1:-$(mktemp -d /tmp/sevtriage-pg.XXXXXX)}"
mkdir -p "$datadir"
if [ -n "$(ls -A "$datadir")" ]; then
  echo "note: $datadir is not empty; give an empty folder for the test server's data" >&2
  exit 0
fi
run() {
  # PostgreSQL refuses to run as root: use the postgres account when we are root.
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = "0" ] && chown postgres "$datadir"
run "$bindir/initdb" -D "$datadir" -U sevtriage --auth=trust >/dev/null 2>&1 || { echo "note: initdb failed" >&2; exit 0; }
# A port the kernel reports free right now; if another server grabs it first, ours fails to start (it is never
# shared), and we try another one.
for _ in 1 2 3 4 5; do
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  if run "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w \
      -o "-k $datadir -h 127.0.0.1 -p $port" start >/dev/null 2>&1; then
    echo "postgresql+psycopg://sevtriage@127.0.0.1:${port}/postgres"
    exit 0
  fi
done
echo "note: PostgreSQL did not start (see $datadir/server.log)" >&2
exit 0
