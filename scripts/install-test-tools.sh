#!/usr/bin/env bash
# System tools the end-to-end tests need (headless Chromium for the review-desk browser tests).
# Skipped when they are already there; needs root and Debian's package registry otherwise.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "note: chromium is not installed; browser tests will be skipped" >&2
  fi
fi
