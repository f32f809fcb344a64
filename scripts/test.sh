#!/usr/bin/env bash
# Installs sevtriage with its test dependencies into the active Python and runs the whole test suite:
# headless Chromium for the browser tests, a throwaway PostgreSQL for the store tests and a throwaway Dovecot
# IMAP server for the mail tests are set up first (from Debian's packages when missing; their tests are skipped
# only where they cannot be had). The PostgreSQL server is a fresh one on a free port with a fresh data folder
# (a server someone else left on a port is never used); it and Dovecot are stopped when this script ends, however
# it ends. SEVTRIAGE_TEST_POSTGRES_URL=... uses a server of yours instead (the tests create and drop their own
# databases); SEVTRIAGE_TEST_SKIP_INSTALL=1 skips the installation steps when they ran already.
# The tests run in parallel worker processes (pytest-xdist), one per core up to 4 (none on one core); SEVTRIAGE_TEST_WORKERS=N
# chooses N, and 0 runs them in this process. Every test that uses a server takes a database or mailbox of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SEVTRIAGE_TEST_SKIP_INSTALL:-}" ]; then
  python -m pip install -q -e ".[dev]"
  bash scripts/install-test-tools.sh
fi
pg_data=""
dovecot=""
cleanup() {
  # One EXIT trap for everything started here (a second `trap ... EXIT` would replace the first).
  if [ -n "$dovecot" ]; then bash scripts/stop-test-dovecot.sh "$dovecot"; fi
  if [ -n "$pg_data" ]; then bash scripts/stop-test-postgres.sh "$pg_data"; fi
}
trap cleanup EXIT
if [ -z "${SEVTRIAGE_TEST_POSTGRES_URL:-}" ]; then
  pg_data=$(mktemp -d /tmp/sevtriage-pg.XXXXXX)
  SEVTRIAGE_TEST_POSTGRES_URL="$(bash scripts/start-test-postgres.sh "$pg_data")"
  export SEVTRIAGE_TEST_POSTGRES_URL
fi
if [ -z "${SEVTRIAGE_TEST_DOVECOT:-}" ]; then
  SEVTRIAGE_TEST_DOVECOT="$(bash scripts/start-test-dovecot.sh)"
  export SEVTRIAGE_TEST_DOVECOT
  dovecot="$SEVTRIAGE_TEST_DOVECOT"
fi
if [ -z "${SEVTRIAGE_TEST_WORKERS:-}" ]; then
  # Past 4 the shared servers and the tests' own subprocesses gain little from more workers.
  cores=$(python -c "import os; print(len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1)")
  SEVTRIAGE_TEST_WORKERS=$(( cores < 2 ? 0 : (cores < 4 ? cores : 4) ))
fi
# worksteal: an idle worker takes queued tests from a busy one (the slow tests are few and uneven).
python -m pytest -n "$SEVTRIAGE_TEST_WORKERS" --dist worksteal "$@"
