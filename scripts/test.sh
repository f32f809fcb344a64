#!/usr/bin/env bash
# Installs sevtriage with its test dependencies into the active Python and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[dev]"
bash scripts/install-test-tools.sh
python -m pytest "$@"
