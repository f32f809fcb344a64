#!/usr/bin/env bash
# Stops the throwaway PostgreSQL server that start-test-postgres.sh started in DATADIR and deletes DATADIR.
# Usage: bash scripts/stop-test-postgres.sh DATADIR
set -uo pipefail
datadir="${1:?usage: stop-test-postgres.sh DATADIR}"
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -n "$bindir" ] && [ -f "$datadir/postmaster.pid" ]; then
  if [ "$(id -u)" = "0" ]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$datadir" -m immediate -w stop >/dev/null 2>&1
  else
    "$bindir/pg_ctl" -D "$datadir" -m immediate -w stop >/dev/null 2>&1
  fi
fi
case "$datadir" in
  /tmp/sevtriage-pg.*) rm -rf "$datadir" ;;  # only a folder of ours
esac
