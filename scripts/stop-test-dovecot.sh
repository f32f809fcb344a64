#!/usr/bin/env bash
# Stops a Dovecot started by scripts/start-test-dovecot.sh and removes its temporary folder.
# Usage: bash scripts/stop-test-dovecot.sh /tmp/sevtriage-dovecot.XXXXXX/dovecot.conf
set -uo pipefail
conf="${1:-}"
[ -n "$conf" ] && [ -f "$conf" ] || exit 0
dir=$(dirname "$conf")
case "$dir" in /tmp/sevtriage-dovecot.*) ;; *) echo "refusing to stop $conf: not a test server" >&2; exit 1 ;; esac
dovecot -c "$conf" stop >/dev/null 2>&1
for _ in $(seq 50); do
  [ -e "$dir/run/master.pid" ] || break
  sleep 0.1
done
rm -rf "$dir"
