#!/usr/bin/env bash
# Installs sevtriage with its test dependencies into the active Python and runs the whole test suite:
# headless Chromium for the browser tests, a throwaway PostgreSQL for the store tests and a throwaway Dovecot
# IMAP server for the mail tests are set up first (from Debian's packages when missing; their tests are skipped
# only where they cannot be had). The Dovecot started here is stopped when the tests end, however they end.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[dev]"
bash scripts/install-test-tools.sh
if [ -z "${SEVTRIAGE_TEST_POSTGRES_URL:-}" ]; then
  SEVTRIAGE_TEST_POSTGRES_URL="$(bash scripts/start-test-postgres.sh)"
  export SEVTRIAGE_TEST_POSTGRES_URL
fi
if [ -z "${SEVTRIAGE_TEST_DOVECOT:-}" ]; then
  SEVTRIAGE_TEST_DOVECOT="$(bash scripts/start-test-dovecot.sh)"
  export SEVTRIAGE_TEST_DOVECOT
  if [ -n "$SEVTRIAGE_TEST_DOVECOT" ]; then
    trap 'bash scripts/stop-test-dovecot.sh "$SEVTRIAGE_TEST_DOVECOT"' EXIT
  fi
fi
python -m pytest "$@"
