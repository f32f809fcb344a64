#!/usr/bin/env bash
# Installs sevtriage with its test dependencies into the active Python and runs the whole test suite:
# headless Chromium for the browser tests and a throwaway PostgreSQL for the store tests are set up first
# (both from Debian's packages when missing; their tests are skipped only where they cannot be had).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[dev]"
bash scripts/install-test-tools.sh
if [ -z "${SEVTRIAGE_TEST_POSTGRES_URL:-}" ]; then
  SEVTRIAGE_TEST_POSTGRES_URL="$(bash scripts/start-test-postgres.sh)"
  export SEVTRIAGE_TEST_POSTGRES_URL
fi
python -m pytest "$@"
