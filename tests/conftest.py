"""Settings for the whole suite."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# The SLA policy remembers a country's holidays in a cache folder (sevtriage.sla.holiday_table); the suite, and
# the programs it starts, keep theirs in a temporary folder instead of the user's ~/.cache, removed at the end.
if not os.environ.get("SEVTRIAGE_CACHE_DIR"):
    _cache = tempfile.mkdtemp(prefix="sevtriage-test-cache-")
    os.environ["SEVTRIAGE_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
